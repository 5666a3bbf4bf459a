"""The TWS venue's price history: deterministic one-minute bars for every contract it quotes, rolled up into IB's bar
sizes, and the parts of a reqHistoricalData request (bar size, duration, end time) read as IB reads them.

Pure functions, no I/O. A contract's minute bars are a function of its conId, the venue's seed and the minute alone
(slow and fast waves around its starting price, hashed noise, all on its minTick), so the same bar comes back
whatever the request's window or bar size, and a download split into chunks equals one made in a single piece.
The venue has history from HISTORY_FROM until now. A stock's minutes exist only in its sessions (trading_hours:
04:00-20:00 New York time on weekdays, 09:30-16:00 with useRTH=1; holidays ignored) and its day bars are dated by the
exchange date, rolled up from that day's session; what is not a stock has minutes around the clock and day bars cut
at UTC midnight.

Bar sizes and the longest duration IB accepts for each: the step-size table of
https://interactivebrokers.github.io/tws-api/historical_limitations.html (1 D for 1-minute bars, 1 W for 3 to 15
minutes, 1 M for 30 minutes to 8 hours, 1 Y for a day).
"""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import numpy as np

from nautlive.sim.tws.trading_hours import Sessions

MINUTE_MS = 60_000
HISTORY_FROM_MS = int(dt.datetime(2020, 1, 1, tzinfo=dt.UTC).timestamp() * 1000)
BAR_SIZES = {"1 min": 60, "2 mins": 120, "3 mins": 180, "5 mins": 300, "10 mins": 600, "15 mins": 900,
             "20 mins": 1200, "30 mins": 1800, "1 hour": 3600, "2 hours": 7200, "3 hours": 10800, "4 hours": 14400,
             "8 hours": 28800, "1 day": 86400}
DAY_S = 86_400
DAY_MS = DAY_S * 1000
DURATION_UNITS = {"S": 1, "D": DAY_S, "W": 7 * DAY_S, "M": 31 * DAY_S, "Y": 366 * DAY_S}  # M and Y: the longest
# (duration in seconds, the smallest bar size allowed with it) from IB's step-size table
STEP_SIZES = ((60, 1), (120, 1), (1800, 1), (3600, 5), (14400, 10), (28800, 30), (DAY_S, 60), (2 * DAY_S, 120),
              (7 * DAY_S, 180), (31 * DAY_S, 1800), (366 * DAY_S, DAY_S))
_MASK = np.uint64(2**64 - 1)


class BadRequest(ValueError):
    """A reqHistoricalData field IB would refuse (the message is the cause IB names)."""


def bar_seconds(setting: str) -> int:
    seconds = BAR_SIZES.get(" ".join(setting.split()))
    if seconds is None:
        raise BadRequest(f"Historical data bar size setting is invalid. Legal ones are: {', '.join(BAR_SIZES)}")
    return seconds


def duration_seconds(text: str) -> int:
    """`3600 S`, `1 D`, `2 W`, `1 M`, `1 Y` -> seconds (a month counted as 31 days, a year as 366)."""
    match = re.fullmatch(r"\s*(\d+)\s*([SDWMY])\s*", text or "")
    if match is None or int(match[1]) < 1:
        raise BadRequest(f"Historical data query duration {text!r} is invalid: expected an integer, a space and S, D, "
                         "W, M or Y")
    return int(match[1]) * DURATION_UNITS[match[2]]


def longest_duration(bar_s: int) -> int:
    """The longest duration (seconds) IB accepts for bars of `bar_s` seconds."""
    return max(duration for duration, smallest_bar in STEP_SIZES if smallest_bar <= bar_s)


def end_time_ms(text: str, now_ms: int) -> int:
    """reqHistoricalData's endDateTime: empty (now), `yyyymmdd-HH:MM:SS` (UTC), or `yyyymmdd HH:MM:SS[ zone]`."""
    text = text.strip()
    if not text:
        return now_ms
    match = re.fullmatch(r"(\d{8})[- ](\d{2}:\d{2}:\d{2})(?:\s+(\S+))?", text)
    if match is None:
        raise BadRequest(f"End date/time {text!r}: expected yyyymmdd-hh:mm:ss (UTC) or yyyymmdd hh:mm:ss zone")
    try:
        zone = dt.UTC if text[8] == "-" or match[3] in (None, "UTC", "GMT") else ZoneInfo(match[3])
    except (ZoneInfoNotFoundError, ValueError):
        raise BadRequest(f"End date/time {text!r}: unknown time zone {match[3]!r}") from None
    moment = dt.datetime.strptime(f"{match[1]} {match[2]}", "%Y%m%d %H:%M:%S").replace(tzinfo=zone)
    return int(moment.timestamp() * 1000)


def _hash(values: np.ndarray, key: int) -> np.ndarray:
    """splitmix64 of each minute number mixed with `key`: the same minute, the same noise, in any request."""
    with np.errstate(over="ignore"):
        z = (values.astype(np.uint64) + np.uint64(key % 2**63)) * np.uint64(0x9E3779B97F4A7C15) & _MASK
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9) & _MASK
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB) & _MASK
        return z ^ (z >> np.uint64(31))


