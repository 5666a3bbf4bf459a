"""Issue #31: fills consume the L2 book. Several orders sent together into the thin book of a recording's first lines
(the planner splits one buy by max_order_notional) fill the visible ask side once between them: a second order meets
what the first left, never the levels again. BACKTEST (Nautilus's liquidity_consumption) and SHADOW (the sandbox sends
its engine the thinner levels) agree. The book is computed independently from the raw lines (test_shadow_book.book_at).
"""

from __future__ import annotations

import gzip
import json
from collections import defaultdict
from decimal import Decimal
from pathlib import Path

import msgspec
import pytest
import yaml
from typer.testing import CliRunner

from nautlive.catalog.specs import load_catalog
from nautlive.cli.app import app
from nautlive.config.profile import load_profile
from tests.conftest import REPO, shared_file
from tests.test_shadow_book import book_at, micros
from tests.test_shadow_book import run as run_shadow

ETH = "ETHUSDT.BINANCE"
CATALOG = REPO / "artifacts" / "catalog" / "binance.yaml"
SPLIT = Decimal(20_000)  # each child order ~20k USDT: the thin book holds less than the whole buy


@pytest.fixture
def head(tmp_path: Path) -> Path:
    """The recording's first 200 lines: a book of a few levels, before the REST snapshot."""
    lines = gzip.decompress(shared_file("binance", "market", "ethusdt_20240808.gz").read_bytes()).splitlines()[:200]
    path = tmp_path / "ethusdt_head.gz"
    path.write_bytes(gzip.compress(b"\n".join(lines) + b"\n"))
    return path


@pytest.fixture
def split_eth(repo_cwd):  # noqa: ANN001, ANN201
    binance = load_profile("binance")
    return msgspec.structs.replace(
        binance, instruments=[ETH],
        shadow=msgspec.structs.replace(binance.shadow, starting_balances={"USDT": Decimal(2_000_000)}),
        rebalance=msgspec.structs.replace(binance.rebalance, max_order_notional=SPLIT, max_turnover=None),
    )


def assert_consumed_once(head: Path, records: list[dict]) -> None:
    """The orders' fills add up, level by level, to no more than the visible book: the whole ask side once."""
    assert len({r["client_order_id"] for r in records}) >= 2  # a second order met what the first left
    assert len({r["ts"] for r in records}) == 1  # all at one moment: no recorded update in between
    step = Decimal(load_catalog(CATALOG).by_id()[ETH].step_size)
    _, asks = book_at(head, micros(records[0]["ts"]), step)
    taken: dict[Decimal, Decimal] = defaultdict(Decimal)
    for r in records:
        taken[Decimal(r["fill_px"])] += Decimal(r["qty"])
    assert dict(taken) == asks  # every level taken once, in full: never twice


def test_backtest_orders_sent_together_consume_the_book_between_them(head, tmp_path):
    doc = yaml.safe_load((REPO / "profiles" / "binance.yaml").read_text())
    doc["instruments"] = [ETH]
    doc["shadow"]["starting_balances"] = {"USDT": "2000000"}
    doc["rebalance"].update(max_order_notional=str(SPLIT), max_turnover=None)
    profile = tmp_path / "split.yaml"
    profile.write_text(yaml.safe_dump(doc))
    targets = tmp_path / "t.json"
    targets.write_text(json.dumps({"weights": {ETH: 0.9}}))
    result = CliRunner().invoke(app, ["backtest", "--profile", str(profile), "--catalog", str(CATALOG),
                                      "--data", str(head), "--targets", str(targets), "--out", str(tmp_path / "out"),
                                      "--json"])
    assert result.exit_code == 0, result.output
    records = [json.loads(line) for line in (tmp_path / "out" / "fills.jsonl").read_text().splitlines()]
    assert_consumed_once(head, records)
    assert json.loads(result.stdout)["expired"] >= 1  # the later orders found the book gone


@pytest.mark.slow
def test_shadow_orders_sent_together_consume_the_book_between_them(split_eth, head, tmp_path):
    result, records = run_shadow(split_eth, tmp_path, head, {ETH: 0.9})
    assert result.exit_code == 1 and "the rest expired" in result.reason
    assert_consumed_once(head, records)
