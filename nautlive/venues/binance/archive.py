"""Binance klines over the wire: the public data archive's zip files (verified against their .CHECKSUM) and public
REST `GET /api/v3/klines` (paged, within the request weight, waiting out 429/418 as `Retry-After` says).

Archive layout (github.com/binance/binance-public-data): `<base>/data/spot/monthly/klines/<SYMBOL>/<interval>/
<SYMBOL>-<interval>-<YYYY-MM>.zip` and `.../daily/klines/.../<SYMBOL>-<interval>-<YYYY-MM-DD>.zip`, each with a
`.zip.CHECKSUM` beside it (`<sha256>  <file name>`). No key is sent anywhere.
"""

from __future__ import annotations

import asyncio
import hashlib
import io
import re
import time
import zipfile
from collections.abc import Callable
from datetime import date

import aiohttp
import msgspec

from nautlive.data.klines import INTERVALS, Row, csv_rows, rest_rows
from nautlive.errors import ConfigError, RuntimeFailure
from nautlive.venues.binance.rest import transport_failure

DEFAULT_ARCHIVE_URL = "https://data.binance.vision"
TIMEOUT = 60.0  # seconds for one request (a month of 1m bars is a ~2 MB zip)
KLINES_LIMIT = 1000  # the most GET /api/v3/klines returns in one answer (request weight 2)
WEIGHT_LIMIT = 6000  # Binance Spot's REQUEST_WEIGHT per minute; stay below WEIGHT_PAUSE_AT of it
WEIGHT_PAUSE_AT = 0.8
RETRIES = 5  # 429/418 answers waited out, and transport failures retried, per request
INVALID_SYMBOL, INVALID_INTERVAL = -1121, -1120
USED_WEIGHT = re.compile(r"x-mbx-used-weight-(\d+)([smhd])", re.IGNORECASE)
WINDOW_UNITS = {"S": 1, "M": 60, "H": 3600, "D": 86400}


class ArchiveCorrupt(RuntimeFailure):
    """A zip whose sha256 differs from its .CHECKSUM, or that does not unzip: refused, nothing written from it."""


def month_path(symbol: str, interval: str, year: int, month: int) -> str:
    return f"data/spot/monthly/klines/{symbol}/{interval}/{symbol}-{interval}-{year:04d}-{month:02d}.zip"


def day_path(symbol: str, interval: str, day: date) -> str:
    return f"data/spot/daily/klines/{symbol}/{interval}/{symbol}-{interval}-{day.isoformat()}.zip"


def verify(name: str, body: bytes, checksum: bytes) -> None:
    """Refuse a zip whose sha256 is not the one its .CHECKSUM file names."""
    expected = checksum.decode(errors="replace").split()[0].lower() if checksum.strip() else ""
    actual = hashlib.sha256(body).hexdigest()
    if actual != expected:
        raise ArchiveCorrupt(f"{name}: checksum mismatch (sha256 {actual[:16]}..., its .CHECKSUM says "
                             f"{expected[:16] or 'nothing'}...): refused, nothing written from it")


def unzip_rows(name: str, body: bytes) -> list[Row]:
    try:
        with zipfile.ZipFile(io.BytesIO(body)) as archive:
            member = next(n for n in archive.namelist() if n.endswith(".csv"))
            text = archive.read(member).decode()
    except (zipfile.BadZipFile, StopIteration, UnicodeDecodeError, OSError) as exc:
        raise ArchiveCorrupt(f"{name}: not a kline zip ({exc or 'no .csv inside'}): refused") from None
    try:
        return csv_rows(text, name)
    except ValueError as exc:
        raise ArchiveCorrupt(f"{exc}: refused") from None


