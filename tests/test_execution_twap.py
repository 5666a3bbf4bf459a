"""Issue #31, execution style `twap`: one planned order sent as child orders every interval_secs over horizon_secs,
each child a market or limit_cap order. The children keep the venue's rules (lot step, min notional: a small one
merges into the next), count against the rails, and a new target mid-way cancels the rest of the plan. BACKTEST on the
real L2 recording here; LIVE against `nautlive sim` and the faults in test_execution_faults."""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal as D
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from nautlive.catalog.specs import load_catalog
from nautlive.cli.app import app
from nautlive.core.execution_twap import merge_small, min_child_steps, slice_count, twap_children
from tests.conftest import REPO, shared_file

ETH = "ETHUSDT.BINANCE"
CATALOG = REPO / "artifacts" / "catalog" / "binance.yaml"
RECORDING = shared_file("binance", "market", "ethusdt_20240808.gz")
SPEC = load_catalog(CATALOG).by_id()[ETH]

# -- pure parts ------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("quantity", "slices", "price"), [
    (D("769.1234"), 6, D("2700")),  # a 2M USDT parent: six equal-ish children
    (D("0.0190"), 6, D("2700")),  # ~51 USDT: six children of ~8.5 USDT each are below min notional, so they merge
    (D("0.0040"), 10, D("2700")),  # the whole is one child
    (D("1.0001"), 7, D("2700")),
])
def test_every_child_is_valid_for_the_venue_and_they_add_up_to_the_parent(quantity, slices, price):
    children = twap_children(quantity, slices, SPEC.step_size, price, SPEC.min_qty, SPEC.min_notional)
    assert sum(q for _, q in children) == quantity
    assert all(q % SPEC.step_size == 0 and q <= quantity for _, q in children)
    if quantity * price >= SPEC.min_notional:
        assert all(q * price >= SPEC.min_notional and q >= (SPEC.min_qty or 0) for _, q in children)
    indexes = [i for i, _ in children]
    assert indexes == sorted(set(indexes)) and indexes[-1] <= slices - 1


def test_a_child_below_the_minimum_merges_into_the_next_and_a_short_last_one_into_the_one_before():
    assert merge_small([3, 3, 3, 3], 5) == [(1, 6), (3, 6)]
    assert merge_small([5, 5, 2], 5) == [(0, 5), (1, 7)]
    assert merge_small([1, 1], 5) == [(1, 2)]  # below the minimum as a whole: one child (the planner never plans it)
    assert min_child_steps(D("0.0001"), D("2700"), D("0.0001"), D("5")) == 19  # 19 x 0.27 USDT >= 5 USDT


def test_the_slices_are_one_per_interval_the_first_at_once():
    assert slice_count(120, 20) == 6 and slice_count(100, 30) == 3 and slice_count(10, 10) == 1


# -- BACKTEST on the real L2 recording ---------------------------------------------------------------------------------

AT = "2024-08-08T23:57:15Z"


