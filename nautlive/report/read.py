"""Reading drift logs into numpy columns: line-aligned chunks decoded with msgspec (in parallel processes for big
logs), bad lines counted, then the fills that match the command line's filters."""

from __future__ import annotations

import os
from collections.abc import Sequence
from datetime import UTC, datetime
from operator import attrgetter
from pathlib import Path
from typing import Any

import msgspec
import numpy as np

from nautlive.errors import ConfigError
from nautlive.report.decode import DECODER, Fill, decode_lines, utc_times

DEFAULT_LOG = Path("artifacts/logs/live/drift.log")
MODES = ("shadow", "live", "backtest")
CATEGORIES = ("venue", "mode", "instrument", "side", "session")
CHUNK_BYTES = 4 << 20  # bigger chunks cost more page faults than they save in calls
PARALLEL_MIN_BYTES = 64 << 20


class Filters(msgspec.Struct, frozen=True):
    """Which fills to report: a time window [since, until) in UTC and matches on log columns.

    venue_id matches the log's `venue` column regardless of case; the others match exactly.
    """

    since: datetime | None = None
    until: datetime | None = None
    venue_id: str | None = None
    mode: str | None = None
    instrument: str | None = None
    session: str | None = None


class FillKind(msgspec.Struct, frozen=True):
    """The categorical columns of a fill; a log has few distinct kinds, so rows carry an index into a list of them."""

    venue: str
    mode: str
    instrument: str
    side: str
    session: str


class DriftColumns(msgspec.Struct, frozen=True):
    """Fills as parallel numpy arrays; `kind` indexes `kinds`.

    `source` (index into `paths`) and `offset` (byte offset of the line) let the report re-read a few full lines.
    `fills_in_logs` counts the fills read before the filters were applied.
    """

    paths: list[str]
    kinds: list[FillKind]
    kind: np.ndarray  # int32
    ts: np.ndarray  # datetime64[us], UTC
    notional: np.ndarray  # float64, quote currency
    drift_bps: np.ndarray  # float64, positive = cost, NaN where the line logged none
    fee_quote: np.ndarray  # float64, quote currency, NaN where the fee is unknown (no fee_quote logged)
    alert: np.ndarray  # bool
    source: np.ndarray  # int32
    offset: np.ndarray  # int64
    malformed: int
    fills_in_logs: int = 0

    def __len__(self) -> int:
        return len(self.drift_bps)


ROW_ARRAYS = ("kind", "ts", "notional", "drift_bps", "fee_quote", "alert", "source", "offset")


class _Piece(msgspec.Struct, frozen=True):
    """The fills of one byte range of one file; `kind` indexes this piece's own `kinds`."""

    source: int
    kinds: list[tuple[str, ...]]
    kind: np.ndarray
    ts: np.ndarray
    notional: np.ndarray
    drift_bps: np.ndarray
    fee_quote: np.ndarray
    alert: np.ndarray
    offset: np.ndarray
    malformed: int


class _Codes(dict):
    """Label -> dense int code, assigning the next code to a label seen for the first time."""

    def __missing__(self, label: Any) -> int:
        code = self[label] = len(self)
        return code


def parse_filters(
    since: str | None = None,
    until: str | None = None,
    venue_id: str | None = None,
    mode: str | None = None,
    instrument: str | None = None,
    session: str | None = None,
) -> Filters:
    """Filters from command-line text; a bad time or mode is a ConfigError."""
    if mode is not None and mode not in MODES:
        raise ConfigError(f"--mode must be one of {', '.join(MODES)}, got {mode!r}")
    return Filters(_parse_time("--since", since), _parse_time("--until", until), venue_id, mode, instrument, session)


def _parse_time(option: str, text: str | None) -> datetime | None:
    if text is None:
        return None
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise ConfigError(f"{option}: expected an ISO-8601 time like 2026-11-24T12:00:00Z, got {text!r}") from None
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


