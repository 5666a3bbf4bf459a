"""The simulator's L2 book: market orders walk it (the rest expires), /depth and the depth stream reproduce it, klines
follow the trades, and the request log tells signed calls and API keys apart.

The recorded book is computed here independently from the raw recording lines (nautlive.data.book's documented way: every
`@depth@100ms` diff applied, every `@bookTicker` setting the touch, in file order), never from the simulator.
"""

from __future__ import annotations

import asyncio
import gzip
import json
import urllib.parse
import urllib.request
from decimal import ROUND_DOWN
from decimal import Decimal as D

import aiohttp
import pytest

from nautlive.catalog.specs import load_catalog
from nautlive.data.book import DepthSync, L2Book, ladder, vwap
from nautlive.sim.binance import BinanceSimulator, build_simulator
from nautlive.sim.feed import Recorded, read_recording
from nautlive.sim.rest import answer
from nautlive.sim.rules import symbol_from_spec
from nautlive.sim.server import RunningSimulator, start_in_thread
from tests.conftest import REPO, shared_file
from tests.ws_api_client import next_event, user_stream

CATALOG = REPO / "artifacts" / "catalog" / "binance.yaml"
RECORDING = ("binance", "market", "btcusdt_20240808.gz")
STEP = D("0.00001")  # BTCUSDT's lot step


@pytest.fixture(scope="module")
def raw_lines() -> list[tuple[int, dict]]:
    """Every line of the recording as (receive ns, message), parsed here with json, the REST snapshot line included."""
    with gzip.open(shared_file(*RECORDING), "rt") as lines:
        pairs = (line.strip().partition(" ") for line in lines if line.strip())
        return [(int(stamp), json.loads(text)) for stamp, _, text in pairs]


@pytest.fixture(scope="module")
def recording() -> list[Recorded]:
    return read_recording(shared_file(*RECORDING))


def book_from_lines(raw_lines: list[tuple[int, dict]], until_ns: int) -> L2Book:
    """The book a client builds from the recorded lines received up to `until_ns`: Binance's recipe (the recorded
    REST snapshot, then the diffs past its lastUpdateId), each bookTicker setting the touch."""
    book, synced = L2Book(), 0
    for stamp, message in raw_lines:
        if stamp > until_ns:
            break
        stream, data = message.get("stream", ""), message.get("data")
        if "lastUpdateId" in message:
            book.replace([(D(p), D(q)) for p, q in message["bids"]], [(D(p), D(q)) for p, q in message["asks"]])
            synced = message["lastUpdateId"]
        elif stream.endswith("@depth@100ms") and data["u"] > synced:
            book.apply([(D(p), D(q)) for p, q in data["b"]], [(D(p), D(q)) for p, q in data["a"]])
        elif stream.endswith("@bookTicker"):
            book.set_top(D(data["b"]), D(data["B"]), D(data["a"]), D(data["A"]))
    return book


def before_snapshot(recording: list[Recorded]) -> int:
    """The time of the last line before the recorded REST snapshot."""
    snapshot = next(i for i, r in enumerate(recording) if r.depth is not None and r.depth.snapshot)
    return recording[snapshot - 1].ts_ns


def replayed(recording: list[Recorded], until_ns: int, usdt: int = 3_000_000) -> BinanceSimulator:
    """A simulator that has replayed the recording's lines up to `until_ns` (in-process, no pacing)."""
    sim = build_simulator(["BTCUSDT"], {"USDT": D(usdt)}, catalog_path=CATALOG)
    sim.attach_recording(recording)
    replay(sim, [item for item in recording if item.ts_ns <= until_ns])
    return sim


def replay(sim: BinanceSimulator, items: list[Recorded]) -> None:
    for item in items:
        sim.apply_recorded(item)


def decimal_fills(fills: list[dict]) -> list[tuple[D, D]]:
    return [(D(f["price"]), D(f["qty"])) for f in fills]


# -- (a) a market order walks the replayed book ------------------------------------------------------------------


