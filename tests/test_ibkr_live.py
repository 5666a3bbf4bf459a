"""IB end to end offline: LIVE, reconcile and shadow through Nautilus's real IB adapter against the loopback TWS venue,
playing a current IB Gateway (server version 223: protobuf) and one of 2023 (176: text).

The venue (nautlive.sim.tws) runs on a thread of the test process on free loopback ports; each session is its own
`python -m nautlive` process in a tmp directory holding a copy of profiles/ibkr-sim.yaml pointed at it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.request
from decimal import Decimal
from pathlib import Path

import pytest
import yaml

from nautlive.sim.tws import build_tws_simulator
from nautlive.sim.tws.server import RunningTws, start_in_thread
from tests.conftest import REPO

pytestmark = pytest.mark.slow
CATALOG = REPO / "artifacts" / "catalog" / "ibkr.yaml"
INSTRUMENTS = ["AAPL.NASDAQ", "SPY.ARCA"]
TARGETS = {"AAPL.NASDAQ": 0.5, "SPY.ARCA": 0.3}
CONNECT_TIMEOUT = 6
D = Decimal


GATEWAYS = [223, 176]  # a current IB Gateway (protobuf from 201 on) and one of 2023 (text only)


@pytest.fixture(params=GATEWAYS, ids=lambda version: f"gateway-{version}")
def tws(request):
    sim = build_tws_simulator(INSTRUMENTS, CATALOG, server_version=request.param)
    with start_in_thread(sim, quote_interval=0.1) as running:
        yield running


def write_profile(directory: Path, running: RunningTws, **ibkr: object) -> None:
    profile = yaml.safe_load((REPO / "profiles" / "ibkr-sim.yaml").read_text())
    profile["catalog"] = str(CATALOG)
    profile["ibkr"] = {"host": "127.0.0.1", "port": running.port, "client_id": 1, "account_id": "DU123456", **ibkr}
    profile["live"] = {"connect_timeout": CONNECT_TIMEOUT, "fill_timeout": 4, "lock_dir": str(directory / "locks"),
                       "stop_timeout": 3}
    (directory / "profile.yaml").write_text(yaml.safe_dump(profile))


@pytest.fixture
def ib_dir(tmp_path: Path, tws: RunningTws) -> Path:
    write_profile(tmp_path, tws)
    (tmp_path / "targets.json").write_text(json.dumps({"weights": TARGETS}))
    return tmp_path


def nautlive(directory: Path, *args: str, timeout: float = 90) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in ("NAUTLIVE_ARM", "TWS_ACCOUNT")}
    return subprocess.run([sys.executable, "-m", "nautlive", *args], cwd=directory, env=env, capture_output=True,
                          text=True, timeout=timeout)


def live(directory: Path, *args: str, timeout: float = 90) -> subprocess.CompletedProcess:
    return nautlive(directory, "live", "--profile", "profile.yaml", "--targets", "targets.json", "--drift-log",
                    "drift.log", "--arm", "--json", *args, timeout=timeout)


def state(running: RunningTws) -> dict:
    with urllib.request.urlopen(running.control_url + "/__sim/state", timeout=5) as response:
        return json.loads(response.read())


def control(running: RunningTws, method: str, path: str) -> dict:
    request = urllib.request.Request(running.control_url + path, method=method)
    with urllib.request.urlopen(request, timeout=5) as response:
        return json.loads(response.read())


def placed(running: RunningTws) -> list[dict]:
    return [r for r in state(running)["requests"] if r["name"] == "placeOrder"]


def error_line(stderr: str) -> str:
    errors = [line for line in stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1, stderr[-3000:]
    return errors[0]


def weights_at_venue(running: RunningTws) -> dict[str, Decimal]:
    snapshot = state(running)
    mids = {s: (D(str(q["bid"])) + D(str(q["ask"]))) / 2 for s, q in snapshot["quotes"].items()}
    values = {s: D(p["quantity"]) * mids[s] for s, p in snapshot["positions"].items()}
    nav = D(snapshot["cash"]["USD"]) + sum(values.values())
    return {s: v / nav for s, v in values.items()}


# -- the happy path ------------------------------------------------------------------------------------------------


def test_live_once_reaches_targets_in_whole_shares_and_a_rerun_sends_nothing(ib_dir, tws):
    proc = live(ib_dir, "--once")
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = json.loads(proc.stdout)
    snapshot = state(tws)
    assert {o["status"] for o in snapshot["orders"]} == {"Filled"} and len(snapshot["orders"]) == 2
    for position in snapshot["positions"].values():
        assert D(position["quantity"]) == D(position["quantity"]).to_integral_value() > 0
    for symbol, weight in weights_at_venue(tws).items():
        target = D(str(TARGETS[f"{symbol}.{'NASDAQ' if symbol == 'AAPL' else 'ARCA'}"]))
        assert abs(weight - target) < D("0.01"), symbol
    logged = [json.loads(line) for line in (ib_dir / "drift.log").read_text().splitlines()]
    exec_ids = {e["exec_id"] for e in snapshot["executions"]}
    assert {f["trade_id"] for f in logged} == exec_ids and len(logged) == len(result["fills"]) == 2
    assert all(f["venue"] == "INTERACTIVE_BROKERS" and f["mode"] == "live" for f in logged)

    again = live(ib_dir, "--once")
    assert again.returncode == 0, again.stderr[-3000:]
    assert len(placed(tws)) == 2 and json.loads(again.stdout)["fills"] == []


def test_the_session_speaks_the_gateways_own_protocol(ib_dir, tws):
    """At the default venue the session (and its gateway probe) negotiate 223 and place their orders as protobuf
    (MIN_SERVER_VER_PROTOBUF_PLACE_ORDER, 203); against a gateway of 2023 (176), text."""
    proc = live(ib_dir, "--once")
    assert proc.returncode == 0, proc.stderr[-3000:]
    snapshot = state(tws)
    gateway = snapshot["server_version"]
    session = [c for c in snapshot["connections"] if c["client_id"] == 1]
    probe = [c for c in snapshot["connections"] if c["client_id"] == 201]
    assert session and probe and {c["version"] for c in session + probe} == {gateway}
    assert {c["offered"] for c in session + probe} == {"v100..223"}
    orders = placed(tws)
    assert len(orders) == 2 and {o["protobuf"] for o in orders} == {gateway >= 203}
    assert (gateway, orders[0]["protobuf"]) in ((223, True), (176, False))
    assert gateway == 176 or {r["protobuf"] for r in snapshot["requests"] if r["name"] == "reqPositions"} == {True}


def test_reconcile_reads_the_specs_through_the_adapter(ib_dir, tws):
    proc = nautlive(ib_dir, "reconcile", "--profile", "profile.yaml", "--json")
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert [r["name"] for r in state(tws)["requests"]].count("reqContractDetails") == 2


def test_shadow_paper_trades_on_the_venues_market_data(ib_dir, tws):
    proc = nautlive(ib_dir, "shadow", "--profile", "profile.yaml", "--feed", "venue", "--once", "--targets",
                    "targets.json", "--drift-log", "drift.log", "--json")
    assert proc.returncode == 0, proc.stderr[-3000:]
    fills = json.loads(proc.stdout)["fills"]
    assert {f["instrument"] for f in fills} == set(TARGETS) and placed(tws) == []
    names = [r["name"] for r in state(tws)["requests"]]
    assert "reqMktData" in names and "placeOrder" not in names


# -- faults ----------------------------------------------------------------------------------------------------------


def wait_for(condition, seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, f"no {what} within {seconds} s"
        time.sleep(0.1)


def start_live_for_a_minute(ib_dir: Path) -> subprocess.Popen:
    """LIVE for 60 s in the background, stderr in ib_dir/stderr.txt, the JSON result on stdout."""
    return subprocess.Popen([sys.executable, "-m", "nautlive", "live", "--profile", "profile.yaml", "--targets",
                             "targets.json", "--drift-log", "drift.log", "--arm", "--duration", "60", "--json"],
                            cwd=ib_dir, stdout=subprocess.PIPE, stderr=(ib_dir / "stderr.txt").open("w"), text=True)


def drop_after_the_first_rebalance(tws) -> None:  # noqa: ANN001
    """Once the first rebalance filled, the venue drops the session; returns when the adapter is connected again."""
    wait_for(lambda: len(state(tws)["executions"]) == 2, 30, "first rebalance filled")
    opened = state(tws)["connections_opened"]
    assert control(tws, "POST", "/__sim/drop")["dropped"] == 1
    wait_for(lambda: state(tws)["connections_opened"] > opened and state(tws)["clients"], 30, "reconnection")


def test_a_dropped_connection_is_restored_and_no_order_is_doubled(ib_dir, tws):
    proc = start_live_for_a_minute(ib_dir)
    try:
        drop_after_the_first_rebalance(tws)
        (ib_dir / "targets.json").write_text(json.dumps({"weights": {"AAPL.NASDAQ": 0.4, "SPY.ARCA": 0.3}}))
        wait_for(lambda: len(state(tws)["executions"]) == 3, 30, "the new target's fill after the reconnection")
        proc.terminate()
        out, _ = proc.communicate(timeout=30)
    finally:
        proc.kill()
    stderr = (ib_dir / "stderr.txt").read_text()
    assert proc.returncode == 0 and "code: 1100" in stderr and "code: 1102" in stderr, stderr[-3000:]
    refs = [r["order_ref"] for r in placed(tws)]
    assert len(refs) == len(set(refs)) == 3  # the first two orders once each, then the new target's sell
    assert [o["action"] for o in state(tws)["orders"]][-1] == "SELL"
    logged = [json.loads(line)["trade_id"] for line in (ib_dir / "drift.log").read_text().splitlines()]
    assert sorted(logged) == sorted(e["exec_id"] for e in state(tws)["executions"])
    assert len(json.loads(out)["fills"]) == 3


def test_a_rejected_order_is_reported_and_not_retried(ib_dir, tws):
    control(tws, "POST", "/__sim/reject_next?reason=Insufficient+buying+power")
    proc = live(ib_dir, "--once")
    assert proc.returncode == 1
    assert "1 order(s) rejected" in error_line(proc.stderr) and "Insufficient buying power" in proc.stderr
    assert len(placed(tws)) == 2  # the rejected one is not sent again


def test_an_account_the_gateway_does_not_manage_exits_2_before_any_order(tmp_path, tws):
    write_profile(tmp_path, tws, account_id="DU999999")
    (tmp_path / "targets.json").write_text(json.dumps({"weights": TARGETS}))
    proc = live(tmp_path, "--once")
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert "manages DU123456, not DU999999" in error_line(proc.stderr) and placed(tws) == []


def test_a_closed_market_leaves_orders_waiting_then_cancels_them(ib_dir, tws):
    control(tws, "POST", "/__sim/market_closed")
    proc = live(ib_dir, "--once")
    assert proc.returncode == 1, proc.stderr[-3000:]
    orders = state(tws)["orders"]
    line = error_line(proc.stderr)
    assert "2 unfilled" in line and all(o["order_ref"].rsplit(":", 1)[0] in line for o in orders), line
    assert len(orders) == 2 and {o["status"] for o in orders} == {"Cancelled"}
    assert state(tws)["positions"] == {}


def test_a_stall_at_connect_exits_1_within_the_connect_timeout(ib_dir, tws):
    control(tws, "POST", "/__sim/stall")
    started = time.monotonic()
    proc = live(ib_dir, "--once")
    assert proc.returncode == 1 and time.monotonic() - started < CONNECT_TIMEOUT + 8
    assert "no answer to the API handshake" in error_line(proc.stderr) and placed(tws) == []


def test_a_fractional_quantity_never_reaches_the_venue(ib_dir, tws):
    catalog = yaml.safe_load(CATALOG.read_text())
    for record in catalog["instruments"]:
        record.update(step_size="0.001", min_qty="0.001", size_precision=3)
    (ib_dir / "fractional.yaml").write_text(yaml.safe_dump(catalog))
    profile = yaml.safe_load((ib_dir / "profile.yaml").read_text())
    profile["catalog"] = str(ib_dir / "fractional.yaml")
    (ib_dir / "profile.yaml").write_text(yaml.safe_dump(profile))
    proc = live(ib_dir, "--once")
    assert proc.returncode == 3, proc.stderr[-2000:]
    assert "catalog 0.001 vs venue 1 (BLOCKING)" in error_line(proc.stderr) and placed(tws) == []


def sigterm_once_two_orders_are_placed(directory: Path, running: RunningTws) -> tuple[int, str, str]:
    """A LIVE session stopped by SIGTERM as soon as the venue has both its orders: (exit code, stdout, stderr)."""
    import signal

    proc = subprocess.Popen([sys.executable, "-m", "nautlive", "live", "--profile", "profile.yaml", "--targets",
                             "targets.json", "--drift-log", "drift.log", "--arm", "--json", "--duration", "60"],
                            cwd=directory, env={k: v for k, v in os.environ.items() if k != "NAUTLIVE_ARM"},
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 45
        while len(placed(running)) < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=30)
    finally:
        proc.kill()
    return proc.returncode, out, err


def test_a_stop_waits_for_the_gateway_to_confirm_each_cancel(ib_dir, tws):
    """Orders waiting for the open when SIGTERM comes: cancelled, confirmed by the gateway, named in the summary."""
    control(tws, "POST", "/__sim/market_closed")
    code, out, err = sigterm_once_two_orders_are_placed(ib_dir, tws)
    assert code == 0, err[-3000:]
    summary = json.loads(out)
    assert "orders at stop: 2 cancelled" in summary["reason"]
    assert set(summary["stopped_orders"].values()) == {"cancelled"}
    assert {o["status"] for o in state(tws)["orders"]} == {"Cancelled"}


def test_a_stop_before_the_gateway_acknowledged_the_orders_still_cancels_them(ib_dir, tws):
    """SIGTERM while the gateway has not yet told the client about its orders: the first cancel has no order id to
    go by and is dropped by the adapter; the stop sends it again once the ack is in."""
    control(tws, "POST", "/__sim/market_closed")
    tws.call(tws.sim.delay_acks, 1.5)
    code, out, err = sigterm_once_two_orders_are_placed(ib_dir, tws)  # the acks are 1.5 s away
    assert code == 0, err[-3000:]
    summary = json.loads(out)
    assert "orders at stop: 2 cancelled" in summary["reason"], summary["reason"]
    assert {o["status"] for o in state(tws)["orders"]} == {"Cancelled"}


def test_executions_missed_after_a_kill_are_recovered_once(ib_dir, tws):
    """Orders wait for the open, the session is killed (-9), the market opens and fills them: the next session logs
    those executions, by IB execution id, once."""
    control(tws, "POST", "/__sim/market_closed")
    proc = subprocess.Popen([sys.executable, "-m", "nautlive", "live", "--profile", "profile.yaml", "--targets",
                             "targets.json", "--drift-log", "drift.log", "--arm", "--duration", "60"],
                            cwd=ib_dir, env={k: v for k, v in os.environ.items() if k != "NAUTLIVE_ARM"},
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 45
        while len(placed(tws)) < 2 and time.monotonic() < deadline:
            time.sleep(0.1)
    finally:
        proc.kill()
        proc.wait()
    control(tws, "DELETE", "/__sim/market_closed")
    deadline = time.monotonic() + 10
    while len(state(tws)["executions"]) < 2 and time.monotonic() < deadline:
        time.sleep(0.1)
    executions = sorted(e["exec_id"] for e in state(tws)["executions"])
    assert len(executions) == 2
    for _ in range(2):  # the second run finds nothing new to recover
        result = live(ib_dir, "--once")
        assert result.returncode == 0, result.stderr[-3000:]
    lines = [json.loads(line) for line in (ib_dir / "drift.log").read_text().splitlines()]
    assert sorted(line["trade_id"] for line in lines) == executions
    assert all(line["recovered"] for line in lines)
