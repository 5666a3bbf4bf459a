"""`nautlive record`: Binance's public streams of some symbols, keyless, into the recording format the replay feed,
`backtest --data` and `nautlive sim --replay` read: one gzip file per symbol, one line per message,
`<local receive time, ns> <JSON exactly as Binance sent it>`, with the REST depth snapshot taken at each (re)connect
as a `<ns> {"lastUpdateId": ...}` line.

The depth stream's sequence is followed as Binance documents it (nautlive.data.book.DepthSync, the public feed's): a lost
stream or a skipped update id writes a gap line, `<ns> {"gap": "<why>", "symbol": "BTCUSDT"}`, and a new snapshot
follows; readers drop the depth diffs between a gap line and the next snapshot (the book is unknown there).
Files are written as `<name>.gz.part` and renamed when the recording stops (duration, SIGINT or SIGTERM).
"""

from __future__ import annotations

import asyncio
import contextlib
import gzip
import os
import signal
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import aiohttp
import msgspec

from nautlive.data.book import DepthSync
from nautlive.errors import ConfigError, RuntimeFailure
from nautlive.venues.binance.public import HEARTBEAT, STREAMS, WS_CLOSE_TIMEOUT
from nautlive.venues.binance.rest import transport_failure

SNAPSHOT_LIMIT = 1000
RECONNECT_SECS = 1.0
REQUEST_TIMEOUT = 10.0


def gap_line(ts_ns: int, symbol: str, reason: str) -> bytes:
    return f"{ts_ns} ".encode() + msgspec.json.encode({"gap": reason, "symbol": symbol}) + b"\n"


@dataclass
class SymbolFile:
    """One symbol's open recording, its depth sequence and what it holds so far."""

    symbol: str
    path: Path
    sync: DepthSync = field(default_factory=DepthSync)
    counts: Counter = field(default_factory=Counter)

    def __post_init__(self) -> None:
        self.part = self.path.with_name(self.path.name + ".part")
        self.file = gzip.open(self.part, "wb", compresslevel=6)

    def write(self, ts_ns: int, text: bytes, kind: str) -> None:
        self.file.write(f"{ts_ns} ".encode() + text + b"\n")
        self.counts[kind] += 1

    def gap(self, reason: str) -> None:
        self.file.write(gap_line(time.time_ns(), self.symbol, reason))
        self.counts["gaps"] += 1
        self.sync.resync()

    def close(self) -> bool:
        """Close and rename the file; one that recorded nothing is removed. Whether a file was kept."""
        self.file.close()
        if not self.counts:
            self.part.unlink(missing_ok=True)
            return False
        os.replace(self.part, self.path)
        return True


@dataclass(frozen=True)
class RecordJob:
    symbols: list[str]
    out: Path
    duration: float | None
    http_url: str
    ws_url: str


def file_path(out: Path, symbol: str, started: datetime) -> Path:
    return out / f"{symbol.lower()}_{started.strftime('%Y%m%dT%H%M%S')}.gz"