def test_market_buy_fills_the_walk_of_the_recorded_book(raw_lines, recording):
    until = recording[10_000].ts_ns
    book = book_from_lines(raw_lines, until)
    sim = replayed(recording, until)
    assert (sim.depth["BTCUSDT"].book.bids, sim.depth["BTCUSDT"].book.asks) == (book.bids, book.asks)
    asks = sorted(book.asks.items())
    quantity = sum(q for _, q in asks[:12]) + (asks[12][1] / 2).quantize(STEP, rounding=ROUND_DOWN)
    expected = book.walk("BUY", quantity)
    assert len(expected) == 13

    order = answer(sim, "POST", "/api/v3/order", {"symbol": "BTCUSDT", "side": "BUY", "type": "MARKET",
                                                  "quantity": str(quantity), "newOrderRespType": "FULL"})
    assert order["status"] == "FILLED" and D(order["executedQty"]) == quantity
    assert decimal_fills(order["fills"]) == expected
    assert len({f["tradeId"] for f in order["fills"]}) == 13
    trades = answer(sim, "GET", "/api/v3/myTrades", {"symbol": "BTCUSDT", "orderId": str(order["orderId"])})
    assert decimal_fills(trades) == expected and all(not t["isMaker"] and t["isBuyer"] for t in trades)
    assert vwap(decimal_fills(trades)) == vwap(expected)
    assert D(order["cummulativeQuoteQty"]) == sum(p * q for p, q in expected)
    assert D(order["avgPrice"]) == vwap(expected).quantize(D("0.00000001"))
    assert [D(t["commission"]) for t in trades] == [q * D("0.001") for _, q in expected]  # per fill, in BTC


def test_fills_consume_the_book_until_the_recording_sets_the_level_again(raw_lines, recording):
    """Issue #31: a second order right after the first meets the thinner book; the next recorded update of a level
    sets it again."""
    until = recording[20_000].ts_ns
    book = book_from_lines(raw_lines, until)
    sim = replayed(recording, until)
    sim.free["BTC"] = D(10)
    bids = sorted(book.bids.items(), reverse=True)
    quantity = sum(q for _, q in bids[:5]) + STEP
    first = sim.place_market_order("BTCUSDT", "SELL", quantity)
    fills = [(f.price, f.qty) for f in sim.fills if f.order_id == first.order_id]
    assert fills == book.walk("SELL", quantity) and first.status == "FILLED" and len(fills) == 6
    thinner = L2Book()
    thinner.apply(bids[6:] + [(bids[5][0], bids[5][1] - STEP)], [])
    assert sim.depth["BTCUSDT"].book.bids == thinner.bids  # five levels gone, the sixth one step thinner
    assert sim.books["BTCUSDT"].bid == bids[5][0]  # the touch moved with them
    second = sim.place_market_order("BTCUSDT", "SELL", quantity)
    fills = [(f.price, f.qty) for f in sim.fills if f.order_id == second.order_id]
    assert fills == thinner.walk("SELL", quantity) and fills[0] == (bids[5][0], bids[5][1] - STEP)
    assert vwap(fills) < vwap(book.walk("SELL", quantity))  # the second sell pays for the first
    later = next(i for i, r in enumerate(recording) if r.ts_ns > until)
    replay(sim, recording[later:later + 2000])
    recorded = book_from_lines(raw_lines, recording[later + 1999].ts_ns)
    for px, _ in bids[:6]:  # a level the recording updated since has its recorded size back
        if px in recorded.bids and any(item.depth is not None and any(p == px for p, _ in item.depth.bids)
                                       for item in recording[later:later + 2000]):
            assert sim.depth["BTCUSDT"].book.bids[px] == recorded.bids[px]


# -- (b) the rest of an order larger than the visible book expires --------------------------------------------------


