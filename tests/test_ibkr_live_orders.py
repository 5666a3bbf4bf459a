"""IB LIVE at start reads every open order of the account (reqAllOpenOrders, through ibapi's EClient as the session's
own client id): our orders left by a killed session are cancelled and confirmed before planning, so a restart never
doubles them; other clients' orders follow live.open_orders. Against the venue at 223 and at 176."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from decimal import Decimal
from pathlib import Path

import pytest
import yaml

from tests import test_ibkr_live as base
from tests.test_ibkr_live import TARGETS, control, error_line, live, placed, state, weights_at_venue

pytestmark = pytest.mark.slow
D = Decimal
tws, ib_dir = base.tws, base.ib_dir  # the venue at 223 and at 176, and a session folder pointed at it


def wait_for(condition, timeout: float, what: str) -> None:  # noqa: ANN001
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for: {what}"
        time.sleep(0.1)


def session(directory: Path, *args: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "nautlive", "live", "--profile", "profile.yaml", "--targets",
                             "targets.json", "--drift-log", "drift.log", "--arm", "--json", *args], cwd=directory,
                            env={k: v for k, v in os.environ.items() if k not in ("NAUTLIVE_ARM", "TWS_ACCOUNT")},
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def set_policy(directory: Path, policy: str) -> None:
    profile = yaml.safe_load((directory / "profile.yaml").read_text())
    profile["live"]["open_orders"] = policy
    (directory / "profile.yaml").write_text(yaml.safe_dump(profile))


def test_a_restart_cancels_our_orders_left_working_and_never_doubles_them(ib_dir, tws):
    """#26 item 6: kill -9 while two orders wait for the open, then `live --once` again. The earlier orders are
    cancelled (IB confirms) before planning; only the new ones fill at the open; the account ends at target."""
    control(tws, "POST", "/__sim/market_closed")
    first = session(ib_dir, "--duration", "60")
    try:
        wait_for(lambda: len(placed(tws)) == 2, 45, "the first session's two orders")
    finally:
        first.kill()
        first.communicate()
    second = session(ib_dir, "--once")
    try:
        wait_for(lambda: len(placed(tws)) == 4 or second.poll() is not None, 60, "the second session's orders")
        earlier = [o for o in state(tws)["orders"][:2]]
        assert {o["status"] for o in earlier} == {"Cancelled"}, earlier  # before the new ones were placed
        control(tws, "DELETE", "/__sim/market_closed")
        out, err = second.communicate(timeout=60)
    finally:
        second.kill()
    assert second.returncode == 0, err[-3000:]
    assert err.count("left open by an earlier session (IB confirmed)") == 2, err[-3000:]
    orders = state(tws)["orders"]
    assert [o["status"] for o in orders] == ["Cancelled", "Cancelled", "Filled", "Filled"]
    assert len(state(tws)["executions"]) == 2
    for symbol, weight in weights_at_venue(tws).items():
        target = D(str(TARGETS[f"{symbol}.{'NASDAQ' if symbol == 'AAPL' else 'ARCA'}"]))
        assert abs(weight - target) < D("0.01"), (symbol, weight)


def foreign_order(running, quantity: int = 100, price: float = 150.0) -> dict:  # noqa: ANN001
    """A buy order of another API client (client 7), resting below the market."""
    return control(running, "POST", f"/__sim/order?client_id=7&symbol=AAPL&side=BUY&quantity={quantity}"
                                    f"&price={price}&ref=theirs")


def test_another_clients_open_order_fails_the_start_with_exit_3_naming_it(ib_dir, tws):
    """#26 item 7, live.open_orders: fail (the default)."""
    order = foreign_order(tws)
    proc = live(ib_dir, "--once")
    assert proc.returncode == 3, proc.stderr[-3000:]
    line = error_line(proc.stderr)
    assert "open orders of other IB clients" in line and f"client 7, order {order['order_id']}, ref theirs" in line
    assert "nothing traded" in line and placed(tws) == []


def test_cancel_is_refused_because_an_api_client_cannot_cancel_another_clients_order(ib_dir, tws):
    set_policy(ib_dir, "cancel")
    foreign_order(tws)
    proc = live(ib_dir, "--once")
    assert proc.returncode == 3, proc.stderr[-3000:]
    assert "cancels only its own orders unless it connects as the master API client" in error_line(proc.stderr)
    assert placed(tws) == [] and [o["status"] for o in state(tws)["orders"]] == ["Submitted"]


def test_keep_counts_the_cash_another_clients_order_holds_and_reaches_the_targets(ib_dir, tws):
    """15 000 USD held by a resting buy of client 7: counted in NAV, not traded; the account reaches its targets on
    the whole NAV (without it, AAPL would end near 0.425)."""
    set_policy(ib_dir, "keep")
    foreign_order(tws)
    proc = live(ib_dir, "--once")
    assert proc.returncode == 0, proc.stderr[-3000:]
    for iid, row in json.loads(proc.stdout)["final_weights"].items():  # the summary's weights count the kept cash too
        assert abs(D(row["weight"]) - D(row["target"])) < D("0.01"), (iid, row)
    assert "keeping BUY 100 AAPL LMT 150 (client 7" in proc.stderr and "the 15000.00 it holds" in proc.stderr
    orders = state(tws)["orders"]
    assert orders[0]["status"] == "Submitted" and {o["status"] for o in orders[1:]} == {"Filled"}
    for symbol, weight in weights_at_venue(tws).items():
        target = D(str(TARGETS[f"{symbol}.{'NASDAQ' if symbol == 'AAPL' else 'ARCA'}"]))
        assert abs(weight - target) < D("0.01"), (symbol, weight)


def test_orders_that_fill_while_the_gateway_connection_is_down_are_found_and_logged_once(ib_dir, tws):
    """Two orders wait for the open; the venue drops the session and the market opens before it reconnects. IB does
    not replay those executions to the reconnected client: Nautilus's position check (IbkrVenue.live_exec_checks)
    sees the venue's positions differ, reads the missing fills and applies them. `--once` ends at target, exit 0,
    each execution in the drift log once, no cancel of a filled order."""
    profile = yaml.safe_load((ib_dir / "profile.yaml").read_text())
    profile["live"]["fill_timeout"] = 30
    (ib_dir / "profile.yaml").write_text(yaml.safe_dump(profile))
    control(tws, "POST", "/__sim/market_closed")
    proc = session(ib_dir, "--once")
    try:
        wait_for(lambda: len(placed(tws)) == 2, 45, "two orders waiting for the open")
        opened = state(tws)["connections_opened"]
        assert control(tws, "POST", "/__sim/drop")["dropped"] == 1
        control(tws, "DELETE", "/__sim/market_closed")  # they fill while nobody listens
        wait_for(lambda: state(tws)["connections_opened"] > opened and state(tws)["clients"], 30, "the reconnection")
        out, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode == 0, err[-3000:]
    assert "Position discrepancy" in err and "10147" not in err, err[-3000:]
    assert [o["status"] for o in state(tws)["orders"]] == ["Filled", "Filled"]
    executions = sorted(e["exec_id"] for e in state(tws)["executions"])
    logged = [json.loads(line)["trade_id"] for line in (ib_dir / "drift.log").read_text().splitlines()]
    assert sorted(logged) == executions and len(executions) == 2
    assert len(json.loads(out)["fills"]) == 2
    for symbol, weight in weights_at_venue(tws).items():
        target = D(str(TARGETS[f"{symbol}.{'NASDAQ' if symbol == 'AAPL' else 'ARCA'}"]))
        assert abs(weight - target) < D("0.01"), (symbol, weight)
