"""The SHADOW execution client: NautilusTrader's sandbox, with market orders filled whole at the touch.

The stock sandbox fills a market order only up to the displayed top-of-book size and leaves the rest
PARTIALLY_FILLED for ever (its "fill the rest" step runs before the live engine has marked the order open). Here the
simulated exchange sees every quote with a deep book at the same prices, so each market order fills whole at the best
bid or ask. The backtest gets the same deep quotes (`deep_quote`), so both modes fill alike; the drift log then
measures how far real fills stray from that touch price.

Bars (the bar replay of parity) reach the exchange too, and move it as in a backtest: trades at open, high, low and
close, a quarter of the volume each. A market order beyond that size fills the rest one tick worse, as the backtest's
matching engine does (the stock sandbox would leave it half-filled).
"""

from __future__ import annotations

from nautilus_trader.adapters.sandbox.execution import SandboxExecutionClient
from nautilus_trader.adapters.sandbox.factory import SandboxLiveExecClientFactory as _StockFactory
from nautilus_trader.core.data import Data
from nautilus_trader.model.data import QuoteTick, TradeTick
from nautilus_trader.model.enums import LiquiditySide, OrderSide, OrderType
from nautilus_trader.model.objects import Quantity

DEEP_SIZE = 1_000_000_000


def deep_quote(tick: QuoteTick) -> QuoteTick:
    """The same quote with a book deep enough for any order the strategy sends."""
    size = Quantity(DEEP_SIZE, tick.bid_size.precision)
    return QuoteTick(tick.instrument_id, tick.bid_price, tick.ask_price, size, size, tick.ts_event, tick.ts_init)


def deep_quotes(data: list[Data]) -> list[Data]:
    return [deep_quote(d) if isinstance(d, QuoteTick) else d for d in data]


class ShadowSandboxExecutionClient(SandboxExecutionClient):
    """SandboxExecutionClient whose simulated exchange fills market orders whole at the touch.

    Trades are kept from the exchange: each would replace its top of book with the trade's price and size, and a
    market order sent just after one would fill that size only and stay half-filled.
    """

    def connect(self) -> None:
        super().connect()
        # Bar topics are data.bars.<SYMBOL>.<VENUE>-<spec>: the stock pattern data.*.<VENUE>.* misses them.
        self._msgbus.subscribe(f"data.bars.*.{self.venue}-*", handler=self.on_data)

    def on_data(self, data: Data) -> None:
        if isinstance(data, TradeTick):
            return
        super().on_data(deep_quote(data) if isinstance(data, QuoteTick) else data)

    def submit_order(self, command) -> None:  # noqa: ANN001
        order = command.order
        engine = self.exchange.get_matching_engine(order.instrument_id)
        top = engine.determine_market_price_and_volume(order) if (
            engine is not None and order.order_type == OrderType.MARKET) else []
        super().submit_order(command)
        if top and sum(q.as_decimal() for _, q in top) < order.quantity.as_decimal():
            fill_rest(engine, order, top[-1][0])


def fill_rest(engine, order, last_px) -> None:  # noqa: ANN001
    """What the backtest's matching engine does with a market order the top of book did not fill: the rest one tick
    worse (the engine clamps the quantity to what is left)."""
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
