"""Backtest on the real 2024-08-08 recording: targets reached, cash never negative, every order valid; bad inputs."""

import gzip
import json
from decimal import Decimal

import pytest
import yaml
from typer.testing import CliRunner

from nautlive.catalog.specs import load_catalog
from nautlive.cli.app import app

from .conftest import REPO, shared_file

runner = CliRunner()
BTC, ETH = "BTCUSDT.BINANCE", "ETHUSDT.BINANCE"


def data_args(*names: str) -> list[str]:
    args = []
    for name in names:
        args += ["--data", str(shared_file("binance", "market", name))]
    return args


def write_json(path, doc):
    path.write_text(json.dumps(doc))
    return str(path)


@pytest.fixture(scope="module")
def run_0808(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("bt")
    targets = write_json(tmp / "t.json", {"weights": {BTC: 0.5, ETH: 0.3}})
    schedule = write_json(tmp / "s.json", [{"at": "2024-08-08T23:57:00Z", "weights": {BTC: 0.2, ETH: 0.6}}])
    result = runner.invoke(app, ["backtest", "--profile", str(REPO / "profiles" / "binance.yaml"),
                                 "--catalog", str(REPO / "artifacts" / "catalog" / "binance.yaml"),
                                 *data_args("btcusdt_20240808.gz", "ethusdt_20240808.gz"),
                                 "--targets", targets, "--schedule", schedule, "--out", str(tmp / "out"), "--json"])
    assert result.exit_code == 0, result.output
    fills = [json.loads(line) for line in (tmp / "out" / "fills.jsonl").read_text().splitlines()]
    return json.loads(result.stdout), fills


@pytest.mark.slow
def test_backtest_reaches_targets_and_applies_the_second_change(run_0808):
    summary, fills = run_0808
    assert summary["rebalances"] == 2
    band = Decimal("0.01")
    for iid, row in summary["final_weights"].items():
        assert abs(Decimal(row["weight"]) - Decimal(row["target"])) < band, iid
    assert {row["target"] for row in summary["final_weights"].values()} == {"0.2", "0.6"}
    assert Decimal(summary["min_cash"]) >= 0
    # a market order takes the book level by level: one fill per level, every order filled
    assert summary["fills"] == len(fills) >= summary["orders"] and summary["rejected"] == 0
    assert len({f["client_order_id"] for f in fills}) == summary["orders"]


@pytest.mark.slow
def test_every_order_is_valid_for_the_real_specs(run_0808):
    _, fills = run_0808
    specs = load_catalog(REPO / "artifacts" / "catalog" / "binance.yaml").by_id()
    for f in fills:
        spec, qty, px = specs[f["instrument"]], Decimal(f["qty"]), Decimal(f["fill_px"])
        assert qty % spec.step_size == 0 and qty >= spec.min_qty and qty <= spec.market_max_qty
        assert qty * px >= spec.min_notional
        assert px % spec.tick_size == 0
        side_sign = 1 if f["side"] == "BUY" else -1
        mid = Decimal(f["mid_at_submit"])
        assert f["drift_bps"] == pytest.approx(float(side_sign * (px - mid) / mid * 10_000), abs=1e-3)


def run_bad(tmp_path, *args):
    result = runner.invoke(app, ["backtest", "--profile", str(REPO / "profiles" / "binance.yaml"),
                                 "--catalog", str(REPO / "artifacts" / "catalog" / "binance.yaml"),
                                 "--out", str(tmp_path / "out"), *args])
    assert result.exit_code == 2, result.output
    assert not (tmp_path / "out").exists(), "nothing may be written half-way"
    assert result.stderr.startswith("error: ") and result.stderr.count("\n") == 1
    return result.stderr


def test_targets_naming_an_instrument_with_no_data(tmp_path):
    targets = write_json(tmp_path / "t.json", {"weights": {BTC: 0.5, ETH: 0.3}})
    err = run_bad(tmp_path, *data_args("btcusdt_20240808.gz"), "--targets", targets)
    assert "no data for ETHUSDT.BINANCE" in err


def test_data_file_not_in_the_recorded_format(tmp_path):
    bad = tmp_path / "bad.gz"
    with gzip.open(bad, "wt") as f:
        f.write('1723161253937085768 {"stream":"btcusdt@bookTicker","data":{}}\n' * 2 + "this is not a record\n")
    targets = write_json(tmp_path / "t.json", {"weights": {BTC: 0.5}})
    err = run_bad(tmp_path, "--data", str(bad), "--targets", targets)
    assert "bad.gz" in err and "line" in err


def test_schedule_out_of_time_order(tmp_path):
    targets = write_json(tmp_path / "t.json", {"weights": {BTC: 0.5}})
    schedule = write_json(tmp_path / "s.json", [{"at": "2024-08-08T23:57:00Z", "weights": {BTC: 0.2}},
                                                {"at": "2024-08-08T23:56:00Z", "weights": {BTC: 0.3}}])
    err = run_bad(tmp_path, *data_args("btcusdt_20240808.gz"), "--targets", targets, "--schedule", schedule)
    assert "out of time order" in err


def test_catalog_missing_an_instrument(tmp_path):
    catalog = tmp_path / "c.yaml"
    lines = (REPO / "artifacts" / "catalog" / "binance.yaml").read_text().splitlines()
    catalog.write_text("\n".join(line for line in lines if "ETHUSDT" not in line).replace("},\n]", "}\n]"))
    targets = write_json(tmp_path / "t.json", {"weights": {BTC: 0.5}})
    result = runner.invoke(app, ["backtest", "--profile", str(REPO / "profiles" / "binance.yaml"),
                                 "--catalog", str(catalog), *data_args("btcusdt_20240808.gz"),
                                 "--targets", targets, "--out", str(tmp_path / "out")])
    assert result.exit_code == 2 and "no record for ETHUSDT.BINANCE" in result.stderr
    assert not (tmp_path / "out").exists()


def test_invalid_targets_file(tmp_path):
    targets = write_json(tmp_path / "t.json", {"weights": {BTC: 0.7, ETH: 0.7}})
    assert "above 1" in run_bad(tmp_path, *data_args("btcusdt_20240808.gz"), "--targets", targets)


@pytest.mark.parametrize(("content", "reason"), [
    ("[{", "schedule is not valid JSON"),
    ('{"at": "2024-08-08T23:57:00Z"}', "expected a non-empty list"),
    ('[{"weights": {"BTCUSDT.BINANCE": 0.2}}]', '[0]: expected {"at"'),
    ('[{"at": "yesterday", "weights": {"BTCUSDT.BINANCE": 0.2}}]', "[0].at: 'yesterday' is not an ISO-8601 time"),
    ('[{"at": "2024-08-08T23:57:00Z", "weights": {"XRPUSDT.BINANCE": 0.2}}]', "unknown instrument"),
])
def test_bad_schedule(tmp_path, content, reason):
    (tmp_path / "s.json").write_text(content)
    targets = write_json(tmp_path / "t.json", {"weights": {BTC: 0.5}})
    err = run_bad(tmp_path, *data_args("btcusdt_20240808.gz"), "--targets", targets, "--schedule",
                  str(tmp_path / "s.json"))
    assert reason in err


def test_an_order_larger_than_the_recorded_book_fills_what_is_there_and_the_summary_says_so(tmp_path):
    lines = gzip.decompress(shared_file("binance", "market", "ethusdt_20240808.gz").read_bytes()).splitlines()[:200]
    head = tmp_path / "ethusdt_head.gz"
    head.write_bytes(gzip.compress(b"\n".join(lines) + b"\n"))  # before the recorded snapshot: a thin book
    targets = write_json(tmp_path / "t.json", {"weights": {ETH: 0.9}})
    profile = yaml.safe_load((REPO / "profiles" / "binance.yaml").read_text())  # 2M USDT, one unsplit order
    profile["shadow"]["starting_balances"] = {"USDT": "2000000"}
    profile["rebalance"].update(max_order_notional=None, max_turnover=None)
    (tmp_path / "big.yaml").write_text(yaml.safe_dump(profile))
    result = runner.invoke(app, ["backtest", "--profile", str(tmp_path / "big.yaml"),
                                 "--catalog", str(REPO / "artifacts" / "catalog" / "binance.yaml"),
                                 "--data", str(head), "--targets", targets, "--out", str(tmp_path / "out"), "--json"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["expired"] >= 1 and summary["fills"] >= 1
    assert Decimal(summary["final_weights"][ETH]["weight"]) < Decimal("0.9") - Decimal("0.01")
