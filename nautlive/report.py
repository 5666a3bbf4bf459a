"""Execution-quality report over the drift log (`nautlive drift-report`).

read_drift_log(paths, filters) -> DriftColumns: the fills as numpy columns, decoded in chunks with msgspec (only the
fields the report needs) and, for big logs, in parallel processes. summarise(columns) -> DriftReport: plain msgspec
Structs, per venue. render_tables / report_json / write_html turn a report into output; check_fail_above gates cron.
"""

from __future__ import annotations

import functools
import os
import re
import warnings
from collections.abc import Sequence
from datetime import UTC, datetime
from operator import attrgetter
from pathlib import Path
from typing import Any, Literal

import msgspec
import numpy as np

from nautlive.errors import ConfigError, RuntimeFailure

DEFAULT_LOG = Path("artifacts/logs/live/drift.log")
MODES = ("shadow", "live", "backtest")
CATEGORIES = ("venue", "mode", "instrument", "side", "session")
WORST_COUNT = 10
CHUNK_BYTES = 4 << 20  # bigger chunks cost more page faults than they save in calls
PARALLEL_MIN_BYTES = 64 << 20
RAW_POINTS_MAX = 2000
TIME_BINS = 500
HISTOGRAM_BINS = 100


# ---------------------------------------------------------------- reading


class _Fill(msgspec.Struct, gc=False):
    """The fields of a drift-log line the report needs; the decoder skips the others without building them."""

    ts: str
    session: str
    mode: str
    venue: str
    instrument: str
    side: str
    notional: float
    drift_bps: float | None  # null when there was no mid at submit
    alert: bool
    fee: float | None = None


# strict=False: quantities and prices may be logged as decimal strings or as numbers.
_DECODER = msgspec.json.Decoder(_Fill, strict=False)

LABELS = ("venue", "mode", "instrument", "side")  # few distinct values per log (a session id is new each run)
_known_labels: dict[str, set[str]] = {name: set() for name in LABELS}  # seen by this process so far


def _decode_lines(body: bytes) -> list[_Fill]:
    """decode_lines, first with a decoder that takes only the labels seen so far: it hands out one str object per
    label instead of a new one per line, which makes both the decode and grouping rows by kind faster. A line with a
    new label (or a bad line) fails it; the chunk is then decoded in general, and its labels are learnt."""
    decoder = _known_labels_decoder(tuple(tuple(sorted(_known_labels[name])) for name in LABELS))
    if decoder is not None:
        try:
            return decoder.decode_lines(body)
        except msgspec.DecodeError:
            pass
    fills = _DECODER.decode_lines(body)
    for name in LABELS:
        _known_labels[name].update(map(attrgetter(name), fills))
    return fills


@functools.lru_cache(maxsize=4)
def _known_labels_decoder(labels: tuple[tuple[str, ...], ...]) -> msgspec.json.Decoder | None:
    """_DECODER with each of LABELS restricted to the given values; None until every one has a value."""
    if not all(labels):
        return None
    types = {name: Literal[values] for name, values in zip(LABELS, labels, strict=True)}
    fields = [
        (f.name, types.get(f.name, f.type)) + (() if f.default is msgspec.NODEFAULT else (f.default,))
        for f in msgspec.structs.fields(_Fill)
    ]
    return msgspec.json.Decoder(msgspec.defstruct("_KnownFill", fields, gc=False), strict=False)


