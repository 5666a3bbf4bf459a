"""The keyless Binance market-data client against the loopback venue (`nautlive sim`): quotes, trades and an L2 book
that matches the venue's, unsigned requests only, reconnects, gaps, and exchangeInfo without keys."""

from __future__ import annotations

import asyncio
import json
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path

import pytest
from nautilus_trader.cache.cache import Cache
from nautilus_trader.common.component import LiveClock, MessageBus
from nautilus_trader.model.book import OrderBook
from nautilus_trader.model.data import OrderBookDeltas, QuoteTick, TradeTick
from nautilus_trader.model.enums import BookType
from nautilus_trader.model.identifiers import InstrumentId, TraderId

from nautlive.catalog.specs import load_catalog, spec_to_instrument
from nautlive.config.profile import BinanceSettings, VenueProfile
from nautlive.errors import RuntimeFailure
from nautlive.sim.binance import build_simulator
from nautlive.sim.server import RunningSimulator, start_in_thread
from nautlive.venues.binance.public import (
    LOST,
    PublicDataClientFactory,
    PublicFeedConfig,
    fetch_public_specs,
    public_urls,
)
from nautlive.venues.binance.urls import DEFAULTS
from tests.conftest import REPO
from tests.live_helpers import CATALOG, start_venue, state

SYMBOLS = ("BTCUSDT", "ETHUSDT")
IDS = [f"{s}.BINANCE" for s in SYMBOLS]
D = Decimal


# -- the client on a real event loop, its output captured where the DataEngine would take it ----------------------


class Feed:
    """A PublicBinanceDataClient with a real clock, message bus and cache (the catalog's instruments), on this loop;
    what it hands the DataEngine lands in `data`."""

    def __init__(self, running: RunningSimulator | None, reconnect_secs: float = 0.1, ids: list[str] = IDS,
                 http_url: str | None = None, ws_url: str | None = None) -> None:
        clock, cache = LiveClock(), Cache()
        msgbus = MessageBus(TraderId("PUBLIC-001"), clock)
        for spec in load_catalog(CATALOG).instruments:
            cache.add_instrument(spec_to_instrument(spec))
        self.data: list = []
        msgbus.register("DataEngine.process", self.data.append)
        config = PublicFeedConfig(instrument_ids=ids, http_url=http_url or running.http_url,
                                  ws_url=ws_url or running.ws_url, reconnect_secs=reconnect_secs, snapshot_limit=500)
        self.client = PublicDataClientFactory.create(asyncio.get_running_loop(), "BINANCE", config, msgbus, cache,
                                                     clock)
        self.instruments = {s: cache.instrument(InstrumentId.from_str(f"{s}.BINANCE")) for s in SYMBOLS}

    async def __aenter__(self) -> Feed:
        self.client.connect()
        await until(lambda: self.client.is_connected, 5, "connected")
        return self

    async def __aexit__(self, *_exc: object) -> None:
        self.client.disconnect()
        await until(lambda: not self.client.is_connected, 5, "disconnected")

    def of(self, kind: type, symbol: str) -> list:
        return [d for d in self.data if isinstance(d, kind) and d.instrument_id.symbol.value == symbol]

    def book(self, symbol: str) -> OrderBook:
        """A Nautilus L2 book built from nothing but the emitted deltas."""
        book = OrderBook(InstrumentId.from_str(f"{symbol}.BINANCE"), BookType.L2_MBP)
        for deltas in self.of(OrderBookDeltas, symbol):
            book.apply_deltas(deltas)
        return book


async def until(condition: Callable[[], bool], seconds: float, what: str) -> None:
    deadline = asyncio.get_running_loop().time() + seconds
    while not condition():
        if asyncio.get_running_loop().time() > deadline:
            pytest.fail(f"no {what} within {seconds} s")
        await asyncio.sleep(0.02)


def depth_requests(running: RunningSimulator, symbol: str) -> list[dict]:
    return [r for r in state(running)["requests"] if r["path"] == "/api/v3/depth" and r["params"]["symbol"] == symbol]


