"""Offline market data for BACKTEST and SHADOW: recorded Binance streams and a seeded synthetic walk.

Recorded files (`<symbol>_<yyyymmdd>.gz`) hold one Binance combined-stream message per line,
`<local receive time, ns> <JSON as Binance sent it>`. `@bookTicker` lines become QuoteTicks, `@trade` lines
TradeTicks, and `@depth@100ms` lines with the bookTicker touches keep an L2 book whose changes become OrderBookDeltas
(depth.py): the book the shadow exchange and the backtest venue fill market orders against.

Timestamps: ts_event = ts_init = the local receive time, for quotes and trades alike. bookTicker carries no event
time, and the recording host's clock is about a second off Binance's, so stamping trades with Binance's trade time
would put them out of order against the quotes. The receive time is monotonic within a file, so ticks come out
sorted by ts_init.

The same module holds the live data clients that feed these ticks to a TradingNode (SHADOW), so a backtest and a
shadow run can see identical data: `replay_ticks(paths, ...)` is exactly what `ReplayDataClient` emits, and
`iter_synthetic_quotes(...)` is the walk `SyntheticDataClient` emits, for the same seed.
"""

from __future__ import annotations

import asyncio
import gc
import heapq
import random
import re
import zlib
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from decimal import Decimal
from itertools import islice
from pathlib import Path

import msgspec
import numpy as np
from nautilus_trader.cache.cache import Cache
from nautilus_trader.common.component import LiveClock, MessageBus
from nautilus_trader.common.providers import InstrumentProvider
from nautilus_trader.config import LiveDataClientConfig
from nautilus_trader.core.data import Data
from nautilus_trader.data.messages import (
    SubscribeQuoteTicks,
    SubscribeTradeTicks,
    UnsubscribeQuoteTicks,
    UnsubscribeTradeTicks,
)
from nautilus_trader.live.data_client import LiveMarketDataClient
from nautilus_trader.live.factories import LiveDataClientFactory
from nautilus_trader.model.data import QuoteTick, TradeTick
from nautilus_trader.model.enums import AggressorSide
from nautilus_trader.model.identifiers import ClientId, InstrumentId, TradeId, Venue
from nautilus_trader.model.instruments import Instrument
from nautilus_trader.model.objects import FIXED_PRECISION

from nautlive.book import L2Book
from nautlive.depth import LADDER_TOP_NOTIONAL, ladder_deltas, read_depth, recorded_book
from nautlive.errors import ConfigError

KINDS = ("quotes", "trades", "book")
# Where the stream name ends at the latest: 19-digit ns, ` {"stream":"`, a symbol, `@bookTicker"`.
_STREAM_NAME_END = 96
_QUOTE_MARKER = b'@bookTicker"'
_TRADE_MARKER = b'@trade"'
_BAD_LINE = re.compile(rb"\n(?![0-9]{1,19} \{|\Z)")
# A float holds every integer below 2**53; below 2**51 a decimal string rounds to the right integer when scaled.
_EXACT_FLOAT_LIMIT = 2**51


# ---------------------------------------------------------------- recorded Binance streams


class _QuoteData(msgspec.Struct, gc=False):
    s: str
    b: float
    B: float
    a: float
    A: float


class _QuoteMsg(msgspec.Struct, gc=False):
    data: _QuoteData


class _TradeData(msgspec.Struct, gc=False):
    s: str
    t: int
    p: float
    q: float
    m: bool


class _TradeMsg(msgspec.Struct, gc=False):
    data: _TradeData


# strict=False reads Binance's decimal strings ("61837.63000000") as floats; _raw_column checks they stay exact.
_QUOTE_ROWS = msgspec.json.Decoder(list[tuple[int, _QuoteMsg]], strict=False)
_TRADE_ROWS = msgspec.json.Decoder(list[tuple[int, _TradeMsg]], strict=False)


