"""Klines of the simulated venue: one-second bars of the trades it has replayed or printed (and, for a synthetic
symbol, of the walk's mids), rolled up into any Binance interval for `GET /api/v3/klines`.

A trade counts at its own time (`T`), as `GET /api/v3/trades` lists it; a mid is a price with no volume. Bars keep
Binance's UTC boundaries (weeks from Monday, months by the calendar) and its array format:
[openTime, open, high, low, close, volume, closeTime, quoteVolume, trades, takerBuyBase, takerBuyQuote, "0"].
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from nautlive.sim.rules import fmt8

SECOND, MINUTE, HOUR, DAY = 1000, 60_000, 3_600_000, 86_400_000
INTERVALS = {"1s": SECOND, "1m": MINUTE, "3m": 3 * MINUTE, "5m": 5 * MINUTE, "15m": 15 * MINUTE, "30m": 30 * MINUTE,
             "1h": HOUR, "2h": 2 * HOUR, "4h": 4 * HOUR, "6h": 6 * HOUR, "8h": 8 * HOUR, "12h": 12 * HOUR, "1d": DAY,
             "3d": 3 * DAY, "1w": 7 * DAY, "1M": 0}  # 1M: calendar months
MONDAY = 4 * DAY  # the epoch was a Thursday: Binance's weeks start on the Monday after it
DEFAULT_LIMIT, MAX_LIMIT = 500, 1000
KEPT_SECONDS = 86_400  # one-second bars remembered per symbol (the oldest go first)


@dataclass(slots=True)
class _Bar:
    open: Decimal
    high: Decimal
    low: Decimal
    close: Decimal
    volume: Decimal = Decimal(0)
    quote_volume: Decimal = Decimal(0)
    trades: int = 0
    taker_base: Decimal = Decimal(0)
    taker_quote: Decimal = Decimal(0)

    def add(self, price: Decimal) -> None:
        self.high, self.low, self.close = max(self.high, price), min(self.low, price), price

    def merge(self, later: _Bar) -> None:
        self.high, self.low, self.close = max(self.high, later.high), min(self.low, later.low), later.close
        self.volume += later.volume
        self.quote_volume += later.quote_volume
        self.trades += later.trades
        self.taker_base += later.taker_base
        self.taker_quote += later.taker_quote


class Klines:
    """One symbol's one-second bars."""

    def __init__(self) -> None:
        self._bars: dict[int, _Bar] = {}

    def trade(self, time_ms: int, price: Decimal, qty: Decimal, buyer_is_maker: bool) -> None:
        bar = self._bar(time_ms, price)
        bar.volume += qty
        bar.quote_volume += qty * price
        bar.trades += 1
        if not buyer_is_maker:  # the buyer took liquidity
            bar.taker_base += qty
            bar.taker_quote += qty * price

    def mark(self, time_ms: int, price: Decimal) -> None:
        """A price the market was at (a synthetic walk's mid), with no volume."""
        self._bar(time_ms, price)

    def clear(self) -> None:
        self._bars.clear()

    def rows(self, interval: str, start_ms: int | None = None, end_ms: int | None = None,
             limit: int = DEFAULT_LIMIT) -> list[list[Any]]:
        """The bars of `interval` (a key of INTERVALS) opening within [start_ms, end_ms]: the first `limit` from
        start_ms, else the last `limit` up to end_ms (the most recent when neither is given)."""
        rolled: dict[int, _Bar] = {}
        for second in sorted(self._bars):
            bar = self._bars[second]
            opened = open_time(second, interval)
            if opened in rolled:
                rolled[opened].merge(bar)
            else:
                rolled[opened] = _Bar(bar.open, bar.high, bar.low, bar.close, bar.volume, bar.quote_volume,
                                      bar.trades, bar.taker_base, bar.taker_quote)
        lo, hi = start_ms if start_ms is not None else 0, end_ms if end_ms is not None else 2**63
        chosen = [(t, bar) for t, bar in rolled.items() if lo <= t <= hi]
        limit = max(1, min(limit, MAX_LIMIT))
        chosen = chosen[:limit] if start_ms is not None else chosen[-limit:]
        return [_row(t, close_time(t, interval), bar) for t, bar in chosen]

    def _bar(self, time_ms: int, price: Decimal) -> _Bar:
        second = time_ms - time_ms % SECOND
        bar = self._bars.get(second)
        if bar is None:
            bar = self._bars[second] = _Bar(price, price, price, price)
            if len(self._bars) > KEPT_SECONDS:
                del self._bars[next(iter(self._bars))]
        else:
            bar.add(price)
        return bar


def open_time(time_ms: int, interval: str) -> int:
    """The open time of the `interval` bar holding `time_ms` (UTC)."""
    if interval == "1M":
        moment = datetime.fromtimestamp(time_ms / 1000, UTC)
        return int(datetime(moment.year, moment.month, 1, tzinfo=UTC).timestamp() * 1000)
    length = INTERVALS[interval]
    offset = MONDAY if interval == "1w" else 0
    return (time_ms - offset) // length * length + offset


def close_time(opened: int, interval: str) -> int:
    """The last millisecond of the bar opening at `opened`."""
    if interval == "1M":
        moment = datetime.fromtimestamp(opened / 1000, UTC)
        year, month = (moment.year + 1, 1) if moment.month == 12 else (moment.year, moment.month + 1)
        return int(datetime(year, month, 1, tzinfo=UTC).timestamp() * 1000) - 1
    return opened + INTERVALS[interval] - 1


def _row(opened: int, closed: int, bar: _Bar) -> list[Any]:
    return [opened, fmt8(bar.open), fmt8(bar.high), fmt8(bar.low), fmt8(bar.close), fmt8(bar.volume), closed,
            fmt8(bar.quote_volume), bar.trades, fmt8(bar.taker_base), fmt8(bar.taker_quote), "0"]
