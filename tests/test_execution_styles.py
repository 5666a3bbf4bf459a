"""Issue #31, execution styles: `market` (the default) and `limit_cap` (a marketable LIMIT IOC at the mid at submit
+/- execution.max_slippage_bps). The cap is never exceeded: every fill is within the mid at its order's submit +/- the
cap, in BACKTEST on the real L2 recording, in SHADOW on it, and LIVE against `nautlive sim`; what the cap leaves is
reported (`capped`) and --once exits 1 saying so."""

from __future__ import annotations

import json
from decimal import Decimal as D
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from nautlive.cli.app import app
from nautlive.config.profile import load_profile
from nautlive.core.execution import cap_price, slippage_bps
from nautlive.errors import ConfigError
from tests.conftest import REPO, shared_file

ETH = "ETHUSDT.BINANCE"
CATALOG = REPO / "artifacts" / "catalog" / "binance.yaml"
RECORDING = shared_file("binance", "market", "ethusdt_20240808.gz")
CAP = D(2)  # bps: a 1.8M USDT buy walks well past it on this book


def within_cap(fill: dict, cap: D) -> bool:
    """A fill no worse than its order's cap: the order's limit price is cap_price() of the mid at submit."""
    return slippage_bps(fill["side"], D(fill["fill_px"]), D(fill["mid_at_submit"])) <= cap


# -- pure parts ------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("side", ["BUY", "SELL"])
@pytest.mark.parametrize(("mid", "bps", "tick"), [(D("2683.815"), D(5), D("0.01")), (D("60000.005"), D("0.001"),
                                                  D("0.01")), (D("1.23456"), D(30), D("0.0001"))])
def test_the_cap_price_is_on_the_tick_and_never_beyond_the_cap(side, mid, bps, tick):
    price = cap_price(side, mid, bps, tick)
    assert price % tick == 0
    assert slippage_bps(side, price, mid) <= bps  # inward rounding: never beyond the cap
    assert slippage_bps(side, price + (tick if side == "BUY" else -tick), mid) > bps  # and the last tick within it


def profile_text(tmp_path: Path, execution: dict) -> Path:
    doc = yaml.safe_load((REPO / "profiles" / "binance.yaml").read_text())
    doc["execution"] = execution
    path = tmp_path / "p.yaml"
    path.write_text(yaml.safe_dump(doc))
    return path


@pytest.mark.parametrize(("execution", "message"), [
    ({"style": "twap_fast"}, "execution.style: expected one of limit_cap, market, passive_then_market, twap, got 'twap_fast'"),
    ({"style": "limit_cap", "max_slippage_bps": 0}, "execution.max_slippage_bps: must be above 0"),
    ({"stlye": "market"}, "execution.stlye: unknown key"),
])
def test_a_bad_execution_section_is_a_config_error_naming_the_key(tmp_path, execution, message):
    with pytest.raises(ConfigError, match=message.replace("(", r"\(")):
        load_profile(profile=profile_text(tmp_path, execution))


def test_an_unknown_execution_option_exits_2_naming_it(tmp_path):
    result = CliRunner().invoke(app, ["backtest", "--profile", str(REPO / "profiles" / "binance.yaml"),
                                      "--data", str(RECORDING), "--execution", "vwap", "--out", str(tmp_path)])
    assert result.exit_code == 2 and "--execution: expected one of market, limit_cap, twap, passive_then_market, got 'vwap'" in result.output


# -- BACKTEST on the real L2 recording ---------------------------------------------------------------------------------