def read_recorded(
    path: str | Path,
    instruments: Mapping[str, Instrument],
    kinds: Sequence[str] = KINDS,
) -> list[Data]:
    """The quotes and/or trades of one recorded file, in file order, built at each instrument's precision.

    `instruments` maps the Binance symbol ("BTCUSDT") to its instrument; lines for other symbols are skipped.
    """
    path = Path(path)
    unknown = set(kinds) - set(KINDS)
    if unknown:
        raise ConfigError(f"read_recorded: kinds: expected some of {KINDS}, got {sorted(unknown)}")
    with _gc_paused():
        lines = read_lines(path)
        parts = []
        quotes = quote_ticks(path, lines, stream_rows(lines, _QUOTE_MARKER), instruments) if (
            "quotes" in kinds or "book" in kinds) else ([], [])
        if "book" in kinds:  # before the quotes: a strategy reacting to a quote meets the book that quote set
            parts.append(recorded_book(quotes, *read_depth(path, lines), instruments))
        if "quotes" in kinds:
            parts.append(quotes)
        if "trades" in kinds:
            parts.append(trade_ticks(path, lines, stream_rows(lines, _TRADE_MARKER), instruments))
        return _in_file_order(parts)


def replay_ticks(
    paths: Iterable[str | Path],
    instruments: Mapping[str, Instrument],
    kinds: Sequence[str] = KINDS,
) -> list[Data]:
    """The ticks of several files merged in time order (ts_init; file order breaks ties): what a replay emits."""
    per_file = [read_recorded(p, instruments, kinds) for p in paths]
    return list(heapq.merge(*per_file, key=lambda tick: tick.ts_init))


def read_lines(path: Path) -> list[bytes]:
    """The lines of a recording, gzip or plain (sniffed), each checked to be `<ns> <json>` (a trailing newline is fine)."""
    try:
        data = path.read_bytes()
        if data[:2] == b"\x1f\x8b" or path.suffix == ".gz":  # the gzip magic, or a name that promises it
            data = zlib.decompress(data, wbits=31)
    except FileNotFoundError:
        raise ConfigError(f"{path}: recording not found") from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read recording: {exc.strerror}") from None
    except zlib.error as exc:
        raise ConfigError(f"{path}: not a complete gzip file ({exc})") from None
    bad = _BAD_LINE.search(b"\n" + data)
    if bad is not None:
        line_no = data.count(b"\n", 0, bad.start()) + 1
        raise ConfigError(f"{path}: line {line_no}: expected '<ns> <json>'")
    lines = data.split(b"\n")
    return lines[:-1] if not lines[-1] else lines


def stream_rows(lines: list[bytes], marker: bytes) -> list[int]:
    """Indexes of the lines whose stream name ends with `marker` (`@bookTicker"`, `@trade"`)."""
    return [i for i, line in enumerate(lines) if line.find(marker, 0, _STREAM_NAME_END) > 0]


def quote_ticks(
    path: Path, lines: list[bytes], rows: list[int], instruments: Mapping[str, Instrument]
) -> tuple[list[int], list[QuoteTick]]:
    """QuoteTicks of the bookTicker `rows` whose symbol has an instrument, with the rows they came from."""
    msgs = decode_rows(path, lines, rows, _QUOTE_ROWS, "a bookTicker message {s, b, B, a, A}")
    out_rows: list[int] = []
    out_ticks: list[QuoteTick] = []
    for inst, picked_rows, picked, data, lines_of in _per_instrument(msgs, rows, lines, instruments):
        iid, pp, sp = inst.id, inst.price_precision, inst.size_precision
        bid = _raw_column(lines_of, "b", [d.b for d in data], pp)
        ask = _raw_column(lines_of, "a", [d.a for d in data], pp)
        bid_size = _raw_column(lines_of, "B", [d.B for d in data], sp)
        ask_size = _raw_column(lines_of, "A", [d.A for d in data], sp)
        out_rows += picked_rows
        out_ticks += [
            QuoteTick.from_raw(iid, b, a, pp, pp, bs, as_, sp, sp, t, t)
            for b, a, bs, as_, (t, _) in zip(bid, ask, bid_size, ask_size, picked, strict=True)
        ]
    return out_rows, out_ticks