class Filters(msgspec.Struct, frozen=True):
    """Which fills to report: a time window [since, until) in UTC and exact matches on log columns."""

    since: datetime | None = None
    until: datetime | None = None
    venue: str | None = None
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
    """

    paths: list[str]
    kinds: list[FillKind]
    kind: np.ndarray  # int32
    ts: np.ndarray  # datetime64[us], UTC
    notional: np.ndarray  # float64, quote currency
    drift_bps: np.ndarray  # float64, positive = cost, NaN where the line logged none
    fee: np.ndarray  # float64, NaN where the line logged none
    alert: np.ndarray  # bool
    source: np.ndarray  # int32
    offset: np.ndarray  # int64
    malformed: int

    def __len__(self) -> int:
        return len(self.drift_bps)


class _Piece(msgspec.Struct, frozen=True):
    """The fills of one byte range of one file; `kind` indexes this piece's own `kinds`."""

    source: int
    kinds: list[tuple[str, ...]]
    kind: np.ndarray
    ts: np.ndarray
    notional: np.ndarray
    drift_bps: np.ndarray
    fee: np.ndarray
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
    venue: str | None = None,
    mode: str | None = None,
    instrument: str | None = None,
    session: str | None = None,
) -> Filters:
    """Filters from command-line text; a bad time or mode is a ConfigError."""
    if mode is not None and mode not in MODES:
        raise ConfigError(f"--mode must be one of {', '.join(MODES)}, got {mode!r}")
    return Filters(_parse_time("--since", since), _parse_time("--until", until), venue, mode, instrument, session)


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
    """The fills of the drift logs that match `filters`. Missing files or logs without a single fill: ConfigError."""
    paths = [Path(p) for p in paths]
    for path in paths:
        if not path.is_file():
            raise ConfigError(f"drift log not found: {path} (pass --log PATH; shadow and live sessions write one)")
    tasks = []  # (source, path, start, end, at_file_end); sizes are taken once, so a log still being written is fine
    for source, path in enumerate(paths):
        ranges = _line_aligned_ranges(path, CHUNK_BYTES)
        tasks += [(source, str(path), start, end, i == len(ranges) - 1) for i, (start, end) in enumerate(ranges)]
    columns = _concat([str(p) for p in paths], _read_ranges(tasks, sum(end - start for _, _, start, end, _ in tasks)))
    if len(columns) == 0:
        bad = f" ({columns.malformed} malformed line(s))" if columns.malformed else ""
        raise ConfigError(f"drift log has no fills: {', '.join(map(str, paths))}{bad}")
    return _select(columns, _filter_mask(columns, filters))


def _line_aligned_ranges(path: Path, chunk: int) -> list[tuple[int, int]]:
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


def _decode_whole(body: bytes) -> tuple[list[_Fill] | None, np.ndarray]:
    """All lines of `body` in one decode with their offsets, or (None, _) if a line is malformed, blank or double."""
    starts = np.flatnonzero(np.frombuffer(body, np.uint8) == ord("\n")) + 1
    starts = np.concatenate(([0], starts[starts < len(body)]))
    try:
        fills = _decode_lines(body)
    except msgspec.DecodeError:
        return None, starts
    # decode_lines skips blank lines and accepts two objects on one line: rows would no longer match lines
    return (fills, starts) if len(fills) == len(starts) else (None, starts)


def _decode_each_line(body: bytes, at_file_end: bool) -> tuple[list[_Fill], np.ndarray, int]:
    """Good lines of a chunk that failed whole, their offsets, and the count of bad lines.

    A bad last line of the file is a write cut short by a crash and is not counted.
    """
    lines = body.split(b"\n")
    last = max((i for i, line in enumerate(lines) if line.strip()), default=-1)
    fills, offsets, malformed, position = [], [], 0, 0
    for i, line in enumerate(lines):
        if line.strip():
            try:
                fills.append(_DECODER.decode(line))
                offsets.append(position)
            except msgspec.DecodeError:
                malformed += not (at_file_end and i == last)
        position += len(line) + 1
    return fills, np.array(offsets, dtype=np.int64), malformed


def _piece(source: int, fills: list[_Fill], offsets: np.ndarray, malformed: int) -> _Piece:
    n = len(fills)
    kinds = _Codes()
    kind = np.fromiter(map(kinds.__getitem__, map(attrgetter(*CATEGORIES), fills)), np.int32, n)
    ts = _utc_times(list(map(attrgetter("ts"), fills)))
    notional = np.fromiter(map(attrgetter("notional"), fills), np.float64, n)
    # None (no drift or no fee logged) becomes NaN
    drift = np.array(list(map(attrgetter("drift_bps"), fills)), dtype=np.float64)
    fee = np.array(list(map(attrgetter("fee"), fills)), dtype=np.float64)
    alert = np.fromiter(map(attrgetter("alert"), fills), np.bool_, n)
    good = ~np.isnat(ts) & np.isfinite(notional) & ~np.isinf(drift) & ~np.isinf(fee)
    if not good.all():
        kind, ts, notional, drift, fee, alert, offsets = (
            a[good] for a in (kind, ts, notional, drift, fee, alert, offsets)
        )
    return _Piece(source, list(kinds), kind, ts, notional, drift, fee, alert, offsets, malformed + int(n - good.sum()))


