"""Parity: the live strategy is the backtest strategy, and both trade alike on the real recordings."""

import inspect
import json
import subprocess
import sys
from decimal import Decimal

import pytest

from nautlive.core.strategy import NautilusRebalanceStrategy
from nautlive.research.parity import compare_runs
from nautlive.session.live_strategy import LiveRebalanceStrategy

from .conftest import REPO, shared_file

PLUMBING = {"__init__", "on_start", "on_stop", "cancel_unfinished_orders", "resend_cancels", "_inject_dummy_instruments",
            "_reconcile_at_startup", "_check_stuck_orders", "_mid"}
# Hooks the base class calls around its planning: when to plan (after reading the venue), whether to send (budgets),
# which refusals to plan again, how to wait, where an inferred fill's real trades come from, how a passive order's
# re-posting counts against the hourly budget, whether due TWAP/passive children wait (a venue not answering), and
# what drives them when no quote comes (the wall clock, on a live feed). None sizes an order.
HOOKS = {"_prepare", "_refuse", "_on_refused_order", "_later", "_fill_from_venue", "_count_child", "_children_held",
         "_drive_between_quotes"}


def test_live_strategy_inherits_and_overrides_no_planning_or_order_logic():
    assert issubclass(LiveRebalanceStrategy, NautilusRebalanceStrategy)
    own = {name for name, value in vars(LiveRebalanceStrategy).items() if inspect.isfunction(value)}
    assert own <= PLUMBING | HOOKS, f"LiveRebalanceStrategy defines more than plumbing: {own - PLUMBING - HOOKS}"
    base = {name for name, value in vars(NautilusRebalanceStrategy).items() if inspect.isfunction(value)}
    assert own & base <= {"__init__", "on_start", "on_stop"} | HOOKS
    for name in ("_plan", "_submit", "_advance", "_try_start", "_run_phase", "_finish", "on_targets", "on_order_event",
                 "cash", "holding"):
        assert getattr(LiveRebalanceStrategy, name) is getattr(NautilusRebalanceStrategy, name)


def orders(*rows):
    return [(f"O-{i}", *row) for i, row in enumerate(rows)]


def fills(pairs):
    return {f"O-{i}": (Decimal(n), Decimal(p)) for i, (n, p) in enumerate(pairs)}


def test_divergence_is_the_notional_gap_over_backtest_notional():
    same = orders(("BTCUSDT.BINANCE", "BUY", "1"), ("ETHUSDT.BINANCE", "SELL", "2"))
    result = compare_runs(same, fills([("100", "100"), ("50", "25")]), same, fills([("101", "101"), ("49", "24.5")]), 0.001)
    assert result.orders_match
    assert result.divergence == pytest.approx(2 / 150)
    assert not result.ok


def test_a_different_order_list_fails_and_is_reported():
    backtest = orders(("BTCUSDT.BINANCE", "BUY", "1"), ("ETHUSDT.BINANCE", "BUY", "2"))
    shadow = orders(("BTCUSDT.BINANCE", "BUY", "1"), ("ETHUSDT.BINANCE", "BUY", "3"))
    result = compare_runs(backtest, fills([("100", "100"), ("50", "25")]), shadow,
                          fills([("100", "100"), ("75", "25")]), 0.001)
    assert not result.orders_match and not result.ok
    assert result.only_backtest == [{"instrument": "ETHUSDT.BINANCE", "side": "BUY", "quantity": "2"}]
    assert result.only_shadow == [{"instrument": "ETHUSDT.BINANCE", "side": "BUY", "quantity": "3"}]
    assert result.divergence == 0.0  # over the matched orders only


@pytest.mark.slow
def test_parity_on_both_real_recordings_with_three_target_changes():
    data = []
    for name in ("btcusdt_20240808.gz", "ethusdt_20240808.gz", "btcusdt_20240809.gz", "ethusdt_20240809.gz"):
        data += ["--data", str(shared_file("binance", "market", name))]
    schedule = REPO / "artifacts" / "orders" / "schedule.example.json"
    assert len(json.loads(schedule.read_text())) >= 3
    proc = subprocess.run([sys.executable, "-m", "nautlive", "parity", "--venue", "binance", *data,
                           "--schedule", str(schedule), "--json"], capture_output=True, text=True, cwd=REPO, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    result = json.loads(proc.stdout)
    assert result["orders_match"] and result["ok"]
    assert result["backtest_orders"] == result["shadow_orders"] >= 8  # 4 rebalances: the targets and 3 changes
    assert result["divergence"] <= 0.001