def trade_ticks(
    path: Path, lines: list[bytes], rows: list[int], instruments: Mapping[str, Instrument]
) -> tuple[list[int], list[TradeTick]]:
    """TradeTicks of the trade `rows` whose symbol has an instrument (m=true: buyer is maker, so SELLER hit)."""
    msgs = decode_rows(path, lines, rows, _TRADE_ROWS, "a trade message {s, t, p, q, m}")
    out_rows: list[int] = []
    out_ticks: list[TradeTick] = []
    for inst, picked_rows, picked, data, lines_of in _per_instrument(msgs, rows, lines, instruments):
        iid, pp, sp = inst.id, inst.price_precision, inst.size_precision
        prices = _raw_column(lines_of, "p", [d.p for d in data], pp)
        sizes = _raw_column(lines_of, "q", [d.q for d in data], sp)
        out_rows += picked_rows
        out_ticks += [
            TradeTick.from_raw(
                iid, price, pp, size, sp, AggressorSide.SELLER if d.m else AggressorSide.BUYER, TradeId(str(d.t)), t, t
            )
            for (t, _), d, price, size in zip(picked, data, prices, sizes, strict=True)
        ]
    return out_rows, out_ticks


def _per_instrument(msgs: list, rows: list[int], lines: list[bytes], instruments: Mapping[str, Instrument]):  # noqa: ANN202
    """For each known symbol: its instrument, its rows, its [ns, message] pairs, their data and their lines."""
    for symbol, picks in _rows_by_symbol([m[1].data.s for m in msgs], instruments).items():
        picked_rows = _pick(rows, picks)
        picked = _pick(msgs, picks)
        yield instruments[symbol], picked_rows, picked, [m[1].data for m in picked], [lines[r] for r in picked_rows]


def decode_rows(path: Path, lines: list[bytes], rows: list[int], decoder: msgspec.json.Decoder, what: str) -> list:
    """Decode the chosen lines in one call as a JSON array of [ns, message]; name the first bad line on failure."""
    if not rows:
        return []
    body = b"[[" + b"],[".join(lines[i].replace(b" ", b",", 1) for i in rows) + b"]]"
    try:
        return decoder.decode(body)
    except msgspec.DecodeError:
        for i in rows:
            try:
                decoder.decode(b"[[" + lines[i].replace(b" ", b",", 1) + b"]]")
            except msgspec.DecodeError as exc:
                raise ConfigError(f"{path}: line {i + 1}: expected {what}: {exc}") from None
        raise  # unreachable unless msgspec disagrees with itself


def _rows_by_symbol(symbols: list[str], instruments: Mapping[str, Instrument]) -> dict[str, range | list[int]]:
    """Positions of each known symbol; a file of one symbol (the usual case) gives one range."""
    distinct = set(symbols)
    if len(distinct) == 1:
        return {s: range(len(symbols)) for s in distinct if s in instruments}
    return {s: [i for i, x in enumerate(symbols) if x == s] for s in distinct if s in instruments}


def _pick(items: list, picks: range | list[int]) -> list:
    return items if picks == range(len(items)) else [items[i] for i in picks]


def _in_file_order(parts: list[tuple[list[int], list[Data]]]) -> list[Data]:
    """Ticks of several (rows, ticks) parts in row order."""
    if len(parts) == 1 and parts[0][0] == sorted(parts[0][0]):
        return parts[0][1]
    by_row = sorted(
        ((row, tick) for rows, ticks in parts for row, tick in zip(rows, ticks, strict=True)), key=lambda pair: pair[0]
    )
    return [tick for _, tick in by_row]