def _utc_times(texts: list[str]) -> np.ndarray:
    """ISO-8601 texts as datetime64[us] in UTC; NaT where a text is not a time."""
    uniform = _uniform_utc_times(texts)
    if uniform is not None:
        return uniform
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # numpy warns about zone designators but converts them to UTC correctly
        try:
            return np.array(texts, dtype="datetime64[us]")
        except ValueError:
            return np.array([_utc_time(t) for t in texts], dtype="datetime64[us]")


def _utc_time(text: str) -> np.datetime64:
    try:
        return np.datetime64(text, "us")
    except ValueError:
        return np.datetime64("NaT", "us")


_UTC_LAYOUT = re.compile(r"\d{4}-\d\d-\d\d[T ]\d\d:\d\d:\d\d(?:\.(\d{1,9}))?(?:Z|\+00:00)?")


def _uniform_utc_times(texts: list[str]) -> np.ndarray | None:
    """Fast path when every text has the first one's layout, YYYY-MM-DDTHH:MM:SS[.fraction][Z|+00:00]: the digits
    are read as a numpy matrix (numpy's own parser costs microseconds per text). None when the texts do not fit."""
    layout = _UTC_LAYOUT.fullmatch(texts[0]) if texts else None
    joined = "".join(texts)
    if layout is None or len(joined) != len(texts[0]) * len(texts) or not joined.isascii():
        return None
    chars = np.frombuffer(joined.encode("ascii"), np.uint8).reshape(len(texts), -1)
    template = chars[0]
    digit = (template >= ord("0")) & (template <= ord("9"))
    digit[layout.end(1) if layout.group(1) else 19 :] = False  # the zone must match exactly: +00:00, not +01:00
    if ((chars[:, digit] - ord("0")) > 9).any() or (chars[:, ~digit] != template[~digit]).any():
        return None

    def number(start: int, stop: int) -> np.ndarray:
        return (chars[:, start:stop] - ord("0")).astype(np.int64) @ 10 ** np.arange(stop - start - 1, -1, -1)

    year, month, day = number(0, 4), number(5, 7), number(8, 10)
    hour, minute, second = number(11, 13), number(14, 16), number(17, 19)
    places = len(layout.group(1) or "")
    micros = number(20, 20 + places) * 10**6 // 10**places
    months = (year - 1970) * 12 + month - 1
    month_start, next_month = (
        m.astype("datetime64[M]").astype("datetime64[D]").astype(np.int64) for m in (months, months + 1)
    )
    valid = (month >= 1) & (month <= 12) & (day >= 1) & (day <= next_month - month_start)
    valid &= (hour < 24) & (minute < 60) & (second < 60)
    if not valid.all():
        return None
    seconds = (month_start + day - 1) * 86400 + hour * 3600 + minute * 60 + second
    return (seconds * 10**6 + micros).astype("datetime64[us]")


def _concat(paths: list[str], pieces: list[_Piece]) -> DriftColumns:
    """One set of columns from many pieces, each piece's kinds remapped onto one shared list."""
    kinds = _Codes()
    remapped = [np.array([kinds[k] for k in p.kinds] or [0], dtype=np.int32)[p.kind] for p in pieces]

    def joined(name: str, dtype: Any) -> np.ndarray:
        return np.concatenate([getattr(p, name) for p in pieces] or [np.empty(0, dtype)])

    return DriftColumns(
        paths=paths,
        kinds=[FillKind(*k) for k in kinds],
        kind=np.concatenate(remapped or [np.empty(0, np.int32)]),
        ts=joined("ts", "datetime64[us]"),
        notional=joined("notional", np.float64),
        drift_bps=joined("drift_bps", np.float64),
        fee=joined("fee", np.float64),
        alert=joined("alert", np.bool_),
        source=np.concatenate([np.full(len(p.offset), p.source, np.int32) for p in pieces] or [np.empty(0, np.int32)]),
        offset=joined("offset", np.int64),
        malformed=sum(p.malformed for p in pieces),
    )


