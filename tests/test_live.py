"""`nautlive live` end to end against the loopback Binance simulator: the real adapter, safety rails and faults.

Each session runs in its own `python -m nautlive live` process (Nautilus initialises logging once per process), in a
tmp directory holding its profile (from profiles/binance-sim.yaml), targets, drift log, lock dir and kill switch. The
simulator runs on a thread of the test process, on a free port handed over through NAUTLIVE_SIM_HTTP / NAUTLIVE_SIM_WS.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path

import pytest
import yaml

from nautlive.sim.binance import BinanceSimulator, build_simulator
from nautlive.sim.server import RunningSimulator, start_in_thread
from tests.conftest import REPO

pytestmark = pytest.mark.slow

CATALOG = REPO / "artifacts" / "catalog" / "binance.yaml"
SIM_PROFILE = REPO / "profiles" / "binance-sim.yaml"
TARGETS = {"BTCUSDT.BINANCE": 0.3, "ETHUSDT.BINANCE": 0.2}
BAND = Decimal("0.01")
CONNECT_TIMEOUT = 5
DRIFT_FIELDS = {"ts", "session", "mode", "venue", "instrument", "side", "qty", "fill_px", "mid_at_submit",
                "last_tick_px", "drift_bps", "notional", "client_order_id", "target_hash", "alert"}
D = Decimal


# -- the venue, the session directory and the command ------------------------------------------------------------


def start_venue(catalog: Path = CATALOG, symbols: tuple[str, ...] = ("BTCUSDT", "ETHUSDT")) -> RunningSimulator:
    sim = build_simulator(list(symbols), {"USDT": D(100_000)}, catalog_path=catalog)
    return start_in_thread(sim, quote_interval=0.05)


@pytest.fixture
def venue():
    with start_venue() as running:
        yield running


@pytest.fixture
def session_dir(tmp_path: Path) -> Path:
    """The shipped sim profile with an absolute catalog and a short connect timeout, and the first targets."""
    profile = yaml.safe_load(SIM_PROFILE.read_text())
    profile["catalog"] = str(CATALOG)
    profile["live"] = {"connect_timeout": CONNECT_TIMEOUT, "fill_timeout": 10, "lock_dir": str(tmp_path / "locks"),
                       "stop_timeout": 3}
    (tmp_path / "profile.yaml").write_text(yaml.safe_dump(profile))
    write_targets(tmp_path, TARGETS)
    return tmp_path


def write_targets(directory: Path, weights: dict[str, float]) -> None:
    temporary = directory / "targets.json.tmp"
    temporary.write_text(json.dumps({"as_of": "2026-11-24T12:00:00Z", "weights": weights}))
    temporary.replace(directory / "targets.json")


def live_command(*args: str) -> list[str]:
    return [sys.executable, "-m", "nautlive", "live", "--profile", "profile.yaml", "--targets", "targets.json",
            "--drift-log", "drift.log", *args]


def live_env(running: RunningSimulator | None, port: int | None = None, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("NAUTLIVE_ARM", "NAUTLIVE_SIM_KEY", "NAUTLIVE_SIM_SECRET")}
    http, ws = (running.http_url, running.ws_url) if running else (f"http://127.0.0.1:{port}", f"ws://127.0.0.1:{port}")
    return {**env, "NAUTLIVE_SIM_HTTP": http, "NAUTLIVE_SIM_WS": ws, **extra}


def run_live(directory: Path, running: RunningSimulator | None, *args: str, port: int | None = None,
             timeout: float = 60, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run(live_command(*args), cwd=directory, env=live_env(running, port, **env), capture_output=True,
                          text=True, timeout=timeout)


def start_live(directory: Path, running: RunningSimulator, *args: str, **env: str) -> subprocess.Popen:
    """A session in the background; its output goes to files (INFO logs would fill a pipe)."""
    return subprocess.Popen(live_command(*args), cwd=directory, env=live_env(running, **env),
                            stdout=(directory / "stdout.txt").open("w"), stderr=(directory / "stderr.txt").open("w"),
                            text=True)


def finish(proc: subprocess.Popen, directory: Path, timeout: float = 30) -> tuple[int, str, str]:
    try:
        code = proc.wait(timeout)
    finally:
        proc.kill()
    return code, (directory / "stdout.txt").read_text(), (directory / "stderr.txt").read_text()


def error_line(stderr: str) -> str:
    """The CLI's one `error: ...` line (Nautilus's own log lines may surround it)."""
    errors = [line for line in stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1, stderr[-3000:]
    return errors[0]


# -- watching the venue --------------------------------------------------------------------------------------------


def state(running: RunningSimulator) -> dict:
    """GET /__sim/state: balances, orders, fills, books, the request log and WebSocket connection counts."""
    with urllib.request.urlopen(running.http_url + "/__sim/state", timeout=5) as response:
        return json.loads(response.read())


def order_posts(running: RunningSimulator) -> list[dict]:
    return [r for r in state(running)["requests"] if r["method"] == "POST" and r["path"] == "/api/v3/order"]


def wait_until(condition: Callable[[], bool], seconds: float, what: str, proc: subprocess.Popen | None = None) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        if proc is not None and proc.poll() is not None:
            pytest.fail(f"session exited {proc.returncode} while waiting for {what}")
        if time.monotonic() > deadline:
            pytest.fail(f"no {what} within {seconds} s")
        time.sleep(0.05)


def weights_at_venue(running: RunningSimulator) -> dict[str, Decimal]:
    """Each instrument's share of NAV from the simulator's own balances, valued at its mid."""
    snapshot = state(running)
    free = {asset: D(b["free"]) + D(b["locked"]) for asset, b in snapshot["balances"].items()}
    mids = {s: (D(b["bid"]) + D(b["ask"])) / 2 for s, b in snapshot["books"].items()}
    values = {f"{s}.BINANCE": free.get(s.removesuffix("USDT"), D(0)) * mid for s, mid in mids.items()}
    nav = free.get("USDT", D(0)) + sum(values.values())
    return {iid: value / nav for iid, value in values.items()}


def stall_from_first_order(sim: BinanceSimulator) -> None:
    """From the first POST /api/v3/order on, the venue holds every REST answer (that order's included)."""
    log_request = sim.log_request

    def log_then_stall(method: str, path: str, params: dict) -> None:
        log_request(method, path, params)
        if (method, path) == ("POST", "/api/v3/order"):
            sim.stall(None)

    sim.log_request = log_then_stall


def stall_mid_rebalance(directory: Path, running: RunningSimulator) -> subprocess.Popen:
    """A session whose first orders are in flight, unanswered."""
    running.call(stall_from_first_order, running.sim)
    proc = start_live(directory, running, "--arm", "--duration", "30")
    wait_until(lambda: order_posts(running), 30, "order in flight", proc)
    time.sleep(0.3)  # the second order goes out too
    return proc


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
    key, secret = "KEYzq7Xw1unique", "SECRETr9Vb3unique"
    result = run_live(session_dir, venue, "--arm", "--once", "--log-level", "INFO", "--summary", "summary.json",
                      NAUTLIVE_SIM_KEY=key, NAUTLIVE_SIM_SECRET=secret)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "[INFO]" in result.stdout + result.stderr  # Nautilus's log output is part of what is checked
    outputs = {"stdout": result.stdout, "stderr": result.stderr,
               "drift log": (session_dir / "drift.log").read_text(),
               "summary": (session_dir / "summary.json").read_text()}
    outputs.update({str(p): p.read_text(errors="replace") for p in session_dir.rglob("*") if p.is_file()})
    for name, text in outputs.items():
        assert key not in text and secret not in text, f"a key leaked into {name}"


# -- safety rails ------------------------------------------------------------------------------------------------


def test_not_armed_refuses_with_exit_4(session_dir):
    result = run_live(session_dir, None, "--once", port=9)
    assert result.returncode == 4
    assert error_line(result.stderr).startswith("error: live trading is not armed: pass --arm")


def test_kill_switch_present_refuses_at_start(session_dir):
    (session_dir / "artifacts").mkdir()
    (session_dir / "artifacts").mkdir(exist_ok=True)
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


def test_second_session_refused_then_sigterm_mid_rebalance_exits_0(venue, session_dir):
    proc = stall_mid_rebalance(session_dir, venue)
    started = time.monotonic()
    second = run_live(session_dir, venue, "--arm", "--once", timeout=20)
    assert second.returncode == 4 and time.monotonic() - started < 10
    line = error_line(second.stderr)
    assert line.startswith("error: another session (pid ") and line.endswith(": one session per account")
    assert len(order_posts(venue)) == 2  # the refused session sent nothing

    proc.send_signal(signal.SIGTERM)
    code, stdout, stderr = finish(proc, session_dir)
    assert code == 0, stderr[-3000:]
    assert "SIGTERM received" in stdout
    assert not [o for o in state(venue)["orders"] if o["status"] in ("NEW", "PARTIALLY_FILLED")]


def test_kill_switch_mid_rebalance_cancels_and_exits_4(venue, session_dir):
    proc = stall_mid_rebalance(session_dir, venue)
    (session_dir / "artifacts").mkdir(exist_ok=True)
    (session_dir / "artifacts" / "KILL").touch()
    code, _, stderr = finish(proc, session_dir)
    assert code == 4, stderr[-3000:]
    assert error_line(stderr) == "error: kill switch artifacts/KILL appeared: open orders cancelled, session stopped"
    assert not [o for o in state(venue)["orders"] if o["status"] in ("NEW", "PARTIALLY_FILLED")]


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
    for fill in summary["fills"]:  # filled at the venue's quoted touch: a buy at the ask, above the mid
        assert fill["side"] == "BUY" and D(fill["fill_px"]) > D(fill["mid_at_submit"])
        assert 0 < fill["drift_bps"] < 5
