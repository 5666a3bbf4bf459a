"""Reading drift logs into numpy columns: the logs named (files and globs, plain or gzip, so rotated logs read as
one), what the cache already holds of each, and the rest in line-aligned chunks decoded with msgspec (in parallel
processes for big logs), bad lines counted; then the fills that match the command line's filters."""

from __future__ import annotations

import gzip
import os
import zlib
from collections.abc import Sequence
from glob import glob
from operator import attrgetter
from pathlib import Path

import msgspec
import numpy as np

from nautlive.errors import ConfigError
from nautlive.report import cache, slots
from nautlive.report.columns import CATEGORIES, Codes, DriftColumns, Filters, Piece, concat, select
from nautlive.report.decode import DECODER, Fill, decode_lines, utc_times

DEFAULT_LOG = Path("artifacts/logs/live/drift.log")
CHUNK_BYTES = 4 << 20  # bigger chunks cost more page faults than they save in calls
PARALLEL_MIN_BYTES = 64 << 20
GZIP_MAGIC = b"\x1f\x8b"
PARENT_MARK = b'"parent_order_id"'  # in the lines of writers since the execution styles


class _Task(msgspec.Struct, frozen=True):
    """Decode bytes [start, end) of a log; `tail`: the range ends the file (its last line may be cut short)."""

    source: int
    path: str
    start: int
    end: int
    gz: bool
    tail: bool


class _Log(msgspec.Struct):
    """One log: what the cache holds of it (`meta`), and the ranges left to decode (`end`: the offset the cache may
    cover next)."""

    source: int
    path: Path
    stat: os.stat_result
    gz: bool
    use_cache: bool
    meta: cache.Meta | None
    end: int
    tasks: list[_Task]


def read_drift_log(paths: Sequence[Path | str], filters: Filters = Filters(), use_cache: bool = True) -> DriftColumns:
    """The fills of the drift logs (paths or globs) that match `filters`; none is a valid answer (a day without
    trades). With `use_cache`, what the cache holds of a log is not decoded again, and the cache learns the rest.

    ConfigError for a missing file, or for a file none of whose lines is a fill while some are not (not a drift log).
    """
    logs = [_plan(source, path, use_cache) for source, path in enumerate(log_files(paths))]
    pieces = [_finish(log, new) for log, new in zip(logs, _decode(logs), strict=True)]
    _check_each_has_fills(logs, pieces)
    columns = concat([str(log.path) for log in logs], [p for mine in pieces for p in mine])
    del pieces  # the pieces' many small arrays, freed before filtering allocates: the heap shrinks back
    return select(columns, filters)


def log_files(patterns: Sequence[Path | str]) -> list[Path]:
    """The files named, globs expanded (sorted), each file once (by inode: a path given twice or via a link)."""
    files, seen = [], set()
    for pattern in map(str, patterns):
        matches = sorted(glob(pattern)) if any(c in pattern for c in "*?[") else [pattern]
        if not matches:
            raise ConfigError(f"no drift log matches {pattern} (pass --log PATH; shadow and live sessions write one)")
        for path in map(Path, matches):
            if not path.is_file():
                raise ConfigError(f"drift log not found: {path} (pass --log PATH; shadow and live sessions write one)")
            stat = path.stat()
            if (stat.st_dev, stat.st_ino) not in seen:
                seen.add((stat.st_dev, stat.st_ino))
                files.append(path)
    return files


def _plan(source: int, path: Path, use_cache: bool) -> _Log:
    """What is left to decode of one log; sizes are taken once, so a log still being written is fine."""
    stat = path.stat()
    with open(path, "rb") as f:
        gz = f.read(2) == GZIP_MAGIC
    use_cache = use_cache and stat.st_size >= cache.MIN_BYTES
    meta = cache.load(path, stat, gz) if use_cache else None
    if gz:
        tasks = [] if meta is not None else [_Task(source, str(path), 0, stat.st_size, True, True)]
        return _Log(source, path, stat, gz, use_cache, meta, stat.st_size, tasks)
    start = meta.end if meta is not None else 0
    end = complete_end(path, start, stat.st_size)
    tasks = [_Task(source, str(path), a, b, False, False) for a, b in line_aligned_ranges(path, start, end, CHUNK_BYTES)]
    if end < stat.st_size:  # a last line without its newline: cut short by a crash, or being written
        tasks.append(_Task(source, str(path), end, stat.st_size, False, True))
    return _Log(source, path, stat, gz, use_cache, meta, end, tasks)