def _filter_mask(columns: DriftColumns, filters: Filters) -> np.ndarray:
    wanted = [
        all(getattr(filters, c) in (None, getattr(k, c)) for c in ("venue", "mode", "instrument", "session"))
        for k in columns.kinds
    ]
    mask = np.array(wanted, dtype=bool)[columns.kind]
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
    return msgspec.structs.replace(
        columns,
        **{name: getattr(columns, name)[mask] for name in _ROW_ARRAYS},
    )


_ROW_ARRAYS = ("kind", "ts", "notional", "drift_bps", "fee", "alert", "source", "offset")


# ---------------------------------------------------------------- statistics


class DriftStats(msgspec.Struct, frozen=True):
    """A set of fills: drift in basis points (positive = cost), notional and fees in the quote currency.

    Drift figures cover the fills that logged a drift (a fill without a mid at submit logs null); they are None when
    no fill did. The weighted mean weighs each fill's drift by its notional.
    """

    fills: int
    fills_without_drift: int
    notional: float
    mean_bps: float | None
    weighted_mean_bps: float | None
    median_bps: float | None
    p90_bps: float | None
    p99_bps: float | None
    worst_bps: float | None
    alerts: int
    fees: float | None  # None when no fill logged a fee


class ModeStats(msgspec.Struct, frozen=True):
    mode: str
    stats: DriftStats


class GroupStats(msgspec.Struct, frozen=True):
    instrument: str
    side: str
    mode: str
    stats: DriftStats


class ShadowVsLive(msgspec.Struct, frozen=True):
    """One instrument traded in both modes: shadow's simulated fills beside live's real ones."""

    instrument: str
    shadow: DriftStats
    live: DriftStats
    live_minus_shadow_bps: float | None  # difference of the notional-weighted means


class WorstFill(msgspec.Struct, frozen=True):
    """One fill as logged (prices and quantities as the log wrote them)."""

    ts: str
    session: str
    mode: str
    instrument: str
    side: str
    qty: str
    fill_px: str
    mid_at_submit: str
    drift_bps: float
    notional: float
    client_order_id: str


class VenueReport(msgspec.Struct, frozen=True):
    venue: str
    first_ts: str
    last_ts: str
    overall: DriftStats
    by_mode: list[ModeStats]
    by_instrument_side: list[GroupStats]
    shadow_vs_live: list[ShadowVsLive]
    worst: list[WorstFill]


class DriftReport(msgspec.Struct, frozen=True):
    """The report: one section per venue found in the logs (a venue's notional is in its own quote currency)."""

    logs: list[str]
    malformed_lines: int
    venues: list[VenueReport]


Group = tuple[str, str, str, str]  # venue, instrument, side, mode


class _Grouped(msgspec.Struct, frozen=True):
    """The columns reordered so that each (venue, instrument, side, mode) group is one contiguous span."""

    rows: np.ndarray  # the row of `columns` at each position
    drift_bps: np.ndarray
    notional: np.ndarray
    fee: np.ndarray
    alert: np.ndarray
    spans: dict[Group, tuple[int, int]]  # sorted by group


def summarise(columns: DriftColumns) -> DriftReport:
    """Statistics per venue: overall, by mode, by instrument × side × mode, shadow versus live, worst fills."""
    grouped = _grouped(columns)
    cache: dict[tuple[Group, ...], DriftStats] = {}

    def stats(groups: list[Group]) -> DriftStats:
        key = tuple(groups)
        if key not in cache:  # e.g. a venue with one mode: its by-mode figures are its overall figures
            cache[key] = _stats(grouped, groups)
        return cache[key]

    venues = sorted({g[0] for g in grouped.spans})
    return DriftReport(columns.paths, columns.malformed, [_venue_report(columns, grouped, v, stats) for v in venues])


