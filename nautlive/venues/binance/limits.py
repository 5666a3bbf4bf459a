"""Binance's request limits, kept once per venue endpoint for the whole process.

A `Gate` per REST base URL, shared by nautlive's own client (BinanceRest) and, once `guard_nautilus_client` wrapped
it, Nautilus's Binance HTTP client (orders, cancels, its reconciliation queries):

- after HTTP 429 or 418 no request goes to that venue before its `Retry-After`; a 418 (an IP ban, which Binance
  escalates from minutes to days for clients that keep calling) refuses every request until the ban's end, and the
  session is told so it stops (exit 1, naming the end);
- each request's weight (Binance's published weights) is counted before it is sent, against the venue's
  REQUEST_WEIGHT limit (its exchangeInfo `rateLimits`) less a headroom, and `X-MBX-USED-WEIGHT-<n><unit>` answers
  correct the count (other clients on the same IP spend it too); a request that would overrun waits for the next
  window, so a storm of requests waits instead of reaching 429.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import re
import time
from collections.abc import Callable, Mapping
from pathlib import Path

import msgspec

from nautlive.errors import RuntimeFailure

HEADROOM = 0.8  # of the venue's REQUEST_WEIGHT limit: the rest is for what the count misses
DEFAULT_LIMIT = 6000
DEFAULT_WINDOW = 60.0
RETRY_AFTER_DEFAULT = {429: 60.0, 418: 120.0}  # when the answer has no (readable) Retry-After
BANNED_UNTIL = re.compile(r"banned until (\d{12,})")  # Binance's 418 message: "IP banned until <epoch ms>"
UNIT_SECONDS = {"SECOND": 1, "MINUTE": 60, "HOUR": 3600, "DAY": 86400}
# Binance Spot request weights (the API docs, 2026); anything not listed weighs 1. Only /api/ counts: /sapi/ has
# limits of its own.
WEIGHTS: dict[tuple[str, str], int] = {
    ("GET", "/api/v3/account"): 20,
    ("GET", "/api/v3/exchangeInfo"): 20,
    ("GET", "/api/v3/allOrders"): 20,
    ("GET", "/api/v3/myTrades"): 20,
    ("GET", "/api/v3/openOrders"): 6,  # one symbol (80 for all: weight_of)
    ("GET", "/api/v3/order"): 4,
    ("GET", "/api/v3/depth"): 5,
    ("GET", "/api/v3/klines"): 2,
    ("GET", "/api/v3/ticker/24hr"): 2,
    ("GET", "/api/v3/ticker/price"): 2,
    ("GET", "/api/v3/ticker/bookTicker"): 2,
    ("GET", "/api/v3/aggTrades"): 4,
    ("GET", "/api/v3/trades"): 25,
    ("POST", "/api/v3/userDataStream"): 2,
    ("PUT", "/api/v3/userDataStream"): 2,
    ("DELETE", "/api/v3/userDataStream"): 2,
}


def weight_of(method: str, path: str, params: Mapping[str, str] | None = None) -> int:
    """Binance's weight of one REST request (0 outside /api/)."""
    path = "/" + path.split("?", 1)[0].lstrip("/")
    if not path.startswith("/api/"):
        return 0
    if (method, path) == ("GET", "/api/v3/openOrders") and params is not None and "symbol" not in params:
        return 80
    return WEIGHTS.get((method.upper(), path), 1)


def used_weight_header(window: float) -> str:
    """X-MBX-USED-WEIGHT-1M for a minute window, -10S for ten seconds, ..."""
    for unit, letter in (("DAY", "D"), ("HOUR", "H"), ("MINUTE", "M"), ("SECOND", "S")):
        size = UNIT_SECONDS[unit]
        if window >= size and window % size == 0:
            return f"X-MBX-USED-WEIGHT-{int(window // size)}{letter}"
    return "X-MBX-USED-WEIGHT-1M"


class VenueDown(RuntimeFailure):
    """The venue did not answer (refused, timed out, reset); the message names the URL, never a signature."""


