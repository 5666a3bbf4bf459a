"""The SHADOW execution client: NautilusTrader's sandbox, with market orders filled whole at the touch.

The stock sandbox fills a market order only up to the displayed top-of-book size and leaves the rest
PARTIALLY_FILLED for ever (its "fill the rest" step runs before the live engine has marked the order open). Here the
simulated exchange sees every quote with a deep book at the same prices, so each market order fills whole at the best
bid or ask. The backtest gets the same deep quotes (`deep_quote`), so both modes fill alike; the drift log then
measures how far real fills stray from that touch price.
"""

from __future__ import annotations

from nautilus_trader.adapters.sandbox.execution import SandboxExecutionClient
from nautilus_trader.adapters.sandbox.factory import SandboxLiveExecClientFactory as _StockFactory
from nautilus_trader.core.data import Data
from nautilus_trader.model.data import QuoteTick, TradeTick
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

    def on_data(self, data: Data) -> None:
        if isinstance(data, TradeTick):
            return
        super().on_data(deep_quote(data) if isinstance(data, QuoteTick) else data)


class SandboxLiveExecClientFactory(_StockFactory):
    """Creates ShadowSandboxExecutionClient. Keeps the stock name: the node builder passes the portfolio only to a
    factory whose __name__ is "SandboxLiveExecClientFactory"."""

    @staticmethod
    def create(loop, name, config, portfolio, msgbus, cache, clock) -> ShadowSandboxExecutionClient:  # noqa: ANN001
        return ShadowSandboxExecutionClient(
            loop=loop, clock=clock, portfolio=portfolio, msgbus=msgbus, cache=cache, config=config
        )