def read_drift_log(paths: Sequence[Path | str], filters: Filters = Filters()) -> DriftColumns:
    """The fills of the drift logs that match `filters`; none is a valid answer (a day without trades).

    ConfigError for a missing file, or for a file none of whose lines is a fill while some are not (not a drift log).
    """
    paths = [Path(p) for p in paths]
    for path in paths:
        if not path.is_file():
            raise ConfigError(f"drift log not found: {path} (pass --log PATH; shadow and live sessions write one)")
    tasks = []  # (source, path, start, end, at_file_end); sizes are taken once, so a log still being written is fine
    for source, path in enumerate(paths):
        ranges = line_aligned_ranges(path, CHUNK_BYTES)
        tasks += [(source, str(path), start, end, i == len(ranges) - 1) for i, (start, end) in enumerate(ranges)]
    pieces = _read_ranges(tasks, sum(end - start for _, _, start, end, _ in tasks))
    _check_each_has_fills(paths, pieces)
    columns = _concat([str(p) for p in paths], pieces)
    del pieces  # the pieces' many small arrays, freed before filtering allocates: the heap shrinks back (~30 MB)
    return _select(columns, _filter_mask(columns, filters))


def _check_each_has_fills(paths: list[Path], pieces: list[_Piece]) -> None:
    """ConfigError for a log with malformed lines and not one fill: not a drift log (a wrong --log path)."""
    fills, malformed = [0] * len(paths), [0] * len(paths)
    for piece in pieces:
        fills[piece.source] += len(piece.offset)
        malformed[piece.source] += piece.malformed
    for path, n, bad in zip(paths, fills, malformed, strict=True):
        if bad and not n:
            raise ConfigError(f"not a drift log: {path}: none of its lines is a fill ({bad} malformed line(s))")


def line_aligned_ranges(path: Path, chunk: int) -> list[tuple[int, int]]:
    """Byte ranges of about `chunk` bytes that start at line starts and together cover the file."""
    size = path.stat().st_size
    bounds = [0]
    with open(path, "rb") as f:
        while bounds[-1] + chunk < size:
            f.seek(bounds[-1] + chunk)
            f.readline()  # the line straddling the nominal boundary stays in the range before it
            if f.tell() >= size:
                break
            bounds.append(f.tell())
    bounds.append(size)
    return list(zip(bounds, bounds[1:], strict=False))



def _read_ranges(tasks: list[tuple], total_bytes: int) -> list[_Piece]:
    workers = min(len(os.sched_getaffinity(0)), len(tasks))
    if total_bytes < PARALLEL_MIN_BYTES or workers < 2:
        return [_read_range(task) for task in tasks]
    import multiprocessing

    # fork: the children inherit the imported modules, so a worker starts in milliseconds
    with multiprocessing.get_context("fork").Pool(workers) as pool:
        return pool.map(_read_range, tasks, chunksize=1)


def _read_range(task: tuple) -> _Piece:
    source, path, start, end, at_file_end = task
    with open(path, "rb") as f:
        f.seek(start)
        body = f.read(end - start)
    fills, offsets = _decode_whole(body)
    malformed = 0
    if fills is None:
        fills, offsets, malformed = _decode_each_line(body, at_file_end)
    return _piece(source, fills, start + offsets, malformed)


def _decode_whole(body: bytes) -> tuple[list[Fill] | None, np.ndarray]:
    """All lines of `body` in one decode with their offsets, or (None, _) if a line is malformed, blank or double."""
    starts = np.flatnonzero(np.frombuffer(body, np.uint8) == ord("\n")) + 1
    starts = np.concatenate(([0], starts[starts < len(body)]))
    try:
        fills = decode_lines(body)
    except msgspec.DecodeError:
        return None, starts
    # decode_lines skips blank lines and accepts two objects on one line: rows would no longer match lines
    return (fills, starts) if len(fills) == len(starts) else (None, starts)


