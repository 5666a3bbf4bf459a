"""A loopback stand-in for Binance's public data archive and its REST klines, built from real 1m bars.

It serves the archive's layout (`data/spot/{monthly,daily}/klines/<SYMBOL>/1m/<SYMBOL>-1m-<period>.zip` and
`.zip.CHECKSUM`) and `GET /api/v3/klines` from the same rows, formatted as Binance formats them (decimal strings with
8 places, the 12 columns). Knobs for the failure tests: `missing` (names answered 404), `corrupt` (names whose zip
bytes are altered after the checksum was taken), `too_many` (that many 429s with Retry-After first), `us_from_ms`
(archive files of bars from that time on carry microseconds, as Binance's spot files do since 2025-01-01),
`delay` (seconds before each archive answer).
"""

from __future__ import annotations

import asyncio
import hashlib
import io
import zipfile
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import msgspec
from aiohttp import web

from nautlive.sim.serving import ServingThread

MINUTE = 60_000
STATE = web.AppKey("state", object)


def _fmt(value: float) -> str:
    return f"{value:.8f}"


def kline(row: list) -> list:
    t, o, h, low, c, v = row
    return [t, _fmt(o), _fmt(h), _fmt(low), _fmt(c), _fmt(v), t + MINUTE - 1, "0.00000000", 0, "0.00000000",
            "0.00000000", "0"]


@dataclass
class ArchiveState:
    rows: dict[str, list[list]]  # symbol -> freqtrade rows [open_ms, o, h, l, c, v], sorted
    missing: set[str] = field(default_factory=set)
    corrupt: set[str] = field(default_factory=set)
    too_many: int = 0
    retry_after: str = "1"
    us_from_ms: int | None = None
    delay: float = 0.0  # seconds before each archive answer
    log: list[str] = field(default_factory=list)
    _zips: dict = field(default_factory=dict)

    def zip_for(self, name: str) -> bytes | None:
        """The zip of `<SYMBOL>-1m-<YYYY-MM[-DD]>.zip`, or None when there are no rows for it."""
        key = (name, self.us_from_ms)
        if key not in self._zips:
            self._zips[key] = self._build(name)
        return self._zips[key]

    def _build(self, name: str) -> bytes | None:
        symbol, interval, period = name.removesuffix(".zip").split("-", 2)
        if interval != "1m" or symbol not in self.rows:
            return None
        first = datetime.strptime(period, "%Y-%m-%d" if len(period) == 10 else "%Y-%m").replace(tzinfo=UTC)
        after = first + timedelta(days=1) if len(period) == 10 else (first + timedelta(days=32)).replace(day=1)
        lo, hi = int(first.timestamp() * 1000), int(after.timestamp() * 1000)
        chosen = [r for r in self.rows[symbol] if lo <= r[0] < hi]
        if not chosen:
            return None
        lines = []
        for row in chosen:
            cells = kline(row)
            if self.us_from_ms is not None and row[0] >= self.us_from_ms:
                cells[0], cells[6] = cells[0] * 1000, cells[6] * 1000 + 999
            lines.append(",".join(str(c) for c in cells))
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
            member = zipfile.ZipInfo(name.replace(".zip", ".csv"), date_time=(2024, 1, 1, 0, 0, 0))
            archive.writestr(member, "\n".join(lines) + "\n", zipfile.ZIP_DEFLATED)
        return buffer.getvalue()


async def _archive(request: web.Request) -> web.Response:
    state: ArchiveState = request.app[STATE]
    name = request.path.rsplit("/", 1)[1]
    state.log.append(request.path)
    if state.delay:
        await asyncio.sleep(state.delay)
    zip_name = name.removesuffix(".CHECKSUM")
    body = None if zip_name in state.missing else state.zip_for(zip_name)
    if body is None:
        return web.Response(status=404, text="<Error><Code>NoSuchKey</Code></Error>")
    if name.endswith(".CHECKSUM"):
        return web.Response(text=f"{hashlib.sha256(body).hexdigest()}  {zip_name}\n")
    if zip_name in state.corrupt:
        body = body[:100] + bytes([body[100] ^ 0xFF]) + body[101:]
    return web.Response(body=body, content_type="application/zip")


async def _klines(request: web.Request) -> web.Response:
    state: ArchiveState = request.app[STATE]
    state.log.append(request.path_qs)
    if state.too_many > 0:
        state.too_many -= 1
        return web.json_response({"code": -1003, "msg": "Too many requests."}, status=429,
                                 headers={"Retry-After": state.retry_after})
    q = request.query
    if q.get("symbol") not in state.rows:
        return web.json_response({"code": -1121, "msg": "Invalid symbol."}, status=400)
    start, end = int(q.get("startTime", 0)), int(q.get("endTime", 2**62))
    limit = min(int(q.get("limit", 500)), 1000)
    rows = [r for r in state.rows[q["symbol"]] if start <= r[0] <= end]
    rows = rows[:limit] if "startTime" in q else rows[-limit:]
    return web.Response(body=msgspec.json.encode([kline(r) for r in rows]), content_type="application/json",
                        headers={"X-MBX-USED-WEIGHT-1M": "2"})


class ArchiveServer(ServingThread):
    def __init__(self, state: ArchiveState) -> None:
        self.state = state

        async def serve(stop, bound) -> None:  # noqa: ANN001
            app = web.Application()
            app[STATE] = state
            app.router.add_get("/data/spot/{period}/klines/{symbol}/{interval}/{name}", _archive)
            app.router.add_get("/api/v3/klines", _klines)
            runner = web.AppRunner(app, access_log=None)
            await runner.setup()
            await web.TCPSite(runner, "127.0.0.1", 0).start()
            bound(runner.addresses[0][1])
            try:
                await stop.wait()
            finally:
                await runner.cleanup()

        super().__init__(serve, "archive-server", 10.0, "archive server did not start")
        self.url = f"http://127.0.0.1:{self.ports[0]}"