@contextmanager
def _gc_paused() -> Iterator[None]:
    """Pause the cyclic GC: reading allocates ~10 objects per line, none cyclic, and each GC pass rescans them all."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def _raw_column(lines: list[bytes], field: str, values: list[float], precision: int) -> list[int]:
    """Values -> Nautilus raw fixed-point ints at `precision`; re-read exactly from `lines` when floats could err."""
    scale = 10 ** (FIXED_PRECISION - precision)
    scaled = np.rint(np.array(values, dtype=np.float64) * 10.0**precision)
    if not len(scaled) or np.abs(scaled).max() < _EXACT_FLOAT_LIMIT:
        return [n * scale for n in scaled.astype(np.int64).tolist()]
    step = Decimal(1).scaleb(-precision)
    texts = [msgspec.json.decode(line.partition(b" ")[2])["data"][field] for line in lines]
    return [int(Decimal(t).quantize(step).scaleb(precision)) * scale for t in texts]


# ---------------------------------------------------------------- synthetic walk

REFERENCE_PRICES = {
    "BTCUSDT": Decimal(61800),
    "ETHUSDT": Decimal(2600),
    "AAPL": Decimal(220),
    "SPY": Decimal(560),
}
DEFAULT_REFERENCE_PRICE = Decimal(100)
# One step moves the mid by a normal draw of this fraction of the price (1 bp).
STEP_VOLATILITY = 1e-4
MAX_SPREAD_TICKS = 3


def reference_price(instrument_id: InstrumentId | str) -> Decimal:
    """Start price of the synthetic walk for an instrument: a fixed default per symbol, else 100."""
    symbol = str(instrument_id).rsplit(".", 1)[0]
    return REFERENCE_PRICES.get(symbol, DEFAULT_REFERENCE_PRICE)


class SyntheticWalk:
    """A seeded random walk of one instrument's quotes, on its tick grid; the same seed gives the same quotes."""

    def __init__(self, instrument: Instrument, start_price: Decimal, seed: int) -> None:
        self.instrument = instrument
        self._tick = instrument.price_increment.as_decimal()
        self._rng = random.Random(f"{seed}-{instrument.id}")
        self._mid_ticks = max(int(Decimal(start_price) / self._tick), 2 * MAX_SPREAD_TICKS)
        self._size = instrument.make_qty(LADDER_TOP_NOTIONAL / start_price)
        self.book = L2Book()  # the ladder around the walk's touch (depth.ladder_deltas)

    def quote(self, ts_ns: int) -> QuoteTick:
        """The next quote, stamped `ts_ns` (ts_event = ts_init)."""
        step = round(self._rng.gauss(0.0, STEP_VOLATILITY) * self._mid_ticks)
        self._mid_ticks = max(self._mid_ticks + step, 2 * MAX_SPREAD_TICKS)
        spread = self._rng.randint(1, MAX_SPREAD_TICKS)
        bid_ticks = self._mid_ticks - spread // 2
        make_price = self.instrument.make_price
        return QuoteTick(
            instrument_id=self.instrument.id,
            bid_price=make_price(bid_ticks * self._tick),
            ask_price=make_price((bid_ticks + spread) * self._tick),
            bid_size=self._size,
            ask_size=self._size,
            ts_event=ts_ns,
            ts_init=ts_ns,
        )


def iter_synthetic_quotes(
    instrument: Instrument, start_price: Decimal, start_ns: int, step_ns: int, seed: int
) -> Iterator[QuoteTick]:
    """The synthetic walk one quote at a time, every `step_ns` from `start_ns`, without end."""
    walk = SyntheticWalk(instrument, start_price, seed)
    ts = start_ns
    while True:
        yield walk.quote(ts)
        ts += step_ns


def synthetic_quotes(
    instrument: Instrument, start_price: Decimal, n: int, start_ns: int, step_ns: int, seed: int
) -> list[QuoteTick]:
    """The first `n` quotes of the synthetic walk (the backtest side of what SyntheticDataClient emits live)."""
    return list(islice(iter_synthetic_quotes(instrument, start_price, start_ns, step_ns, seed), n))


# ---------------------------------------------------------------- live data clients (SHADOW)


class SyntheticFeedConfig(LiveDataClientConfig, frozen=True):
    """Synthetic quotes for `venue`: every `interval_secs`, one quote per subscribed instrument.

    `instrument_ids` limits what the feed serves (empty: any instrument of the venue in the cache).
    `start_prices` maps instrument ids to decimal strings; the others start at `reference_price`.
    """

    venue: str = "BINANCE"
    instrument_ids: list[str] = []
    seed: int = 42
    interval_secs: float = 1.0
    start_prices: dict[str, str] = {}