def _grouped(columns: DriftColumns) -> _Grouped:
    groups = sorted({(k.venue, k.instrument, k.side, k.mode) for k in columns.kinds})
    index = {g: i for i, g in enumerate(groups)}
    group = np.array([index[k.venue, k.instrument, k.side, k.mode] for k in columns.kinds], np.int32)[columns.kind]
    if len(groups) < 2**16:
        group = group.astype(np.uint16)  # numpy radix-sorts 16-bit keys
    rows = np.argsort(group, kind="stable")
    ends = np.cumsum(np.bincount(group, minlength=len(groups)))
    starts = np.concatenate(([0], ends[:-1]))
    return _Grouped(
        rows=rows,
        drift_bps=columns.drift_bps[rows],
        notional=columns.notional[rows],
        fee=columns.fee[rows],
        alert=columns.alert[rows],
        spans={g: (int(s), int(e)) for g, s, e in zip(groups, starts, ends, strict=True) if e > s},
    )


def _venue_report(columns: DriftColumns, grouped: _Grouped, venue: str, stats) -> VenueReport:
    mine = [g for g in grouped.spans if g[0] == venue]
    modes = sorted({g[3] for g in mine})
    instruments = sorted({g[1] for g in mine})
    start, end = grouped.spans[mine[0]][0], grouped.spans[mine[-1]][1]  # a venue's groups are adjacent
    rows = grouped.rows[start:end]
    times = columns.ts[rows]

    def of(instrument: str, mode: str) -> list[Group]:
        return [g for g in mine if g[1] == instrument and g[3] == mode]

    return VenueReport(
        venue=venue,
        first_ts=_iso(times.min()),
        last_ts=_iso(times.max()),
        overall=stats(mine),
        by_mode=[ModeStats(m, stats([g for g in mine if g[3] == m])) for m in modes],
        by_instrument_side=[GroupStats(g[1], g[2], g[3], stats([g])) for g in mine],
        shadow_vs_live=[
            _shadow_vs_live(i, stats(of(i, "shadow")), stats(of(i, "live")))
            for i in instruments
            if of(i, "shadow") and of(i, "live")
        ],
        worst=_worst_fills(columns, rows, grouped.drift_bps[start:end]),
    )


def _stats(grouped: _Grouped, groups: list[Group]) -> DriftStats:
    spans = [slice(*grouped.spans[g]) for g in groups]

    def joined(values: np.ndarray) -> np.ndarray:
        return np.concatenate([values[s] for s in spans])

    drift, notional, fee = joined(grouped.drift_bps), joined(grouped.notional), joined(grouped.fee)
    known = ~np.isnan(drift)
    logged = ~np.isnan(fee)
    figures = _drift_figures(drift[known], notional[known]) if known.any() else {}
    return DriftStats(
        fills=len(drift),
        fills_without_drift=int(len(drift) - known.sum()),
        notional=float(notional.sum()),
        alerts=int(joined(grouped.alert).sum()),
        fees=float(fee[logged].sum()) if logged.any() else None,
        **{name: figures.get(name) for name in _DRIFT_FIGURES},
    )


_DRIFT_FIGURES = ("mean_bps", "weighted_mean_bps", "median_bps", "p90_bps", "p99_bps", "worst_bps")


def _drift_figures(drift: np.ndarray, notional: np.ndarray) -> dict[str, float | None]:
    total = notional.sum()
    median, p90, p99 = (float(v) for v in np.percentile(drift, [50, 90, 99]))
    return {
        "mean_bps": float(drift.mean()),
        "weighted_mean_bps": float((drift * notional).sum() / total) if total > 0 else None,
        "median_bps": median,
        "p90_bps": p90,
        "p99_bps": p99,
        "worst_bps": float(drift.max()),
    }


