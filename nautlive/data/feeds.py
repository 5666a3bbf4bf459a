"""Offline market data for SHADOW: a seeded synthetic walk (with a ladder book around it), and the live data clients
that feed a TradingNode the synthetic walk or a replay of recorded files (recorded.py reads them), so a backtest and a
shadow run can see identical data: `replay_ticks(paths, ...)` is exactly what `ReplayDataClient` emits, and
`iter_synthetic_quotes(...)` is the walk `SyntheticDataClient` emits, for the same seed.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Callable, Iterator
from decimal import Decimal
from itertools import islice
from pathlib import Path

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
from nautilus_trader.model.data import QuoteTick
from nautilus_trader.model.identifiers import ClientId, InstrumentId, Venue
from nautilus_trader.model.instruments import Instrument

from nautlive.data.book import L2Book
from nautlive.data.depth import LADDER_TOP_NOTIONAL, ladder_deltas
from nautlive.data.recorded import replay_ticks
from nautlive.errors import ConfigError

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