def _decode(logs: list[_Log]) -> list[list[Piece]]:
    """The pieces of each log's tasks, all logs' tasks decoded together."""
    tasks = [task for log in logs for task in log.tasks]
    owners = [i for i, log in enumerate(logs) for _ in log.tasks]
    per_log: list[list[Piece]] = [[] for _ in logs]
    for owner, piece in zip(owners, _read_ranges(tasks, sum(t.end - t.start for t in tasks)), strict=True):
        per_log[owner].append(piece)
    return per_log


def _finish(log: _Log, new: list[Piece]) -> list[Piece]:
    """A log's fills: what the cache holds (told what was decoded now) and a last line not yet complete."""
    if not log.use_cache:
        return new
    complete = [p for p, t in zip(new, log.tasks, strict=True) if t.gz or not t.tail]
    saved = cache.save(log.path, log.stat, log.gz, log.meta, complete, log.end) if complete else log.meta
    meta, rest = (saved, new[len(complete) :]) if saved is not None else (log.meta, new)
    if meta is None:
        return rest
    stored = cache.columns(log.stat, meta, log.source)
    if stored is None:  # another run rebuilt the cache while this one read it
        return _decode([_plan(log.source, log.path, use_cache=False)])[0]
    return [stored, *rest]


def complete_end(path: Path, start: int, size: int) -> int:
    """The offset just after the last newline in [start, size) of the file; `start` when there is none."""
    block = 1 << 16
    with open(path, "rb") as f:
        end = size
        while end > start:
            begin = max(start, end - block)
            f.seek(begin)
            at = f.read(end - begin).rfind(b"\n")
            if at >= 0:
                return begin + at + 1
            end = begin
    return start


def line_aligned_ranges(path: Path, start: int, end: int, chunk: int) -> list[tuple[int, int]]:
    """Byte ranges of about `chunk` bytes that start at line starts and together cover [start, end)."""
    bounds = [start]
    with open(path, "rb") as f:
        while bounds[-1] + chunk < end:
            f.seek(bounds[-1] + chunk)
            f.readline()  # the line straddling the nominal boundary stays in the range before it
            if f.tell() >= end:
                break
            bounds.append(f.tell())
    bounds.append(end)
    return [(a, b) for a, b in zip(bounds, bounds[1:], strict=False) if b > a]


def _check_each_has_fills(logs: list[_Log], pieces: list[list[Piece]]) -> None:
    """ConfigError for a log with malformed lines and not one fill: not a drift log (a wrong --log path)."""
    for log, mine in zip(logs, pieces, strict=True):
        if not sum(map(len, mine)) and sum(p.malformed for p in mine):
            raise ConfigError(f"not a drift log: {log.path}: none of its lines is a fill "
                              f"({sum(p.malformed for p in mine)} malformed line(s))")


def _read_ranges(tasks: list[_Task], total_bytes: int) -> list[Piece]:
    workers = min(len(os.sched_getaffinity(0)), len(tasks))
    if total_bytes < PARALLEL_MIN_BYTES or workers < 2:
        return [_read_range(task) for task in tasks]
    import multiprocessing

    def pool_map(work, jobs):  # noqa: ANN001, ANN202
        # fork: the children inherit the imported modules and the shared slots, so a worker starts in milliseconds
        with multiprocessing.get_context("fork").Pool(workers) as pool:
            return pool.map(work, jobs, chunksize=1)

    sizes = [None if task.gz else task.end - task.start for task in tasks]
    return slots.map_into_slots(pool_map, _read_range, tasks, sizes)


def _read_range(task: _Task) -> Piece:
    body = _gunzip(task.path) if task.gz else _chunk.read(task.path, task.start, task.end)
    fills, offsets = _decode_whole(body)
    if fills is not None:
        return _piece(task.source, fills, task.start + offsets, 0, any(map(attrgetter("parent_order_id"), fills)))
    text = bytes(body)
    fills, offsets, malformed = _decode_each_line(text, task.tail)
    # a line that is not a fill may still be one the parent figures take
    return _piece(task.source, fills, task.start + offsets, malformed, PARENT_MARK in text)


