"""Fills as a person reads them: one row per order (its VWAP, quantity and the number of book levels it took).

A market order that walks the book fills once per level; the drift log keeps every level (one line each), the tables
people read show the order. Pure: drift-log lines (dicts) in, OrderFill rows out.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

EXTRA_VWAP_DIGITS = 4  # a VWAP keeps the fill prices' decimals and this many more


@dataclass(frozen=True)
class OrderFill:
    """One order's fills: total quantity, VWAP over its levels, and its drift from the mid at submit (bps, + cost)."""

    ts: str  # the first level's
    instrument: str
    side: str
    qty: Decimal
    vwap: Decimal
    levels: int
    mid_at_submit: Decimal | None
    drift_bps: float | None
    notional: Decimal
    client_order_id: str
    first: Mapping[str, Any]  # the first level's line as logged (session, mode, venue ...)


def by_order(lines: Iterable[Mapping[str, Any]]) -> list[OrderFill]:
    """Group fill lines by client_order_id (a line without one is an order of its own), in order of first fill."""
    groups: dict[object, list[Mapping[str, Any]]] = {}
    for n, line in enumerate(lines):
        groups.setdefault(line.get("client_order_id") or ("line", n), []).append(line)
    return [_order(levels) for levels in groups.values()]


def _order(levels: list[Mapping[str, Any]]) -> OrderFill:
    first = levels[0]
    qtys = [_decimal(x.get("qty")) or Decimal(0) for x in levels]
    prices = [_decimal(x.get("fill_px")) or Decimal(0) for x in levels]
    qty = sum(qtys, Decimal(0))
    notional = sum((q * p for q, p in zip(qtys, prices, strict=True)), Decimal(0))
    vwap = _vwap(notional, qty, prices)
    mid = _decimal(first.get("mid_at_submit"))
    return OrderFill(
        ts=str(first.get("ts")),
        instrument=str(first.get("instrument")),
        side=str(first.get("side")),
        qty=qty,
        vwap=vwap,
        levels=len(levels),
        mid_at_submit=mid,
        drift_bps=_drift_bps(str(first.get("side")), vwap, mid),
        notional=notional,
        client_order_id=str(first.get("client_order_id") or ""),
        first=first,
    )


def _vwap(notional: Decimal, qty: Decimal, prices: list[Decimal]) -> Decimal:
    if len(prices) == 1 or not qty:
        return prices[0]
    places = max(-p.as_tuple().exponent for p in prices if p.is_finite()) + EXTRA_VWAP_DIGITS
    return (notional / qty).quantize(Decimal(1).scaleb(-max(places, 0))).normalize()


def _drift_bps(side: str, vwap: Decimal, mid: Decimal | None) -> float | None:
    if mid is None or not mid:
        return None
    sign = 1 if side == "BUY" else -1
    return round(float(sign * (vwap - mid) / mid * 10_000), 4)


def _decimal(value: object) -> Decimal | None:
    if value is None or isinstance(value, bool):
        return None
    try:
        return Decimal(str(value))
    except InvalidOperation:
        return None
