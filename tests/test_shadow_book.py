"""SHADOW fills against the L2 book: a large order walks the recorded book, a too-thin book expires the rest.

The expected fills are computed here from the raw recording lines with Decimal and a plain dict book (depth diffs
applied, each bookTicker setting the touch and dropping passed levels), independently of nautlive.data.book.
"""

from __future__ import annotations

import datetime as dt
import gzip
import json
import time
from decimal import ROUND_HALF_EVEN, Decimal
from pathlib import Path

import msgspec
import pytest

from nautlive.catalog.specs import load_catalog
from nautlive.config.profile import load_profile
from nautlive.core.signals import ScheduledTargets, read_targets
from nautlive.session.engine import Feed, SessionOptions
from nautlive.session.runner import run_session
from tests.conftest import REPO, shared_file

pytestmark = pytest.mark.slow

ETH = "ETHUSDT.BINANCE"
RECORDING = ("binance", "market", "ethusdt_20240808.gz")


@pytest.fixture
def big_eth(repo_cwd):  # noqa: ANN001, ANN201
    """Binance with ETH only, 2M USDT and no order splitting: one large market order."""
    binance = load_profile("binance")
    return msgspec.structs.replace(
        binance, instruments=[ETH],
        shadow=msgspec.structs.replace(binance.shadow, starting_balances={"USDT": Decimal(2_000_000)}),
        rebalance=msgspec.structs.replace(binance.rebalance, max_order_notional=None, max_turnover=None),
    )


def run(profile, tmp_path: Path, recording: Path, weights: dict, at_ns: int | None = None):  # noqa: ANN001, ANN201
    """A shadow --once replay applying `weights` at data time `at_ns` (None: at once)."""
    targets = tmp_path / "target_weights.json"
    targets.write_text(json.dumps({"weights": weights}))
    schedule = [ScheduledTargets(at_ns, read_targets(targets, profile.instruments, profile.venue))]
    options = SessionOptions(mode="shadow", feed=Feed("replay", paths=[str(recording)], speed=0),
                             targets=str(targets), drift_log=str(tmp_path / "drift.log"), schedule=schedule,
                             session=f"book-{time.monotonic_ns()}", once=True, fill_timeout=10.0)
    result = run_session(profile, options)
    records = [json.loads(line) for line in (tmp_path / "drift.log").read_text().splitlines()]
    return result, records


def book_at(recording: Path, until_us: int, size_step: Decimal) -> tuple[dict, dict]:
    """The book after every line received up to `until_us` (microseconds), sizes rounded to the instrument's step:
    Binance's recipe (a snapshot, then the diffs past its lastUpdateId), each bookTicker setting the touch."""
    bids: dict[Decimal, Decimal] = {}
    asks: dict[Decimal, Decimal] = {}

    def put(side: dict, px: str, qty: str) -> None:
        q = Decimal(qty).quantize(size_step, ROUND_HALF_EVEN)
        if q:
            side[Decimal(px)] = q
        else:
            side.pop(Decimal(px), None)

    synced = 0
    for raw in gzip.decompress(recording.read_bytes()).splitlines():
        ns, _, body = raw.partition(b" ")
        if int(ns) // 1000 > until_us:
            break
        msg = json.loads(body)
        if "lastUpdateId" in msg:  # the REST snapshot recorded at the start: the book anew
            bids.clear()
            asks.clear()
            for px, qty in msg["bids"]:
                put(bids, px, qty)
            for px, qty in msg["asks"]:
                put(asks, px, qty)
            synced = msg["lastUpdateId"]
            continue
        data = msg["data"]
        if msg["stream"].endswith("@depth@100ms") and data["u"] > synced:
            for px, qty in data["b"]:
                put(bids, px, qty)
            for px, qty in data["a"]:
                put(asks, px, qty)
        elif msg["stream"].endswith("@bookTicker"):
            bid, ask = Decimal(data["b"]), Decimal(data["a"])
            for px in [p for p in bids if p > bid]:
                del bids[px]
            for px in [p for p in asks if p < ask]:
                del asks[px]
            put(bids, data["b"], data["B"])
            put(asks, data["a"], data["A"])
    return bids, asks


def walk(levels: dict, best_first: bool, quantity: Decimal) -> list[tuple[Decimal, Decimal]]:
    fills, left = [], quantity
    for px in sorted(levels, reverse=best_first):
        if left <= 0:
            break
        take = min(levels[px], left)
        fills.append((px, take))
        left -= take
    return fills


def micros(ts: str) -> int:
    moment = dt.datetime.fromisoformat(ts.replace("Z", "+00:00"))
    return int(moment.timestamp()) * 1_000_000 + moment.microsecond


def test_a_large_order_fills_at_the_vwap_of_the_recorded_levels_it_consumes(big_eth, tmp_path):
    recording = shared_file(*RECORDING)
    start_ns = int(gzip.decompress(recording.read_bytes()).partition(b" ")[0])
    # ~1M USDT of ETH (hundreds of ETH), three minutes in: the diff stream has filled in the book by then
    result, records = run(big_eth, tmp_path, recording, {ETH: 0.5}, at_ns=start_ns + 180 * 10**9)
    assert result.exit_code == 0, result.reason
    (order,) = result.rebalances[0]["orders"]
    quantity = Decimal(order["quantity"])
    assert quantity > 300
    assert {r["client_order_id"] for r in records} == {order["client_order_id"]}
    assert len({r["ts"] for r in records}) == 1  # one moment: the book as it was when the order met it

    spec = load_catalog(REPO / "artifacts" / "catalog" / "binance.yaml").by_id()[ETH]
    _, asks = book_at(recording, micros(records[0]["ts"]), Decimal(spec.step_size))
    expected = walk(asks, best_first=False, quantity=quantity)
    got = [(Decimal(r["fill_px"]), Decimal(r["qty"])) for r in records]
    assert len(expected) > 5  # many levels consumed
    assert got == expected
    vwap = sum(p * q for p, q in got) / quantity
    assert vwap == sum(p * q for p, q in expected) / sum(q for _, q in expected)
    best = min(asks)
    assert vwap > best  # a large order pays for its size: worse than the touch
    mid = Decimal(records[0]["mid_at_submit"])
    assert float((vwap - mid) / mid * 10_000) > 1.0


def test_an_order_larger_than_the_visible_book_fills_what_is_there_and_the_rest_expires(big_eth, tmp_path):
    # The first 200 lines: a book of a few levels only.
    lines = gzip.decompress(shared_file(*RECORDING).read_bytes()).splitlines()[:200]
    head = tmp_path / "ethusdt_head.gz"
    head.write_bytes(gzip.compress(b"\n".join(lines) + b"\n"))
    result, records = run(big_eth, tmp_path, head, {ETH: 0.9})
    assert result.exit_code == 1
    assert "filled in part, the rest expired: the book was too thin" in result.reason
    (order,) = result.rebalances[0]["orders"]
    (expired,) = result.rebalances[0]["expired"]
    filled = sum(Decimal(r["qty"]) for r in records)
    assert expired["client_order_id"] == order["client_order_id"]
    assert Decimal(expired["filled"]) == filled > 0
    assert filled + Decimal(expired["expired"]) == Decimal(order["quantity"])
    spec = load_catalog(REPO / "artifacts" / "catalog" / "binance.yaml").by_id()[ETH]
    _, asks = book_at(head, micros(records[0]["ts"]), Decimal(spec.step_size))
    assert filled == sum(asks.values())  # the whole visible ask side, nothing more
    weight = Decimal(result.final_weights[ETH]["weight"])
    assert 0 < weight < Decimal("0.9")