def test_order_larger_than_the_book_fills_what_it_can_and_expires(raw_lines, recording):
    until = before_snapshot(recording)  # the book of the first diffs only: a few levels
    book = book_from_lines(raw_lines, until)
    visible = sum(book.asks.values())
    assert 0 < visible < 40
    sim = build_simulator(["BTCUSDT"], {"USDT": D(3_000_000)}, catalog_path=CATALOG)
    sim.attach_recording(recording)

    async def session(running: RunningSimulator) -> dict:
        async with aiohttp.ClientSession() as client:
            async def call(method: str, path: str) -> dict:
                async with client.request(method, running.http_url + path) as response:
                    return await response.json()

            user = await user_stream(client, running.ws_url)
            running.call(replay, sim, [item for item in recording if item.ts_ns <= until])
            order = await call("POST", "/api/v3/order?symbol=BTCUSDT&side=BUY&type=MARKET&quantity=40"
                                       "&newClientOrderId=O-big&newOrderRespType=FULL")
            events = []
            while not events or events[-1]["e"] != "outboundAccountPosition":
                events.append(await next_event(user))
            queried = await call("GET", "/api/v3/order?symbol=BTCUSDT&origClientOrderId=O-big")
            account = await call("GET", "/api/v3/account")
            return {"order": order, "events": events, "queried": queried, "account": account}

    with start_in_thread(sim) as running:
        seen = asyncio.run(asyncio.wait_for(session(running), 30))
    expected = book.walk("BUY", D(40))
    cost = sum(p * q for p, q in expected)
    order, events, queried = seen["order"], seen["events"], seen["queried"]
    assert order["status"] == "EXPIRED" and D(order["executedQty"]) == visible and D(order["origQty"]) == 40
    assert decimal_fills(order["fills"]) == expected
    assert queried["status"] == "EXPIRED" and D(queried["executedQty"]) == visible
    assert D(queried["cummulativeQuoteQty"]) == cost
    balances = {b["asset"]: D(b["free"]) for b in seen["account"]["balances"]}
    assert balances == {"USDT": 3_000_000 - cost, "BTC": visible - sum(q * D("0.001") for _, q in expected)}
    assert [e.get("x") for e in events] == ["NEW", *["TRADE"] * len(expected), "EXPIRED", None]
    trades = events[1:-2]
    assert [(D(e["L"]), D(e["l"])) for e in trades] == expected
    assert {e["X"] for e in trades} == {"PARTIALLY_FILLED"} and D(trades[-1]["z"]) == visible
    assert (events[-2]["X"], events[-2]["c"], D(events[-2]["z"])) == ("EXPIRED", "O-big", visible)


def test_quote_order_qty_walks_in_lot_steps_and_expires_past_the_book(recording):
    sim = replayed(recording, before_snapshot(recording))
    asks = sorted(sim.depth["BTCUSDT"].book.asks.items())
    spend = (asks[0][0] * asks[0][1] + 1000).quantize(D("0.01"))  # the first level and part of the next ones
    order = answer(sim, "POST", "/api/v3/order", {"symbol": "BTCUSDT", "side": "BUY", "type": "MARKET",
                                                  "quoteOrderQty": str(spend)})
    assert order["status"] == "FILLED" and D(order["origQuoteOrderQty"]) == spend
    fills = decimal_fills(order["fills"])
    assert fills[0] == asks[0] and all(q % STEP == 0 for _, q in fills)
    spent = sum(p * q for p, q in fills)
    assert spent <= spend and spend - spent < fills[-1][0] * STEP
    assert D(order["executedQty"]) == D(order["origQty"]) == sum(q for _, q in fills)
    asks = sorted(sim.depth["BTCUSDT"].book.asks.items())  # what the first order left (fills consume the book)
    everything = (sum(p * q for p, q in asks) + 100_000).quantize(D("0.01"))
    too_much = answer(sim, "POST", "/api/v3/order", {"symbol": "BTCUSDT", "side": "BUY", "type": "MARKET",
                                                     "quoteOrderQty": str(everything)})
    assert too_much["status"] == "EXPIRED" and len(too_much["fills"]) == len(asks)
    assert D(too_much["executedQty"]) == sum(q for _, q in asks) < D(too_much["origQty"])
    both = {"symbol": "BTCUSDT", "side": "BUY", "type": "MARKET", "quantity": "1", "quoteOrderQty": "1000"}
    assert answer(sim, "POST", "/api/v3/order", both).code == -1106


def pinned_asks(n: int) -> list[tuple[D, D]]:
    """The first `n` asks of the ladder a pin of 60000.00 / 60000.01 with 0.1 a side makes (book.ladder)."""
    return [(px, q) for px, q in ladder(D("60000.00"), D("60000.01"), D("0.01"), D("0.1"))[1][:n]]


def walk_levels(levels: list[tuple[D, D]], quantity: D) -> list[tuple[D, D]]:
    fills, left = [], quantity
    for px, q in levels:
        if left <= 0:
            break
        fills.append((px, min(q, left)))
        left -= min(q, left)
    return fills