def _prices(minutes: np.ndarray, start: float, tick: float, key: int) -> np.ndarray:
    waves = (0.08 * np.sin(2 * np.pi * minutes / 43_200) + 0.03 * np.sin(2 * np.pi * minutes / 5_311)
             + 0.004 * np.sin(2 * np.pi * minutes / 97))
    noise = (_hash(minutes, key) % np.uint64(5)).astype(np.float64) - 2
    return np.maximum(np.round(start * (1 + waves) / tick) + noise, 1) * tick


def _on_tick(prices: np.ndarray, tick: float) -> np.ndarray:
    """Prices as the tick's decimals write them (190.01, not 190.01000000000002)."""
    decimals = max(0, -Decimal(repr(tick)).normalize().as_tuple().exponent)
    return np.round(prices, decimals)


def minute_bars(start_ms: int, end_ms: int, start_price: float, tick: float, key: int) -> np.ndarray:
    """Rows (open_ms, open, high, low, close, volume) of every minute opening in [start_ms, end_ms)."""
    first, last = -(-start_ms // MINUTE_MS), -(-end_ms // MINUTE_MS)
    minutes = np.arange(first, max(first, last), dtype=np.int64)
    opens, closes = _prices(minutes, start_price, tick, key), _prices(minutes + 1, start_price, tick, key)
    noise = _hash(minutes, key + 1)
    highs = np.maximum(opens, closes) + (noise % np.uint64(3)).astype(np.float64) * tick
    lows = np.maximum(np.minimum(opens, closes) - ((noise >> np.uint64(8)) % np.uint64(3)).astype(np.float64) * tick,
                      tick)
    volumes = 100.0 * (1 + ((noise >> np.uint64(16)) % np.uint64(40)).astype(np.float64))
    prices = [_on_tick(column, tick) for column in (opens, highs, lows, closes)]
    return np.column_stack([minutes * MINUTE_MS, *prices, volumes])


def roll_up(minutes: np.ndarray, bar_ms: int, opens: np.ndarray | None = None) -> np.ndarray:
    """Minute rows into bars: first open, highest high, lowest low, last close, summed volume. `opens` is the open
    time of the bar each minute belongs to (non-decreasing); by default bars of `bar_ms` aligned on the epoch (UTC)."""
    if len(minutes) == 0 or (bar_ms == MINUTE_MS and opens is None):
        return minutes
    if opens is None:
        opens = minutes[:, 0].astype(np.int64) // bar_ms * bar_ms
    starts = np.flatnonzero(np.r_[True, opens[1:] != opens[:-1]])
    ends = np.r_[starts[1:], len(minutes)] - 1
    return np.column_stack([opens[starts], minutes[starts, 1], np.maximum.reduceat(minutes[:, 2], starts),
                            np.minimum.reduceat(minutes[:, 3], starts), minutes[ends, 4],
                            np.add.reduceat(minutes[:, 5], starts)])


def history(start_ms: int, end_ms: int, now_ms: int, bar_ms: int, start_price: float, tick: float, key: int,
            sessions: Sessions | None = None, rth: bool = False) -> np.ndarray:
    """The bars of size `bar_ms` opening in [start_ms, end_ms) that the venue has: from HISTORY_FROM_MS, up to now
    (the bar still open included, as IB sends it), within `sessions` when given (only the liquid hours with `rth`)."""
    lo = max(start_ms // bar_ms * bar_ms, HISTORY_FROM_MS)
    hi = min(end_ms, now_ms)
    if hi <= lo:
        return np.zeros((0, 6))
    by_exchange_day = sessions is not None and bar_ms >= DAY_MS
    # an exchange date's session may begin or end on the UTC dates beside it: its day bar needs all of them
    if by_exchange_day:
        first, last = lo - DAY_MS, -(-hi // DAY_MS) * DAY_MS + DAY_MS
    else:
        first, last = lo, -(-hi // bar_ms) * bar_ms
    last_minute_end = -(-now_ms // MINUTE_MS) * MINUTE_MS
    minutes = minute_bars(max(first, HISTORY_FROM_MS), min(last, last_minute_end), start_price, tick, key)
    if sessions is not None:
        minutes = minutes[sessions.trading(minutes[:, 0].astype(np.int64), rth)]
    opens = sessions.exchange_day_ms(minutes[:, 0].astype(np.int64)) if by_exchange_day else None
    bars = roll_up(minutes, bar_ms, opens)
    return bars[(bars[:, 0] >= max(start_ms, HISTORY_FROM_MS)) & (bars[:, 0] < hi)]


def bar_date(open_ms: int, bar_s: int, format_date: int) -> str:
    """A bar's date as IB writes it: epoch seconds (formatDate 2), `yyyymmdd hh:mm:ss UTC` (1), `yyyymmdd` for days."""
    moment = dt.datetime.fromtimestamp(open_ms / 1000, dt.UTC)
    if bar_s >= DAY_S:
        return moment.strftime("%Y%m%d")
    return str(open_ms // 1000) if format_date == 2 else moment.strftime("%Y%m%d %H:%M:%S UTC")
