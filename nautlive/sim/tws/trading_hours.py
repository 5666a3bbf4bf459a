"""When the TWS venue's stocks trade: the sessions its price history follows and its contract details announce.

A stock (secType STK) trades Monday to Friday in its time zone (ContractDetails.timeZoneId, US/Eastern when the
details name none): all trading hours 04:00-20:00, regular trading hours (liquid hours) 09:30-16:00, as IB's real
contract details for AAPL on NASDAQ say. Holidays are ignored: every weekday is a trading day. Other secTypes the
venue may carry from captures (OPT, FUT, CASH) trade around the clock here, and their captured hours are sent as
captured.

IB's definitions:
- reqHistoricalData's useRTH (https://interactivebrokers.github.io/tws-api/historical_bars.html): 0 returns all data
  within the trading hours, 1 only data within the regular trading hours;
- ContractDetails' timeZoneId, tradingHours and liquidHours
  (https://interactivebrokers.github.io/tws-api/classIBApi_1_1ContractDetails.html): days as
  `20180323:0400-20180323:2000;20180324:CLOSED`, the closing time dated too (TWS 970 on), in timeZoneId's time.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd

DEFAULT_ZONE = "US/Eastern"
ALL_HOURS = (4 * 60, 20 * 60)  # minutes of the local day: [open, close)
LIQUID_HOURS = (9 * 60 + 30, 16 * 60)
DAYS_ANNOUNCED = 7  # days of hours in the contract details, from the exchange's today
SATURDAY = 5


@dataclass(frozen=True)
class Sessions:
    """A stock's trading days and hours in its exchange's time zone."""

    zone: str = DEFAULT_ZONE

    def _local(self, open_ms: np.ndarray) -> pd.DatetimeIndex:
        return pd.to_datetime(open_ms, unit="ms", utc=True).tz_convert(self.zone)

    def trading(self, open_ms: np.ndarray, rth: bool) -> np.ndarray:
        """Which minutes (by open time, epoch ms) lie in a session: all trading hours, or with `rth` the liquid ones."""
        local = self._local(open_ms)
        minute = np.asarray(local.hour * 60 + local.minute)
        first, end = LIQUID_HOURS if rth else ALL_HOURS
        return np.asarray(local.day_of_week < SATURDAY) & (minute >= first) & (minute < end)

    def exchange_day_ms(self, open_ms: np.ndarray) -> np.ndarray:
        """Each minute's exchange date as the epoch ms of that date's UTC midnight (how a day bar is dated)."""
        dates = self._local(open_ms).tz_localize(None).normalize()
        return np.asarray(dates.as_unit("ms").asi8, dtype=np.int64)

    def hours_text(self, now: dt.datetime, rth: bool) -> str:
        """tradingHours (or with `rth` liquidHours) from the exchange's today for DAYS_ANNOUNCED days, as IB writes it."""
        today = now.astimezone(ZoneInfo(self.zone)).date()
        first, end = LIQUID_HOURS if rth else ALL_HOURS
        days = [today + dt.timedelta(days=n) for n in range(DAYS_ANNOUNCED)]
        return ";".join(f"{d:%Y%m%d}:CLOSED" if d.weekday() >= SATURDAY else
                        f"{d:%Y%m%d}:{_clock(first)}-{d:%Y%m%d}:{_clock(end)}" for d in days)


def _clock(minute: int) -> str:
    return f"{minute // 60:02d}{minute % 60:02d}"


def sessions_for(details: dict) -> Sessions | None:
    """A stock's sessions; None for what trades around the clock here."""
    if details["contract"].get("secType") != "STK":
        return None
    return Sessions(details.get("timeZoneId") or DEFAULT_ZONE)


def with_current_hours(details: dict, now: dt.datetime) -> dict:
    """Contract details as the venue sends them now: a stock's timeZoneId, tradingHours and liquidHours for the days
    from today (a capture's own are years old)."""
    sessions = sessions_for(details)
    if sessions is None:
        return details
    return {**details, "timeZoneId": sessions.zone, "tradingHours": sessions.hours_text(now, rth=False),
            "liquidHours": sessions.hours_text(now, rth=True)}