def _shadow_vs_live(instrument: str, shadow: DriftStats, live: DriftStats) -> ShadowVsLive:
    known = shadow.weighted_mean_bps is not None and live.weighted_mean_bps is not None
    delta = live.weighted_mean_bps - shadow.weighted_mean_bps if known else None
    return ShadowVsLive(instrument, shadow, live, delta)


def _worst_fills(columns: DriftColumns, rows: np.ndarray, drift: np.ndarray) -> list[WorstFill]:
    """The WORST_COUNT fills with the highest drift (of `rows`, whose drift is `drift`), re-read in full."""
    known = np.flatnonzero(~np.isnan(drift))
    top = known[np.argpartition(-drift[known], WORST_COUNT)[:WORST_COUNT]] if len(known) > WORST_COUNT else known
    top = top[np.argsort(-drift[top], kind="stable")]
    return [_worst_fill(columns, row) for row in rows[top]]


def _worst_fill(columns: DriftColumns, row: int) -> WorstFill:
    with open(columns.paths[columns.source[row]], "rb") as f:
        f.seek(columns.offset[row])
        line = msgspec.json.decode(f.readline())
    kind = columns.kinds[columns.kind[row]]
    return WorstFill(
        ts=str(line.get("ts")),
        session=kind.session,
        mode=kind.mode,
        instrument=kind.instrument,
        side=kind.side,
        qty=str(line.get("qty")),
        fill_px=str(line.get("fill_px")),
        mid_at_submit=str(line.get("mid_at_submit")),
        drift_bps=float(columns.drift_bps[row]),
        notional=float(columns.notional[row]),
        client_order_id=str(line.get("client_order_id")),
    )


def _iso(moment: np.datetime64) -> str:
    return f"{np.datetime_as_string(moment, unit='us')}Z"


def check_fail_above(report: DriftReport, bps: float) -> None:
    """RuntimeFailure naming each venue whose notional-weighted mean drift exceeds `bps`."""
    over = [
        f"{v.venue} {v.overall.weighted_mean_bps:.2f} bps"
        for v in report.venues
        if v.overall.weighted_mean_bps is not None and v.overall.weighted_mean_bps > bps
    ]
    if over:
        raise RuntimeFailure(f"notional-weighted mean drift above --fail-above {bps:g} bps: {', '.join(over)}")


# ---------------------------------------------------------------- output


def report_json(report: DriftReport) -> dict[str, Any]:
    return msgspec.to_builtins(report)


def render_tables(report: DriftReport) -> None:
    """The report as tables (rich on a terminal, tab-separated lines otherwise)."""
    from nautlive.render import line, table

    line(f"drift report: {', '.join(report.logs)}")
    for v in report.venues:
        title = f"{v.venue}: {v.overall.fills} fills {v.first_ts} .. {v.last_ts}"
        scopes = [("all", v.overall)] + ([(m.mode, m.stats) for m in v.by_mode] if len(v.by_mode) > 1 else [])
        table(title, ["scope", *_STATS_COLUMNS], [[scope, *_stats_cells(s)] for scope, s in scopes])
        table(
            f"{v.venue}: by instrument x side x mode",
            ["instrument", "side", "mode", *_STATS_COLUMNS],
            [[g.instrument, g.side, g.mode, *_stats_cells(g.stats)] for g in v.by_instrument_side],
        )
        if v.shadow_vs_live:
            table(
                f"{v.venue}: shadow vs live (notional-weighted mean bps)",
                ["instrument", "shadow fills", "shadow", "live fills", "live", "live - shadow"],
                [
                    [c.instrument, c.shadow.fills, _bps(c.shadow.weighted_mean_bps), c.live.fills,
                     _bps(c.live.weighted_mean_bps), _bps(c.live_minus_shadow_bps)]
                    for c in v.shadow_vs_live
                ],
            )
        table(
            f"{v.venue}: worst {len(v.worst)} fills",
            ["ts", "mode", "instrument", "side", "qty", "fill_px", "mid_at_submit", "drift bps", "notional",
             "client_order_id"],
            [
                [w.ts, w.mode, w.instrument, w.side, w.qty, w.fill_px, w.mid_at_submit, _bps(w.drift_bps),
                 _money(w.notional), w.client_order_id]
                for w in v.worst
            ],
        )