class IpBanned(VenueDown):
    """HTTP 418: the venue refuses this IP until the ban's end; nothing may be sent to it before."""

    def __init__(self, base_url: str, until: float) -> None:
        end = dt.datetime.fromtimestamp(until, dt.UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
        super().__init__(f"{base_url} banned this IP until {end} (HTTP 418, Retry-After): no request sent before "
                         "then")
        self.until = until
        self.end = end


class Gate:
    """The request limits of one venue endpoint: Retry-After after 429/418, and the weight of the current window."""

    def __init__(self, base_url: str, clock: Callable[[], float] = time.time) -> None:
        self.base_url = base_url
        self.limit = DEFAULT_LIMIT
        self.window = DEFAULT_WINDOW
        self.until = 0.0  # no request before this time (epoch seconds)
        self.banned = False  # `until` is an IP ban's end (418), not a 429's back-off
        self.used = 0
        self.waits = 0  # requests held back to stay within the weight limit
        self.hits: list[int] = []  # statuses 429/418 seen
        self.on_ban: list[Callable[[IpBanned], None]] = []
        self.ban_file: Path | None = None  # where a ban is remembered for the next process (remember_bans)
        self._window_start = 0.0
        self._clock = clock

    def remember_bans(self, folder: Path) -> None:
        """Keep an IP ban in `folder` (the state folder), so the next run (cron) sends nothing before its end either;
        a ban saved there by an earlier run is in force now."""
        digest = hashlib.sha256(self.base_url.lower().encode()).hexdigest()[:16]
        self.ban_file = folder / f"ban-{digest}.json"
        try:
            saved = msgspec.json.decode(self.ban_file.read_bytes())
            until = float(saved["until"])
        except (OSError, msgspec.DecodeError, KeyError, TypeError, ValueError):
            return
        if until > self._clock() and until > self.until:
            self.until, self.banned = until, True

    def configure(self, rate_limits: list[dict]) -> None:
        """The venue's REQUEST_WEIGHT limit and window from exchangeInfo `rateLimits` (kept when absent)."""
        for rule in rate_limits:
            if rule.get("rateLimitType") == "REQUEST_WEIGHT" and rule.get("interval") in UNIT_SECONDS:
                self.limit = int(rule["limit"])
                self.window = float(UNIT_SECONDS[rule["interval"]] * int(rule.get("intervalNum", 1)))
                return

    @property
    def budget(self) -> int:
        return max(1, int(self.limit * HEADROOM))

    def delay(self, weight: int) -> float:
        """Seconds to wait before sending a request of `weight` (0: send now); IpBanned during a ban."""
        now = self._clock()
        if now < self.until:
            if self.banned:
                raise IpBanned(self.base_url, self.until)
            return self.until - now
        self._roll(now)
        if weight and self.used + weight > self.budget and self.used > 0:
            return self._window_start + self.window - now + 0.05
        return 0.0

    async def admit(self, weight: int, say: Callable[[str], None] | None = None) -> None:
        """Wait until a request of `weight` may go (and count it); IpBanned during a ban."""
        while (wait := self.delay(weight)) > 0:
            self.waits += 1
            if say is not None and wait >= 1:
                say(f"{self.base_url}: waiting {wait:.1f} s for the venue's request limit")
            await asyncio.sleep(wait)
        self.used += weight

    def answered(self, status: int, headers: Mapping[str, str], body: bytes | None = None) -> None:
        """Learn from an answer: the used weight it reports, and a 429/418's Retry-After (without the header, as
        Nautilus's client hands them over: a ban's end from its message, a 429 the end of the weight window)."""
        now = self._clock()
        self._roll(now)
        header = _header(headers, used_weight_header(self.window))
        if header is not None and header.isdigit():
            self.used = max(self.used, int(header))
        if status not in (429, 418):
            return
        self.hits.append(status)
        self.until = max(self.until, now + self._retry_after(status, headers, body, now))
        if status == 418:
            self.banned = True
            self._save_ban()
            banned = IpBanned(self.base_url, self.until)
            for listener in list(self.on_ban):
                listener(banned)

    def _retry_after(self, status: int, headers: Mapping[str, str], body: bytes | None, now: float) -> float:
        header = _header(headers, "Retry-After")
        if header is not None:
            return _seconds(header, RETRY_AFTER_DEFAULT[status])
        banned_until = BANNED_UNTIL.search((body or b"").decode(errors="replace"))
        if status == 418 and banned_until:
            return max(0.0, int(banned_until[1]) / 1000 - now)
        if status == 429:
            return self._window_start + self.window - now + 0.5
        return RETRY_AFTER_DEFAULT[status]

    def _save_ban(self) -> None:
        if self.ban_file is None:
            return
        try:
            self.ban_file.parent.mkdir(parents=True, exist_ok=True)
            self.ban_file.write_bytes(msgspec.json.encode({"until": self.until, "endpoint": self.base_url}))
        except OSError:
            pass  # best effort: this run stops anyway, and the venue answers 418 again

    def _roll(self, now: float) -> None:
        start = now - now % self.window
        if start != self._window_start:
            self._window_start, self.used = start, 0
        if self.until and now >= self.until:
            self.until, self.banned = 0.0, False


def _header(headers: Mapping[str, str], name: str) -> str | None:
    for key, value in headers.items():
        if key.lower() == name.lower():
            return str(value).strip()
    return None


def _seconds(text: str | None, default: float) -> float:
    try:
        seconds = float(text) if text is not None else default
    except ValueError:
        return default
    return seconds if seconds >= 0 else default


_GATES: dict[str, Gate] = {}


def gate_for(base_url: str) -> Gate:
    """The one Gate of this endpoint in this process."""
    key = base_url.strip().rstrip("/").lower()
    if key not in _GATES:
        _GATES[key] = Gate(base_url.rstrip("/"))
    return _GATES[key]
