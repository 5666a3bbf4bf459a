"""The simulator's short cuts keep its answers: an order's FULL answer lists its own fills only, and user events with
no push delay (event_delay 0, as the round-trip benches set it) still go out in order, after a delayed one too."""

from __future__ import annotations

import asyncio
from decimal import Decimal

from nautlive.sim.binance import BinanceSimulator
from nautlive.sim.rest import answer
from nautlive.sim.server import start_in_thread
from tests.test_sim import capture_symbols  # noqa: F401 - the fixture
from tests.ws_api_client import next_event, user_stream

D = Decimal


def simulator(symbols: list[dict]) -> BinanceSimulator:
    sim = BinanceSimulator(symbols, {"USDT": D(100_000), "BTC": D(1)}, taker_fee=D("0.001"))
    sim.set_quote("BTCUSDT", bid=D("61800.00"), ask=D("61800.01"))
    return sim


def test_order_answer_lists_its_own_fills_only(capture_symbols):  # noqa: F811
    sim = simulator(capture_symbols)
    post = lambda side: answer(sim, "POST", "/api/v3/order",  # noqa: E731
                               {"symbol": "BTCUSDT", "side": side, "type": "MARKET", "quantity": "0.01"})
    first, second = post("BUY"), post("SELL")
    trades = answer(sim, "GET", "/api/v3/myTrades", {"symbol": "BTCUSDT"})
    for order in (first, second):
        assert [f["tradeId"] for f in order["fills"]] == [t["id"] for t in trades if t["orderId"] == order["orderId"]]
        assert len(order["fills"]) == 1
    assert second["fills"][0]["price"] == "61800.00000000" and second["fills"][0]["commissionAsset"] == "USDT"


def test_user_events_without_delay_keep_their_order(capture_symbols):  # noqa: F811
    import aiohttp

    sim = simulator(capture_symbols)

    async def session(running, hub) -> list[tuple]:  # noqa: ANN001
        async with aiohttp.ClientSession() as client:
            ws = await user_stream(client, running.ws_url)
            order = running.http_url + "/api/v3/order?symbol=BTCUSDT&type=MARKET&quantity=0.01&side="
            running.call(setattr, hub, "event_delay", 0.0)
            await client.post(order + "BUY")
            seen = [await next_event(ws) for _ in range(3)]
            running.call(setattr, hub, "event_delay", 0.2)  # the next order's events wait ...
            await client.post(order + "SELL")
            running.call(setattr, hub, "event_delay", 0.0)  # ... and this one's may not overtake them
            await client.post(order + "BUY")
            seen += [await next_event(ws) for _ in range(6)]
            return [(e["e"], e.get("x"), e.get("S")) for e in seen]

    with start_in_thread(sim, quote_interval=0.05) as running:
        seen = asyncio.run(asyncio.wait_for(session(running, sim.on_user_event.__self__), 20))
    order_events = [("executionReport", "NEW"), ("executionReport", "TRADE"), ("outboundAccountPosition", None)]
    assert [e[:2] for e in seen] == order_events * 3
    assert [e[2] for e in seen if e[0] == "executionReport"] == ["BUY", "BUY", "SELL", "SELL", "BUY", "BUY"]
