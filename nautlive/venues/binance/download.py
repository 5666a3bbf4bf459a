"""`nautlive data download`: a profile's (or the given) symbols' OHLCV bars into one file each, resumable.

What is missing from the file (before its first bar, after its last) is fetched in pieces, oldest first: whole
finished months from the archive's monthly zip, whole finished days from its daily zip (a month the archive lacks
falls back to its days, a day to REST), the rest from REST. The file is rewritten (atomically) every few seconds and
at the end, so a killed download resumes where the file ends. Gaps in what the venue has are reported, never filled;
bars seen twice are kept once and counted.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from nautlive.data.klines import DAY, Gap, Row, gaps, iso
from nautlive.data.store import file_name, read_rows, write_rows
from nautlive.venues.binance.archive import RETRIES, Fetcher, day_path, month_path

SAVE_EVERY = 5.0  # seconds between rewrites of the file while a symbol downloads


@dataclass(frozen=True)
class Piece:
    """[start_ms, end_ms) from one source: "month" or "day" (the archive), or "rest"."""

    kind: str
    start_ms: int
    end_ms: int

    @property
    def label(self) -> str:
        day = datetime.fromtimestamp(self.start_ms / 1000, UTC)
        if self.kind == "month":
            return day.strftime("%Y-%m")
        if self.kind == "day":
            return day.strftime("%Y-%m-%d")
        return f"{iso(self.start_ms)}..{iso(self.end_ms)}"


@dataclass
class Result:
    symbol: str
    path: Path
    bars: int = 0
    first_ms: int | None = None
    last_ms: int | None = None
    from_archive: int = 0
    from_rest: int = 0
    duplicates: int = 0
    gaps: list[Gap] = field(default_factory=list)


@dataclass(frozen=True)
class Job:
    symbols: list[str]
    interval: str
    step_ms: int
    start_ms: int
    end_ms: int
    out: Path
    fmt: str


def _month_end(ms: int) -> int:
    moment = datetime.fromtimestamp(ms / 1000, UTC)
    year, month = (moment.year + 1, 1) if moment.month == 12 else (moment.year, moment.month + 1)
    return int(datetime(year, month, 1, tzinfo=UTC).timestamp() * 1000)


def _is_month_start(ms: int) -> bool:
    return ms % DAY == 0 and datetime.fromtimestamp(ms / 1000, UTC).day == 1


def plan(start_ms: int, end_ms: int, now_ms: int) -> list[Piece]:
    """Pieces covering [start_ms, end_ms): finished whole months and days from the archive, the rest from REST."""
    pieces: list[Piece] = []
    cursor = start_ms
    while cursor < end_ms:
        if _is_month_start(cursor) and (stop := _month_end(cursor)) <= min(end_ms, now_ms):
            piece = Piece("month", cursor, stop)
        elif cursor % DAY == 0 and cursor + DAY <= min(end_ms, now_ms):
            piece = Piece("day", cursor, cursor + DAY)
        else:
            piece = Piece("rest", cursor, min(end_ms, (cursor // DAY + 1) * DAY))
        if piece.kind == "rest" and pieces and pieces[-1].kind == "rest":
            piece = Piece("rest", pieces.pop().start_ms, piece.end_ms)
        pieces.append(piece)
        cursor = piece.end_ms
    return pieces


def missing(rows: list[Row], start_ms: int, end_ms: int, step_ms: int) -> list[tuple[int, int]]:
    """The ranges of [start_ms, end_ms) before the file's first bar and after its last."""
    if not rows:
        return [(start_ms, end_ms)] if start_ms < end_ms else []
    out = []
    if start_ms < rows[0][0]:
        out.append((start_ms, min(rows[0][0], end_ms)))
    if rows[-1][0] + step_ms < end_ms:
        out.append((max(rows[-1][0] + step_ms, start_ms), end_ms))
    return [(a, b) for a, b in out if a < b]


class _Bars:
    """A file's rows by open time; bars seen again are counted, the first kept."""

    def __init__(self, rows: list[Row]) -> None:
        self.by_time = {r[0]: r for r in rows}
        self.duplicates = len(rows) - len(self.by_time)

    def add(self, rows: list[Row], start_ms: int, end_ms: int) -> int:
        added = 0
        for row in rows:
            if not start_ms <= row[0] < end_ms:
                continue
            if row[0] in self.by_time:
                self.duplicates += 1
            else:
                self.by_time[row[0]] = row
                added += 1
        return added

    def rows(self) -> list[Row]:
        return [self.by_time[t] for t in sorted(self.by_time)]