class Recorder:
    def __init__(self, job: RecordJob, say: Callable[[str], None]) -> None:
        self.job = job
        self.say = say
        started = datetime.now(UTC)
        job.out.mkdir(parents=True, exist_ok=True)
        self.files = {s: SymbolFile(s, file_path(job.out, s, started)) for s in job.symbols}
        self.stopped_by: int | None = None
        self._snapshots: dict[str, asyncio.Task] = {}

    @property
    def url(self) -> str:
        names = [f"{s.lower()}@{kind}" for s in self.files for kind in STREAMS]
        return f"{self.job.ws_url.rstrip('/')}/stream?streams={'/'.join(names)}"

    async def run(self) -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, self._on_signal, sig, stop)
        if self.job.duration is not None:
            loop.call_later(self.job.duration, stop.set)
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(sock_connect=REQUEST_TIMEOUT)) as session:
            await self._check_symbols(session)
            streaming = asyncio.create_task(self._stream(session))
            stopping = asyncio.create_task(stop.wait())
            await asyncio.wait([streaming, stopping], return_when=asyncio.FIRST_COMPLETED)
            for task in (streaming, stopping, *self._snapshots.values()):
                task.cancel()
            await asyncio.gather(streaming, stopping, *self._snapshots.values(), return_exceptions=True)
            if streaming.done() and not streaming.cancelled() and streaming.exception() is not None:
                raise streaming.exception()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)

    async def _check_symbols(self, session: aiohttp.ClientSession) -> None:
        """One small depth request per symbol first: the stream accepts any name and stays silent, the REST API
        says which symbol it does not know (exit 2), or that it cannot be reached (exit 1)."""
        url = f"{self.job.http_url.rstrip('/')}/api/v3/depth"
        for symbol in self.files:
            try:
                async with session.get(url, params={"symbol": symbol, "limit": "5"},
                                       timeout=aiohttp.ClientTimeout(total=REQUEST_TIMEOUT)) as response:
                    status, body = response.status, await response.read()
            except (aiohttp.ClientError, OSError, TimeoutError) as exc:
                raise RuntimeFailure(f"{url}: venue unreachable: "
                                     f"{transport_failure(exc, self.job.http_url, REQUEST_TIMEOUT)}") from None
            if status == 400 and b"-1121" in body:
                raise ConfigError(f"unknown symbol {symbol}: {self.job.http_url} says "
                                  f"{msgspec.json.decode(body).get('msg')!r}")
            if status != 200:
                raise RuntimeFailure(f"{url}: HTTP {status}: {body[:200].decode(errors='replace')}")

    def _on_signal(self, sig: int, stop: asyncio.Event) -> None:
        self.stopped_by = sig
        stop.set()

    async def _stream(self, session: aiohttp.ClientSession) -> None:
        connected_once = False
        while True:
            try:
                ws = await session.ws_connect(self.url, heartbeat=HEARTBEAT, timeout=WS_CLOSE_TIMEOUT)
            except (aiohttp.ClientError, OSError, TimeoutError) as exc:
                if not connected_once:
                    raise RuntimeFailure(f"{self.job.ws_url}: venue unreachable: "
                                         f"{transport_failure(exc, self.job.ws_url, REQUEST_TIMEOUT)}") from None
                await asyncio.sleep(RECONNECT_SECS)
                continue
            self.say("stream open again: taking new depth snapshots" if connected_once else
                     f"stream open: {', '.join(self.files)} from {self.job.ws_url}")
            connected_once = True
            for symbol in self.files:
                self._snapshot_soon(session, symbol)
            try:
                async for message in ws:
                    if message.type != aiohttp.WSMsgType.TEXT:
                        break
                    self._on_message(session, time.time_ns(), message.data.encode())
            except (aiohttp.ClientError, OSError):
                pass
            finally:
                with contextlib.suppress(Exception):
                    await ws.close()
            self.say("stream lost: reconnecting (a gap line marks it in each file)")
            for symbol, f in self.files.items():
                if (task := self._snapshots.pop(symbol, None)) is not None:
                    task.cancel()
                f.gap("stream lost: reconnected")
            await asyncio.sleep(RECONNECT_SECS)

    def _on_message(self, session: aiohttp.ClientSession, ts_ns: int, raw: bytes) -> None:
        head = raw[:60]
        name = head[head.find(b'"stream":"') + 10:].split(b'"', 1)[0].decode(errors="replace")
        symbol, _, kind = name.partition("@")
        f = self.files.get(symbol.upper())
        if f is None:
            return
        if kind.startswith("depth"):  # the sequence first: a gap line goes before the diff that skipped ids
            data = msgspec.json.decode(raw)["data"]
            was_gap, last = f.sync.gap, f.sync.last_update_id
            f.sync.diff(data["U"], data["u"], [], [])
            if f.sync.gap and not was_gap:
                f.file.write(gap_line(ts_ns, f.symbol, f"depth update ids {last + 1}..{data['U'] - 1} skipped"))
                f.counts["gaps"] += 1
                self._snapshot_soon(session, f.symbol)
        f.write(ts_ns, raw, kind.split("@")[0])

    def _snapshot_soon(self, session: aiohttp.ClientSession, symbol: str) -> None:
        task = self._snapshots.get(symbol)
        if task is None or task.done():
            self._snapshots[symbol] = asyncio.create_task(self._snapshot(session, symbol))

    async def _snapshot(self, session: aiohttp.ClientSession, symbol: str) -> None:
        """GET /api/v3/depth (unsigned) until it answers; recorded as the line it was; again while it is older than
        the diffs buffered meanwhile."""
        url = f"{self.job.http_url.rstrip('/')}/api/v3/depth"
        f = self.files[symbol]
        while True:
            try:
                async with session.get(url, params={"symbol": symbol, "limit": str(SNAPSHOT_LIMIT)},
                                       timeout=aiohttp.ClientTimeout(total=REQUEST_TIMEOUT)) as response:
                    body = await response.read()
                    ok = response.status == 200 and body.startswith(b'{"lastUpdateId"')
            except (aiohttp.ClientError, OSError, TimeoutError):
                ok = False
            if ok:
                f.write(time.time_ns(), body.strip(), "snapshots")
                f.sync.snapshot(msgspec.json.decode(body)["lastUpdateId"], [], [])
                if not f.sync.gap:
                    return
            await asyncio.sleep(RECONNECT_SECS if not ok else 0.1)

    def close(self) -> list[SymbolFile]:
        """The files that recorded something, closed and renamed (the others removed)."""
        return [f for f in self.files.values() if f.close()]


def run_record(job: RecordJob, say: Callable[[str], None]) -> tuple[list[SymbolFile], int | None]:
    """Record until the duration ends or SIGINT/SIGTERM; the files closed and renamed whatever ends it."""
    recorder = Recorder(job, say)
    try:
        asyncio.run(recorder.run())
    finally:
        files = recorder.close()
    return files, recorder.stopped_by