def big_buy(tmp_path: Path, style: str) -> tuple[dict, list[dict]]:
    """A backtest buying ~1.8M USDT of ETH three minutes into the recording, in one unsplit order."""
    doc = yaml.safe_load((REPO / "profiles" / "binance.yaml").read_text())
    doc.update(instruments=[ETH], execution={"style": "market", "max_slippage_bps": str(CAP)})
    doc["shadow"]["starting_balances"] = {"USDT": "2000000"}
    doc["rebalance"].update(max_order_notional=None, max_turnover=None)
    (tmp_path / "big.yaml").write_text(yaml.safe_dump(doc))
    (tmp_path / "none.json").write_text(json.dumps({"weights": {ETH: 0}}))
    (tmp_path / "s.json").write_text(json.dumps([{"at": "2024-08-08T23:57:15Z", "weights": {ETH: 0.9}}]))
    out = tmp_path / style
    result = CliRunner().invoke(app, ["backtest", "--profile", str(tmp_path / "big.yaml"), "--catalog", str(CATALOG),
                                      "--data", str(RECORDING), "--targets", str(tmp_path / "none.json"),
                                      "--schedule", str(tmp_path / "s.json"), "--out", str(out),
                                      "--execution", style, "--json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout), [json.loads(line) for line in (out / "fills.jsonl").read_text().splitlines()]


def test_backtest_limit_cap_never_fills_beyond_the_cap_and_reports_what_it_left(tmp_path):
    market, market_fills = big_buy(tmp_path, "market")
    capped, capped_fills = big_buy(tmp_path, "limit_cap")
    assert market["capped"] == 0 and not all(within_cap(f, CAP) for f in market_fills)  # the walk goes past it
    assert capped_fills and all(within_cap(f, CAP) for f in capped_fills)
    assert capped["capped"] == 1 and capped["orders"] == market["orders"] == 1
    bought = sum(D(f["qty"]) for f in capped_fills)
    assert 0 < bought < sum(D(f["qty"]) for f in market_fills)
    assert D(capped["final_weights"][ETH]["weight"]) < D(market["final_weights"][ETH]["weight"])


# -- SHADOW and LIVE ---------------------------------------------------------------------------------------------------


@pytest.mark.slow
def test_shadow_limit_cap_fills_as_the_backtest_does(tmp_path, repo_cwd):
    import msgspec

    from nautlive.core.signals import ScheduledTargets, read_targets
    from nautlive.session.engine import Feed, SessionOptions
    from nautlive.session.runner import run_session
    from tests.test_shadow_book import micros

    _, backtest_fills = big_buy(tmp_path, "limit_cap")
    profile = load_profile(profile=tmp_path / "big.yaml")
    profile = msgspec.structs.replace(profile, execution=msgspec.structs.replace(profile.execution, style="limit_cap"))
    targets = tmp_path / "t.json"
    targets.write_text(json.dumps({"weights": {ETH: 0.9}}))
    at_ns = micros("2024-08-08T23:57:15Z") * 1000
    schedule = [ScheduledTargets(at_ns, read_targets(targets, profile.instruments, profile.venue))]
    options = SessionOptions(mode="shadow", feed=Feed("replay", paths=[str(RECORDING)], speed=0),
                             targets=str(targets), drift_log=str(tmp_path / "drift.log"), schedule=schedule,
                             session="cap", once=True, fill_timeout=10.0)
    result = run_session(profile, options)
    assert result.exit_code == 1 and "left in part by the price cap" in result.reason
    (capped,) = result.rebalances[0]["capped"]
    shadow_fills = [json.loads(line) for line in (tmp_path / "drift.log").read_text().splitlines()]
    assert all(within_cap(f, CAP) for f in shadow_fills)
    assert [(f["fill_px"], f["qty"]) for f in shadow_fills] == [(f["fill_px"], f["qty"]) for f in backtest_fills]
    assert D(capped["filled"]) == sum(D(f["qty"]) for f in shadow_fills) and D(capped["unfilled"]) > 0


def live_cap_session(session_dir: Path, bps: str):  # noqa: ANN201
    profile = yaml.safe_load((session_dir / "profile.yaml").read_text())
    profile["execution"] = {"style": "market", "max_slippage_bps": bps}
    (session_dir / "profile.yaml").write_text(yaml.safe_dump(profile))


@pytest.mark.slow
def test_live_once_with_limit_cap_against_the_sim_reaches_the_target_within_the_cap(venue, session_dir):
    from tests.live_helpers import BAND, TARGETS, order_posts, run_live, state, weights_at_venue

    live_cap_session(session_dir, "10")
    done = run_live(session_dir, venue, "--arm", "--once", "--execution", "limit_cap")
    assert done.returncode == 0, done.stderr[-3000:]
    posts = order_posts(venue)
    assert len(posts) == 2 and all((p["params"]["type"], p["params"]["timeInForce"]) == ("LIMIT", "IOC")
                                   for p in posts)
    fills = [json.loads(line) for line in (session_dir / "drift.log").read_text().splitlines()]
    assert fills and all(within_cap(f, D(10)) for f in fills)
    for iid, weight in weights_at_venue(venue).items():
        assert abs(weight - D(str(TARGETS[iid]))) <= BAND, (iid, weight)
    assert all(o["status"] == "FILLED" for o in state(venue)["orders"])


@pytest.mark.slow
def test_live_once_with_a_cap_tighter_than_the_book_fills_the_touch_and_exits_1_saying_so(venue, session_dir):
    from tests.live_helpers import error_line, order_posts, run_live, state

    live_cap_session(session_dir, "0.001")  # the cap admits the touch only: the ladder's first level
    done = run_live(session_dir, venue, "--arm", "--once", "--execution", "limit_cap", "--summary", "s.json")
    assert done.returncode == 1, done.stderr[-3000:]
    assert "left in part by the price cap (execution limit_cap): the next rebalance plans the rest again" in (
        error_line(done.stderr))
    fills = [json.loads(line) for line in (session_dir / "drift.log").read_text().splitlines()]
    assert fills and all(within_cap(f, D("0.001")) for f in fills)
    statuses = [o["status"] for o in state(venue)["orders"]]
    assert len(order_posts(venue)) == 2 and "EXPIRED" in statuses  # IOC: the venue expired what the cap left
    summary = json.loads((session_dir / "s.json").read_text())
    capped = summary["rebalances"][0]["capped"]
    assert len(capped) == statuses.count("EXPIRED") and all(D(c["unfilled"]) > 0 for c in capped)


@pytest.mark.slow
def test_parity_holds_under_limit_cap_on_both_real_recordings(tmp_path):
    import subprocess
    import sys

    data = []
    for name in ("btcusdt_20240808.gz", "ethusdt_20240808.gz", "btcusdt_20240809.gz", "ethusdt_20240809.gz"):
        data += ["--data", str(shared_file("binance", "market", name))]
    profile = profile_text(tmp_path, {"style": "limit_cap", "max_slippage_bps": 1})  # a cap the walks reach
    proc = subprocess.run([sys.executable, "-m", "nautlive", "parity", "--profile", str(profile), *data,
                           "--schedule", str(REPO / "artifacts" / "orders" / "schedule.example.json"), "--json"],
                          capture_output=True, text=True, cwd=REPO, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    result = json.loads(proc.stdout)
    assert result["orders_match"] and result["ok"] and result["backtest_orders"] >= 8
