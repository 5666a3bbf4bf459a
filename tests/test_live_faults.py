"""LIVE keeps the venue's truth under faults: each test asserts the venue's final state, the drift log (one line per
venue trade, by trade id), the summary and the exit code. Against the loopback simulator, through the real adapter.
"""

from __future__ import annotations

import json
import signal
import subprocess
import time
from pathlib import Path

import pytest
import yaml

from nautlive.sim.keys import SIM_PRIVATE_KEY
from tests.live_helpers import (
    TARGETS,
    D,
    error_line,
    finish,
    live_command,
    live_env,
    order_posts,
    run_live,
    stall_from_first_order,
    stall_mid_rebalance,
    start_live,
    state,
    wait_until,
    weights_at_venue,
    write_targets,
)

pytestmark = pytest.mark.slow
LIVE_ORDER_STATES = ("NEW", "PARTIALLY_FILLED")


def drift_lines(directory: Path) -> list[dict]:
    path = directory / "drift.log"
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()] if path.exists() else []


def venue_trade_ids(running) -> list[str]:  # noqa: ANN001
    return sorted(str(f["id"]) for f in state(running)["fills"])


def logged_trade_ids(directory: Path) -> list[str]:
    return sorted(line["trade_id"] for line in drift_lines(directory))


def open_at_venue(running) -> list[dict]:  # noqa: ANN001
    return [o for o in state(running)["orders"] if o["status"] in LIVE_ORDER_STATES]


def posted_ids(running) -> list[str]:  # noqa: ANN001
    return [r["params"]["newClientOrderId"] for r in order_posts(running)]


def set_live(directory: Path, **settings: object) -> None:
    profile = yaml.safe_load((directory / "profile.yaml").read_text())
    profile.setdefault("live", {}).update(settings)
    (directory / "profile.yaml").write_text(yaml.safe_dump(profile))


# -- stops tell the truth ------------------------------------------------------------------------------------------


def test_second_session_refused_then_sigterm_on_a_stalled_venue_names_the_orders_of_unknown_fate(venue, session_dir):
    proc = stall_mid_rebalance(session_dir, venue)
    started = time.monotonic()
    second = run_live(session_dir, venue, "--arm", "--once", timeout=20)
    assert second.returncode == 4 and time.monotonic() - started < 10
    line = error_line(second.stderr)
    assert line.startswith("error: another session (pid ") and line.endswith(": one session per account")
    assert len(order_posts(venue)) == 2  # the refused session sent nothing

    proc.send_signal(signal.SIGTERM)
    code, stdout, stderr = finish(proc, session_dir)
    assert code == 1, stderr[-3000:]
    line = error_line(stderr)
    assert "fate unknown after 3 s (live.stop_timeout)" in line
    assert all(coid in line for coid in posted_ids(venue))
    assert "cancelled" not in line


@pytest.mark.parametrize("stop", ["SIGTERM", "kill switch", "SIGHUP"])
def test_fills_that_land_after_the_stop_request_are_fills(venue, session_dir, stop):
    """The venue answers late: the stop cancels, the venue fills anyway; the log, summary and exit code say so.
    SIGHUP (a closed terminal) stops exactly as SIGTERM does."""
    set_live(session_dir, stop_timeout=8)
    proc = stall_mid_rebalance(session_dir, venue)
    if stop in ("SIGTERM", "SIGHUP"):
        proc.send_signal(getattr(signal, stop))
    else:
        (session_dir / "artifacts").mkdir(exist_ok=True)
        (session_dir / "artifacts" / "KILL").touch()
    time.sleep(1.5)
    venue.call(venue.sim.clear_stall)
    code, stdout, stderr = finish(proc, session_dir)
    assert code == (4 if stop == "kill switch" else 0), stderr[-3000:]
    assert len(venue_trade_ids(venue)) == 2
    assert logged_trade_ids(session_dir) == venue_trade_ids(venue)  # each venue trade logged exactly once
    assert not open_at_venue(venue)
    text = error_line(stderr) if stop == "kill switch" else stdout
    assert "2 filled" in text and "cancelled" not in text.replace("2 filled", "")
    if stop == "SIGHUP":
        assert "SIGHUP received (terminal closed or reload asked): stopped like SIGTERM (orders at stop: 2 filled" in (
            stdout.splitlines()[-1])


