"""`nautlive live` end to end against the loopback Binance simulator: the real adapter, safety rails and faults.

Each session runs in its own `python -m nautlive live` process (Nautilus initialises logging once per process), in a
tmp directory holding its profile (from profiles/binance-sim.yaml), targets, drift log, lock dir and kill switch. The
simulator runs on a thread of the test process, on a free port handed over through NAUTLIVE_SIM_HTTP / NAUTLIVE_SIM_WS.
"""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
import time

import pytest

from tests.live_helpers import (
    BAND,
    CATALOG,
    CONNECT_TIMEOUT,
    DRIFT_FIELDS,
    TARGETS,
    D,
    error_line,
    finish,
    live_env,
    order_posts,
    register_new_key,
    run_live,
    start_live,
    start_venue,
    state,
    wait_until,
    weights_at_venue,
    write_targets,
)

pytestmark = pytest.mark.slow


# -- end to end ----------------------------------------------------------------------------------------------------


def test_once_trades_to_target_then_a_rerun_sends_nothing(venue, session_dir):
    first = run_live(session_dir, venue, "--arm", "--once", "--summary", "summary.json")
    assert first.returncode == 0, first.stderr[-3000:]
    assert "targets " in first.stdout and "applied: 2 orders filled" in first.stdout

    venue_state = state(venue)
    assert len(order_posts(venue)) == 2 and len(venue_state["fills"]) == 2
    assert all(o["status"] == "FILLED" for o in venue_state["orders"])
    for iid, weight in weights_at_venue(venue).items():
        assert abs(weight - D(str(TARGETS[iid]))) <= BAND, (iid, weight)

    lines = [json.loads(line) for line in (session_dir / "drift.log").read_text().splitlines()]
    fills = {f["orderId"]: f for f in venue_state["fills"]}
    by_client_id = {o["clientOrderId"]: fills[o["orderId"]] for o in venue_state["orders"]}
    assert sorted(line["instrument"] for line in lines) == sorted(TARGETS)
    for line in lines:
        assert DRIFT_FIELDS <= set(line) and line["mode"] == "live" and line["venue"] == "BINANCE"
        venue_fill = by_client_id[line["client_order_id"]]
        assert D(line["fill_px"]) == D(venue_fill["price"]) and D(line["qty"]) == D(venue_fill["qty"])
        assert line["side"] == ("BUY" if venue_fill["isBuyer"] else "SELL")
        mid, fill = D(line["mid_at_submit"]), D(line["fill_px"])
        expected_bps = (fill - mid) / mid * 10_000 if line["side"] == "BUY" else (mid - fill) / mid * 10_000
        assert abs(D(str(line["drift_bps"])) - expected_bps) < D("0.01")

    summary = json.loads((session_dir / "summary.json").read_text())
    assert summary["exit_code"] == 0 and summary["mode"] == "live" and len(summary["fills"]) == 2
    assert {k: v["target"] for k, v in summary["final_weights"].items()} == {k: str(v) for k, v in TARGETS.items()}

    # The planner starts from the venue's real holdings: nothing to do. NAUTLIVE_ARM=1 stands for --arm (cron).
    again = run_live(session_dir, venue, "--once", "--summary", "again.json", NAUTLIVE_ARM="1")
    assert again.returncode == 0, again.stderr[-3000:]
    assert len(order_posts(venue)) == 2
    rerun = json.loads((session_dir / "again.json").read_text())
    assert [r["orders"] for r in rerun["rebalances"]] == [[]] and rerun["fills"] == []


def test_keys_never_appear_in_any_output(venue, session_dir):
    key = "KEYzq7Xw1unique"
    secret = register_new_key(venue, key)
    body = secret.splitlines()[1]  # the key material itself, without the PEM's armour lines
    result = run_live(session_dir, venue, "--arm", "--once", "--log-level", "INFO", "--summary", "summary.json",
                      NAUTLIVE_SIM_KEY=key, NAUTLIVE_SIM_SECRET=secret)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "[INFO]" in result.stdout + result.stderr  # Nautilus's log output is part of what is checked
    outputs = {"stdout": result.stdout, "stderr": result.stderr,
               "drift log": (session_dir / "drift.log").read_text(),
               "summary": (session_dir / "summary.json").read_text()}
    outputs.update({str(p): p.read_text(errors="replace") for p in session_dir.rglob("*") if p.is_file()})
    for name, text in outputs.items():
        assert key not in text and body not in text, f"a key leaked into {name}"