def pin(running: RunningSimulator, symbol: str) -> None:
    """Hold the symbol's touch where it is: its book stops moving (the feed repeats the same quote)."""
    sim = running.sim
    running.call(lambda: sim.set_quote(symbol, bid=sim.books[symbol].bid, ask=sim.books[symbol].ask))


def venue_levels(running: RunningSimulator, symbol: str) -> tuple[list, list]:
    snap = running.call(running.sim.depth_snapshot, symbol, 1000)
    return ([(D(p), D(q)) for p, q in snap["bids"]], [(D(p), D(q)) for p, q in snap["asks"]])


def book_levels(book: OrderBook) -> tuple[list, list]:
    """(price, size) best first a side (an L2 level holds one order; BookLevel.size() is a float)."""
    return tuple([(lv.price.as_decimal(), lv.orders()[0].size.as_decimal()) for lv in levels]
                 for levels in (book.bids(), book.asks()))


def assert_book_matches(feed: Feed, running: RunningSimulator, symbol: str) -> None:
    """The book built from the deltas is the venue's book, level for level, and its touch is the last quote's."""
    book = feed.book(symbol)
    assert book_levels(book) == venue_levels(running, symbol)
    last = feed.of(QuoteTick, symbol)[-1]
    assert (book.best_bid_price(), book.best_ask_price()) == (last.bid_price, last.ask_price)


def run(coro) -> None:  # noqa: ANN001
    """Run a test coroutine on a fresh loop and check it leaves no task behind (no "Task was destroyed" later)."""

    async def checked() -> None:
        await coro
        await asyncio.sleep(0.05)
        left = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
        assert not left, f"tasks left pending after disconnect: {left}"

    asyncio.run(checked())


# -- 1. quotes, trades and a book equal to the venue's; unsigned requests only -----------------------------------


def test_quotes_trades_and_book_deltas_match_the_venue(venue):
    async def scenario() -> None:
        async with Feed(venue) as feed:
            await until(lambda: all(len(feed.of(QuoteTick, s)) >= 10 for s in SYMBOLS), 10, "10 quotes a symbol")
            await until(lambda: all(feed.of(TradeTick, s) for s in SYMBOLS), 10, "trades")
            pin(venue, "BTCUSDT")
            await asyncio.sleep(0.3)
            assert_book_matches(feed, venue, "BTCUSDT")
        for symbol in SYMBOLS:  # ETHUSDT still moving: its last quote is its book's touch
            book, last = feed.book(symbol), feed.of(QuoteTick, symbol)[-1]
            assert (book.best_bid_price(), book.best_ask_price()) == (last.bid_price, last.ask_price)
            assert len(book.bids()) >= 10 and len(book.asks()) >= 10  # the snapshot's depth, not just the touch
            instrument = feed.instruments[symbol]
            quote, trade = feed.of(QuoteTick, symbol)[-1], feed.of(TradeTick, symbol)[-1]
            assert quote.bid_price.precision == instrument.price_precision == 8
            assert trade.size.precision == instrument.size_precision
            assert quote.ts_event == quote.ts_init > 0

    run(scenario())
    requests = state(venue)["requests"]
    assert sorted(r["params"]["symbol"] for r in requests) == list(SYMBOLS)  # one snapshot each, nothing else
    assert {(r["method"], r["path"], r["params"]["limit"]) for r in requests} == {("GET", "/api/v3/depth", "500")}
    assert not any(r["signed"] or r["api_key"] or "signature" in r["params"] for r in requests)