def test_a_fill_after_kill_9_is_recovered_by_the_next_session(venue, session_dir):
    proc = stall_mid_rebalance(session_dir, venue)
    proc.kill()
    proc.wait()
    venue.call(venue.sim.clear_stall)
    wait_until(lambda: len(state(venue)["fills"]) == 2, 10, "the venue filling the orphaned orders")
    assert drift_lines(session_dir) == []

    result = run_live(session_dir, venue, "--arm", "--once")
    assert result.returncode == 0, result.stderr[-3000:]
    assert "recovered 2 fill(s)" in result.stderr
    lines = drift_lines(session_dir)
    assert logged_trade_ids(session_dir) == venue_trade_ids(venue)
    assert sum(1 for line in lines if line["recovered"]) == 2
    again = run_live(session_dir, venue, "--arm", "--once")  # nothing new to recover, nothing doubled
    assert again.returncode == 0 and "recovered" not in again.stderr
    assert logged_trade_ids(session_dir) == venue_trade_ids(venue)


# -- the venue is the truth ----------------------------------------------------------------------------------------


def test_a_restarted_venue_with_the_same_balances_does_not_double_an_order(venue, session_dir):
    set_live(session_dir, down_report_secs=1)
    proc = start_live(session_dir, venue, "--arm", "--duration", "60")
    try:
        wait_until(lambda: len(state(venue)["fills"]) == 2, 30, "first rebalance", proc)
        venue.call(venue.sim.restart)  # listen keys forgotten, connections dropped, balances kept
        time.sleep(2.5)
        write_targets(session_dir, {"BTCUSDT.BINANCE": 0.2, "ETHUSDT.BINANCE": 0.2})
        wait_until(lambda: len(state(venue)["fills"]) == 3, 30, "the BTC sell", proc)
        time.sleep(1.5)
        write_targets(session_dir, {"BTCUSDT.BINANCE": 0.2, "ETHUSDT.BINANCE": 0.15})
        wait_until(lambda: len(state(venue)["fills"]) == 4, 30, "the ETH sell", proc)
        time.sleep(1.5)
        posts_before_stop = order_posts(venue)
    finally:
        proc.send_signal(signal.SIGTERM)
    code, stdout, stderr = finish(proc, session_dir)
    assert code == 0, stderr[-3000:]
    assert [(p["params"]["symbol"], p["params"]["side"]) for p in posts_before_stop[2:]] == [
        ("BTCUSDT", "SELL"), ("ETHUSDT", "SELL")]  # BTC sold once, not again on the next target
    weights = weights_at_venue(venue)
    assert abs(weights["BTCUSDT.BINANCE"] - D("0.2")) < D("0.01")
    assert abs(weights["ETHUSDT.BINANCE"] - D("0.15")) < D("0.01")
    assert "re-establish" in stderr
    assert logged_trade_ids(session_dir) == venue_trade_ids(venue)


def test_a_silent_user_stream_and_an_order_behind_its_back(venue, session_dir):
    """The stream goes quiet, someone buys BTC on the account by hand; the next target is planned from REST."""
    proc = start_live(session_dir, venue, "--arm", "--duration", "60")
    try:
        wait_until(lambda: len(state(venue)["fills"]) == 2, 30, "first rebalance", proc)
        time.sleep(1.0)
        venue.call(venue.sim.silence_user_stream)
        venue.call(venue.sim.place_external_order, {"symbol": "BTCUSDT", "side": "BUY", "type": "MARKET",
                                                    "quantity": "0.1"})
        venue.call(venue.sim.clear_user_stream_silence)
        time.sleep(6)  # past the quiet period the stream check waits for
        write_targets(session_dir, {"BTCUSDT.BINANCE": 0.3, "ETHUSDT.BINANCE": 0.25})
        wait_until(lambda: abs(weights_at_venue(venue)["ETHUSDT.BINANCE"] - D("0.25")) < D("0.01"), 30,
                   "the ETH buy", proc)
        time.sleep(1.0)
    finally:
        proc.send_signal(signal.SIGTERM)
    code, _, stderr = finish(proc, session_dir)
    assert code == 0, stderr[-3000:]
    weights = weights_at_venue(venue)
    assert abs(weights["BTCUSDT.BINANCE"] - D("0.3")) < D("0.01")  # the hand-bought BTC was seen and sold
    assert abs(weights["ETHUSDT.BINANCE"] - D("0.25")) < D("0.01")