def _decode_each_line(body: bytes, at_file_end: bool) -> tuple[list[Fill], np.ndarray, int]:
    """Good lines of a chunk that failed whole, their offsets, and the count of bad lines.

    A bad last line of the file is a write cut short by a crash and is not counted.
    """
    lines = body.split(b"\n")
    last = max((i for i, line in enumerate(lines) if line.strip()), default=-1)
    fills, offsets, malformed, position = [], [], 0, 0
    for i, line in enumerate(lines):
        if line.strip():
            try:
                fills.append(DECODER.decode(line))
                offsets.append(position)
            except msgspec.DecodeError:
                malformed += not (at_file_end and i == last)
        position += len(line) + 1
    return fills, np.array(offsets, dtype=np.int64), malformed


def _piece(source: int, fills: list[Fill], offsets: np.ndarray, malformed: int) -> _Piece:
    n = len(fills)
    kinds = _Codes()
    kind = np.fromiter(map(kinds.__getitem__, map(attrgetter(*CATEGORIES), fills)), np.int32, n)
    ts = utc_times(list(map(attrgetter("ts"), fills)))
    notional = np.fromiter(map(attrgetter("notional"), fills), np.float64, n)
    # None (no drift, or no fee in the quote currency, logged) becomes NaN
    drift = np.array(list(map(attrgetter("drift_bps"), fills)), dtype=np.float64)
    fee = np.array(list(map(attrgetter("fee_quote"), fills)), dtype=np.float64)
    alert = np.fromiter(map(attrgetter("alert"), fills), np.bool_, n)
    good = ~np.isnat(ts) & np.isfinite(notional) & ~np.isinf(drift) & ~np.isinf(fee)
    if not good.all():
        kind, ts, notional, drift, fee, alert, offsets = (
            a[good] for a in (kind, ts, notional, drift, fee, alert, offsets)
        )
    return _Piece(source, list(kinds), kind, ts, notional, drift, fee, alert, offsets, malformed + int(n - good.sum()))


def _concat(paths: list[str], pieces: list[_Piece]) -> DriftColumns:
    """One set of columns from many pieces, each piece's kinds remapped onto one shared list."""
    kinds = _Codes()
    remapped = [np.array([kinds[k] for k in p.kinds] or [0], dtype=np.int32)[p.kind] for p in pieces]

    def joined(name: str, dtype: Any) -> np.ndarray:
        return np.concatenate([getattr(p, name) for p in pieces] or [np.empty(0, dtype)])

    kind = np.concatenate(remapped or [np.empty(0, np.int32)])
    return DriftColumns(
        paths=paths,
        kinds=[FillKind(*k) for k in kinds],
        kind=kind,
        ts=joined("ts", "datetime64[us]"),
        notional=joined("notional", np.float64),
        drift_bps=joined("drift_bps", np.float64),
        fee_quote=joined("fee_quote", np.float64),
        alert=joined("alert", np.bool_),
        source=np.concatenate([np.full(len(p.offset), p.source, np.int32) for p in pieces] or [np.empty(0, np.int32)]),
        offset=joined("offset", np.int64),
        malformed=sum(p.malformed for p in pieces),
        fills_in_logs=len(kind),
    )


def _filter_mask(columns: DriftColumns, filters: Filters) -> np.ndarray:
    venue = None if filters.venue_id is None else filters.venue_id.casefold()
    wanted = [
        venue in (None, k.venue.casefold())
        and all(getattr(filters, c) in (None, getattr(k, c)) for c in ("mode", "instrument", "session"))
        for k in columns.kinds
    ]
    mask = np.array(wanted or [False], dtype=bool)[columns.kind]
    if filters.since is not None:
        mask &= columns.ts >= _datetime64(filters.since)
    if filters.until is not None:
        mask &= columns.ts < _datetime64(filters.until)
    return mask


def _datetime64(moment: datetime) -> np.datetime64:
    return np.datetime64(moment.astimezone(UTC).replace(tzinfo=None), "us")


def _select(columns: DriftColumns, mask: np.ndarray) -> DriftColumns:
    if mask.all():
        return columns
    return msgspec.structs.replace(columns, **{name: getattr(columns, name)[mask] for name in ROW_ARRAYS})
