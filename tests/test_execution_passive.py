"""Issue #31, execution style `passive_then_market`: a post-only LIMIT at the touch (Binance LIMIT_MAKER), moved when
the touch moves, the rest crossing as a market order once patience_secs ran out. The simulator treats LIMIT_MAKER as
Binance does (rejected with -2010 "Order would immediately match and take." when it would cross; resting, then filled
as a maker when the book crosses it). BACKTEST on the real L2 recording here; LIVE in test_execution_live."""

from __future__ import annotations

from decimal import Decimal as D

import pytest

from nautlive.core.execution_passive import left_to_fill, needs_reprice, patience_over, touch_price
from nautlive.sim.binance import BinanceReject, build_simulator
from nautlive.sim.feed import Quote
from tests.conftest import REPO
from tests.test_execution_twap import AT, ETH, backtest, parity, seconds

CATALOG = REPO / "artifacts" / "catalog" / "binance.yaml"

# -- pure parts ------------------------------------------------------------------------------------------------------


def test_a_passive_order_rests_at_its_own_side_of_the_touch_and_moves_when_it_moves():
    assert touch_price("BUY", D(100), D("100.01")) == D(100) and touch_price("SELL", D(100), D("100.01")) == D("100.01")
    assert not needs_reprice("BUY", D(100), D(100), D("100.02"))  # the ask moved: the bid is still ours
    assert needs_reprice("BUY", D(100), D("100.01"), D("100.02")) and needs_reprice("SELL", D("100.01"), D(100), D(101))
    assert not patience_over(0, 9_999_999_999, 10) and patience_over(0, 10_000_000_000, 10)
    assert left_to_fill(D("1.5"), D("0.4989"), D("0.001")) == D("1.001") and left_to_fill(D(1), D(1), D("0.1")) == 0


# -- the simulator's LIMIT_MAKER ---------------------------------------------------------------------------------------


@pytest.fixture
def sim():
    simulator = build_simulator(["BTCUSDT"], {"USDT": D(100_000), "BTC": D(1)}, catalog_path=CATALOG)
    simulator.set_quote("BTCUSDT", bid=D("60000.00"), ask=D("60000.01"), bid_qty=D("0.1"), ask_qty=D("0.1"))
    return simulator


@pytest.mark.parametrize(("side", "price"), [("BUY", "60000.01"), ("BUY", "60100"), ("SELL", "60000.00")])
def test_a_limit_maker_that_would_cross_is_rejected_as_binance_does(sim, side, price):
    order = sim.place_order({"symbol": "BTCUSDT", "side": side, "type": "LIMIT_MAKER", "quantity": "0.01",
                             "price": price})
    assert order == BinanceReject(-2010, "Order would immediately match and take.")
    assert not sim.fills and not sim.orders and sim.locked.get("USDT", 0) == 0


def test_a_limit_maker_at_the_touch_rests_then_fills_as_a_maker_for_what_crosses_it(sim):
    order = sim.place_order({"symbol": "BTCUSDT", "side": "BUY", "type": "LIMIT_MAKER", "quantity": "0.3",
                             "price": "60000.00", "newClientOrderId": "P-1"})
    assert order.status == "NEW" and order.type == "LIMIT_MAKER" and sim.locked["USDT"] == D(18_000)
    sim.release_quote("BTCUSDT")
    sim.apply_quote("BTCUSDT", Quote(bid=D("59999.98"), bid_qty=D(1), ask=D("59999.99"), ask_qty=D("0.1")))
    assert sim.fills and all(f.is_maker and f.price == D("60000.00") for f in sim.fills)
    filled = sum(f.qty for f in sim.fills)
    assert 0 < filled <= D("0.3")  # as much as the crossing asks held, never more
    state = sim.orders[order.order_id]
    assert state.status in ("PARTIALLY_FILLED", "FILLED") and state.executed_qty == filled


# -- BACKTEST on the real L2 recording ---------------------------------------------------------------------------------


def test_backtest_passive_rests_at_the_touch_then_crosses_the_rest_after_its_patience(tmp_path):
    passive = {"style": "passive_then_market", "patience_secs": 10}
    summary, fills = backtest(tmp_path, passive, [{"at": AT, "weights": {ETH: 0.3}}], "passive")
    assert fills and {f["style"] for f in fills} == {"passive_then_market"}
    assert len({f["parent_order_id"] for f in fills}) == 1
    assert abs(D(summary["final_weights"][ETH]["weight"]) - D("0.3")) < D("0.01")
    start = seconds(AT)
    assert max(seconds(f["ts"]) for f in fills) - start < 12  # patience, then the market order for the rest


@pytest.mark.slow
def test_parity_holds_under_passive_then_market_on_the_four_recordings(tmp_path):
    """A resting order fills when the book crosses it and is cancelled after the latency, in the backtest and the
    shadow sandbox alike, so both send the same re-postings and market rests."""
    result = parity(tmp_path, {"style": "passive_then_market", "patience_secs": 10})
    assert result["orders_match"] and result["ok"] and result["backtest_orders"] > 6