class ReplayFeedConfig(LiveDataClientConfig, frozen=True):
    """Replay of recorded Binance stream files for `venue`, paced by receive time / `speed`.

    speed 1.0 is real time; 0 (or anything from 1e6 up) replays as fast as the node takes it.
    """

    venue: str = "BINANCE"
    paths: list[str] = []
    speed: float = 1.0


# Ticks an unpaced replay emits between two yields to the event loop.
_REPLAY_BATCH = 500
# A replay starts this long after the first subscription, so the other subscriptions of on_start land first.
_REPLAY_START_DELAY_SECS = 0.05
_UNPACED_SPEED = 1e6
# Loop turns with every engine queue empty before a lockstep replay emits its next tick.
_SETTLED_TURNS = 3


class _OfflineDataClient(LiveMarketDataClient):
    """What the offline clients share: the subscribed instruments and one emitting task, started on demand."""

    def __init__(self, loop, name: str, config, msgbus: MessageBus, cache: Cache, clock: LiveClock) -> None:
        super().__init__(
            loop=loop,
            client_id=ClientId(f"{name}-{config.venue}"),  # one client per venue: SYNTH-NASDAQ, SYNTH-ARCA
            venue=Venue(config.venue),
            msgbus=msgbus,
            cache=cache,
            clock=clock,
            instrument_provider=InstrumentProvider(),
            config=config,
        )
        self._feed = config
        self._quote_ids: set[InstrumentId] = set()
        self._trade_ids: set[InstrumentId] = set()
        self._task: asyncio.Task | None = None

    async def _disconnect(self) -> None:
        if self._task is not None:
            self._task.cancel()
            self._task = None

    async def _subscribe_quote_ticks(self, command: SubscribeQuoteTicks) -> None:
        self._quote_ids.add(command.instrument_id)
        self._start_emitting()

    async def _unsubscribe_quote_ticks(self, command: UnsubscribeQuoteTicks) -> None:
        self._quote_ids.discard(command.instrument_id)

    async def _subscribe_trade_ticks(self, command: SubscribeTradeTicks) -> None:
        self._trade_ids.add(command.instrument_id)
        self._start_emitting()

    async def _unsubscribe_trade_ticks(self, command: UnsubscribeTradeTicks) -> None:
        self._trade_ids.discard(command.instrument_id)

    def _start_emitting(self) -> None:
        if self._task is None:
            self._task = self.create_task(self._emit(), log_msg=f"{self.id} feed")

    async def _emit(self) -> None:
        raise NotImplementedError

    async def _settle(self) -> None:
        """Yield until the engines' queues stay empty for a few loop turns (a message is enqueued one turn late)."""
        quiet = 0
        while quiet < _SETTLED_TURNS:
            await asyncio.sleep(0)
            quiet = quiet + 1 if self.settled() else 0


class SyntheticDataClient(_OfflineDataClient):
    """Emits the seeded synthetic walk of each subscribed instrument, stamped with the live clock."""

    def __init__(self, loop, name, config: SyntheticFeedConfig, msgbus, cache, clock) -> None:
        super().__init__(loop, name, config, msgbus, cache, clock)
        self._walks: dict[InstrumentId, SyntheticWalk] = {}

    async def _connect(self) -> None:
        self._log.info(f"Synthetic feed for {self.venue}: seed {self._feed.seed}, every {self._feed.interval_secs}s")

    async def _subscribe_quote_ticks(self, command: SubscribeQuoteTicks) -> None:
        served = self._feed.instrument_ids
        if served and str(command.instrument_id) not in served:
            self._log.warning(f"Synthetic feed does not serve {command.instrument_id} (not in instrument_ids)")
            return
        await super()._subscribe_quote_ticks(command)

    async def _subscribe_trade_ticks(self, command: SubscribeTradeTicks) -> None:
        self._log.warning(f"Synthetic feed emits quotes only: no trades for {command.instrument_id}")

    async def _emit(self) -> None:
        while True:
            now = self._clock.timestamp_ns()
            for iid in list(self._quote_ids):
                walk = self._walk(iid)
                if walk is not None:
                    quote = walk.quote(now)
                    deltas = ladder_deltas(walk.book, walk.instrument, quote)
                    if deltas is not None:
                        self._handle_data(deltas)
                    self._handle_data(quote)
            await asyncio.sleep(self._feed.interval_secs)

    def _walk(self, iid: InstrumentId) -> SyntheticWalk | None:
        if iid not in self._walks:
            instrument = self._cache.instrument(iid)
            if instrument is None:
                self._log.error(f"Synthetic feed: {iid} is not in the cache, no quotes for it")
                self._quote_ids.discard(iid)
                return None
            start = self._feed.start_prices.get(str(iid))
            start_price = Decimal(start) if start is not None else reference_price(iid)
            self._walks[iid] = SyntheticWalk(instrument, start_price, self._feed.seed)
        return self._walks[iid]


