"""The rebalance policy the planner follows (the profile's `rebalance:` section)."""

from __future__ import annotations

from decimal import Decimal

import msgspec


class RebalancePolicy(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """Limits the planner applies to every rebalance (fractions of NAV and quote-currency amounts)."""

    band: Decimal = Decimal("0.01")
    cash_buffer: Decimal = Decimal("0.002")
    max_order_notional: Decimal | None = None
    max_turnover: Decimal | None = None