# -- safety rails ------------------------------------------------------------------------------------------------


def test_not_armed_refuses_with_exit_4(session_dir):
    result = run_live(session_dir, None, "--once", port=9)
    assert result.returncode == 4
    assert error_line(result.stderr).startswith("error: live trading is not armed: pass --arm")


def test_kill_switch_present_refuses_at_start(session_dir):
    (session_dir / "artifacts").mkdir()
    (session_dir / "artifacts" / "KILL").touch()
    result = run_live(session_dir, None, "--arm", "--once", port=9)
    assert result.returncode == 4
    assert error_line(result.stderr) == "error: kill switch artifacts/KILL is present: remove it to trade"


@pytest.mark.parametrize(
    ("content", "message"),
    [('{"BTCUSDT.BINANCE": 0.7, "ETHUSDT.BINANCE": 0.6}', "error: targets.json: weights sum to 1.3, above 1"),
     ('{"weights": {"BTCUSDT.BINANCE": 0.', "error: targets.json: not valid JSON")],
)
def test_rejected_targets_file_exits_2_before_any_order(session_dir, content, message):
    (session_dir / "targets.json").write_text(content)
    result = run_live(session_dir, None, "--arm", "--once", port=closed_port())
    assert result.returncode == 2
    assert error_line(result.stderr).startswith(message)


def test_blocking_catalog_mismatch_at_startup_exits_3(session_dir):
    stricter = json.loads(CATALOG.read_text())  # the catalog file is JSON, a subset of YAML
    stricter["instruments"][0]["min_notional"] = "10"  # BTCUSDT: the venue asks more than the catalog knows
    venue_catalog = session_dir / "venue-catalog.yaml"
    venue_catalog.write_text(json.dumps(stricter))
    running = start_venue(venue_catalog)
    try:
        result = run_live(session_dir, running, "--arm", "--once")
        posts = order_posts(running)
    finally:
        running.stop()
    assert result.returncode == 3, result.stderr[-3000:]
    assert error_line(result.stderr).startswith(
        "error: 1 catalog mismatch(es), e.g. BTCUSDT.BINANCE min_notional: catalog 5 vs venue 10 (BLOCKING): "
        "nothing traded; `nautlive reconcile` lists them, `nautlive reconcile --write-patch` updates the catalog"
    )
    assert posts == []


def test_venue_listing_none_of_the_instruments_exits_1(session_dir):
    btc_only = json.loads(CATALOG.read_text())
    btc_only["instruments"] = btc_only["instruments"][:1]
    venue_catalog = session_dir / "venue-catalog.yaml"
    venue_catalog.write_text(json.dumps(btc_only))
    running = start_venue(venue_catalog, symbols=("BTCUSDT",))
    try:
        result = run_live(session_dir, running, "--arm", "--once")
        posts = order_posts(running)
    finally:
        running.stop()
    assert result.returncode == 1, result.stderr[-3000:]
    assert error_line(result.stderr) == "error: the venue does not list ETHUSDT: nothing traded"
    assert posts == []


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.parametrize("how", ["closed port", "stalled venue"])
def test_unresponsive_venue_exits_1_within_connect_timeout(venue, session_dir, how):
    if how == "stalled venue":
        venue.call(venue.sim.stall, None)
    started = time.monotonic()
    if how == "stalled venue":
        result = run_live(session_dir, venue, "--arm", "--once")
    else:
        result = run_live(session_dir, None, "--arm", "--once", port=closed_port())
    elapsed = time.monotonic() - started
    assert result.returncode == 1, result.stderr[-3000:]
    what = f"no answer within {CONNECT_TIMEOUT} s" if how == "stalled venue" else "connection refused"
    line = error_line(result.stderr)
    assert line.startswith("error: http://127.0.0.1:") and f": {what} (is `nautlive sim` running?): nothing traded" in line
    assert "signature" not in result.stderr and "timestamp=" not in result.stderr
    assert elapsed < CONNECT_TIMEOUT + 6  # the connect timeout plus process start, not a hang


