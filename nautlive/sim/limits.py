"""The simulated venue's request limits, as Binance applies them to REST calls.

Every REST answer carries `X-MBX-USED-WEIGHT-<n><unit>`: the weight used in the current window (Binance's published
weights, nautlive.venues.binance.limits.WEIGHTS). Two faults:
  rate_limit_next(status, retry_after, count)  the next `count` REST requests are answered HTTP 429 (too much weight)
                                               or 418 (an IP ban) with `Retry-After`, not executed
  limit_weight(limit, window)                  REQUEST_WEIGHT of `limit` per `window` seconds (exchangeInfo's
                                               rateLimits say so); a request past it is a 429 with the seconds left
                                               in the window as Retry-After
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable, Mapping
from typing import Any

from nautlive.venues.binance.limits import DEFAULT_LIMIT, DEFAULT_WINDOW, used_weight_header, weight_of

TOO_MUCH = ("Too much request weight used; current limit is {limit} request weight per {window}. Please use "
            "WebSocket Streams for live updates to avoid polling the API.")
BANNED = "Way too much request weight used; IP banned until {until}. Please use WebSocket Streams for live updates."


class Refusal:
    """An answer instead of the request's: HTTP status, headers and Binance's body."""

    def __init__(self, status: int, retry_after: float, msg: str) -> None:
        self.status = status
        self.headers = {"Retry-After": f"{retry_after:g}"}
        self.body = {"code": -1003, "msg": msg}


class RequestLimits:
    """Used weight per window, and the 429/418 faults; `header` is the simulator's exchangeInfo header."""

    def __init__(self, header: dict[str, Any], clock: Callable[[], float] = time.time) -> None:
        self.header = header
        self.limit: int | None = None  # None: weight counted and reported, never refused
        self.window = DEFAULT_WINDOW
        self.used = 0
        self.forced: list[tuple[int, float]] = []  # (status, retry_after) for the next requests
        self.refused = {429: 0, 418: 0}
        self._window_start = 0.0
        self._clock = clock

    def rate_limit_next(self, status: int, retry_after: float, count: int = 1) -> None:
        if status not in (429, 418):
            raise ValueError(f"status: expected 429 or 418, got {status}")
        if not retry_after >= 0 or count < 1:
            raise ValueError("retry_after: expected seconds >= 0, count: expected 1 or more")
        self.forced = [(status, float(retry_after))] * count

    def limit_weight(self, limit: int, window: float = DEFAULT_WINDOW) -> None:
        """Refuse past `limit` weight per `window` seconds (a whole number of seconds or minutes), and say so in
        exchangeInfo's rateLimits."""
        if limit < 1 or window < 1 or window % 1:
            raise ValueError("limit: expected 1 or more; window: a whole number of seconds")
        self.limit, self.window = int(limit), float(window)
        interval, number = ("MINUTE", int(window // 60)) if window % 60 == 0 else ("SECOND", int(window))
        rules = [r for r in self.header.get("rateLimits", []) if r.get("rateLimitType") != "REQUEST_WEIGHT"]
        self.header["rateLimits"] = [{"rateLimitType": "REQUEST_WEIGHT", "interval": interval,
                                      "intervalNum": number, "limit": self.limit}, *rules]

    def check(self, method: str, path: str, params: Mapping[str, str]) -> Refusal | None:
        """Count one REST request; the refusal to answer instead, or None to serve it."""
        now = self._roll()
        if self.forced:
            status, retry_after = self.forced.pop(0)
            return self._refuse(status, retry_after, now)
        weight = weight_of(method, path, params)
        if self.limit is not None and self.used + weight > self.limit:
            return self._refuse(429, max(1.0, self._window_start + self.window - now), now)
        self.used += weight
        return None

    def headers(self) -> dict[str, str]:
        """What every REST answer says about the weight used in this window."""
        self._roll()
        return {used_weight_header(self.window): str(self.used)}

    def state(self) -> dict[str, Any]:
        return {"limit": self.limit, "window": self.window, "used": self.used, "refused": dict(self.refused),
                "forced_next": len(self.forced)}

    def _refuse(self, status: int, retry_after: float, now: float) -> Refusal:
        self.refused[status] += 1
        if status == 418:
            until = dt.datetime.fromtimestamp(now + retry_after, dt.UTC)
            return Refusal(418, retry_after, BANNED.format(until=int(until.timestamp() * 1000)))
        window = f"{self.window:g} SECOND" if self.window % 60 else f"{self.window / 60:g} MINUTE"
        return Refusal(429, retry_after, TOO_MUCH.format(limit=self.limit or DEFAULT_LIMIT, window=window))

    def _roll(self) -> float:
        now = self._clock()
        start = now - now % self.window
        if start != self._window_start:
            self._window_start, self.used = start, 0
        return now