class Fetcher:
    """One aiohttp session for the archive and REST; `say` gets one line per wait (a 429, the weight budget)."""

    def __init__(self, archive_url: str, rest_url: str, say: Callable[[str], None], timeout: float = TIMEOUT) -> None:
        self.archive_url = archive_url.rstrip("/")
        self.rest_url = rest_url.rstrip("/")
        self.say = say
        self.timeout = timeout
        self.session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=timeout))
        self.weight_used = 0
        self.weight_limit = WEIGHT_LIMIT  # REQUEST_WEIGHT per window, from exchangeInfo when the venue says
        self.retries = RETRIES  # transport failures retried per request (0 while checking the symbols: fail fast)

    async def close(self) -> None:
        await self.session.close()

    # -- the archive ---------------------------------------------------------------------------------------------

    async def archive(self, path: str) -> list[Row] | None:
        """The rows of one archive zip, verified; None when the archive has no such file (404)."""
        url = f"{self.archive_url}/{path}"
        status, body = await self._get(url, self.archive_url)
        if status == 404:
            return None
        if status != 200:
            raise RuntimeFailure(f"{url}: HTTP {status}")
        name = path.rsplit("/", 1)[1]
        status, checksum = await self._get(url + ".CHECKSUM", self.archive_url)
        if status != 200:
            raise ArchiveCorrupt(f"{name}: no .CHECKSUM beside it (HTTP {status}): refused, nothing written from it")
        verify(name, body, checksum)
        return unzip_rows(name, body)

    # -- REST ----------------------------------------------------------------------------------------------------

    async def rest(self, symbol: str, interval: str, start_ms: int, end_ms: int,
                   on_page: Callable[[int], None] | None = None) -> list[Row]:
        """Every bar opening in [start_ms, end_ms), KLINES_LIMIT a request."""
        rows: list[Row] = []
        cursor = start_ms
        while cursor < end_ms:
            page = await self.klines(symbol, interval, startTime=cursor, endTime=end_ms - 1, limit=KLINES_LIMIT)
            if not page:
                break
            rows += rest_rows(page)
            if on_page:
                on_page(len(page))
            cursor = int(page[-1][0]) + INTERVALS[interval]
            if len(page) < KLINES_LIMIT:
                break
        return [r for r in rows if start_ms <= r[0] < end_ms]

    async def learn_weight_limit(self, symbol: str) -> None:
        """The venue's REQUEST_WEIGHT limit from exchangeInfo's rateLimits (kept at 6000 when it does not say); asked
        for one symbol, so the answer is small."""
        status, body = await self._get(f"{self.rest_url}/api/v3/exchangeInfo", self.rest_url, {"symbol": symbol})
        answer = _json(body)
        rules = answer.get("rateLimits", []) if status == 200 and isinstance(answer, dict) else []
        for rule in rules:
            if isinstance(rule, dict) and rule.get("rateLimitType") == "REQUEST_WEIGHT" and \
                    str(rule.get("limit", "")).isdigit():
                self.weight_limit = int(rule["limit"])
                return

    async def klines(self, symbol: str, interval: str, **params: int) -> list:
        """One GET /api/v3/klines; an unknown symbol or interval is a ConfigError (exit 2)."""
        url = f"{self.rest_url}/api/v3/klines"
        query = {"symbol": symbol, "interval": interval, **{k: str(v) for k, v in params.items()}}
        status, body = await self._get(url, self.rest_url, query)
        answer = _json(body)
        if status == 200 and isinstance(answer, list):
            return answer
        code = answer.get("code") if isinstance(answer, dict) else None
        if code == INVALID_SYMBOL:
            raise ConfigError(f"unknown symbol {symbol}: {self.rest_url} says {answer.get('msg')!r}")
        if code == INVALID_INTERVAL:
            raise ConfigError(f"interval {interval}: {self.rest_url} says {answer.get('msg')!r}")
        detail = f"Binance error {code}: {answer.get('msg')}" if code else body[:200].decode(errors="replace")
        raise RuntimeFailure(f"{url}: HTTP {status}: {detail}")

    async def _get(self, url: str, base: str, params: dict | None = None) -> tuple[int, bytes]:
        """GET with the rate limits honoured: 429/418 wait Retry-After (or a backoff), a busy weight budget waits
        for the next minute; a transport failure is retried, then a RuntimeFailure naming the URL."""
        for attempt in range(RETRIES + 1):
            try:
                async with self.session.get(url, params=params) as response:
                    body = await response.read()
                    status, headers = response.status, response.headers
            except (TimeoutError, aiohttp.ClientError) as exc:
                if attempt >= self.retries:
                    raise RuntimeFailure(f"{url}: venue unreachable: {transport_failure(exc, base, self.timeout)}") \
                        from None
                await asyncio.sleep(min(2**attempt, 30))
                continue
            if status in (429, 418) and attempt < RETRIES:
                wait = _retry_after(headers.get("Retry-After"), attempt)
                what = "rate limit" if status == 429 else "IP banned for a while"
                self.say(f"{base} answered {status} ({what}): waiting {wait:g} s as Retry-After says")
                await asyncio.sleep(wait)
                continue
            await self._pace(used_weight(headers))
            return status, body
        raise RuntimeFailure(f"{url}: still rate limited (HTTP {status}) after {RETRIES} waits")

    async def _pace(self, used: tuple[int, float] | None) -> None:
        """Near the weight limit (X-MBX-USED-WEIGHT-1M at WEIGHT_PAUSE_AT of it), wait for the window's next start."""
        if used is None:
            return
        self.weight_used, window = used
        if self.weight_used >= self.weight_limit * WEIGHT_PAUSE_AT:
            wait = weight_pause(time.time(), window)
            where = "this minute" if window == 60 else f"in this {window:g} s window"
            self.say(f"request weight {self.weight_used} of {self.weight_limit} used {where}: waiting {wait:.0f} s")
            await asyncio.sleep(wait)


def used_weight(headers) -> tuple[int, float] | None:  # noqa: ANN001 - a multidict of headers
    """(weight used, window seconds) from `X-MBX-USED-WEIGHT-<n><S|M|H|D>` (1M on Binance), or None."""
    for name, value in headers.items():
        match = USED_WEIGHT.fullmatch(name)
        if match and str(value).strip().isdigit():
            return int(value), float(int(match[1]) * WINDOW_UNITS[match[2].upper()])
    return None


def weight_pause(now: float, window: float) -> float:
    """Seconds until the next weight window starts (windows start on the epoch's multiples), and a little more."""
    return window - now % window + min(1.0, window / 10)


def _retry_after(header: str | None, attempt: int) -> float:
    try:
        return max(0.0, float(header)) if header is not None else float(min(2**attempt, 60))
    except ValueError:
        return float(min(2**attempt, 60))


def _json(body: bytes) -> object:
    try:
        return msgspec.json.decode(body)
    except msgspec.DecodeError:
        return None
