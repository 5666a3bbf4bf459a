"""What the strategy owns, read from Nautilus's portfolio: free cash, holdings and the value open orders lock."""

from __future__ import annotations

from decimal import Decimal

from nautilus_trader.model.identifiers import InstrumentId

from nautlive.core.planner import Quote


class AccountView:
    """Mixed into NautilusRebalanceStrategy: needs `portfolio`, `cache`, `config` and `_accounts` (its venues)."""

    def reserved(self, quotes: dict[str, Quote]) -> Decimal:
        """Value locked in open orders (another tool's, kept by live.open_orders: keep): counted in NAV, not traded.

        Planning runs when none of this strategy's orders is open, so whatever is locked then is someone else's.
        """
        quote_currency = _currency(self.config.quote_currency)
        value = getattr(self, "kept_reserved", Decimal(0))  # IB: other clients' buy orders kept (venues/ibkr/orders.py)
        for venue in self._accounts:
            account = self.portfolio.account(venue)
            if account is None or account.is_margin_account:
                continue  # IB's margin account: locked is NetLiquidation - FullAvailableFunds (positions), not orders
            locked = account.balance_locked(quote_currency)
            value += locked.as_decimal() if locked is not None else Decimal(0)
            for iid, quote in quotes.items():
                base = getattr(self.cache.instrument(InstrumentId.from_str(iid)), "base_currency", None)
                locked = account.balance_locked(base) if base is not None else None
                value += locked.as_decimal() * quote.mid if locked is not None else Decimal(0)
        return value

    def cash(self) -> Decimal:
        currency = _currency(self.config.quote_currency)
        free = Decimal(0)
        for venue in self._accounts:
            account = self.portfolio.account(venue)
            money = account.balance_free(currency) if account else None
            free += money.as_decimal() if money is not None else Decimal(0)
        return free - self.config.cash_offset

    def holding(self, instrument) -> Decimal:  # noqa: ANN001
        """The free balance of the base asset for spot pairs (fees taken from it included; what open orders lock
        counts in `reserved`); the position else."""
        base = getattr(instrument, "base_currency", None)
        if base is not None:
            account = self.portfolio.account(self._accounts[0])
            money = account.balance_free(base) if account else None
            return money.as_decimal() if money is not None else Decimal(0)
        return Decimal(str(self.portfolio.net_position(instrument.id)))


def _currency(code: str):
    from nautilus_trader.model.currencies import Currency

    return Currency.from_str(code)