def test_marketable_limit_takes_levels_up_to_its_price_and_rests_the_rest():
    sim = build_simulator(["BTCUSDT"], {"USDT": D(1_000_000)}, catalog_path=CATALOG)
    sim.set_quote("BTCUSDT", bid=D("60000.00"), ask=D("60000.01"), bid_qty=D("0.1"), ask_qty=D("0.1"))
    order = sim.place_limit_order("BTCUSDT", "BUY", D(1), D("60000.03"), "GTC", "O-lim")
    levels = pinned_asks(3)  # the ladder's first three asks: up to the limit price
    assert [(f.price, f.qty, f.is_maker) for f in sim.fills] == [(px, q, False) for px, q in levels]
    taken = sum(q for _, q in levels)
    assert order.status == "PARTIALLY_FILLED" and order.executed_qty == taken
    assert sim.locked["USDT"] == (1 - taken) * D("60000.03")
    sim.cancel_order("BTCUSDT", None, "O-lim")
    assert sim.locked["USDT"] == 0 and sim.free["USDT"] == 1_000_000 - sum(px * q for px, q in levels)
    ioc = sim.place_limit_order("BTCUSDT", "BUY", D(1), D("60000.04"), "IOC")  # the three levels taken are gone
    assert ioc.status == "EXPIRED" and ioc.executed_qty == pinned_asks(4)[3][1] and sim.locked["USDT"] == 0
    assert [(f.price, f.qty) for f in sim.fills[-1:]] == pinned_asks(4)[3:]
    fok = sim.place_limit_order("BTCUSDT", "BUY", D(1), D("60000.05"), "FOK")
    assert fok.status == "EXPIRED" and fok.executed_qty == 0


# -- (c) /depth and the depth stream reproduce the book -------------------------------------------------------------


async def _follow_depth(running: RunningSimulator, sim: BinanceSimulator, before, after) -> tuple[DepthSync, dict]:
    """Binance's recipe against the simulator: subscribe, run `before`, buffer a few diffs, snapshot, run `after`,
    then follow the diffs up to the book's last change; the follower and the simulator's own book."""
    sync = DepthSync()
    async with aiohttp.ClientSession() as client:
        ws = await client.ws_connect(f"{running.ws_url}/stream?streams=btcusdt@depth@100ms")

        async def diff() -> None:
            data = json.loads((await asyncio.wait_for(ws.receive(), 5)).data)["data"]
            sync.diff(data["U"], data["u"], _levels(data["b"]), _levels(data["a"]))

        await before()
        for _ in range(3):
            await diff()
        assert len(sync.buffer) == 3  # buffered until the snapshot
        async with client.get(running.http_url + "/api/v3/depth?symbol=BTCUSDT&limit=5000") as response:
            snapshot = await response.json()
        sync.snapshot(snapshot["lastUpdateId"], _levels(snapshot["bids"]), _levels(snapshot["asks"]))
        await after()
        book = sim.depth["BTCUSDT"]
        own = running.call(lambda: {"id": book.update_id, "bids": dict(book.book.bids), "asks": dict(book.book.asks)})
        while sync.last_update_id < own["id"]:
            await diff()
    return sync, own


def _levels(rows: list[list[str]]) -> list[tuple[D, D]]:
    return [(D(p), D(q)) for p, q in rows]


def test_depth_snapshot_and_stream_reproduce_the_synthetic_book():
    sim = build_simulator(["BTCUSDT"], {"USDT": D(1)}, catalog_path=CATALOG)

    async def pin() -> None:  # after some walk steps, pin the touch: the book stops changing
        await asyncio.sleep(0.5)
        with urllib.request.urlopen(urllib.request.Request(
                running.http_url + "/__sim/quote?symbol=BTCUSDT&bid=61000&ask=61000.01", method="POST")) as response:
            assert response.status == 200

    async def walk() -> None:  # diffs before the snapshot: buffered, then dropped or applied by the recipe
        await asyncio.sleep(0.2)

    with start_in_thread(sim, quote_interval=0.02) as running:
        sync, own = asyncio.run(asyncio.wait_for(_follow_depth(running, sim, walk, pin), 30))
    assert not sync.gap and sync.last_update_id == own["id"] > 10
    assert (sync.book.bids, sync.book.asks) == (own["bids"], own["asks"])
    assert len(own["bids"]) == len(own["asks"]) == 20 and max(own["bids"]) == D(61000)


def test_depth_snapshot_and_stream_reproduce_the_recorded_book(raw_lines, recording):
    sim = build_simulator(["BTCUSDT"], {"USDT": D(1)}, catalog_path=CATALOG)
    sim.attach_recording(recording)

    async def first() -> None:
        running.call(replay, sim, recording[:500])

    async def then() -> None:
        running.call(replay, sim, recording[500:5000])

    with start_in_thread(sim) as running:
        sync, own = asyncio.run(asyncio.wait_for(_follow_depth(running, sim, first, then), 60))
    book = book_from_lines(raw_lines, recording[4999].ts_ns)
    assert not sync.gap and sync.last_update_id == own["id"]
    assert (sync.book.bids, sync.book.asks) == (own["bids"], own["asks"]) == (book.bids, book.asks)