def backtest(tmp_path: Path, execution: dict, schedule: list[dict], name: str) -> tuple[dict, list[dict]]:
    """A backtest of ETH from 2M USDT of cash on the recording, with one unsplit order per target."""
    doc = yaml.safe_load((REPO / "profiles" / "binance.yaml").read_text())
    doc.update(instruments=[ETH], execution=execution)
    doc["shadow"]["starting_balances"] = {"USDT": "2000000"}
    doc["rebalance"].update(max_order_notional=None, max_turnover=None)
    (tmp_path / f"{name}.yaml").write_text(yaml.safe_dump(doc))
    (tmp_path / "none.json").write_text(json.dumps({"weights": {ETH: 0}}))
    (tmp_path / f"{name}.json").write_text(json.dumps(schedule))
    out = tmp_path / name
    result = CliRunner().invoke(app, ["backtest", "--profile", str(tmp_path / f"{name}.yaml"), "--catalog",
                                      str(CATALOG), "--data", str(RECORDING), "--targets", str(tmp_path / "none.json"),
                                      "--schedule", str(tmp_path / f"{name}.json"), "--out", str(out), "--json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout), [json.loads(line) for line in (out / "fills.jsonl").read_text().splitlines()]


def seconds(ts: str) -> float:
    return dt.datetime.fromisoformat(ts.replace("Z", "+00:00")).timestamp()


def mean_slippage(fills: list[dict]) -> float:
    notional = sum(float(f["notional"]) for f in fills)
    return sum(f["drift_bps"] * float(f["notional"]) for f in fills) / notional


def test_backtest_twap_spreads_a_2m_buy_over_the_horizon_and_reaches_the_target(tmp_path):
    twap = {"style": "twap", "horizon_secs": 120, "interval_secs": 20, "child": "market"}
    summary, fills = backtest(tmp_path, twap, [{"at": AT, "weights": {ETH: 0.9}}], "twap")
    _, market_fills = backtest(tmp_path, {"style": "market"}, [{"at": AT, "weights": {ETH: 0.9}}], "market")
    orders = sorted({f["client_order_id"]: seconds(f["ts"]) for f in fills}.items(), key=lambda kv: kv[1])
    assert summary["orders"] == 6 and len(orders) == 6
    gaps = [b[1] - a[1] for a, b in zip(orders, orders[1:], strict=False)]
    assert all(19.9 <= gap <= 21 for gap in gaps), gaps  # one child per interval, on data time
    assert {f["parent_order_id"] for f in fills} == {orders[0][0]} and {f["style"] for f in fills} == {"twap"}
    assert len({f["arrival_mid"] for f in fills}) == 1
    assert abs(D(summary["final_weights"][ETH]["weight"]) - D("0.9")) < D("0.01")
    assert float(sum(D(f["qty"]) for f in fills)) == pytest.approx(float(sum(D(f["qty"]) for f in market_fills)), rel=0.01)
    assert mean_slippage(fills) < mean_slippage(market_fills)


def test_backtest_twap_with_limit_cap_children_never_fills_beyond_the_cap(tmp_path):
    twap = {"style": "twap", "horizon_secs": 60, "interval_secs": 20, "child": "limit_cap", "max_slippage_bps": 2}
    summary, fills = backtest(tmp_path, twap, [{"at": AT, "weights": {ETH: 0.9}}], "capped")
    assert summary["orders"] == 3 and fills
    assert all(f["drift_bps"] <= 2 for f in fills)


def test_a_new_target_mid_twap_cancels_the_rest_and_plans_again(tmp_path):
    twap = {"style": "twap", "horizon_secs": 120, "interval_secs": 20, "child": "market"}
    schedule = [{"at": AT, "weights": {ETH: 0.9}}, {"at": "2024-08-08T23:57:50Z", "weights": {ETH: 0.2}}]
    summary, fills = backtest(tmp_path, twap, schedule, "replan")
    parents = {}
    for f in fills:
        parents.setdefault(f["parent_order_id"], set()).add((f["side"], f["client_order_id"]))
    first, second = list(parents.values())
    assert {s for s, _ in first} == {"BUY"} and len(first) == 2  # 0 s and 20 s sent; 40 s .. 100 s never
    assert {s for s, _ in second} == {"SELL"}  # planned again from the account: 0.2 is below what was bought
    assert summary["rebalances"] == 3  # the start file (nothing held), the first target, the second
    assert abs(D(summary["final_weights"][ETH]["weight"]) - D("0.2")) < D("0.01")


def parity(tmp_path: Path, execution: dict) -> dict:
    """`nautlive parity` (backtest vs shadow replay, order lists compared) on the four recordings in this style."""
    import subprocess
    import sys

    doc = yaml.safe_load((REPO / "profiles" / "binance.yaml").read_text())
    doc["execution"] = execution
    (tmp_path / "p.yaml").write_text(yaml.safe_dump(doc))
    data = []
    for name in ("btcusdt_20240808.gz", "ethusdt_20240808.gz", "btcusdt_20240809.gz", "ethusdt_20240809.gz"):
        data += ["--data", str(shared_file("binance", "market", name))]
    proc = subprocess.run([sys.executable, "-m", "nautlive", "parity", "--profile", str(tmp_path / "p.yaml"), *data,
                           "--schedule", str(REPO / "artifacts" / "orders" / "schedule.example.json"), "--json"],
                          capture_output=True, text=True, cwd=REPO, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return json.loads(proc.stdout)


@pytest.mark.slow
def test_parity_holds_under_twap_on_the_four_recordings(tmp_path):
    """The children are due by data time, so a backtest and a shadow replay send the same ones."""
    result = parity(tmp_path, {"style": "twap", "horizon_secs": 60, "interval_secs": 10, "child": "market"})
    assert result["orders_match"] and result["ok"] and result["backtest_orders"] >= 36  # 6 children a parent


@pytest.mark.parametrize("style", ["twap", "passive_then_market"])
def test_a_run_on_bars_refuses_the_styles_that_need_quotes_naming_them(tmp_path, style):
    result = CliRunner().invoke(app, ["backtest", "--venue", "binance", "--data",
                                      str(REPO / "examples" / "data" / "BTCUSDT-1m.parquet"), "--schedule",
                                      str(REPO / "artifacts" / "orders" / "weekly.example.csv"), "--out",
                                      str(tmp_path), "--execution", style])
    assert result.exit_code == 2
    assert f"execution.style {style} needs quotes over time" in result.output and "use market or limit_cap" in (
        result.output)


@pytest.mark.parametrize(("execution", "message"), [
    ({"style": "twap", "horizon_secs": 60, "interval_secs": 90}, "execution.interval_secs: must be above 0 and at most "
                                                                  "horizon_secs (60.0), got 90"),
    ({"style": "twap", "horizon_secs": 0}, "execution.horizon_secs: must be above 0"),
    ({"style": "passive_then_market", "patience_secs": -1}, "execution.patience_secs: must be above 0"),
    ({"style": "twap", "child": "twap"}, "execution.child: expected one of limit_cap, market, got 'twap'"),
])
def test_a_bad_twap_or_passive_setting_is_a_config_error_naming_the_key(tmp_path, execution, message):
    from nautlive.config.profile import load_profile
    from nautlive.errors import ConfigError

    doc = yaml.safe_load((REPO / "profiles" / "binance.yaml").read_text())
    doc["execution"] = execution
    (tmp_path / "p.yaml").write_text(yaml.safe_dump(doc))
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace(")", r"\)")):
        load_profile(profile=tmp_path / "p.yaml")


def test_a_new_target_during_the_sells_of_a_twap_ends_it_without_its_buys_and_plans_again(tmp_path):
    twap = {"style": "twap", "horizon_secs": 60, "interval_secs": 20, "child": "market"}
    schedule = [{"at": AT, "weights": {ETH: 0.9}}, {"at": "2024-08-08T23:58:05Z", "weights": {ETH: 0.1}},
                {"at": "2024-08-08T23:58:30Z", "weights": {ETH: 0.5}}]
    summary, fills = backtest(tmp_path, twap, schedule, "sells")
    parents: dict[str, set] = {}
    for f in fills:
        parents.setdefault(f["parent_order_id"], set()).add((f["side"], f["client_order_id"]))
    buy, sell, again = parents.values()
    assert {s for s, _ in buy} == {"BUY"} and len(buy) == 3
    assert {s for s, _ in sell} == {"SELL"} and len(sell) == 2  # 0 s and 20 s out; 40 s dropped by the new target
    assert {s for s, _ in again} == {"BUY"}  # planned from the account: 0.5 is above what the sells left
    assert summary["rebalances"] == 4
    assert abs(D(summary["final_weights"][ETH]["weight"]) - D("0.5")) < D("0.01")


def test_a_slice_a_whole_interval_late_pushes_the_rest_back_and_a_few_ms_never_move_the_grid():
    from nautlive.core.execution_twap import NS, slipped_start

    assert slipped_start(0, 10 * NS, 10 * NS + 3_000_000, 10) == 0  # the quote came 3 ms after the due time
    assert slipped_start(0, 10 * NS, 19 * NS, 10) == 0  # late, but the next slice is not due yet
    assert slipped_start(0, 10 * NS, 27 * NS, 10) == 17 * NS  # the next one would be due at once: it waits 10 s