def test_trade_aggressor_and_id_follow_the_wire(venue):
    async def scenario() -> None:
        async with Feed(venue, ids=["BTCUSDT.BINANCE"]) as feed:
            await until(lambda: len(feed.of(TradeTick, "BTCUSDT")) >= 5, 10, "5 trades")
        printed = {t.trade_id: t for t in venue.call(lambda: list(venue.sim.recent_trades["BTCUSDT"]))}
        for tick in feed.of(TradeTick, "BTCUSDT"):
            wire = printed[int(tick.trade_id.value)]
            assert tick.aggressor_side.name == ("SELLER" if wire.buyer_is_maker else "BUYER")
            assert (tick.price.as_decimal(), tick.size.as_decimal()) == (wire.price, wire.qty)
        assert not feed.of(QuoteTick, "ETHUSDT")  # only what was configured

    run(scenario())


def test_instrument_missing_from_the_cache_is_skipped(venue):
    async def scenario() -> None:
        async with Feed(venue, ids=["BTCUSDT.BINANCE", "DOGEUSDT.BINANCE"]) as feed:
            await until(lambda: len(feed.of(QuoteTick, "BTCUSDT")) >= 3, 10, "BTCUSDT quotes")
            assert "dogeusdt" not in feed.client.stream_url
            assert feed.client.stream_url.endswith(
                "/stream?streams=btcusdt@bookTicker/btcusdt@trade/btcusdt@depth@100ms")

    run(scenario())


# -- 2. gaps and reconnects --------------------------------------------------------------------------------------


def test_gap_in_the_depth_stream_takes_a_new_snapshot(venue):
    async def scenario() -> None:
        async with Feed(venue) as feed:
            await until(lambda: len(depth_requests(venue, "BTCUSDT")) == 1 and feed.book("BTCUSDT").bids(), 10,
                        "a synced book")
            served = venue.sim.depth["BTCUSDT"]
            venue.call(lambda: setattr(served, "update_id", served.update_id + 3))  # three diffs never sent
            await until(lambda: len(depth_requests(venue, "BTCUSDT")) == 2, 10, "a second snapshot")
            pin(venue, "BTCUSDT")
            await asyncio.sleep(0.3)
            assert_book_matches(feed, venue, "BTCUSDT")
            assert len(depth_requests(venue, "ETHUSDT")) == 1
            assert state(venue)["connections_opened"] == 1  # no reconnect: only the book was resynced

    run(scenario())


def test_dropped_stream_reconnects_and_resnapshots(venue):
    async def scenario() -> None:
        async with Feed(venue) as feed:
            await until(lambda: all(len(depth_requests(venue, s)) == 1 for s in SYMBOLS), 10, "first snapshots")
            await until(lambda: len(feed.of(QuoteTick, "BTCUSDT")) >= 3, 10, "quotes")
            assert venue.call(venue.sim.drop_connections) == 1
            seen = len(feed.of(QuoteTick, "BTCUSDT"))
            await until(lambda: all(len(depth_requests(venue, s)) == 2 for s in SYMBOLS), 10, "new snapshots")
            await until(lambda: len(feed.of(QuoteTick, "BTCUSDT")) >= seen + 5, 10, "quotes after the drop")
            pin(venue, "BTCUSDT")
            await asyncio.sleep(0.3)
            assert_book_matches(feed, venue, "BTCUSDT")
            assert state(venue)["connections_opened"] == 2

    run(scenario())


def test_venue_restart_on_the_same_port_resumes_quotes_and_book():
    """The venue goes away (connection refused for a while) and a fresh one, its update ids from 0 again, comes back."""
    first = start_venue()
    port = first.port

    async def scenario() -> None:
        async with Feed(first) as feed:
            await until(lambda: len(feed.of(QuoteTick, "BTCUSDT")) >= 3 and len(depth_requests(first, "BTCUSDT")),
                        10, "quotes from the first venue")
            await asyncio.to_thread(first.stop)
            await asyncio.sleep(0.5)  # several refused reconnects
            seen = len(feed.of(QuoteTick, "BTCUSDT"))
            sim = build_simulator(list(SYMBOLS), {"USDT": D(100_000)}, catalog_path=CATALOG, seed=7)
            second = await asyncio.to_thread(start_in_thread, sim, port=port, quote_interval=0.05)
            try:
                await until(lambda: len(feed.of(QuoteTick, "BTCUSDT")) >= seen + 5, 10, "quotes from the new venue")
                await until(lambda: len(depth_requests(second, "BTCUSDT")) >= 1, 10, "a snapshot of the new venue")
                pin(second, "BTCUSDT")
                await asyncio.sleep(0.3)
                assert_book_matches(feed, second, "BTCUSDT")
            finally:
                await asyncio.to_thread(second.stop)

    try:
        run(scenario())
    finally:
        first.stop()


