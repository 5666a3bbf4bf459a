"""The SHADOW execution client: NautilusTrader's sandbox matching market orders against an L2 book, after a latency.

Tick feeds (venue, replay, synthetic) give the simulated exchange an L2 book (OrderBookDeltas: depth.py), and the
strategy's IOC market orders walk it as the backtest venue's matching engine does: each level at its own price, and
what the visible book cannot fill is cancelled (a Binance MARKET order expires). An order reaches the exchange
`shadow.latency_ms` of data time after it was sent: it meets the book as it is then, as a backtest with the same
latency model does. What its fills took is gone from those levels (the engine is sent the thinner levels) until the
feed's next update of a level sets it again.

Bars (the bar replay of parity) reach the exchange too, and move it as in a backtest (an L1 book): trades at open,
high, low and close, a quarter of the volume each. A (GTC) market order beyond that size fills the rest one tick
worse, as the backtest's matching engine does (the stock sandbox would leave it half-filled).
"""

from __future__ import annotations

from nautilus_trader.adapters.sandbox.config import SandboxExecutionClientConfig
from nautilus_trader.adapters.sandbox.execution import SandboxExecutionClient
from nautilus_trader.adapters.sandbox.factory import SandboxLiveExecClientFactory as _StockFactory
from nautilus_trader.core.data import Data
from nautilus_trader.core.uuid import UUID4
from nautilus_trader.execution.messages import SubmitOrder
from nautilus_trader.model.data import OrderBookDelta, OrderBookDeltas, QuoteTick, TradeTick
from nautilus_trader.model.enums import BookAction, LiquiditySide, OrderSide, OrderType, RecordFlag, TimeInForce
from nautilus_trader.model.objects import Quantity
from nautilus_trader.model.orders import MarketOrder

from nautlive.data.book import DEEP_SIZE  # noqa: F401 - re-exported: bar runs quote this deep

# An order waiting for data time to pass its latency is sent after this much wall time if no data comes (a quiet
# venue, a replay that has ended).
QUIET_RELEASE_SECS = 1.0


class ShadowExecClientConfig(SandboxExecutionClientConfig, frozen=True, kw_only=True):
    latency_ms: float = 0.0


def deep_quote(tick: QuoteTick) -> QuoteTick:
    """The same quote with a book deep enough for any order the strategy sends (an L1 book: bar runs)."""
    size = Quantity(DEEP_SIZE, tick.bid_size.precision)
    return QuoteTick(tick.instrument_id, tick.bid_price, tick.ask_price, size, size, tick.ts_event, tick.ts_init)


