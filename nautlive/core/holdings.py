"""What a strategy holds at the end of a run, as weights of its NAV."""

from __future__ import annotations

from decimal import Decimal


def final_weights(strategy, targets) -> dict[str, Decimal]:  # noqa: ANN001
    """Weights at the last mid of each instrument; `_nav` holds the NAV they are fractions of."""
    from nautilus_trader.model.identifiers import InstrumentId

    values = {}
    for iid in strategy.config.instrument_ids:
        instrument = strategy.cache.instrument(InstrumentId.from_str(iid))
        quote = strategy.cache.quote_tick(instrument.id)
        mid = (quote.bid_price.as_decimal() + quote.ask_price.as_decimal()) / 2 if quote else Decimal(0)
        values[iid] = strategy.holding(instrument) * mid
    kept = getattr(strategy, "kept_reserved", Decimal(0))  # IB LIVE: other clients' buy orders kept, in NAV
    nav = strategy.cash() + kept + sum(values.values(), Decimal(0))
    out = {k: (v / nav if nav else Decimal(0)) for k, v in values.items()}
    out["_nav"] = nav
    return out