def test_failed_snapshot_is_retried(venue, monkeypatch):
    from nautlive.venues.binance import public as binance_public

    monkeypatch.setattr(binance_public, "REQUEST_TIMEOUT", 0.3)

    async def scenario() -> None:
        venue.call(venue.sim.stall, None)  # every REST request held: the first snapshots time out ...
        try:
            async with Feed(venue) as feed:
                await until(lambda: len(depth_requests(venue, "BTCUSDT")) >= 2, 10, "a retried snapshot")
                assert len(feed.book("BTCUSDT").bids()) <= 1  # the touch at most
                venue.call(venue.sim.clear_stall)  # ... and a retry succeeds
                await until(lambda: len(feed.book("BTCUSDT").bids()) >= 10, 10, "the snapshot's levels")
                pin(venue, "BTCUSDT")
                await asyncio.sleep(0.3)
                assert_book_matches(feed, venue, "BTCUSDT")
        finally:
            venue.call(venue.sim.clear_stall)

    run(scenario())


def test_disconnect_while_the_venue_is_down_is_clean():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]  # closed again: nothing listens there

    async def scenario() -> None:
        url = f"127.0.0.1:{port}"
        async with Feed(None, http_url=f"http://{url}", ws_url=f"ws://{url}") as feed:
            await asyncio.sleep(0.3)  # a few refused attempts
            assert not feed.data

    run(scenario())


# -- 3. exchangeInfo without keys ---------------------------------------------------------------------------------


def test_fetch_public_specs_from_the_venue(venue):
    specs = asyncio.run(fetch_public_specs(venue.http_url + "/", ["BTCUSDT", "ETHUSDT"]))

    catalog = {s.instrument_id: s for s in load_catalog(CATALOG).instruments}
    assert sorted(specs.specs) == list(SYMBOLS)
    for symbol, spec in specs.specs.items():
        assert (spec.tick_size, spec.step_size) == (catalog[spec.instrument_id].tick_size,
                                                    catalog[spec.instrument_id].step_size)
        assert spec.instrument_id == f"{symbol}.BINANCE"
    [request] = state(venue)["requests"]
    assert request["path"] == "/api/v3/exchangeInfo" and json.loads(request["params"]["symbols"]) == list(SYMBOLS)
    assert not (request["signed"] or request["api_key"] or "signature" in request["params"])


def test_fetch_public_specs_unknown_symbol_is_the_venues_error(venue):
    with pytest.raises(RuntimeFailure, match="code -1121"):
        asyncio.run(fetch_public_specs(venue.http_url, ["NOPEUSDT"]))