class ReplayDataClient(_OfflineDataClient):
    """Emits the recorded quotes and trades of the subscribed instruments in time order across files, once.

    Ticks keep their recorded timestamps (they are `replay_ticks(paths, ...)`, what a backtest gets) and are
    built at the precision of the venue's instruments in the cache. When the files are done it logs so; the
    node keeps running and the cache keeps the last quotes.
    """

    def __init__(self, loop, name, config: ReplayFeedConfig, msgbus, cache, clock) -> None:
        missing = [p for p in config.paths if not Path(p).is_file()]
        if not config.paths or missing:
            raise ConfigError(f"replay feed: paths: recording not found: {missing[0] if missing else '(none given)'}")
        super().__init__(loop, name, config, msgbus, cache, clock)
        # Unpaced replays in lockstep: the next tick waits until the node has processed everything the last one
        # caused (fills included), as a backtest does. Set by the session builder, which sees the engines' queues.
        self.settled: Callable[[], bool] | None = None

    async def _connect(self) -> None:
        self._log.info(f"Replay feed for {self.venue}: {len(self._feed.paths)} file(s) at speed {self._feed.speed}")

    async def _emit(self) -> None:
        await asyncio.sleep(_REPLAY_START_DELAY_SECS)
        instruments = {i.raw_symbol.value: i for i in self._cache.instruments(self.venue)}
        ticks = await self._loop.run_in_executor(None, replay_ticks, self._feed.paths, instruments)
        emitted = await self._play(ticks)
        self._log.info(f"Replay ended: {emitted} ticks emitted from {len(self._feed.paths)} file(s)")

    async def _play(self, ticks: list[Data]) -> int:
        paced = 0 < self._feed.speed < _UNPACED_SPEED
        wall_start, data_start = self._loop.time(), ticks[0].ts_init if ticks else 0
        emitted = 0
        for n, tick in enumerate(ticks):
            if paced:
                delay = wall_start + (tick.ts_init - data_start) / 1e9 / self._feed.speed - self._loop.time()
                if delay > 0:
                    await asyncio.sleep(delay)
            elif self.settled is not None:
                await self._settle()
            elif n % _REPLAY_BATCH == 0:
                await asyncio.sleep(0)
            wanted = self._quote_ids if isinstance(tick, QuoteTick) else self._trade_ids
            if tick.instrument_id in wanted:
                self._handle_data(tick)
                emitted += 1
        return emitted


class SyntheticDataClientFactory(LiveDataClientFactory):
    """Builds a SyntheticDataClient for `TradingNode.add_data_client_factory`."""

    @staticmethod
    def create(loop, name, config: SyntheticFeedConfig, msgbus, cache, clock) -> SyntheticDataClient:
        return SyntheticDataClient(loop, name, config, msgbus, cache, clock)


class ReplayDataClientFactory(LiveDataClientFactory):
    """Builds a ReplayDataClient for `TradingNode.add_data_client_factory`."""

    @staticmethod
    def create(loop, name, config: ReplayFeedConfig, msgbus, cache, clock) -> ReplayDataClient:
        return ReplayDataClient(loop, name, config, msgbus, cache, clock)
