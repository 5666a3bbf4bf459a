"""`nautlive data download`: a profile's (or the given) symbols' OHLCV bars into one file each, resumable.

What is missing from the file (before its first bar, between two bars, after its last) is fetched in pieces, oldest
first, from the venue's Source (`Venue.downloader`): for Binance (venues/binance/download.py) whole finished months
from the archive's monthly zip, whole finished days from its daily zip (a month the archive lacks falls back to its
days, a day to REST), the rest from REST; for IB (venues/ibkr/history.py) reqHistoricalData in chunks IB's duration
limits allow. The file is rewritten (atomically) every few seconds and at the end, so a killed download resumes where
the file ends. Gaps in what the venue has are reported, never filled (a re-run asks for them again); bars seen twice
are kept once and counted.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Protocol

from nautlive.data.klines import Gap, Row, gaps, iso
from nautlive.data.store import file_name, read_rows, write_rows

SAVE_EVERY = 5.0  # seconds between rewrites of the file while a symbol downloads


@dataclass(frozen=True)
class Piece:
    """[start_ms, end_ms) from one source: "month" or "day" (the archive), "rest", or "ib" (reqHistoricalData)."""

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
    added: dict[str, int] = field(default_factory=dict)  # new bars by source ("archive", "REST", "IB")
    added_text: str = ""  # the same, as the venue's source says it
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


def missing(rows: list[Row], start_ms: int, end_ms: int, step_ms: int) -> list[tuple[int, int]]:
    """The ranges of [start_ms, end_ms) the file has no bar for: before its first bar, between two bars (a gap: a
    download stopped there, or the venue had nothing then and is asked again), after its last."""
    inside = [r for r in rows if start_ms <= r[0] < end_ms]
    if not inside:
        return [(start_ms, end_ms)] if start_ms < end_ms else []
    return [(max(g.first_ms, start_ms), min(g.last_ms + step_ms, end_ms)) for g in gaps(inside, step_ms, start_ms,
                                                                                      end_ms)]


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


Progress = Callable[[str, Piece, str, int], None]  # symbol, piece, source ("archive", "REST", "IB", "none"), added


class Source(Protocol):
    """Where a venue's bars come from (BinanceSource: the archive and REST; the IB one: reqHistoricalData)."""

    async def start(self, symbols: list[str]) -> None:
        """Connect, and check every symbol: an unknown one is a ConfigError (exit 2) before any file is touched."""

    def pieces(self, start_ms: int, end_ms: int, now_ms: int) -> list[Piece]:
        """[start_ms, end_ms) in the pieces it is fetched by, oldest first."""

    async def fetch(self, symbol: str, piece: Piece) -> tuple[list[Piece], str, list[Row]]:
        """(pieces to fetch instead, source name, rows)."""

    def describe(self, added: dict[str, int]) -> str:
        """New bars by source, as the summary line says it."""

    async def close(self) -> None: ...


async def download_symbol(source: Source, job: Job, symbol: str, now_ms: int, progress: Progress) -> Result:
    path = job.out / file_name(symbol, job.interval, job.fmt)
    bars = _Bars(read_rows(path))
    result = Result(symbol, path)
    end_ms = min(job.end_ms, now_ms // job.step_ms * job.step_ms)  # bars still open are not history yet
    saved_at, dirty = time.monotonic(), False
    queue = [p for a, b in missing(bars.rows(), job.start_ms, end_ms, job.step_ms)
             for p in source.pieces(a, b, now_ms)]
    try:
        while queue:
            piece = queue.pop(0)
            fallback, name, rows = await source.fetch(symbol, piece)
            if fallback:
                queue[:0] = fallback
                continue
            added = bars.add(rows, piece.start_ms, piece.end_ms)
            result.added[name] = result.added.get(name, 0) + added
            dirty = dirty or added > 0
            progress(symbol, piece, name, added)
            if dirty and time.monotonic() - saved_at >= SAVE_EVERY:
                write_rows(path, bars.rows())
                saved_at, dirty = time.monotonic(), False
    finally:  # an error or Ctrl-C keeps the whole pieces fetched so far: the next run goes on from them
        rows = bars.rows()
        if dirty:
            write_rows(path, rows)
    result.bars, result.duplicates = len(rows), bars.duplicates
    result.added_text = source.describe(result.added)
    if rows:
        result.first_ms, result.last_ms = rows[0][0], rows[-1][0]
        inside = [r for r in rows if job.start_ms <= r[0] < end_ms]
        result.gaps = gaps(inside, job.step_ms, job.start_ms, end_ms) if inside else []
    return result


async def download(job: Job, source: Source, progress: Progress, now_ms: int | None = None) -> list[Result]:
    try:
        await source.start(job.symbols)
        now = now_ms if now_ms is not None else int(time.time() * 1000)
        return [await download_symbol(source, job, s, now, progress) for s in job.symbols]
    finally:
        await source.close()


def run_download(job: Job, source: Source, progress: Progress) -> list[Result]:
    return asyncio.run(download(job, source, progress))
