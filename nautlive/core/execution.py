"""Execution styles (issue #31): how a planned rebalance order goes out. Pure functions over Decimals, no Nautilus.

- `market`: a MARKET order (IOC on a book) that walks the book; what the visible book cannot fill expires.
- `limit_cap`: a marketable LIMIT IOC at the mid at submit plus (BUY) or minus (SELL) `max_slippage_bps`, the price
  rounded inward to the tick so no fill is ever beyond the cap; what the cap leaves unfilled is canceled at once,
  reported (the rebalance report's `capped`), and planned again by the next rebalance from the account.
"""

from __future__ import annotations

from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal

STYLES = ("market", "limit_cap")
BPS = Decimal(10_000)


def cap_price(side: str, mid: Decimal, max_slippage_bps: Decimal, tick: Decimal) -> Decimal:
    """The limit price of a limit_cap order: mid x (1 +/- cap), on the tick grid and never beyond the cap (BUY rounds
    down, SELL up); at least one tick."""
    if side == "BUY":
        raw = mid * (1 + max_slippage_bps / BPS)
        return (raw / tick).to_integral_value(ROUND_FLOOR) * tick
    raw = mid * (1 - max_slippage_bps / BPS)
    return max((raw / tick).to_integral_value(ROUND_CEILING) * tick, tick)


def slippage_bps(side: str, price: Decimal, mid: Decimal) -> Decimal:
    """Signed so that positive is a cost (the drift log's convention): BUY (price - mid)/mid, SELL (mid - price)/mid."""
    sign = 1 if side == "BUY" else -1
    return sign * (price - mid) / mid * BPS