def test_foreign_open_order_fails_by_default_naming_it(venue, session_dir):
    venue.call(venue.sim.place_external_order, {"symbol": "BTCUSDT", "side": "BUY", "type": "LIMIT",
                                                "quantity": "0.1", "price": "20000", "clientOrderId": "manual_1"})
    result = run_live(session_dir, venue, "--arm", "--once")
    assert result.returncode == 3, result.stderr[-3000:]
    assert "manual_1 BUY LIMIT 0.1 BTCUSDT @ 20000" in error_line(result.stderr)
    assert order_posts(venue) == []
    assert [o["clientOrderId"] for o in open_at_venue(venue)] == ["manual_1"]


@pytest.mark.parametrize("policy", ["cancel", "keep"])
def test_foreign_open_order_cancelled_or_kept_by_policy(venue, session_dir, policy):
    venue.call(venue.sim.place_external_order, {"symbol": "BTCUSDT", "side": "BUY", "type": "LIMIT",
                                                "quantity": "0.25", "price": "20000", "clientOrderId": "manual_1"})
    set_live(session_dir, open_orders=policy)
    result = run_live(session_dir, venue, "--arm", "--once")
    assert result.returncode == 0, result.stderr[-3000:]
    remaining = [o["clientOrderId"] for o in open_at_venue(venue)]
    assert remaining == ([] if policy == "cancel" else ["manual_1"])
    snapshot = state(venue)
    locked = D(snapshot["balances"]["USDT"]["locked"])
    assert locked == (0 if policy == "cancel" else D(5000))
    weights = weights_at_venue(venue)  # NAV counts the locked 5,000 USDT: targets are fractions of all of it
    assert abs(weights["BTCUSDT.BINANCE"] - D(str(TARGETS["BTCUSDT.BINANCE"]))) < D("0.01")


def test_own_order_left_open_by_an_earlier_session_is_cancelled_at_start(venue, session_dir):
    venue.call(venue.sim.place_external_order, {"symbol": "ETHUSDT", "side": "BUY", "type": "LIMIT",
                                                "quantity": "1", "price": "100",
                                                "clientOrderId": "O-20261127-101010-NLV-000-7"})
    result = run_live(session_dir, venue, "--arm", "--once")
    assert result.returncode == 0, result.stderr[-3000:]
    assert "cancelled O-20261127-101010-NLV-000-7 BUY LIMIT 1 ETHUSDT @ 100, left open by an earlier session" in (
        result.stderr)
    assert not open_at_venue(venue)


def test_a_venue_killed_mid_session_is_reported_and_the_session_exits_1(session_dir):
    from tests.live_helpers import start_venue

    set_live(session_dir, down_report_secs=1, down_timeout=4)
    running = start_venue()
    proc = start_live(session_dir, running, "--arm", "--duration", "60")
    try:
        wait_until(lambda: len(state(running)["fills"]) == 2, 30, "first rebalance", proc)
    finally:
        running.stop()
    started = time.monotonic()
    code, _, stderr = finish(proc, session_dir, timeout=30)
    assert code == 1, stderr[-3000:]
    assert time.monotonic() - started < 15
    assert "Venue not answering for" in stderr
    assert "venue not answering for" in error_line(stderr) and "live.down_timeout" in error_line(stderr)


# -- every fill exactly once, fees in their currency -----------------------------------------------------------------


def test_each_fill_carries_its_trade_id_and_fee_in_the_quote_currency(venue, session_dir):
    result = run_live(session_dir, venue, "--arm", "--once")
    assert result.returncode == 0, result.stderr[-3000:]
    lines = drift_lines(session_dir)
    assert logged_trade_ids(session_dir) == venue_trade_ids(venue)
    for line in lines:  # BUYs: Binance takes the fee in the base asset
        assert line["side"] == "BUY" and line["fee_currency"] == line["instrument"].split("USDT")[0]
        assert D(line["fee_quote"]) == D(line["fee"]) * D(line["fill_px"])
    report = run_report(session_dir)
    assert D(str(report["venues"][0]["overall"]["fees"])).quantize(D("0.0001")) == sum(
        D(line["fee_quote"]) for line in lines).quantize(D("0.0001"))


