"""Binance Spot public market data with no API keys: a small data client for SHADOW on the venue's own prices.

Nautilus's Binance data client wants keys even for public data (its instrument provider calls a signed fee endpoint
first), so this client speaks the public protocol itself: one combined WebSocket (`@bookTicker`, `@trade` and
`@depth@100ms` of every configured instrument) and an unsigned REST depth snapshot per symbol, kept in sync as Binance
documents it (nautlive.data.book.DepthSync). No signed endpoint is called and no X-MBX-APIKEY header is sent.

Instruments come from the node's cache (the caller puts the catalog's there before the node starts). The client
emits QuoteTicks, TradeTicks and OrderBookDeltas (nautlive.data.depth: raw integers at the instrument's precision), each
stamped with the client's clock on receipt. A lost stream is reopened every `reconnect_secs` until disconnect, and
each book takes a new snapshot; a gap in a depth stream takes a new snapshot too.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass, field

import aiohttp
import msgspec
from nautilus_trader.cache.cache import Cache
from nautilus_trader.common.component import LiveClock, MessageBus
from nautilus_trader.common.providers import InstrumentProvider
from nautilus_trader.config import LiveDataClientConfig
from nautilus_trader.data.messages import (
    SubscribeOrderBook,
    SubscribeQuoteTicks,
    SubscribeTradeTicks,
    UnsubscribeOrderBook,
    UnsubscribeQuoteTicks,
    UnsubscribeTradeTicks,
)
from nautilus_trader.live.data_client import LiveMarketDataClient
from nautilus_trader.live.factories import LiveDataClientFactory
from nautilus_trader.model.data import QuoteTick, TradeTick
from nautilus_trader.model.enums import AggressorSide
from nautilus_trader.model.identifiers import ClientId, InstrumentId, TradeId, Venue
from nautilus_trader.model.instruments import Instrument

from nautlive.data.book import DepthSync
from nautlive.data.depth import RawScale, book_deltas, touch
from nautlive.errors import RuntimeFailure
from nautlive.venues.binance.rest import transport_failure, unreachable_hint
from nautlive.venues.binance.specs import specs_from_exchange_info
from nautlive.venues.binance.urls import endpoints
from nautlive.venues.interface import VenueSpecs

STREAMS = ("bookTicker", "trade", "depth@100ms")
LOST = "Binance public stream lost: reconnecting"
REQUEST_TIMEOUT = 10.0  # seconds for one snapshot request
GAP_RETRY_SECS = 0.1  # before another snapshot when the last one was older than the diffs buffered meanwhile
HEARTBEAT = 30.0  # a WebSocket ping this often; no pong within half of it counts as a lost stream
# aiohttp 3.10+ takes the close handshake's deadline as ClientWSTimeout; older versions as a float
WS_CLOSE_TIMEOUT = aiohttp.ClientWSTimeout(ws_close=2.0) if hasattr(aiohttp, "ClientWSTimeout") else 2.0


def public_urls(profile) -> tuple[str, str]:  # noqa: ANN001 - VenueProfile
    """(http_url, ws_url) of the profile's public market data (nautlive.venues.binance.urls)."""
    http, ws, _ = endpoints(profile.binance)
    return http, ws


async def fetch_public_specs(http_url: str, symbols: list[str], timeout: float = 10.0) -> VenueSpecs:
    """GET /api/v3/exchangeInfo?symbols=[...] unsigned, decoded with the venue's own schema (VenueSpecs)."""
    base = http_url.rstrip("/")
    url = f"{base}/api/v3/exchangeInfo"
    try:
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=timeout)) as session:
            async with session.get(url, params={"symbols": msgspec.json.encode(symbols).decode()}) as response:
                status, body = response.status, await response.read()
    except (TimeoutError, aiohttp.ClientError) as exc:
        raise RuntimeFailure(f"{url}: venue unreachable: {transport_failure(exc, base, timeout)}") from None
    if status >= 500 or (status >= 400 and not body.lstrip().startswith(b"{")):  # a proxy's page, not Binance's
        raise RuntimeFailure(f"{url}: venue unreachable: HTTP {status} ({unreachable_hint(base)})")
    return specs_from_exchange_info(body, source=url)  # a 4xx {code, msg} body becomes a RuntimeFailure there


class PublicFeedConfig(LiveDataClientConfig, frozen=True, kw_only=True):
    """Keyless Binance market data for `instrument_ids` (in the cache at start) from `http_url` and `ws_url` (bases,
    no trailing path: https://api.binance.com and wss://stream.binance.com:9443, or the sim's)."""

    venue: str = "BINANCE"
    instrument_ids: list[str]
    http_url: str
    ws_url: str
    snapshot_limit: int = 1000
    reconnect_secs: float = 1.0


@dataclass
class _Feed:
    """One symbol's instrument, its book in sync with the venue's, and the snapshot being taken (if any)."""

    instrument: Instrument
    scale: RawScale
    sync: DepthSync = field(default_factory=DepthSync)
    snapshot: asyncio.Task | None = None