class ShadowSandboxExecutionClient(SandboxExecutionClient):
    """SandboxExecutionClient whose orders reach the matching engine after the latency, in data time.

    Trades are kept from the exchange: on an L1 book each would replace the top of book with the trade's size.
    """

    def __init__(self, loop, portfolio, msgbus, cache, clock, config: ShadowExecClientConfig) -> None:  # noqa: ANN001
        super().__init__(loop=loop, portfolio=portfolio, msgbus=msgbus, cache=cache, clock=clock, config=config)
        self._l1 = config.book_type == "L1_MBP"
        self._latency_ns = int(config.latency_ms * 1_000_000)
        self._data_ns = 0
        self._held: list[tuple[int, object]] = []  # (release at data time, command), in submit order

    def connect(self) -> None:
        super().connect()
        # Bar topics are data.bars.<SYMBOL>.<VENUE>-<spec>: the stock pattern data.*.<VENUE>.* misses them.
        self._msgbus.subscribe(f"data.bars.*.{self.venue}-*", handler=self.on_data)

    def on_data(self, data: Data) -> None:
        if isinstance(data, TradeTick):
            return
        super().on_data(deep_quote(data) if isinstance(data, QuoteTick) and self._l1 else data)
        self._data_ns = max(self._data_ns, data.ts_init)
        if self._held and self._held[0][0] <= self._data_ns:
            self._release(lambda release_ns: release_ns <= self._data_ns)

    def submit_order(self, command) -> None:  # noqa: ANN001
        if not self._latency_ns:
            return self._submit(command)
        self._held.append((self._data_ns + self._latency_ns, command))
        self._loop.call_later(QUIET_RELEASE_SECS + self._latency_ns / 1e9,
                              lambda: self._release(lambda _: True, command))

    def cancel_order(self, command) -> None:  # noqa: ANN001
        """A cancel meets the exchange after the same latency as an order (as the backtest's latency model has it), so
        a resting order's fills before its cancel are the same in both."""
        if not self._latency_ns:
            return super().cancel_order(command)
        self._held.append((self._data_ns + self._latency_ns, command))
        self._loop.call_later(QUIET_RELEASE_SECS + self._latency_ns / 1e9,
                              lambda: self._release(lambda _: True, command))

    def _release(self, due, only=None) -> None:  # noqa: ANN001
        """Send the held commands that are `due` (or just `only`), oldest first."""
        ready = [(t, c) for t, c in self._held if due(t) and (only is None or c is only)]
        self._held = [h for h in self._held if h not in ready]
        for _, command in ready:
            if isinstance(command, SubmitOrder):
                self._submit(command)
            else:
                super().cancel_order(command)

    def _submit(self, command) -> None:  # noqa: ANN001
        order = command.order
        engine = self.exchange.get_matching_engine(order.instrument_id)
        if engine is not None and order.order_type == OrderType.LIMIT and order.time_in_force == TimeInForce.IOC:
            return self._submit_limit_ioc(engine, command)
        if engine is None or order.order_type != OrderType.MARKET:
            return super().submit_order(command)
        fills = engine.determine_market_price_and_volume(order)
        super().submit_order(command)
        if fills and not self._l1:
            super().on_data(consumed(engine, order.side, fills, self.test_clock.timestamp_ns()))
        if sum(q.as_decimal() for _, q in fills) >= order.quantity.as_decimal() or (
                not fills and (self._l1 or not engine.get_book().update_count)):
            return  # filled; or no book yet (the engine answers that)
        if self._l1:
            fill_rest(engine, order, fills[-1][0])
        elif order.time_in_force == TimeInForce.IOC:
            # The engine cancels an IOC remainder only once the order is open, and the live engine has not applied
            # its events yet: the remainder expires here, after the fills (as a Binance MARKET order's does). With
            # no fill at all (the book consumed) the order is still SUBMITTED: Nautilus's IOC case is a cancel.
            end = self.generate_order_expired if fills else self.generate_order_canceled
            end(order.strategy_id, order.instrument_id, order.client_order_id, None, self.test_clock.timestamp_ns())

    def _submit_limit_ioc(self, engine, command) -> None:  # noqa: ANN001
        """A marketable LIMIT IOC (execution style limit_cap): it takes the levels no worse than its price, and the
        rest is gone at once. The engine would rest that rest (it cancels an IOC only once the order is open, and the
        live engine has not applied its events yet), so the engine is sent the taker part as a market order of what
        those levels hold, under the same client order id, and the rest expires here (all of it: a cancel)."""
        order = command.order
        fills = taken(engine.get_book().get_all_crossed_levels(order.side, order.price,
                                                               engine.instrument.size_precision), order.quantity)
        ts = self.test_clock.timestamp_ns()
        if not fills:
            self.generate_order_submitted(order.strategy_id, order.instrument_id, order.client_order_id, ts)
            self.generate_order_canceled(order.strategy_id, order.instrument_id, order.client_order_id, None, ts)
            return
        quantity = Quantity.from_raw(sum(q.raw for _, q in fills), order.quantity.precision)
        taker = MarketOrder(order.trader_id, order.strategy_id, order.instrument_id, order.client_order_id,
                            order.side, quantity, UUID4(), order.ts_init, time_in_force=TimeInForce.IOC)
        super().submit_order(SubmitOrder(command.trader_id, command.strategy_id, taker, UUID4(), command.ts_init,
                                         command.position_id, command.client_id))
        if not self._l1:
            super().on_data(consumed(engine, order.side, fills, ts))
        if quantity < order.quantity:
            self.generate_order_expired(order.strategy_id, order.instrument_id, order.client_order_id, None, ts)


def taken(levels: list, quantity) -> list:  # noqa: ANN001
    """The (price, quantity) an order of `quantity` takes from `levels` (best first): each level while it lasts."""
    fills, left = [], quantity.raw
    for price, size in levels:
        if left <= 0:
            break
        take = min(size.raw, left)
        fills.append((price, Quantity.from_raw(take, size.precision)))
        left -= take
    return fills


def consumed(engine, side: OrderSide, fills: list, ts: int) -> OrderBookDeltas:  # noqa: ANN001
    """The book change our taker fills make: each level they took from left thinner (or gone), until the feed's next
    update of that level sets it again (the backtest venue's `liquidity_consumption` does the same)."""
    book, instrument = engine.get_book(), engine.instrument
    iid, sp = instrument.id, instrument.size_precision
    book_side = OrderSide.SELL if side == OrderSide.BUY else OrderSide.BUY
    deltas = []
    for i, (price, qty) in enumerate(fills):
        left = book.get_quantity_at_level(price, side, sp).raw - qty.raw
        deltas.append(OrderBookDelta.from_raw(
            iid, BookAction.UPDATE if left > 0 else BookAction.DELETE, book_side, price.raw, price.precision,
            max(left, 0), sp, 0, RecordFlag.F_LAST if i == len(fills) - 1 else 0, 0, ts, ts))
    return OrderBookDeltas(iid, deltas)


def fill_rest(engine, order, last_px) -> None:  # noqa: ANN001
    """What the backtest's matching engine does with a market order the top of an L1 book did not fill: the rest one
    tick worse (the engine clamps the quantity to what is left)."""
    tick = engine.instrument.price_increment.as_decimal()
    price = engine.instrument.make_price(last_px.as_decimal() + (tick if order.side == OrderSide.BUY else -tick))
    engine.fill_order(order, price, order.quantity, LiquiditySide.TAKER)


class SandboxLiveExecClientFactory(_StockFactory):
    """Creates ShadowSandboxExecutionClient. Keeps the stock name: the node builder passes the portfolio only to a
    factory whose __name__ is "SandboxLiveExecClientFactory"."""

    @staticmethod
    def create(loop, name, config, portfolio, msgbus, cache, clock) -> ShadowSandboxExecutionClient:  # noqa: ANN001
        return ShadowSandboxExecutionClient(
            loop=loop, clock=clock, portfolio=portfolio, msgbus=msgbus, cache=cache, config=config
        )
