"""Kline rows as plain columns: parsed from the archive's CSV and REST's JSON, merged, checked for gaps and duplicates.

Pure functions, no I/O. A row is (open_time_ms, open, high, low, close, volume). The archive's spot files carry open
times in microseconds from 2025-01-01 on (milliseconds before); both are read, everything is kept in milliseconds.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime

from nautlive.errors import ConfigError

MINUTE, HOUR, DAY = 60_000, 3_600_000, 86_400_000
INTERVALS = {"1m": MINUTE, "3m": 3 * MINUTE, "5m": 5 * MINUTE, "15m": 15 * MINUTE, "30m": 30 * MINUTE,
             "1h": HOUR, "2h": 2 * HOUR, "4h": 4 * HOUR, "6h": 6 * HOUR, "8h": 8 * HOUR, "12h": 12 * HOUR,
             "1d": DAY}
_US_FROM = 10**14  # an open time above this is in microseconds (ms stay below it until the year 5138)
Row = tuple[int, float, float, float, float, float]


@dataclass(frozen=True)
class Gap:
    """Bars missing between two rows: `first_ms` and `last_ms` are the open times of the first and last missing."""

    first_ms: int
    last_ms: int
    bars: int


def interval_ms(text: str) -> int:
    if text not in INTERVALS:
        raise ConfigError(f"--interval {text!r}: expected one of {', '.join(INTERVALS)}")
    return INTERVALS[text]


def parse_time(text: str, option: str) -> int:
    """'2023-03-16', '2023-03-16T12:00', '2023-03-16T12:00:00Z' (UTC) -> epoch ms."""
    cleaned = re.sub(r"(Z|[+-]00:?00)$", "", text.strip())
    try:
        moment = datetime.fromisoformat(cleaned)
    except ValueError:
        raise ConfigError(f"{option} {text!r}: expected a UTC date or time like 2023-03-16 or 2023-03-16T12:00Z") from None
    return int(moment.replace(tzinfo=UTC).timestamp() * 1000)


def iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def to_ms(open_time: int) -> int:
    """An archive open time in ms or (from 2025 on) µs -> ms."""
    return open_time // 1000 if open_time >= _US_FROM else open_time


def csv_rows(text: str, source: str) -> list[Row]:
    """The rows of one archive kline CSV (12 columns, no header; a header line is skipped)."""
    rows: list[Row] = []
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        cells = line.split(",")
        if number == 1 and not cells[0].strip().isdigit():
            continue  # a header
        try:
            rows.append((to_ms(int(cells[0])), *(float(c) for c in cells[1:6])))  # type: ignore[arg-type]
        except (ValueError, IndexError):
            raise ValueError(f"{source}: line {number}: expected open_time,open,high,low,close,volume,...") from None
    return rows


def rest_rows(klines: list) -> list[Row]:
    """GET /api/v3/klines arrays -> rows."""
    return [(int(k[0]), float(k[1]), float(k[2]), float(k[3]), float(k[4]), float(k[5])) for k in klines]


def merge(old: list[Row], new: list[Row]) -> tuple[list[Row], int]:
    """Rows of both, sorted by open time, one per time (the first seen kept); and how many duplicates were dropped."""
    seen: dict[int, Row] = {}
    duplicates = 0
    for row in (*old, *new):
        if row[0] in seen:
            duplicates += 1
        else:
            seen[row[0]] = row
    return [seen[t] for t in sorted(seen)], duplicates


def gaps(rows: list[Row], step_ms: int, start_ms: int | None = None, end_ms: int | None = None) -> list[Gap]:
    """Missing bars between consecutive rows, and between the rows and [start_ms, end_ms) when given."""
    times = [r[0] for r in rows]
    if not times:
        return []
    if start_ms is not None:
        first = -(-start_ms // step_ms) * step_ms  # the first bar opening at or after start_ms
        if times[0] > first:
            times.insert(0, first - step_ms)
    if end_ms is not None:
        last = (end_ms - 1) // step_ms * step_ms  # the last bar opening before end_ms
        if times[-1] < last:
            times.append(last + step_ms)
    return [Gap(before + step_ms, after - step_ms, (after - before) // step_ms - 1)
            for before, after in zip(times, times[1:], strict=False) if after - before > step_ms]


def describe_gaps(symbol: str, interval: str, found: list[Gap], shown: int = 5) -> list[str]:
    lines = [f"{symbol} {interval}: {g.bars} bar(s) missing from {iso(g.first_ms)} to {iso(g.last_ms)}"
             for g in found[:shown]]
    if len(found) > shown:
        lines.append(f"{symbol} {interval}: and {len(found) - shown} more gap(s), "
                     f"{sum(g.bars for g in found[shown:])} bar(s)")
    return lines