def run_report(directory: Path) -> dict:
    import subprocess
    import sys

    done = subprocess.run([sys.executable, "-m", "nautlive", "drift-report", "--log", "drift.log", "--json"],
                          cwd=directory, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_a_late_fill_after_the_watchdog_gave_up_is_logged_once(venue, session_dir):
    set_live(session_dir, fill_timeout=2)
    venue.call(stall_from_first_order, venue.sim, 5.0)  # the orders wait 5 s at the venue, then execute
    result = run_live(session_dir, venue, "--arm", "--duration", "12")
    assert len(venue_trade_ids(venue)) == 2, result.stderr[-3000:]
    assert logged_trade_ids(session_dir) == venue_trade_ids(venue)
    assert "reporting it unfilled" in result.stderr  # the watchdog gave up, then the fills came
    assert not open_at_venue(venue)


# -- storms converge, within the budgets ---------------------------------------------------------------------------


def storm(directory: Path, writes: int, seconds: float, weights: list[dict[str, float]]) -> None:
    for n in range(writes):
        write_targets(directory, weights[n % len(weights)])
        time.sleep(seconds / writes)


def test_a_target_storm_ends_at_the_final_target(venue, session_dir):
    profile = yaml.safe_load((session_dir / "profile.yaml").read_text())
    profile["risk"] = {"max_turnover_per_day": "50x", "max_orders_per_hour": 10_000}  # budgets have their own test
    (session_dir / "profile.yaml").write_text(yaml.safe_dump(profile))
    proc = start_live(session_dir, venue, "--arm", "--duration", "90", "--json")
    try:
        wait_until(lambda: len(state(venue)["fills"]) == 2, 30, "first rebalance", proc)
        storm(session_dir, 200, 2.0, [{"BTCUSDT.BINANCE": 0.1 + 0.002 * k, "ETHUSDT.BINANCE": 0.6 - 0.002 * k}
                                      for k in range(40)])
        write_targets(session_dir, {"BTCUSDT.BINANCE": 0.35, "ETHUSDT.BINANCE": 0.45})

        def at_final() -> bool:
            w = weights_at_venue(venue)
            return abs(w["BTCUSDT.BINANCE"] - D("0.35")) < D("0.01") and abs(w["ETHUSDT.BINANCE"] - D("0.45")) < D("0.01")

        wait_until(at_final, 60, "the final target at the venue", proc)
        time.sleep(2.0)
    finally:
        proc.send_signal(signal.SIGTERM)
    code, stdout, stderr = finish(proc, session_dir)
    assert code == 0, stderr[-3000:]
    summary = json.loads(stdout[stdout.index("{"):])
    assert summary["superseded"] > 0  # versions that came faster than the venue traded were coalesced
    assert len(summary["rebalances"]) == 2  # the storm settled: its last version traded once (targets.settle_ms)
    assert logged_trade_ids(session_dir) == venue_trade_ids(venue)
    assert not open_at_venue(venue)


def test_a_storm_trades_at_most_the_daily_budget_then_refuses(venue, session_dir):
    profile = yaml.safe_load((session_dir / "profile.yaml").read_text())
    profile["risk"] = {"max_turnover_per_day": "0.6x"}  # 60,000 USDT on a 100,000 USDT account
    (session_dir / "profile.yaml").write_text(yaml.safe_dump(profile))
    proc = start_live(session_dir, venue, "--arm", "--duration", "60")
    try:
        wait_until(lambda: len(state(venue)["fills"]) == 2, 30, "first rebalance", proc)
        storm(session_dir, 200, 2.0, [{"BTCUSDT.BINANCE": 0.5}, {"ETHUSDT.BINANCE": 0.5}])
        time.sleep(6.0)
    finally:
        proc.send_signal(signal.SIGTERM)
    code, _, stderr = finish(proc, session_dir)
    assert code == 4, stderr[-3000:]  # the latest target refused: a safety refusal, never 0 (issue #26)
    traded = sum(D(f["quoteQty"]) for f in state(venue)["fills"])
    assert traded <= D(60_000)
    assert "Refusing to trade: daily turnover budget" in stderr
    assert error_line(stderr).startswith("error: refused: daily turnover budget") and (
        "risk.max_turnover_per_day" in error_line(stderr))
    once = run_live(session_dir, venue, "--arm", "--once")  # the budget holds across restarts: it counts the log
    assert once.returncode == 4, once.stderr[-3000:]
    assert "daily turnover budget" in error_line(once.stderr) and "risk.max_turnover_per_day" in error_line(once.stderr)


def test_buys_after_sells_plan_from_settled_cash_when_balance_updates_lag(venue, session_dir):
    assert run_live(session_dir, venue, "--arm", "--once").returncode == 0
    venue.call(venue.sim.delay_balance_updates, 3.0)
    write_targets(session_dir, {"BTCUSDT.BINANCE": 0.05, "ETHUSDT.BINANCE": 0.6})  # sell BTC, buy ETH with it
    result = run_live(session_dir, venue, "--arm", "--once")
    assert result.returncode == 0, result.stderr[-3000:]
    weights = weights_at_venue(venue)
    assert abs(weights["BTCUSDT.BINANCE"] - D("0.05")) < D("0.01")
    assert abs(weights["ETHUSDT.BINANCE"] - D("0.6")) < D("0.01")
    assert "NOTIONAL_EXCEEDS_FREE_BALANCE" not in result.stderr or "planned again" in result.stderr


def test_a_late_ack_then_a_stop_keeps_every_fill(venue, session_dir):
    """The venue executes at once but answers the order POST 4 s late; the session is stopped meanwhile."""
    venue.call(venue.sim.delay_order_acks, 4.0)
    proc = start_live(session_dir, venue, "--arm", "--duration", "60")
    wait_until(lambda: state(venue)["fills"], 30, "the first order executed at the venue", proc)
    proc.send_signal(signal.SIGTERM)  # its answer is still 4 s away
    code, stdout, stderr = finish(proc, session_dir)
    assert code == 0, stderr[-3000:]
    assert venue_trade_ids(venue) and logged_trade_ids(session_dir) == venue_trade_ids(venue)
    assert not open_at_venue(venue)
    assert "unknown" not in stdout


def test_a_copied_profile_in_another_folder_cannot_trade_the_same_account(venue, session_dir, tmp_path_factory):
    """The lock is the account's (endpoint + key fingerprint) in the per-user state folder, not the profile's name."""
    state_home = tmp_path_factory.mktemp("state")
    profile = yaml.safe_load((session_dir / "profile.yaml").read_text())
    del profile["live"]["lock_dir"]
    (session_dir / "profile.yaml").write_text(yaml.safe_dump(profile))
    elsewhere = tmp_path_factory.mktemp("elsewhere")
    (elsewhere / "renamed.yaml").write_text(yaml.safe_dump(profile))
    (elsewhere / "targets.json").write_text((session_dir / "targets.json").read_text())
    venue.call(stall_from_first_order, venue.sim, None)
    proc = start_live(session_dir, venue, "--arm", "--duration", "30", XDG_STATE_HOME=str(state_home))
    try:
        wait_until(lambda: order_posts(venue), 30, "order in flight", proc)
        command = live_command("--arm", "--once")
        command[command.index("profile.yaml")] = "renamed.yaml"
        second = subprocess.run(command, cwd=elsewhere, env=live_env(venue, XDG_STATE_HOME=str(state_home)),
                                capture_output=True, text=True, timeout=30)
    finally:
        proc.kill()
    assert second.returncode == 4, second.stderr[-3000:]
    line = error_line(second.stderr)
    assert "one session per account" in line and str(session_dir / "profile.yaml") in line
    assert "sim-key" not in second.stderr and SIM_PRIVATE_KEY not in second.stderr
    assert len(order_posts(venue)) == 2  # only the first session's orders


def test_a_kept_foreign_sell_order_locks_base_the_plan_does_not_sell(venue, session_dir):
    assert run_live(session_dir, venue, "--arm", "--once").returncode == 0
    venue.call(venue.sim.place_external_order, {"symbol": "BTCUSDT", "side": "SELL", "type": "LIMIT",
                                                "quantity": "0.2", "price": "99000", "clientOrderId": "manual_sell"})
    set_live(session_dir, open_orders="keep")
    write_targets(session_dir, {"BTCUSDT.BINANCE": 0.1, "ETHUSDT.BINANCE": 0.2})
    result = run_live(session_dir, venue, "--arm", "--once")
    assert result.returncode == 0, result.stderr[-3000:]  # no -2010 for selling what the foreign order locks
    assert [o["clientOrderId"] for o in open_at_venue(venue)] == ["manual_sell"]
    assert D(state(venue)["balances"]["BTC"]["locked"]) == D("0.2")
    assert abs(weights_at_venue(venue, "free")["BTCUSDT.BINANCE"] - D("0.1")) < D("0.01")  # the free part at target
