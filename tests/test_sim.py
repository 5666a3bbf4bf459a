"""The loopback Binance Spot simulator: matching, filters and balances on real filters; the protocol end to end."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from decimal import Decimal
from pathlib import Path

import msgspec
import pytest
from typer.testing import CliRunner

from nautlive.catalog.specs import load_catalog
from nautlive.cli.app import app
from nautlive.errors import ConfigError
from nautlive.sim.binance import BinanceReject, BinanceSimulator, build_simulator, parse_balances
from nautlive.sim.feed import Quote, read_recording
from nautlive.sim.keys import SIM_API_KEY, SIM_PRIVATE_KEY
from nautlive.sim.rest import answer
from nautlive.sim.rules import read_exchange_info
from nautlive.sim.server import start_in_thread
from nautlive.venues.binance.ws_api import logon_params
from tests.conftest import REPO, shared_file
from tests.ws_api_client import next_event, user_stream, ws_api_call

CAPTURE = ("binance", "exchange_info", "binance_spot_exchange_info_2023-09-08.json")
CATALOG = REPO / "artifacts" / "catalog" / "binance.yaml"
D = Decimal


@pytest.fixture(scope="module")
def capture_symbols() -> list[dict]:
    _, symbols = read_exchange_info(shared_file(*CAPTURE))
    return [s for s in symbols if s["symbol"] in ("BTCUSDT", "ETHUSDT")]


@pytest.fixture
def sim(capture_symbols) -> BinanceSimulator:
    """BTCUSDT/ETHUSDT with their real 2023-09-08 filters, 100,000 USDT, and a pinned BTCUSDT book."""
    simulator = BinanceSimulator(capture_symbols, {"USDT": D(100_000)}, taker_fee=D("0.001"))
    simulator.set_quote("BTCUSDT", bid=D("61800.00"), ask=D("61800.01"))
    return simulator


def events_of(simulator: BinanceSimulator) -> list[dict]:
    events: list[dict] = []
    simulator.on_user_event = events.append
    return events


# -- matching, filters and balances (no server) ----------------------------------------------------------------


def test_market_buy_fills_at_ask_with_fee_in_base(sim):
    events = events_of(sim)
    order = sim.place_market_order("BTCUSDT", "BUY", D("0.01"), "O-1")
    assert order.status == "FILLED" and order.executed_qty == D("0.01")
    assert sim.fills[-1].price == D("61800.01") and sim.fills[-1].commission == D("0.00001")
    assert sim.fills[-1].commission_asset == "BTC"
    assert sim.free["USDT"] == D(100_000) - D("618.0001")
    assert sim.free["BTC"] == D("0.00999")
    assert [(e["e"], e.get("x")) for e in events] == [
        ("executionReport", "NEW"), ("executionReport", "TRADE"), ("outboundAccountPosition", None)
    ]
    trade = events[1]
    assert (trade["c"], trade["X"], trade["l"], trade["L"], trade["n"], trade["N"]) == (
        "O-1", "FILLED", "0.01000000", "61800.01000000", "0.00001000", "BTC"
    )
    assert {b["a"]: b["f"] for b in events[2]["B"]} == {"BTC": "0.00999000", "USDT": "99381.99990000"}


def test_market_sell_fills_at_bid_with_fee_in_quote(sim):
    sim.free["BTC"] = D("1")
    sim.place_market_order("BTCUSDT", "SELL", D("0.5"))
    assert sim.fills[-1].price == D("61800.00")
    assert sim.fills[-1].commission == D("30.9") and sim.fills[-1].commission_asset == "USDT"
    assert sim.free["BTC"] == D("0.5")
    assert sim.free["USDT"] == D(100_000) + D(30_900) - D("30.9")


@pytest.mark.parametrize(
    ("symbol", "side", "qty", "expected"),
    [
        ("BTCUSDT", "BUY", D("0.00005"), BinanceReject(-1013, "Filter failure: NOTIONAL")),  # 3.09 USDT < 5
        ("BTCUSDT", "BUY", D("0.000015"), BinanceReject(-1013, "Filter failure: LOT_SIZE")),  # not a step multiple
        ("BTCUSDT", "BUY", D("0.000005"), BinanceReject(-1013, "Filter failure: LOT_SIZE")),  # below minQty
        ("BTCUSDT", "BUY", D("9001"), BinanceReject(-1013, "Filter failure: LOT_SIZE")),  # above maxQty
        ("BTCUSDT", "BUY", D("200"), BinanceReject(-1013, "Filter failure: MARKET_LOT_SIZE")),  # > 168.82682004
        ("BTCUSDT", "BUY", D("2"), BinanceReject(-2010, "Account has insufficient balance for requested action.")),
        ("BTCUSDT", "SELL", D("0.01"), BinanceReject(-2010, "Account has insufficient balance for requested action.")),
        ("XYZUSDT", "BUY", D("1"), BinanceReject(-1121, "Invalid symbol.")),
    ],
)
def test_market_order_rejects_exactly_as_binance(sim, symbol, side, qty, expected):
    events = events_of(sim)
    assert sim.place_market_order(symbol, side, qty) == expected
    assert events == [] and sim.orders == {} and sim.free == {"USDT": D(100_000)}


def test_query_and_cancel_unknown_orders(sim):
    assert sim.query_order("BTCUSDT", 42, None) == BinanceReject(-2013, "Order does not exist.")
    assert sim.cancel_order("BTCUSDT", 42, None) == BinanceReject(-2011, "Unknown order sent.")
    assert sim.cancel_open_orders("BTCUSDT") == BinanceReject(-2011, "Unknown order sent.")
    assert sim.query_order("NOPE", 42, None) == BinanceReject(-1121, "Invalid symbol.")


def test_limit_order_locks_rests_cancels_and_maker_fills(sim):
    events = events_of(sim)
    resting = sim.place_limit_order("BTCUSDT", "BUY", D("0.1"), D("60000"), "GTC", "O-2")
    assert resting.status == "NEW" and sim.locked["USDT"] == D(6000) and sim.free["USDT"] == D(94_000)
    assert sim.place_limit_order("BTCUSDT", "BUY", D("0.1"), D("60000.001")) == BinanceReject(
        -1013, "Filter failure: PRICE_FILTER"
    )
    canceled = sim.cancel_order("BTCUSDT", None, "O-2")
    assert canceled.status == "CANCELED" and sim.free["USDT"] == D(100_000) and sim.locked["USDT"] == 0
    assert events[-2]["x"] == "CANCELED" and events[-2]["C"] == "O-2"
    sim.place_limit_order("BTCUSDT", "BUY", D("0.1"), D("61000"), "GTC", "O-3")
    sim.release_quote("BTCUSDT")
    sim.apply_quote("BTCUSDT", Quote(bid=D("60990"), bid_qty=D(1), ask=D("60999.99"), ask_qty=D(1)))
    assert sim.orders[resting.order_id + 1].status == "FILLED"
    assert sim.fills[-1].price == D(61000) and sim.fills[-1].is_maker
    assert sim.free["USDT"] == D(100_000) - D(6100) and sim.locked["USDT"] == 0


def test_walk_goes_on_from_a_released_quote(sim):
    published: list[str] = []
    sim.on_market = lambda stream, text: published.append(text)
    sim.step_walks()
    assert json.loads(published[-1])["data"]["a"] == "61800.01000000"  # held: repeated unchanged
    sim.release_quote("BTCUSDT")
    sim.step_walks()
    assert abs(sim.books["BTCUSDT"].bid - D("61800")) < D(100)


def test_reject_next_answers_the_next_order_only(sim):
    sim.reject_next(-2010, "Account has insufficient balance for requested action.")
    assert sim.place_market_order("BTCUSDT", "BUY", D("0.01")).code == -2010
    assert sim.place_market_order("BTCUSDT", "BUY", D("0.01")).status == "FILLED"


def test_rest_answers_order_params_like_binance(sim):
    post = lambda **params: answer(sim, "POST", "/api/v3/order", params)  # noqa: E731
    assert post(symbol="BTCUSDT", side="BUY", type="MARKET") == BinanceReject(
        -1102, "Mandatory parameter 'quantity' was not sent, was empty/null, or malformed."
    )
    assert post(symbol="BTCUSDT", side="BUY", type="MARKET", quantity="abc").code == -1100
    assert post(symbol="BTCUSDT", side="BUY", type="MARKET", quantity="0.000000001").code == -1111
    assert post(symbol="BTCUSDT", side="BUY", type="STOP_LOSS", quantity="1").code == -1116
    filled = post(symbol="BTCUSDT", side="BUY", type="MARKET", quantity="0.01000000", newClientOrderId="O-9")
    assert filled["avgPrice"] == "61800.01000000" and filled["fills"][0]["commissionAsset"] == "BTC"
    assert answer(sim, "GET", "/api/v3/order", {"symbol": "BTCUSDT", "origClientOrderId": "O-9"})["status"] == "FILLED"
    assert answer(sim, "GET", "/api/v3/myTrades", {"symbol": "BTCUSDT"})[0]["commission"] == "0.00001000"
    assert answer(sim, "GET", "/api/v3/klines", {"symbol": "BTCUSDT", "interval": "1m"}) == []
    assert answer(sim, "GET", "/api/v3/nope", {}).status == 404


def test_exchange_info_filters_requested_symbols(sim):
    body = answer(sim, "GET", "/api/v3/exchangeInfo", {"symbols": '["ETHUSDT"]'})
    assert [s["symbol"] for s in body["symbols"]] == ["ETHUSDT"]
    assert answer(sim, "GET", "/api/v3/exchangeInfo", {"symbols": '["ETHUSDT","NOPE"]'}) == BinanceReject(
        -1121, "Invalid symbol."
    )
    assert answer(sim, "GET", "/sapi/v1/asset/tradeFee", {"symbol": "BTCUSDT"}) == [
        {"symbol": "BTCUSDT", "makerCommission": "0.001", "takerCommission": "0.001"}
    ]


def test_catalog_exchange_info_decodes_back_to_the_catalog():
    from nautilus_trader.adapters.binance.spot.schemas.market import BinanceSpotExchangeInfo

    from nautlive.venues.binance.specs import specs_from_exchange_info

    catalog = load_catalog(CATALOG)
    simulator = build_simulator(["BTCUSDT", "ETHUSDT"], {"USDT": D(1)}, catalog_path=CATALOG)
    body = msgspec.json.encode(simulator.exchange_info())
    info = msgspec.json.decode(body, type=BinanceSpotExchangeInfo)
    assert {s.symbol for s in info.symbols} == {"BTCUSDT", "ETHUSDT"}
    assert info.symbols[0].filters[0].tickSize == "0.01000000"
    venue = specs_from_exchange_info(body)
    assert venue.unreadable == {}
    for spec in catalog.instruments:
        assert venue.specs[spec.symbol] == spec


def test_exchange_info_file_serves_the_capture():
    path = shared_file(*CAPTURE)
    simulator = build_simulator(["BTCUSDT"], {"USDT": D(1)}, exchange_info_path=path)
    assert len(simulator.exchange_info()["symbols"]) == 2292
    assert simulator.rules["BTCUSDT"].market_lot.maximum == D("168.82682004")


def test_replay_recording_drives_the_book():
    recording = read_recording(shared_file("binance", "market", "btcusdt_20240808.gz"))
    simulator = build_simulator(["BTCUSDT"], {"USDT": D(1)}, catalog_path=CATALOG)
    published: list[tuple[str, str]] = []
    simulator.on_market = lambda stream, text: published.append((stream, text))
    simulator.attach_recording(recording)
    assert simulator.books["BTCUSDT"] == next(r.quote for r in recording if r.quote)
    for item in recording[:50]:
        simulator.apply_recorded(item)
    last_quote = [r for r in recording[:50] if r.quote][-1]
    assert simulator.books["BTCUSDT"] == last_quote.quote
    first_quote = next(text for stream, text in published if stream == "btcusdt@bookTicker")
    assert first_quote == next(r.text for r in recording if r.quote)  # quotes and trades go out as recorded
    assert {stream for stream, _ in published} == {"btcusdt@bookTicker", "btcusdt@trade", "btcusdt@depth@100ms"}
    diffs = [json.loads(text)["data"] for stream, text in published if stream == "btcusdt@depth@100ms"]
    assert [(d["U"], d["u"]) for d in diffs] == [(n, n) for n in range(1, len(diffs) + 1)]  # the book's own ids


@pytest.mark.parametrize(
    ("text", "expected"),
    [("USDT=100000,BTC=0", {"USDT": D(100000), "BTC": D(0)}), ("usdt=1.5", {"USDT": D("1.5")})],
)
def test_parse_balances(text, expected):
    assert parse_balances(text) == expected


@pytest.mark.parametrize("text", ["USDT", "USDT=abc", "USDT=-1", "=5", "USDT=1,,BTC=2", "USDT=nan"])
def test_parse_balances_rejects_bad_syntax(text):
    with pytest.raises(ConfigError, match="--balances: expected ASSET=AMOUNT"):
        parse_balances(text)


def test_broken_inputs_are_config_errors(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text('{"symbols": [')
    with pytest.raises(ConfigError, match="not JSON"):
        build_simulator(["BTCUSDT"], {}, exchange_info_path=bad)
    with pytest.raises(ConfigError, match="no symbol DOGEUSDT"):
        build_simulator(["DOGEUSDT"], {}, catalog_path=CATALOG)
    garbage = tmp_path / "rec.txt"
    garbage.write_text('123 {"stream":"btcusdt@bookTicker","data":{"s":"BTCUSDT"}}\n')
    with pytest.raises(ConfigError, match="line 1: expected"):
        read_recording(garbage)


# -- faults and venue-side actions (no server) -------------------------------------------------------------------


@pytest.fixture
def clocked(capture_symbols) -> tuple[BinanceSimulator, list[float]]:
    """Like `sim`, on a clock the test moves by hand."""
    now = [1_700_000_000.0]
    simulator = BinanceSimulator(capture_symbols, {"USDT": D(100_000)}, clock=lambda: now[0])
    simulator.set_quote("BTCUSDT", bid=D("61800.00"), ask=D("61800.01"))
    return simulator, now


def test_balance_delay_sends_account_position_late(clocked):
    sim, now = clocked
    events = events_of(sim)
    sim.delay_balance_updates(2)
    sim.place_market_order("BTCUSDT", "BUY", D("0.01"), "O-1")
    assert [e.get("x") for e in events] == ["NEW", "TRADE"]  # execution reports at once
    assert {b["asset"]: b["free"] for b in sim.account()["balances"]}["BTC"] == "0.00999000"  # REST is current
    assert sim.flush_deferred() == pytest.approx(2.0) and len(events) == 2
    now[0] += 2
    assert sim.flush_deferred() is None
    assert events[-1]["e"] == "outboundAccountPosition"
    assert {b["a"]: b["f"] for b in events[-1]["B"]}["BTC"] == "0.00999000"
    sim.clear_balance_delay()
    sim.place_market_order("BTCUSDT", "BUY", D("0.01"))
    assert [e["e"] for e in events[-3:]] == ["executionReport", "executionReport", "outboundAccountPosition"]
    with pytest.raises(ValueError, match="non-negative"):
        sim.delay_balance_updates(-1)


def test_silent_user_stream_drops_events_and_still_executes(sim):
    events = events_of(sim)
    sim.silence_user_stream()
    sim.place_market_order("BTCUSDT", "BUY", D("0.01"), "O-quiet")
    assert events == []
    assert answer(sim, "GET", "/api/v3/order", {"symbol": "BTCUSDT", "origClientOrderId": "O-quiet"})["status"] == (
        "FILLED"
    )
    sim.clear_user_stream_silence()
    sim.place_market_order("BTCUSDT", "BUY", D("0.01"), "O-loud")
    assert [e.get("c") for e in events] == ["O-loud", "O-loud", None]  # the silent order's events are gone


def test_restart_drops_connections_and_keeps_the_account(sim):
    sim.place_limit_order("BTCUSDT", "BUY", D("0.1"), D("60000"), "GTC", "O-rest")
    before = {k: sim.state()[k] for k in ("balances", "orders", "fills")}
    assert sim.restart() == {"dropped": 0}
    assert {k: sim.state()[k] for k in ("balances", "orders", "fills")} == before


@pytest.mark.parametrize("method", ["POST", "PUT", "DELETE"])
def test_the_retired_rest_listen_key_answers_410_gone(sim, method):
    """Binance removed POST/PUT/DELETE /api/v3/userDataStream on 2026-02-20 (CHANGELOG 2026-01-21)."""
    from nautlive.sim.rest import Gone

    gone = answer(sim, method, "/api/v3/userDataStream", {"listenKey": "x"})
    assert isinstance(gone, Gone) and gone.status == 410 and "410 Gone" in gone.html
    assert sim.refuses_stream("a" * 60) and not sim.refuses_stream("btcusdt@bookTicker")


def test_external_order_is_placed_like_a_rest_order(sim):
    events = events_of(sim)
    order = sim.place_external_order({"symbol": "BTCUSDT", "side": "BUY", "type": "LIMIT", "quantity": "0.1",
                                      "price": 60000})
    assert (order.client_order_id, order.status, order.time_in_force) == ("web_1", "NEW", "GTC")
    assert sim.locked["USDT"] == D(6000) and events[0]["c"] == "web_1" and events[0]["x"] == "NEW"
    bad_tick = {"symbol": "BTCUSDT", "side": "BUY", "type": "LIMIT", "quantity": "0.1", "price": "60000.001"}
    assert sim.place_external_order(bad_tick) == BinanceReject(-1013, "Filter failure: PRICE_FILTER")
    assert sim.place_external_order({"symbol": "BTCUSDT", "side": "BUY", "quantity": "1"}).code == -1102
    market = sim.place_external_order({"symbol": "BTCUSDT", "side": "BUY", "type": "MARKET", "quantity": 0.01,
                                       "clientOrderId": "manual"})
    assert (market.client_order_id, market.status) == ("manual", "FILLED")
    filled = sim.fill_open(client_order_id="web_1")
    assert filled.status == "FILLED" and sim.fills[-1].price == D(60000) and sim.fills[-1].is_maker
    assert sim.locked["USDT"] == 0 and events[-2]["x"] == "TRADE" and events[-2]["m"] is True
    assert sim.fill_open(client_order_id="web_1") == BinanceReject(-2013, "Order does not exist.")
    assert sim.fill_open() == BinanceReject(
        -1102, "Param 'origClientOrderId' or 'orderId' must be sent, but both were empty/null!"
    )


def test_my_trades_and_all_orders_page_like_binance(clocked):
    sim, now = clocked
    for i in range(4):
        sim.place_market_order("BTCUSDT", "BUY", D("0.01"), f"O-{i}")
        now[0] += 1
    get = lambda path, **params: answer(sim, "GET", path, params)  # noqa: E731
    trades = get("/api/v3/myTrades", symbol="BTCUSDT")
    assert [t["id"] for t in trades] == [1, 2, 3, 4]
    assert set(trades[0]) >= {"id", "orderId", "price", "qty", "quoteQty", "commission", "commissionAsset", "time",
                              "isBuyer", "isMaker"}
    assert [t["id"] for t in get("/api/v3/myTrades", symbol="BTCUSDT", fromId="2", limit="2")] == [2, 3]
    assert [t["id"] for t in get("/api/v3/myTrades", symbol="BTCUSDT", limit="2")] == [3, 4]  # most recent
    start = str(trades[2]["time"])
    assert [t["id"] for t in get("/api/v3/myTrades", symbol="BTCUSDT", startTime=start)] == [3, 4]
    assert [t["id"] for t in get("/api/v3/myTrades", symbol="BTCUSDT", orderId=str(trades[1]["orderId"]))] == [2]
    orders = get("/api/v3/allOrders", symbol="BTCUSDT", startTime=start)
    assert [o["clientOrderId"] for o in orders] == ["O-2", "O-3"]
    assert [o["clientOrderId"] for o in get("/api/v3/allOrders", symbol="BTCUSDT", orderId="1000002", limit="1")] == [
        "O-1"
    ]
    assert get("/api/v3/myTrades", symbol="BTCUSDT", fromId="x").code == -1100
    assert get("/api/v3/myTrades") == BinanceReject(
        -1102, "Mandatory parameter 'symbol' was not sent, was empty/null, or malformed."
    )


# -- the server --------------------------------------------------------------------------------------------------


def http(base: str, method: str, path: str) -> tuple[int, object]:
    request = urllib.request.Request(base + path, method=method)
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def test_server_rest_stall_and_state(sim):
    with start_in_thread(sim) as running:
        assert http(running.http_url, "GET", "/api/v3/time")[0] == 200
        assert http(running.http_url, "POST", "/api/v3/order?symbol=BTCUSDT&side=BUY&type=MARKET&quantity=0.00001")[
            1
        ] == {"code": -1013, "msg": "Filter failure: NOTIONAL"}
        http(running.http_url, "POST", "/__sim/stall?seconds=0.3")
        started = time.monotonic()
        http(running.http_url, "GET", "/api/v3/time")
        assert time.monotonic() - started >= 0.3
        http(running.http_url, "DELETE", "/__sim/stall")
        assert http(running.http_url, "POST", "/__sim/reject_next?code=abc")[0] == 400
        assert http(running.http_url, "POST", "/__sim/quote?symbol=BTCUSDT&bid=x&ask=1")[0] == 400
        state = http(running.http_url, "GET", "/__sim/state")[1]
        assert state["balances"]["USDT"]["free"] == "100000.00000000"
        assert [r["path"] for r in state["requests"]] == ["/api/v3/time", "/api/v3/order", "/api/v3/time"]


def test_server_fault_endpoints_over_http(sim):
    import asyncio

    import aiohttp

    order_path = "/api/v3/order?symbol=BTCUSDT&type=MARKET&quantity=0.01&side="

    async def session(running) -> dict:
        seen: dict = {}
        loop = asyncio.get_running_loop()
        async with aiohttp.ClientSession() as client:

            async def call(method: str, path: str, **kwargs) -> tuple[int, object]:
                async with client.request(method, running.http_url + path, **kwargs) as response:
                    return response.status, await response.json()

            user = await user_stream(client, running.ws_url)

            # ack delay: executed and pushed at once, answered late
            seen["ack_delay"] = await call("POST", "/__sim/ack_delay?seconds=0.5")
            started = loop.time()
            post = asyncio.create_task(call("POST", order_path + "BUY&newClientOrderId=O-ack"))
            seen["acked_events"] = [(await next_event(user)).get("x") for _ in range(3)]
            seen["answered_before_events"] = post.done()
            seen["ack"] = (await post)[1]["status"], loop.time() - started
            await call("DELETE", "/__sim/ack_delay")

            # balance delay: execution reports at once, the account position later (REST current at once)
            await call("POST", "/__sim/balance_delay?seconds=0.4")
            started = loop.time()
            await call("POST", order_path.replace("0.01", "0.005") + "SELL")
            seen["delayed"] = [(await next_event(user)).get("x") for _ in range(2)]
            seen["rest_btc"] = {b["asset"]: b["free"] for b in (await call("GET", "/api/v3/account"))[1]["balances"]}
            position = await next_event(user)
            seen["position"] = position["e"], {b["a"]: b["f"] for b in position["B"]}, loop.time() - started
            seen["balance_delay_cleared"] = await call("DELETE", "/__sim/balance_delay")

            # silent user stream: nothing sent, nothing queued
            seen["silent"] = await call("POST", "/__sim/user_stream_silent")
            await call("POST", order_path + "BUY&newClientOrderId=O-quiet")
            try:
                seen["while_silent"] = (await asyncio.wait_for(user.receive(), 0.3)).data
            except TimeoutError:
                seen["while_silent"] = None
            await call("DELETE", "/__sim/user_stream_silent")
            await call("POST", order_path + "BUY&newClientOrderId=O-loud")
            seen["after_silence"] = (await next_event(user))["c"]
            for _ in range(2):
                await next_event(user)

            # an order behind the client's back, then filled at its limit
            limit = {"symbol": "BTCUSDT", "side": "BUY", "type": "LIMIT", "quantity": "0.1", "price": "60000"}
            seen["external"] = await call("POST", "/__sim/order", json=limit)
            seen["external_event"] = (await next_event(user))["c"]
            await next_event(user)  # the locked balance
            seen["open"] = [o["clientOrderId"] for o in (await call("GET", "/api/v3/openOrders"))[1]]
            seen["open_btc"] = (await call("GET", "/api/v3/openOrders?symbol=BTCUSDT"))[1][0]["clientOrderId"]
            seen["locked"] = {b["asset"]: b["locked"] for b in (await call("GET", "/api/v3/account"))[1]["balances"]}
            seen["bad_json"] = (await call("POST", "/__sim/order", data=b"[1"))[0]
            seen["filled"] = await call("POST", "/__sim/fill_open?clientOrderId=web_1")
            seen["fill_unknown"] = await call("POST", "/__sim/fill_open?clientOrderId=web_1")
            seen["bad_seconds"] = (await call("POST", "/__sim/balance_delay?seconds=-1"))[0]

            # restart: connections dropped (the subscription with them), account kept; a new session works
            balances = (await call("GET", "/api/v3/account"))[1]["balances"]
            seen["restart"] = await call("POST", "/__sim/restart")
            seen["closed"] = (await asyncio.wait_for(user.receive(), 5)).type
            async with client.put(running.http_url + "/api/v3/userDataStream?listenKey=x") as response:
                seen["keepalive"] = response.status, response.content_type
            try:
                await client.ws_connect(f"{running.ws_url}/stream?streams={'k' * 60}")
                seen["listen_key_stream"] = "accepted"
            except aiohttp.WSServerHandshakeError as exc:
                seen["listen_key_stream"] = exc.status
            seen["same_balances"] = (await call("GET", "/api/v3/account"))[1]["balances"] == balances
            again = await user_stream(client, running.ws_url)
            await call("POST", order_path + "BUY")
            seen["fresh_event"] = [(await next_event(again)).get("x") for _ in range(3)]
            return seen

    with start_in_thread(sim) as running:
        seen = asyncio.run(asyncio.wait_for(session(running), 30))
    assert seen["ack_delay"] == (200, {"ack_delay": 0.5})
    assert seen["acked_events"] == ["NEW", "TRADE", None] and not seen["answered_before_events"]
    assert seen["ack"][0] == "FILLED" and seen["ack"][1] >= 0.5
    assert seen["delayed"] == ["NEW", "TRADE"] and seen["rest_btc"]["BTC"] == "0.00499000"
    assert seen["position"][:2] == ("outboundAccountPosition", {"BTC": "0.00499000", "USDT": "99690.69090000"})
    assert seen["position"][2] >= 0.4
    assert seen["balance_delay_cleared"] == (200, {"balance_delay": 0.0})
    assert seen["silent"] == (200, {"user_stream_silent": True})
    assert seen["while_silent"] is None and seen["after_silence"] == "O-loud"
    status, external = seen["external"]
    assert status == 200 and external["clientOrderId"] == "web_1" and external["status"] == "NEW"
    assert seen["external_event"] == "web_1" and seen["open"] == ["web_1"] and seen["open_btc"] == "web_1"
    assert seen["locked"]["USDT"] == "6000.00000000" and seen["bad_json"] == 400
    status, filled = seen["filled"]
    assert status == 200 and filled["status"] == "FILLED" and filled["fills"][0]["price"] == "60000.00000000"
    assert seen["fill_unknown"] == (400, {"code": -2013, "msg": "Order does not exist."})
    assert seen["bad_seconds"] == 400
    assert seen["restart"] == (200, {"dropped": 1})
    assert seen["closed"] in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED, aiohttp.WSMsgType.CLOSING)
    assert seen["keepalive"] == (410, "text/html")
    assert seen["listen_key_stream"] == 400 and seen["same_balances"]
    assert seen["fresh_event"] == ["NEW", "TRADE", None], seen


# -- the real Nautilus adapter against the simulator --------------------------------------------------------------


E2E_SCRIPT = Path(__file__).with_name("e2e_sim_node.py")


@pytest.fixture(scope="module")
def node_run(tmp_path_factory) -> dict:
    """One TradingNode session against the simulator (fill, venue rejects, WebSocket drop), in a subprocess."""
    out = tmp_path_factory.mktemp("e2e") / "result.json"
    proc = subprocess.run([sys.executable, str(E2E_SCRIPT), str(out)], cwd=REPO, capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(out.read_text())


@pytest.mark.slow
def test_e2e_market_buy_fills_at_the_simulators_ask(node_run):
    assert node_run["timed_out"] is False
    assert node_run["instruments"] == ["BTCUSDT.BINANCE", "ETHUSDT.BINANCE"] and node_run["price_precision"] == 8
    assert node_run["fills"] == [
        {"last_px": "61800.01000000", "last_qty": "0.01000000", "commission": "0.00001000 BTC", "liquidity": "TAKER"}
    ]
    assert node_run["sim_fills"][0]["price"] == "61800.01000000"
    assert node_run["sim_balances"] == {
        "BTC": {"free": "0.00999000", "locked": "0.00000000"},
        "USDT": {"free": "99381.99990000", "locked": "0.00000000"},
    }
    assert node_run["nautilus_btc"] == "0.00999"  # the account state pushed by outboundAccountPosition
    assert "GET /sapi/v1/asset/tradeFee" in node_run["request_paths"]


@pytest.mark.slow
def test_e2e_venue_rejects_reach_the_strategy(node_run):
    assert node_run["rejects"] == [
        "{'code': -1013, 'msg': 'Filter failure: NOTIONAL'}",
        "{'code': -2010, 'msg': 'Account has insufficient balance for requested action.'}",
    ]
    assert len(node_run["sim_fills"]) == 1


@pytest.mark.slow
def test_e2e_quotes_resume_after_websocket_drop(node_run):
    assert node_run["dropped"] == 2  # market data and user stream connections
    assert node_run["quotes_after_reconnect"] >= 3


# -- WebSocket protocol (raw client) -----------------------------------------------------------------------------


def test_websocket_streams_user_events_and_drop(sim):
    import asyncio

    import aiohttp

    async def session(running) -> dict:
        seen: dict = {}
        async with aiohttp.ClientSession() as client:
            user = await client.ws_connect(f"{running.ws_url}/ws-api/v3")
            await ws_api_call(user, "session.logon", logon_params(SIM_API_KEY, SIM_PRIVATE_KEY), "logon")
            seen["subscribed"] = await ws_api_call(user, "userDataStream.subscribe", {}, "sub")
            market = await client.ws_connect(f"{running.ws_url}/stream?streams=btcusdt@bookTicker")
            await market.send_str(json.dumps({"method": "SUBSCRIBE", "params": ["ethusdt@bookTicker"], "id": 7}))
            streams = set()
            while len(streams) < 2:
                message = json.loads((await asyncio.wait_for(market.receive(), 5)).data)
                if "id" in message:
                    seen["ack"] = message
                else:
                    streams.add(message["stream"])
            seen["streams"] = streams
            await client.post(running.http_url + "/api/v3/order?symbol=BTCUSDT&side=BUY&type=MARKET&quantity=0.01")
            seen["user"] = [json.loads((await asyncio.wait_for(user.receive(), 5)).data) for _ in range(3)]
            seen["status"] = await ws_api_call(user, "session.status", {}, "status")
            await client.post(running.http_url + "/__sim/drop")
            closed = await asyncio.wait_for(market.receive(), 5)
            while closed.type == aiohttp.WSMsgType.TEXT:  # quotes sent before the drop (the order moved the touch)
                closed = await asyncio.wait_for(market.receive(), 5)
            seen["closed"] = closed.type
            return seen

    with start_in_thread(sim, quote_interval=0.02) as running:
        seen = asyncio.run(asyncio.wait_for(session(running), 20))
    assert seen["ack"] == {"result": None, "id": 7}
    assert seen["streams"] == {"btcusdt@bookTicker", "ethusdt@bookTicker"}
    assert seen["subscribed"] == {"id": "sub", "status": 200, "result": {"subscriptionId": 0}}
    assert [(m["event"]["e"], m["event"].get("x")) for m in seen["user"]] == [
        ("executionReport", "NEW"), ("executionReport", "TRADE"), ("outboundAccountPosition", None)
    ]
    assert all(m["subscriptionId"] == 0 for m in seen["user"])
    status = seen["status"]["result"]
    assert status["apiKey"] == SIM_API_KEY and status["userDataStream"] is True
    assert seen["closed"] in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED, aiohttp.WSMsgType.CLOSING)


# -- the CLI -----------------------------------------------------------------------------------------------------


@pytest.mark.slow
def test_cli_sim_serves_until_sigterm_then_exits_0(repo_cwd):
    balances = "BTC=0.5,ETH=2,USDT=5000"
    proc = subprocess.Popen([sys.executable, "-m", "nautlive", "sim", "--port", "0", "--balances", balances],
                            cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        first = _readline_within(proc, 20)
        assert first.startswith("simulator listening on http://127.0.0.1:"), first
        base = first.split()[-1]
        expected = [{"asset": a, "free": f"{D(v):.8f}", "locked": "0.00000000"}
                    for a, v in (("BTC", "0.5"), ("ETH", "2"), ("USDT", "5000"))]
        assert http(base, "GET", "/api/v3/account")[1]["balances"] == expected
        assert http(base, "POST", "/__sim/restart") == (200, {"dropped": 0})
        assert http(base, "GET", "/api/v3/account")[1]["balances"] == expected  # a restart keeps the account
        proc.terminate()
        assert proc.wait(timeout=10) == 0
    finally:
        proc.kill()


def _readline_within(proc: subprocess.Popen, seconds: float) -> str:
    box: list[str] = []
    reader = threading.Thread(target=lambda: box.append(proc.stdout.readline()), daemon=True)
    reader.start()
    reader.join(seconds)
    return box[0] if box else f"(no line within {seconds} s; stderr: {proc.stderr.read() if proc.poll() else ''})"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--balances", "USDT=lots"], "error: --balances: expected ASSET=AMOUNT"),
        (["--replay", "missing.gz"], "error: missing.gz: recording not found"),
        (["--exchange-info", "missing.json"], "error: missing.json: exchangeInfo file not found"),
        (["--catalog", "missing.yaml"], "error: missing.yaml: catalog not found"),
        (["--venue", "nope"], "error: profiles/nope.yaml: profile not found"),
    ],
)
def test_cli_sim_broken_inputs_exit_2(repo_cwd, args, message):
    result = CliRunner().invoke(app, ["sim", *args])
    assert result.exit_code == 2, result.output
    assert result.stderr.strip().startswith(message) and len(result.stderr.strip().splitlines()) == 1


def test_cli_sim_port_in_use_exits_1(repo_cwd, sim):
    with start_in_thread(sim) as running:
        result = CliRunner().invoke(app, ["sim", "--port", str(running.port)])
    assert result.exit_code == 1
    assert result.stderr.strip() == f"error: 127.0.0.1:{running.port}: cannot listen: Address already in use"


def test_public_tickers_and_form_body_parameters(sim):
    import urllib.parse

    with start_in_thread(sim) as running:
        status, book = http(running.http_url, "GET", "/api/v3/ticker/bookTicker?symbol=BTCUSDT")
        assert status == 200 and book == {"symbol": "BTCUSDT", "bidPrice": "61800.00000000",
                                          "bidQty": book["bidQty"], "askPrice": "61800.01000000",
                                          "askQty": book["askQty"]}
        assert http(running.http_url, "GET", "/api/v3/ticker/price?symbol=BTCUSDT")[1] == {
            "symbol": "BTCUSDT", "price": "61800.00500000"}  # no trade yet: the mid
        assert http(running.http_url, "GET", "/api/v3/ticker/bookTicker?symbol=NOPE")[1]["code"] == -1121
        assert [t["symbol"] for t in http(running.http_url, "GET", "/api/v3/ticker/24hr")[1]] == ["BTCUSDT"]
        form = urllib.parse.urlencode({"symbol": "BTCUSDT", "side": "BUY", "type": "MARKET", "quantity": "0.01"})
        request = urllib.request.Request(running.http_url + "/api/v3/order?quantity=0.02", data=form.encode(),
                                         method="POST",
                                         headers={"Content-Type": "application/x-www-form-urlencoded"})
        with urllib.request.urlopen(request, timeout=5) as response:
            order = json.loads(response.read())
        assert order["status"] == "FILLED" and order["executedQty"] == "0.02000000"  # the query string wins
        trades = http(running.http_url, "GET", "/api/v3/aggTrades?symbol=BTCUSDT")[1]
        assert isinstance(trades, list)