# -- faults ------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("code", "msg"),
    [(-1013, "Filter failure: NOTIONAL"), (-2010, "Account has insufficient balance for requested action.")],
)
def test_venue_reject_is_reported_not_retried_and_once_exits_1(venue, session_dir, code, msg):
    venue.call(venue.sim.reject_next, code, msg)
    result = run_live(session_dir, venue, "--arm", "--once", "--summary", "summary.json")
    assert result.returncode == 1, result.stderr[-3000:]
    assert msg in result.stdout + result.stderr  # Binance's own reason, in the strategy's log line
    assert error_line(result.stderr).startswith("error: 1 order(s) rejected")
    assert len(order_posts(venue)) == 2  # one POST per intended order: no retry storm
    summary = json.loads((session_dir / "summary.json").read_text())
    rejected = [r for rebalance in summary["rebalances"] for r in rebalance["rejected"]]
    assert len(rejected) == 1 and str(code) in rejected[0]["reason"] and msg in rejected[0]["reason"]


def test_websocket_drop_reconnects_and_trades_the_new_target(venue, session_dir):
    proc = start_live(session_dir, venue, "--arm", "--duration", "40")
    try:
        wait_until(lambda: len(state(venue)["fills"]) == 2, 30, "first rebalance", proc)
        opened = state(venue)["connections_opened"]
        assert venue.call(venue.sim.drop_connections) >= 2  # market data and user stream
        wait_until(lambda: state(venue)["connections_opened"] >= opened + 2, 20, "reconnection", proc)
        write_targets(session_dir, {"BTCUSDT.BINANCE": 0.1, "ETHUSDT.BINANCE": 0.4})
        wait_until(lambda: len(state(venue)["fills"]) == 4, 20, "second rebalance after the drop", proc)
        time.sleep(0.5)  # the fills' user-stream events reach the session
    finally:
        proc.send_signal(signal.SIGTERM)
    code, _, stderr = finish(proc, session_dir)
    assert code == 0, stderr[-3000:]
    second = state(venue)["fills"][2:]
    assert sorted((f["symbol"], f["isBuyer"]) for f in second) == [("BTCUSDT", False), ("ETHUSDT", True)]
    lines = [json.loads(line) for line in (session_dir / "drift.log").read_text().splitlines()]
    assert len(lines) == 4 and len({line["target_hash"] for line in lines}) == 2
    for iid, weight in weights_at_venue(venue).items():
        assert abs(weight - D({"BTCUSDT.BINANCE": "0.1", "ETHUSDT.BINANCE": "0.4"}[iid])) <= BAND, (iid, weight)


@pytest.mark.slow
def test_shadow_on_the_venues_data_sends_nothing_to_the_venue(venue, session_dir):
    """SHADOW with --feed venue: the real Binance data client, fills simulated locally, no order reaches the venue."""
    command = [sys.executable, "-m", "nautlive", "shadow", "--profile", "profile.yaml", "--feed", "venue", "--once",
               "--targets", "targets.json", "--drift-log", "drift.log", "--json"]
    result = subprocess.run(command, cwd=session_dir, env=live_env(venue), capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr[-2000:]
    summary = json.loads(result.stdout)
    assert summary["mode"] == "shadow" and len(summary["fills"]) == 2
    assert order_posts(venue) == []
    # filled against the venue's book (its depth stream) 50 ms of data after submit: the walk may have moved since
    for fill in summary["fills"]:
        assert fill["side"] == "BUY" and abs(fill["drift_bps"]) < 5 and D(fill["fill_px"]) != D(fill["mid_at_submit"])