_STATS_COLUMNS = ["fills", "no drift", "notional", "mean", "w.mean", "median", "p90", "p99", "worst", "alerts", "fees"]


def _stats_cells(s: DriftStats) -> list[Any]:
    return [
        s.fills, s.fills_without_drift, _money(s.notional), _bps(s.mean_bps), _bps(s.weighted_mean_bps),
        _bps(s.median_bps), _bps(s.p90_bps), _bps(s.p99_bps), _bps(s.worst_bps), s.alerts, _money(s.fees),
    ]


def _bps(value: float | None) -> str | None:
    return None if value is None else f"{value:.2f}"


def _money(value: float | None) -> str | None:
    return None if value is None else f"{value:,.2f}"


def write_html(columns: DriftColumns, report: DriftReport, path: Path) -> None:
    """A self-contained page (plotly.js embedded): per venue, a drift histogram and drift over time per instrument."""
    figures = [_venue_figure(columns, v.venue) for v in report.venues]
    parts = [f.to_html(full_html=False, include_plotlyjs=(i == 0)) for i, f in enumerate(figures)]
    page = (
        "<!DOCTYPE html><html><head><meta charset='utf-8'><title>nautlive drift report</title></head><body>"
        f"<h1>nautlive drift report</h1><p>{', '.join(report.logs)}</p>{''.join(parts)}</body></html>"
    )
    try:
        Path(path).write_text(page, encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"--html: cannot write {path}: {exc.strerror}") from None


def _venue_figure(columns: DriftColumns, venue: str):
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    names = sorted({k.instrument for k in columns.kinds if k.venue == venue})
    instrument = np.array([names.index(k.instrument) if k.venue == venue else -1 for k in columns.kinds])[columns.kind]
    instrument[np.isnan(columns.drift_bps)] = -1  # fills without a drift have nothing to plot
    rows = np.flatnonzero(instrument >= 0)
    counts, edges = np.histogram(columns.drift_bps[rows], bins=HISTOGRAM_BINS)
    fig = make_subplots(
        rows=2, cols=1, subplot_titles=(f"{venue}: drift_bps histogram", f"{venue}: drift_bps over time")
    )
    fig.add_trace(go.Bar(x=(edges[:-1] + edges[1:]) / 2, y=counts, name="fills", showlegend=False), row=1, col=1)
    for code, name in enumerate(names):
        times, drift, label = _drift_series(columns, np.flatnonzero(instrument == code))
        fig.add_trace(go.Scattergl(x=times, y=drift, name=f"{name} {label}", mode="lines+markers"), row=2, col=1)
    fig.update_xaxes(title_text="drift bps (positive = cost)", row=1, col=1)
    fig.update_yaxes(title_text="fills", row=1, col=1)
    fig.update_yaxes(title_text="drift bps", row=2, col=1)
    fig.update_layout(height=800)
    return fig


def _drift_series(columns: DriftColumns, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray, str]:
    """Each fill when there are few; else the notional-weighted mean per time bin, so the page stays small."""
    rows = rows[np.argsort(columns.ts[rows], kind="stable")]
    times, drift, notional = columns.ts[rows], columns.drift_bps[rows], columns.notional[rows]
    if len(rows) <= RAW_POINTS_MAX:
        return times, drift, "(each fill)"
    ticks = times.astype(np.int64)
    edges = np.linspace(ticks[0], ticks[-1], TIME_BINS + 1)
    bins = np.clip(np.searchsorted(edges, ticks, side="right") - 1, 0, TIME_BINS - 1)
    weight = np.bincount(bins, notional, TIME_BINS)
    filled = weight > 0
    mean = np.bincount(bins, drift * notional, TIME_BINS)[filled] / weight[filled]
    centres = ((edges[:-1] + edges[1:]) / 2).astype(np.int64).astype("datetime64[us]")[filled]
    return centres, mean, f"(weighted mean per {TIME_BINS}-th of the period)"
