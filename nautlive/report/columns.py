"""The report's data: fills as numpy columns (DriftColumns), the pieces they are read in, and the command line's
filters over them."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import msgspec
import numpy as np

from nautlive.errors import ConfigError

MODES = ("shadow", "live", "backtest")
CATEGORIES = ("venue", "mode", "instrument", "side", "session")

# the numeric columns of a fill and their types; a piece and the cache hold these, DriftColumns adds `source`
PIECE_DTYPES: dict[str, Any] = {
    "kind": np.dtype(np.int32),  # index into the kinds
    "ts": np.dtype("datetime64[us]"),  # UTC
    "notional": np.dtype(np.float64),  # quote currency
    "drift_bps": np.dtype(np.float64),  # positive = cost, NaN where the line logged none
    "fee_quote": np.dtype(np.float64),  # quote currency, NaN where the fee is unknown (no fee_quote logged)
    "bid": np.dtype(np.float64),  # the touch at submit, NaN on lines of writers before bid_at_submit
    "ask": np.dtype(np.float64),
    "alert": np.dtype(np.bool_),
    "offset": np.dtype(np.int64),  # byte offset of the line (in the decompressed text of a gzip file)
}
ROW_ARRAYS = (*PIECE_DTYPES, "source")


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


class _FillColumns(msgspec.Struct, frozen=True, kw_only=True):
    """The numeric columns of fills (PIECE_DTYPES), parallel numpy arrays."""

    kind: np.ndarray
    ts: np.ndarray
    notional: np.ndarray
    drift_bps: np.ndarray
    fee_quote: np.ndarray
    bid: np.ndarray
    ask: np.ndarray
    alert: np.ndarray
    offset: np.ndarray

    def __len__(self) -> int:
        return len(self.offset)


class Piece(_FillColumns, frozen=True):
    """The fills of one byte range of one log (or of its cache); `kind` indexes this piece's own `kinds`.
    `names_parents`: a line of the range names a parent order (the parent figures read only such logs)."""

    source: int
    kinds: list[tuple[str, ...]]
    malformed: int
    names_parents: bool


class DriftColumns(_FillColumns, frozen=True):
    """Fills as parallel numpy arrays (see PIECE_DTYPES); `kind` indexes `kinds`.

    `source` (index into `paths`) and `offset` let the report re-read a few full lines.
    `fills_in_logs` counts the fills read before the filters were applied. `paths_naming_parents`: the logs with a
    line that names a parent order (the others have no parent figures: not read again for them).
    """

    paths: list[str]
    kinds: list[FillKind]
    source: np.ndarray
    malformed: int
    fills_in_logs: int = 0
    paths_naming_parents: list[str] = []


class Codes(dict):
    """Label -> dense int code, assigning the next code to a label seen for the first time."""

    def __missing__(self, label: Any) -> int:
        code = self[label] = len(self)
        return code

    def of(self, piece: Piece) -> np.ndarray:
        """The piece's rows' kinds as codes of this table (new kinds are added)."""
        return np.array([self[k] for k in piece.kinds] or [0], dtype=np.int32)[piece.kind]


def concat(paths: list[str], pieces: list[Piece]) -> DriftColumns:
    """One set of columns from many pieces, each piece's kinds remapped onto one shared list."""
    kinds = Codes()
    kind = np.concatenate([kinds.of(p) for p in pieces] or [np.empty(0, np.int32)])

    def joined(name: str) -> np.ndarray:
        if len(pieces) == 1:  # a log read from the cache: its columns as they are, not a copy
            return getattr(pieces[0], name)
        return np.concatenate([getattr(p, name) for p in pieces] or [np.empty(0, PIECE_DTYPES[name])])

    return DriftColumns(
        paths=paths,
        kinds=[FillKind(*k) for k in kinds],
        kind=kind,
        **{name: joined(name) for name in PIECE_DTYPES if name != "kind"},
        source=np.concatenate([np.full(len(p), p.source, np.int32) for p in pieces] or [np.empty(0, np.int32)]),
        malformed=sum(p.malformed for p in pieces),
        fills_in_logs=len(kind),
        paths_naming_parents=[paths[s] for s in sorted({p.source for p in pieces if p.names_parents})],
    )


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


def select(columns: DriftColumns, filters: Filters) -> DriftColumns:
    """The fills that match `filters` (the same object when all do)."""
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
    if mask.all():
        return columns
    return msgspec.structs.replace(columns, **{name: getattr(columns, name)[mask] for name in ROW_ARRAYS})


def _datetime64(moment: datetime) -> np.datetime64:
    return np.datetime64(moment.astimezone(UTC).replace(tzinfo=None), "us")