class _ChunkBuffer:
    """The memory this process reads chunks into, reused: a new 4 MB buffer per chunk costs more (its pages are
    faulted in anew) than the read itself. What is decoded from a chunk never refers to it."""

    def __init__(self) -> None:
        self.memory = bytearray()

    def read(self, path: str, start: int, end: int) -> memoryview:
        """Bytes [start, end) of the file (fewer if it is shorter now), valid until the next read."""
        if len(self.memory) < end - start:
            self.memory = bytearray(end - start)  # not resized: a view of the old one may be alive
        view = memoryview(self.memory)[: end - start]
        with open(path, "rb") as f:
            f.seek(start)
            return view[: f.readinto(view)]


_chunk = _ChunkBuffer()


def _gunzip(path: str) -> bytes:
    try:
        with gzip.open(path, "rb") as f:
            return f.read()
    except (OSError, EOFError, zlib.error) as exc:
        raise ConfigError(f"drift log {path}: not a readable gzip file ({exc})") from None


def read_lines(path: str, offsets: Sequence[int]) -> list[bytes]:
    """The lines of a log that start at `offsets` (offsets in the decompressed text of a gzip file)."""
    with open(path, "rb") as f:
        gz = f.read(2) == GZIP_MAGIC
        f.seek(0)
        opened = gzip.open(f) if gz else f
        lines = {}
        for offset in sorted(offsets):  # a gzip file seeks forward cheaply only
            opened.seek(offset)
            lines[offset] = opened.readline()
    return [lines[offset] for offset in offsets]


def _decode_whole(body: bytes | memoryview) -> tuple[list[Fill] | None, np.ndarray]:
    """All lines of `body` in one decode with their offsets, or (None, _) if a line is malformed, blank or double."""
    starts = np.flatnonzero(np.frombuffer(body, np.uint8) == ord("\n")) + 1
    starts = np.concatenate(([0], starts[starts < len(body)]))
    try:
        fills = decode_lines(body)
    except msgspec.DecodeError:
        return None, starts
    # decode_lines skips blank lines and accepts two objects on one line: rows would no longer match lines
    return (fills, starts) if len(fills) == len(starts) else (None, starts)


def _decode_each_line(body: bytes, tail: bool) -> tuple[list[Fill], np.ndarray, int]:
    """Good lines of a chunk that failed whole, their offsets, and the count of bad lines.

    When `body` ends the file, a bad last line without a newline is a write cut short by a crash (or still being
    written) and is not counted.
    """
    lines = body.split(b"\n")
    fills, offsets, malformed, position = [], [], 0, 0
    for i, line in enumerate(lines):
        if line.strip():
            try:
                fills.append(DECODER.decode(line))
                offsets.append(position)
            except msgspec.DecodeError:
                malformed += not (tail and i == len(lines) - 1)
        position += len(line) + 1
    return fills, np.array(offsets, dtype=np.int64), malformed


def _floats(fills: list[Fill], name: str) -> np.ndarray:
    """A float field of every fill; None (not logged) becomes NaN."""
    values = list(map(attrgetter(name), fills))
    if values.count(None) == len(values):  # a field older writers do not log: no conversion per line
        return np.full(len(values), np.nan)
    return np.array(values, dtype=np.float64)


def _piece(source: int, fills: list[Fill], offsets: np.ndarray, malformed: int, names_parents: bool) -> Piece:
    n = len(fills)
    kinds = Codes()
    kind = np.fromiter(map(kinds.__getitem__, map(attrgetter(*CATEGORIES), fills)), np.int32, n)
    ts = utc_times(list(map(attrgetter("ts"), fills)))
    notional = np.fromiter(map(attrgetter("notional"), fills), np.float64, n)
    drift, fee = _floats(fills, "drift_bps"), _floats(fills, "fee_quote")
    bid, ask = _floats(fills, "bid_at_submit"), _floats(fills, "ask_at_submit")
    alert = np.fromiter(map(attrgetter("alert"), fills), np.bool_, n)
    good = ~np.isnat(ts) & np.isfinite(notional) & ~np.isinf(drift) & ~np.isinf(fee) & ~np.isinf(bid) & ~np.isinf(ask)
    arrays = {"kind": kind, "ts": ts, "notional": notional, "drift_bps": drift, "fee_quote": fee, "bid": bid,
              "ask": ask, "alert": alert, "offset": offsets}
    if not good.all():
        arrays = {name: values[good] for name, values in arrays.items()}
    return Piece(source, list(kinds), malformed=malformed + int(n - good.sum()), names_parents=names_parents,
                 **arrays)