class PublicBinanceDataClient(LiveMarketDataClient):
    """Quotes, trades and L2 book deltas of Binance's public streams; every stream is subscribed at connect."""

    def __init__(self, loop, name: str, config: PublicFeedConfig, msgbus: MessageBus, cache: Cache,  # noqa: ANN001
                 clock: LiveClock) -> None:
        super().__init__(loop=loop, client_id=ClientId(name), venue=Venue(config.venue), msgbus=msgbus, cache=cache,
                         clock=clock, instrument_provider=InstrumentProvider(), config=config)
        self._feed_config = config
        self._http = config.http_url.rstrip("/")
        self._ws_base = config.ws_url.rstrip("/")
        self._feeds: dict[str, _Feed] = {}  # by Binance symbol
        self._session: aiohttp.ClientSession | None = None
        self._ws: aiohttp.ClientWebSocketResponse | None = None
        self._runner: asyncio.Task | None = None

    @property
    def stream_url(self) -> str:
        names = [f"{symbol.lower()}@{kind}" for symbol in self._feeds for kind in STREAMS]
        return f"{self._ws_base}/stream?streams={'/'.join(names)}"

    async def _connect(self) -> None:
        self._feeds = {}
        for text in self._feed_config.instrument_ids:
            instrument = self._cache.instrument(InstrumentId.from_str(text))
            if instrument is None:
                self._log.error(f"Binance public feed: {text} is not in the cache: no market data for it")
                continue
            self._feeds[instrument.raw_symbol.value] = _Feed(instrument, RawScale(instrument))
        if not self._feeds:
            self._log.error("Binance public feed: no instrument to stream")
            return
        self._session = aiohttp.ClientSession()
        self._runner = self._spawn(self._run(), "stream")

    async def _disconnect(self) -> None:
        tasks = [t for t in [self._runner, *(f.snapshot for f in self._feeds.values())] if t is not None]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._runner = None
        if self._ws is not None:
            with contextlib.suppress(Exception):
                await self._ws.close()
            self._ws = None
        if self._session is not None:
            await self._session.close()
            self._session = None

    def _spawn(self, coro, what: str) -> asyncio.Task:  # noqa: ANN001
        """A task of this client's; an unexpected error ending it is logged, not left for the garbage collector."""
        task = self._loop.create_task(coro, name=f"{self.id} {what}")
        task.add_done_callback(lambda t: t.cancelled() or t.exception() is None
                               or self._log.error(f"Binance public feed: {what} failed: {t.exception()!r}"))
        return task

    # -- the stream ----------------------------------------------------------------------------------------------

    async def _run(self) -> None:
        """Open the stream, snapshot the books, read until the stream ends; then again after reconnect_secs."""
        assert self._session is not None
        warned = False
        while True:
            try:
                self._ws = await self._session.ws_connect(self.stream_url, heartbeat=HEARTBEAT,
                                                          timeout=WS_CLOSE_TIMEOUT)
            except (aiohttp.ClientError, OSError, TimeoutError) as exc:
                if not warned:
                    self._log.warning(f"Binance public stream: cannot connect to {self._ws_base} ({_reason(exc)}, "
                                      f"{unreachable_hint(self._ws_base)}): retrying every "
                                      f"{self._feed_config.reconnect_secs:g} s")
                    warned = True
                await asyncio.sleep(self._feed_config.reconnect_secs)
                continue
            self._log.info(f"Binance public stream open: {len(self._feeds)} symbol(s) from {self._ws_base}")
            warned = False
            for symbol in self._feeds:
                self._take_snapshot(symbol)
            try:
                await self._read(self._ws)
            except (aiohttp.ClientError, OSError) as exc:
                self._log.debug(f"Binance public stream: {_reason(exc)}")
            finally:
                ws, self._ws = self._ws, None
                with contextlib.suppress(Exception):
                    await ws.close()
            self._log.warning(LOST)
            warned = True
            for feed in self._feeds.values():
                if feed.snapshot is not None:
                    feed.snapshot.cancel()
                    feed.snapshot = None
                feed.sync.resync()
            await asyncio.sleep(self._feed_config.reconnect_secs)

    async def _read(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        async for message in ws:
            if message.type != aiohttp.WSMsgType.TEXT:
                break  # ERROR (or a binary frame Binance never sends): the stream is lost
            try:
                self._on_message(msgspec.json.decode(message.data))
            except Exception as exc:  # noqa: BLE001 - one bad message must not end the stream
                self._log.error(f"Binance public stream: cannot read {message.data[:200]!r}: {exc!r}")

    def _on_message(self, message: dict) -> None:
        stream, data = message.get("stream"), message.get("data")
        if not isinstance(stream, str) or not isinstance(data, dict):
            return  # a SUBSCRIBE acknowledgement or the like
        symbol, _, kind = stream.partition("@")
        feed = self._feeds.get(symbol.upper())
        if feed is None:
            return
        ts = self._clock.timestamp_ns()
        instrument = feed.instrument
        if kind == "bookTicker":
            quote = QuoteTick(instrument.id, instrument.make_price(data["b"]), instrument.make_price(data["a"]),
                              instrument.make_qty(data["B"]), instrument.make_qty(data["A"]), ts, ts)
            self._emit_book(feed, touch(feed.sync.book, quote), ts)
            self._handle_data(quote)
        elif kind == "trade":
            side = AggressorSide.SELLER if data["m"] else AggressorSide.BUYER
            self._handle_data(TradeTick(instrument.id, instrument.make_price(data["p"]), instrument.make_qty(data["q"]),
                                        side, TradeId(str(data["t"])), ts, ts))
        elif kind.startswith("depth"):
            changes = feed.sync.diff(data["U"], data["u"], feed.scale.levels(data["b"]), feed.scale.levels(data["a"]))
            self._emit_book(feed, changes, ts)
            if feed.sync.gap:
                self._take_snapshot(symbol.upper())

    def _emit_book(self, feed: _Feed, changes: list, ts: int) -> None:
        if changes:
            self._handle_data(book_deltas(feed.instrument, changes, ts))

    # -- snapshots -----------------------------------------------------------------------------------------------

    def _take_snapshot(self, symbol: str) -> None:
        feed = self._feeds[symbol]
        if feed.snapshot is None or feed.snapshot.done():
            feed.snapshot = self._spawn(self._snapshot(symbol), f"{symbol} snapshot")

    async def _snapshot(self, symbol: str) -> None:
        """GET /api/v3/depth until it answers and the buffered diffs follow on from it; emit what changed."""
        feed, failed = self._feeds[symbol], False
        url = f"{self._http}/api/v3/depth"
        params = {"symbol": symbol, "limit": str(self._feed_config.snapshot_limit)}
        while True:
            try:
                body = await self._get(url, params)
            except (aiohttp.ClientError, OSError, TimeoutError, ValueError, msgspec.DecodeError) as exc:
                if not failed:
                    self._log.warning(f"Binance public feed: {symbol} depth snapshot failed ({_reason(exc)}): "
                                      f"retrying every {self._feed_config.reconnect_secs:g} s")
                failed = True
                await asyncio.sleep(self._feed_config.reconnect_secs)
                continue
            ts = self._clock.timestamp_ns()
            changes = feed.sync.snapshot(body["lastUpdateId"], feed.scale.levels(body["bids"]),
                                         feed.scale.levels(body["asks"]))
            self._emit_book(feed, changes, ts)
            if not feed.sync.gap:
                if failed:
                    self._log.info(f"Binance public feed: {symbol} depth snapshot taken")
                return
            await asyncio.sleep(GAP_RETRY_SECS)  # the snapshot is older than the buffered diffs: another one

    async def _get(self, url: str, params: dict[str, str]) -> dict:
        assert self._session is not None
        async with self._session.get(url, params=params, timeout=aiohttp.ClientTimeout(total=REQUEST_TIMEOUT)) as r:
            body = await r.read()
            if r.status >= 400:
                raise ValueError(f"HTTP {r.status}: {body[:200].decode(errors='replace')}")
        answer = msgspec.json.decode(body)
        if not isinstance(answer, dict) or not {"lastUpdateId", "bids", "asks"} <= answer.keys():
            raise ValueError(f"not a depth snapshot: {body[:200].decode(errors='replace')}")
        return answer

    # -- subscriptions: every stream is open from connect on -----------------------------------------------------

    async def _subscribe_quote_ticks(self, command: SubscribeQuoteTicks) -> None:
        self._check_served(command.instrument_id)

    async def _subscribe_trade_ticks(self, command: SubscribeTradeTicks) -> None:
        self._check_served(command.instrument_id)

    async def _subscribe_order_book_deltas(self, command: SubscribeOrderBook) -> None:
        self._check_served(command.instrument_id)

    async def _unsubscribe_quote_ticks(self, command: UnsubscribeQuoteTicks) -> None:
        pass

    async def _unsubscribe_trade_ticks(self, command: UnsubscribeTradeTicks) -> None:
        pass

    async def _unsubscribe_order_book_deltas(self, command: UnsubscribeOrderBook) -> None:
        pass

    def _check_served(self, instrument_id: InstrumentId) -> None:
        if str(instrument_id) not in self._feed_config.instrument_ids:
            self._log.warning(f"Binance public feed does not serve {instrument_id} (not in instrument_ids)")


class PublicDataClientFactory(LiveDataClientFactory):
    """Builds a PublicBinanceDataClient for `TradingNode.add_data_client_factory`."""

    @staticmethod
    def create(loop, name, config: PublicFeedConfig, msgbus, cache, clock) -> PublicBinanceDataClient:  # noqa: ANN001
        return PublicBinanceDataClient(loop, name, config, msgbus, cache, clock)


def _reason(exc: BaseException) -> str:
    if isinstance(exc, TimeoutError):
        return "timed out"
    if isinstance(exc, aiohttp.ClientConnectorError):
        return "connection refused"
    return str(exc).splitlines()[0] if str(exc) else type(exc).__name__
