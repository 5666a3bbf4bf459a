"""`nautlive data download`: a profile's (or the given) symbols' OHLCV bars into one file each, resumable.

What is missing from the file (before its first bar, between two bars, after its last) is fetched in pieces, oldest
first, from the venue's Source (`Venue.downloader`): for Binance (venues/binance/download.py) whole finished months
from the archive's monthly zip, whole finished days from its daily zip (a month the archive lacks falls back to its
days, a day to REST), the rest from REST; for IB (venues/ibkr/history.py) reqHistoricalData in chunks IB's duration
limits allow. The file is rewritten (atomically) every few seconds and at the end, each time with a record of the pieces
the venue answered (nautlive.data.fetched), so a killed download resumes with what it never fetched, and a re-run asks
for nothing the venue already answered, bars or none. Gaps in what the venue has are reported (for a venue with
trading hours, such as IB, the market closed: one line), never filled; bars seen twice are kept once and counted.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Protocol

from nautlive.data.fetched import Ranges, merged, read_fetched, without, write_fetched
from nautlive.data.klines import Gap, Row, gaps, iso
from nautlive.data.store import file_name, read_rows, write_rows

SAVE_EVERY = 5.0  # seconds between rewrites of the file while a symbol downloads
# The last hour is never recorded as fetched: a venue may still publish its latest bars late, so a re-run asks again.
SETTLING_MS = 3_600_000


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
    gaps: list[Gap] = field(default_factory=list)  # never fetched: a download stopped before them
    empty: list[Gap] = field(default_factory=list)  # fetched, and the venue had no bars then
    sessions: bool = False  # the venue trades in sessions: what it answered empty is the market closed


@dataclass(frozen=True)
class Job:
    symbols: list[str]
    interval: str
    step_ms: int
    start_ms: int
    end_ms: int
    out: Path
    fmt: str


def missing(rows: list[Row], start_ms: int, end_ms: int, step_ms: int, fetched: Ranges | None = None) -> Ranges:
    """The ranges of [start_ms, end_ms) the file has no bar for (before its first bar, between two bars, after its
    last) and that were never `fetched` (a gap in a fetched range is the venue having had nothing then)."""
    inside = [r for r in rows if start_ms <= r[0] < end_ms]
    if not inside:
        holes = [(start_ms, end_ms)] if start_ms < end_ms else []
    else:
        holes = [(max(g.first_ms, start_ms), min(g.last_ms + step_ms, end_ms))
                 for g in gaps(inside, step_ms, start_ms, end_ms)]
    return without(holes, merged(fetched or []))


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


class _File:
    """A bar file being extended and the ranges fetched into it, saved together: the bars first, then the record."""

    def __init__(self, path: Path) -> None:
        rows = read_rows(path)
        self.path, self.bars, self.fetched = path, _Bars(rows), read_fetched(path, rows)
        self.new_bars = self.unsaved = False

    def add(self, piece: Piece, rows: list[Row], settled_ms: int) -> int:
        """Keep the piece's bars; record it as fetched up to `settled_ms` (what came later may still change)."""
        added = self.bars.add(rows, piece.start_ms, piece.end_ms)
        if piece.start_ms < settled_ms:
            self.fetched = merged([*self.fetched, (piece.start_ms, min(piece.end_ms, settled_ms))])
        self.new_bars, self.unsaved = self.new_bars or added > 0, True
        return added

    def save(self) -> None:
        rows = self.bars.rows()
        if self.new_bars:
            write_rows(self.path, rows)
        if rows:  # no file, no record: "nothing written" stays true and a re-run asks again
            write_fetched(self.path, rows, self.fetched)
        self.new_bars = self.unsaved = False


Progress = Callable[[str, Piece, str, int], None]  # symbol, piece, source ("archive", "REST", "IB", "none"), added


class Source(Protocol):
    """Where a venue's bars come from (BinanceSource: the archive and REST; the IB one: reqHistoricalData)."""

    trades_in_sessions: bool  # IB: nights and weekends without bars are normal; Binance trades around the clock

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
    file = _File(job.out / file_name(symbol, job.interval, job.fmt))
    result = Result(symbol, file.path, sessions=source.trades_in_sessions)
    end_ms = min(job.end_ms, now_ms // job.step_ms * job.step_ms)  # bars still open are not history yet
    saved_at = time.monotonic()
    queue = [p for a, b in missing(file.bars.rows(), job.start_ms, end_ms, job.step_ms, file.fetched)
             for p in source.pieces(a, b, now_ms)]
    try:
        while queue:
            piece = queue.pop(0)
            fallback, name, rows = await source.fetch(symbol, piece)
            if fallback:
                queue[:0] = fallback
                continue
            added = file.add(piece, rows, now_ms - SETTLING_MS)
            result.added[name] = result.added.get(name, 0) + added
            progress(symbol, piece, name, added)
            if file.unsaved and time.monotonic() - saved_at >= SAVE_EVERY:
                file.save()
                saved_at = time.monotonic()
    finally:  # an error or Ctrl-C keeps the whole pieces fetched so far: the next run goes on from them
        if file.unsaved:
            file.save()
    rows = file.bars.rows()
    result.bars, result.duplicates = len(rows), file.bars.duplicates
    result.added_text = source.describe(result.added)
    if rows:
        result.first_ms, result.last_ms = rows[0][0], rows[-1][0]
        inside = [r for r in rows if job.start_ms <= r[0] < end_ms]
        for gap in gaps(inside, job.step_ms, job.start_ms, end_ms) if inside else []:
            answered = not without([(gap.first_ms, gap.last_ms + job.step_ms)], file.fetched)
            (result.empty if answered else result.gaps).append(gap)
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