Progress = Callable[[str, Piece, str, int], None]  # symbol, piece, source ("archive", "REST", "none"), bars added


async def check_symbols(fetcher: Fetcher, symbols: list[str], interval: str) -> None:
    """Ask REST for one bar of each symbol first: an unknown symbol or interval is one line and exit 2, before any
    file is touched."""
    for symbol in symbols:
        await fetcher.klines(symbol, interval, limit=1)


async def download_symbol(fetcher: Fetcher, job: Job, symbol: str, now_ms: int, progress: Progress) -> Result:
    path = job.out / file_name(symbol, job.interval, job.fmt)
    bars = _Bars(read_rows(path))
    result = Result(symbol, path)
    end_ms = min(job.end_ms, now_ms // job.step_ms * job.step_ms)  # bars still open are not history yet
    saved_at, dirty = time.monotonic(), False
    queue = [p for a, b in missing(bars.rows(), job.start_ms, end_ms, job.step_ms) for p in plan(a, b, now_ms)]
    try:
        while queue:
            piece = queue.pop(0)
            fallback, source, added = await _fetch(fetcher, job, symbol, piece, bars)
            if fallback:
                queue[:0] = fallback
                continue
            result.from_archive += added if source == "archive" else 0
            result.from_rest += added if source == "REST" else 0
            dirty = dirty or added > 0
            progress(symbol, piece, source, added)
            if dirty and time.monotonic() - saved_at >= SAVE_EVERY:
                write_rows(path, bars.rows())
                saved_at, dirty = time.monotonic(), False
    finally:  # an error or Ctrl-C keeps the whole pieces fetched so far: the next run goes on from them
        rows = bars.rows()
        if dirty:
            write_rows(path, rows)
    result.bars, result.duplicates = len(rows), bars.duplicates
    if rows:
        result.first_ms, result.last_ms = rows[0][0], rows[-1][0]
        inside = [r for r in rows if job.start_ms <= r[0] < end_ms]
        result.gaps = gaps(inside, job.step_ms, job.start_ms, end_ms) if inside else []
    return result


async def _fetch(fetcher: Fetcher, job: Job, symbol: str, piece: Piece, bars: _Bars) \
        -> tuple[list[Piece], str, int]:
    """(pieces to fetch instead, source, bars added)."""
    if piece.kind == "month":
        moment = datetime.fromtimestamp(piece.start_ms / 1000, UTC)
        rows = await fetcher.archive(month_path(symbol, job.interval, moment.year, moment.month))
        if rows is None:
            return [Piece("day", t, t + DAY) for t in range(piece.start_ms, piece.end_ms, DAY)], "", 0
        return [], "archive", bars.add(rows, piece.start_ms, piece.end_ms)
    if piece.kind == "day":
        day = date(1970, 1, 1) + timedelta(milliseconds=piece.start_ms)
        rows = await fetcher.archive(day_path(symbol, job.interval, day))
        if rows is None:
            return [Piece("rest", piece.start_ms, piece.end_ms)], "", 0
        return [], "archive", bars.add(rows, piece.start_ms, piece.end_ms)
    rows = await fetcher.rest(symbol, job.interval, piece.start_ms, piece.end_ms)
    return [], "REST", bars.add(rows, piece.start_ms, piece.end_ms)


async def download(job: Job, archive_url: str, rest_url: str, say: Callable[[str], None], progress: Progress,
                   now_ms: int | None = None) -> list[Result]:
    fetcher = Fetcher(archive_url, rest_url, say)
    try:
        fetcher.retries = 0  # an unreachable venue at the first request is said at once
        await check_symbols(fetcher, job.symbols, job.interval)
        fetcher.retries = RETRIES
        now = now_ms if now_ms is not None else int(time.time() * 1000)
        return [await download_symbol(fetcher, job, s, now, progress) for s in job.symbols]
    finally:
        await fetcher.close()


def run_download(job: Job, archive_url: str, rest_url: str, say: Callable[[str], None], progress: Progress) \
        -> list[Result]:
    return asyncio.run(download(job, archive_url, rest_url, say, progress))