def test_depth_limits_like_binance(recording):
    sim = replayed(recording, recording[5000].ts_ns)
    full = answer(sim, "GET", "/api/v3/depth", {"symbol": "BTCUSDT", "limit": "5000"})
    assert len(full["bids"]) == len(sim.depth["BTCUSDT"].book.bids) > 100
    default = answer(sim, "GET", "/api/v3/depth", {"symbol": "BTCUSDT"})
    assert default["bids"] == full["bids"][:100] and default["asks"] == full["asks"][:100]
    assert [D(p) for p, _ in default["asks"]] == sorted(D(p) for p, _ in default["asks"])  # best first
    assert answer(sim, "GET", "/api/v3/depth", {"symbol": "BTCUSDT", "limit": "0"}).code == -1100
    assert answer(sim, "GET", "/api/v3/depth", {"symbol": "NOPE"}).code == -1121


# -- (d) klines from the trades ----------------------------------------------------------------------------------


def test_klines_are_the_bars_of_the_replayed_trades(raw_lines, recording):
    until = recording[20_000].ts_ns
    sim = replayed(recording, until)
    trades = [m["data"] for stamp, m in raw_lines if stamp <= until and m.get("stream", "").endswith("@trade")]
    minutes: dict[int, list[dict]] = {}
    for trade in trades:
        minutes.setdefault(trade["T"] // 60_000 * 60_000, []).append(trade)
    bars = answer(sim, "GET", "/api/v3/klines", {"symbol": "BTCUSDT", "interval": "1m"})
    assert len(bars) == len(minutes) >= 2
    for bar, (opened, prints) in zip(bars, sorted(minutes.items()), strict=True):
        prices = [D(t["p"]) for t in prints]
        assert bar[0] == opened and bar[6] == opened + 59_999
        assert [D(x) for x in bar[1:6]] == [prices[0], max(prices), min(prices), prices[-1],
                                            sum(D(t["q"]) for t in prints)]
        assert bar[8] == len(prints) and D(bar[7]) == sum(D(t["p"]) * D(t["q"]) for t in prints)
        assert D(bar[9]) == sum(D(t["q"]) for t in prints if not t["m"])
    one = answer(sim, "GET", "/api/v3/klines", {"symbol": "BTCUSDT", "interval": "1m", "startTime": str(bars[1][0]),
                                                "limit": "1"})
    assert one == [bars[1]]
    assert answer(sim, "GET", "/api/v3/klines", {"symbol": "BTCUSDT", "interval": "7m"}).code == -1120
    assert answer(sim, "GET", "/api/v3/klines", {"symbol": "BTCUSDT"}).code == -1102
    recent = answer(sim, "GET", "/api/v3/trades", {"symbol": "BTCUSDT", "limit": "3"})
    assert [(t["id"], t["price"]) for t in recent] == [(t["t"], t["p"]) for t in trades[-3:]]
    window = answer(sim, "GET", "/api/v3/aggTrades", {"symbol": "BTCUSDT", "startTime": str(trades[-3]["T"]),
                                                       "endTime": str(trades[-1]["T"])})
    assert [a["a"] for a in window] == [t["t"] for t in trades if trades[-3]["T"] <= t["T"] <= trades[-1]["T"]]


def test_klines_of_a_synthetic_walk_hold_its_mids_and_trades():
    now = [1_700_000_000.0]
    symbols = [symbol_from_spec(s) for s in load_catalog(CATALOG).instruments]
    sim = BinanceSimulator(symbols, {"USDT": D(1)}, clock=lambda: now[0])
    sim.ensure_book("BTCUSDT")
    mids = []
    for _ in range(40):
        now[0] += 0.25
        sim.step_walks()
        mids.append((sim.books["BTCUSDT"].bid + sim.books["BTCUSDT"].ask) / 2)
    bars = answer(sim, "GET", "/api/v3/klines", {"symbol": "BTCUSDT", "interval": "1s"})
    assert len(bars) == 11 and bars[0][0] == 1_700_000_000_000  # steps at 0.25 s .. 10 s
    assert D(bars[-1][4]) in (mids[-1], sim.recent_trades["BTCUSDT"][-1].price)
    assert min(D(b[3]) for b in bars) <= min(mids) and max(D(b[2]) for b in bars) >= max(mids)
    assert sum(D(b[5]) for b in bars) == sum(t.qty for t in sim.recent_trades["BTCUSDT"]) > 0


# -- (e) the request log, (f) form bodies --------------------------------------------------------------------------


def test_request_log_tells_signed_calls_and_api_keys_apart():
    sim = build_simulator(["BTCUSDT"], {"USDT": D(1)}, catalog_path=CATALOG)
    with start_in_thread(sim) as running:
        _get(running.http_url + "/api/v3/depth?symbol=BTCUSDT&limit=5")
        _get(running.http_url + "/api/v3/account?timestamp=1&signature=abc", {"X-MBX-APIKEY": "key"})
        _get(running.http_url + "/api/v3/exchangeInfo", {"X-MBX-APIKEY": "key"})
        with urllib.request.urlopen(running.http_url + "/__sim/state", timeout=5) as response:
            requests = json.loads(response.read())["requests"]
    assert [(r["path"], r["signed"], r["api_key"]) for r in requests] == [
        ("/api/v3/depth", False, False), ("/api/v3/account", True, True), ("/api/v3/exchangeInfo", False, True)]


def test_order_parameters_in_a_form_body():
    sim = build_simulator(["BTCUSDT"], {"USDT": D(100_000)}, catalog_path=CATALOG)
    sim.set_quote("BTCUSDT", bid=D("60000.00"), ask=D("60000.01"), bid_qty=D("0.1"), ask_qty=D("0.1"))
    form = urllib.parse.urlencode({"symbol": "BTCUSDT", "side": "BUY", "type": "MARKET", "quantity": "0.3",
                                   "newOrderRespType": "FULL", "signature": "abc"}).encode()
    with start_in_thread(sim) as running:
        request = urllib.request.Request(running.http_url + "/api/v3/order", data=form, method="POST",
                                         headers={"Content-Type": "application/x-www-form-urlencoded"})
        with urllib.request.urlopen(request, timeout=5) as response:
            order = json.loads(response.read())
        logged = running.call(lambda: sim.request_log[-1])
    expected = walk_levels(pinned_asks(5), D("0.3"))
    assert order["status"] == "FILLED" and decimal_fills(order["fills"]) == expected and len(expected) > 1
    assert logged["signed"] and not logged["api_key"] and logged["params"]["quantity"] == "0.3"


def _get(url: str, headers: dict[str, str] | None = None) -> dict:
    with urllib.request.urlopen(urllib.request.Request(url, headers=headers or {}), timeout=5) as response:
        return json.loads(response.read())


# -- pinning a replayed symbol, a looped replay ---------------------------------------------------------------------


def test_a_pinned_replayed_symbol_gets_its_recorded_book_back(raw_lines, recording):
    sim = replayed(recording, recording[1000].ts_ns)
    sim.set_quote("BTCUSDT", bid=D("60000.00"), ask=D("60000.01"), bid_qty=D("0.5"), ask_qty=D("0.5"))
    pinned = sim.depth["BTCUSDT"].book
    assert len(pinned.asks) == 20 and pinned.best_ask() == D("60000.01")
    replay(sim, recording[1001:2000])  # the recording goes on underneath
    assert sim.depth["BTCUSDT"].book.asks == pinned.asks
    sim.release_quote("BTCUSDT")
    book = book_from_lines(raw_lines, recording[1999].ts_ns)
    assert (sim.depth["BTCUSDT"].book.bids, sim.depth["BTCUSDT"].book.asks) == (book.bids, book.asks)
    assert sim.books["BTCUSDT"] == [r.quote for r in recording[:2000] if r.quote][-1]


def test_a_looped_replay_starts_from_an_empty_book():
    sim = build_simulator(["BTCUSDT"], {"USDT": D(1)}, catalog_path=CATALOG)
    recording = read_recording(shared_file(*RECORDING))
    sim.attach_recording(recording)
    published: list[tuple[str, str]] = []
    sim.on_market = lambda stream, text: published.append((stream, text))
    replay(sim, recording[:3000])
    levels = len(sim.depth["BTCUSDT"].book.bids) + len(sim.depth["BTCUSDT"].book.asks)
    sim.rewind_recording(["BTCUSDT"])
    removal = json.loads(published[-1][1])["data"]
    assert len(removal["b"]) + len(removal["a"]) == levels and {q for _, q in removal["b"]} == {"0.00000000"}
    assert sim.depth["BTCUSDT"].book.bids == {} and sim.klines["BTCUSDT"].rows("1m") == []
    assert answer(sim, "GET", "/api/v3/trades", {"symbol": "BTCUSDT"}) == []