def test_fetch_public_specs_proxy_error_page_is_unreachable():
    """A 4xx page that is not Binance's {code, msg} (a proxy, a CDN) is the venue unreachable, not a bad file."""
    import http.server
    import threading

    class Page(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802
            self.send_response(403)
            self.send_header("Content-Type", "text/html")
            self.end_headers()
            self.wfile.write(b"<html>403 Forbidden</html>")

        def log_message(self, *_args: object) -> None:
            pass

    with http.server.ThreadingHTTPServer(("127.0.0.1", 0), Page) as server:
        threading.Thread(target=server.serve_forever, daemon=True).start()
        try:
            with pytest.raises(RuntimeFailure, match=r"/api/v3/exchangeInfo: venue unreachable: HTTP 403"):
                asyncio.run(fetch_public_specs(f"http://127.0.0.1:{server.server_address[1]}", ["BTCUSDT"]))
        finally:
            server.shutdown()


def test_fetch_public_specs_closed_port_is_unreachable():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    started = time.monotonic()
    with pytest.raises(RuntimeFailure) as caught:
        asyncio.run(fetch_public_specs(f"http://127.0.0.1:{port}", ["BTCUSDT"], timeout=2.0))
    assert time.monotonic() - started < 2.0
    assert str(caught.value) == (f"http://127.0.0.1:{port}/api/v3/exchangeInfo: venue unreachable: connection refused "
                                 "(is `nautlive sim` running?)")


def test_fetch_public_specs_silent_venue_times_out():
    with socket.socket() as silent:  # accepts connections (the backlog) and never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen(4)
        url = f"http://127.0.0.1:{silent.getsockname()[1]}"
        started = time.monotonic()
        with pytest.raises(RuntimeFailure, match=r"venue unreachable: no answer within 0.5 s"):
            asyncio.run(fetch_public_specs(url, ["BTCUSDT"], timeout=0.5))
        assert time.monotonic() - started < 2.0


# -- 4. which URLs a profile reads from ---------------------------------------------------------------------------


def profile(binance: BinanceSettings | None) -> VenueProfile:
    return VenueProfile(venue="BINANCE", adapter="binance", instruments=IDS, quote_currency="USDT", catalog="c.yaml",
                        binance=binance)


LIVE, TESTNET, DEMO = DEFAULTS["live"], DEFAULTS["testnet"], DEFAULTS["demo"]


@pytest.mark.parametrize("settings, expected", [
    (None, (LIVE.http, LIVE.ws)),
    (BinanceSettings(), ("https://api.binance.com", "wss://stream.binance.com:9443")),
    (BinanceSettings(testnet=True), (TESTNET.http, TESTNET.ws)),
    (BinanceSettings(environment="testnet"), (TESTNET.http, TESTNET.ws)),
    (BinanceSettings(environment="demo"), ("https://demo-api.binance.com", "wss://demo-stream.binance.com")),
    (BinanceSettings(base_url_http="http://127.0.0.1:8765/", base_url_ws="ws://127.0.0.1:8765", testnet=True),
     ("http://127.0.0.1:8765", "ws://127.0.0.1:8765")),
    (BinanceSettings(base_url_http="http://127.0.0.1:8765"), ("http://127.0.0.1:8765", LIVE.ws)),
])
def test_public_urls(settings, expected):
    assert public_urls(profile(settings)) == expected


def test_public_urls_of_the_shipped_sim_profile(monkeypatch):
    from nautlive.config.profile import load_profile

    monkeypatch.setenv("NAUTLIVE_SIM_HTTP", "http://127.0.0.1:9999")
    monkeypatch.setenv("NAUTLIVE_SIM_WS", "ws://127.0.0.1:9999")
    sim_profile = load_profile(profile=REPO / "profiles" / "binance-sim.yaml")
    assert public_urls(sim_profile) == ("http://127.0.0.1:9999", "ws://127.0.0.1:9999")


# -- a real TradingNode with no keys --------------------------------------------------------------------------------

NODE_SCRIPT = r"""
import asyncio, json, sys, threading, urllib.request
from nautilus_trader.common.actor import Actor
from nautilus_trader.common.config import ActorConfig
from nautilus_trader.config import LoggingConfig, TradingNodeConfig
from nautilus_trader.live.config import LiveDataEngineConfig, LiveExecEngineConfig, LiveRiskEngineConfig
from nautilus_trader.live.node import TradingNode
from nautilus_trader.model.enums import BookType
from nautilus_trader.model.identifiers import InstrumentId

from nautlive.catalog.specs import load_catalog, spec_to_instrument
from nautlive.venues.binance.public import PublicDataClientFactory, PublicFeedConfig

out, catalog_path, http, ws = sys.argv[1:5]
BTC = InstrumentId.from_str("BTCUSDT.BINANCE")


class Watcher(Actor):
    def __init__(self, done):
        super().__init__(ActorConfig(component_id="Watcher"))
        self.quotes, self.trades, self.mismatched, self.levels, self.done = 0, 0, 0, 0, done

    def on_start(self):
        self.subscribe_quote_ticks(BTC)
        self.subscribe_trade_ticks(BTC)
        self.subscribe_order_book_deltas(BTC, BookType.L2_MBP)

    def on_trade_tick(self, tick):
        self.trades += 1

    def on_quote_tick(self, tick):
        self.quotes += 1
        book = self.cache.order_book(BTC)
        if (book.best_bid_price(), book.best_ask_price()) != (tick.bid_price, tick.ask_price):
            self.mismatched += 1
        self.levels = max(self.levels, len(book.bids()))
        if self.quotes == 20:
            threading.Thread(target=lambda: urllib.request.urlopen(
                urllib.request.Request(http + "/__sim/drop", method="POST"), timeout=5).read()).start()
        if self.quotes == 60:
            self.done.set()


config = TradingNodeConfig(
    trader_id="PUBLIC-001",
    logging=LoggingConfig(log_level="WARNING", log_colors=False),
    data_engine=LiveDataEngineConfig(graceful_shutdown_on_exception=True),
    risk_engine=LiveRiskEngineConfig(graceful_shutdown_on_exception=True),
    exec_engine=LiveExecEngineConfig(reconciliation=False, graceful_shutdown_on_exception=True),
    data_clients={"BINANCE": PublicFeedConfig(instrument_ids=["BTCUSDT.BINANCE", "ETHUSDT.BINANCE"], http_url=http,
                                              ws_url=ws, reconnect_secs=0.2)},
    timeout_connection=5.0, timeout_reconciliation=1.0, timeout_portfolio=1.0, timeout_disconnection=2.0,
    timeout_post_stop=0.2, timeout_shutdown=1.0,
)


async def main(holder):
    node = holder["node"] = TradingNode(config=config, loop=asyncio.get_running_loop())
    for spec in load_catalog(catalog_path).instruments:
        node.kernel.cache.add_instrument(spec_to_instrument(spec))
    watcher = holder["watcher"] = Watcher(asyncio.Event())
    node.trader.add_actor(watcher)
    node.add_data_client_factory("BINANCE", PublicDataClientFactory)
    node.build()
    running = asyncio.create_task(node.run_async())
    try:
        await asyncio.wait_for(watcher.done.wait(), 60)
    finally:
        await node.stop_async()
        await running


holder = {}
asyncio.run(main(holder))
holder["node"].dispose()
w = holder["watcher"]
with open(out, "w") as f:
    json.dump({"quotes": w.quotes, "trades": w.trades, "mismatched": w.mismatched, "levels": w.levels}, f)
"""


@pytest.mark.slow
def test_trading_node_streams_public_data_without_keys(venue, tmp_path):
    out = tmp_path / "result.json"
    proc = subprocess.run([sys.executable, "-c", NODE_SCRIPT, str(out), str(CATALOG), venue.http_url, venue.ws_url],
                          capture_output=True, text=True, timeout=120, cwd=REPO)
    assert proc.returncode == 0, proc.stderr[-3000:] + proc.stdout[-3000:]
    result = json.loads(Path(out).read_text())
    logs = proc.stdout + proc.stderr
    assert result["quotes"] >= 60 and result["trades"] > 0
    assert result["mismatched"] == 0  # the cache's book (from the deltas) has each quote's touch
    assert result["levels"] >= 10
    assert logs.count(LOST) == 1, logs[-3000:]
    assert "Task was destroyed" not in logs and "Unclosed" not in logs, logs[-3000:]
    requests = state(venue)["requests"]
    assert {r["path"] for r in requests} == {"/api/v3/depth"}
    assert len(requests) == 4  # each symbol's snapshot, then again after the drop
    assert not any(r["signed"] or r["api_key"] for r in requests)
