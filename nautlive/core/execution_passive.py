"""Passive-first execution (style `passive_then_market`): decisions over plain Decimals, no Nautilus.

A parent rests as a post-only LIMIT at its own side of the touch (a BUY at the best bid, a SELL at the best ask: a
maker, paying the maker fee; Binance LIMIT_MAKER, which the venue rejects with -2010 "Order would immediately match
and take." when it would cross). When the touch moves away from the resting price the order is cancelled and sent
again at the new touch for what is left; once `patience_secs` ran out, what is left crosses as a market order.
"""

from __future__ import annotations

from decimal import Decimal

NS = 1_000_000_000


def touch_price(side: str, bid: Decimal, ask: Decimal) -> Decimal:
    """Where a passive order rests: the best bid to buy, the best ask to sell."""
    return bid if side == "BUY" else ask


def needs_reprice(side: str, resting: Decimal, bid: Decimal, ask: Decimal) -> bool:
    """Whether a resting passive order no longer sits at the touch (the touch moved, either way)."""
    return resting != touch_price(side, bid, ask)


def patience_over(started_ns: int, now_ns: int, patience_secs: float) -> bool:
    """Whether the parent has waited its patience: the rest crosses as a market order."""
    return now_ns - started_ns >= int(patience_secs * NS)


def left_to_fill(quantity: Decimal, filled: Decimal, step: Decimal) -> Decimal:
    """What a parent still has to trade, in whole lot steps (a fill is never below a step)."""
    left = quantity - filled
    return (left // step) * step if left > 0 else Decimal(0)
