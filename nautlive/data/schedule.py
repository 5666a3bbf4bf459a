"""Weight histories for a backtest on bars: the optimiser's DataFrame (CSV or Parquet) or the JSON schedule.

CSV/Parquet: a `time` column (ISO 8601 or epoch s/ms/us/ns) and one column per instrument id; a blank cell is 0. Each
row is validated like a target file. A row applies at the first bar that closes at or after its time (`align`).
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from decimal import Decimal, InvalidOperation
from pathlib import Path

import msgspec
import numpy as np

from nautlive.core.signals import ScheduledTargets, TargetWeights, parse_targets, read_schedule
from nautlive.data.bars import BarSeries, _iso, _times_ns
from nautlive.errors import ConfigError


def read_weight_history(path: str | Path, known: Collection[str], venue: str) -> list[ScheduledTargets]:
    """A schedule file: `.json` (the list of {"at", "weights"}), `.csv` or `.parquet` (time + instrument columns)."""
    path = Path(path)
    if path.suffix.lower() == ".json":
        return read_schedule(path, known, venue)
    table = _read_table(path)
    names = table.column_names
    if "time" not in names:
        raise ConfigError(f"{path}: no 'time' column (expected time and one column per instrument id)")
    unknown = [n for n in names if n != "time" and n not in known]
    if unknown:
        raise ConfigError(f"{path}: unknown column {unknown[0]!r} (instrument ids of this profile: "
                          f"{', '.join(sorted(known))})")
    times = _times_ns(path, table.column("time"))
    steps = np.diff(times)
    if (steps <= 0).any():
        row = int(np.argmax(steps <= 0)) + 2
        reason = "duplicate time" if steps[row - 2] == 0 else "time before the previous row"
        raise ConfigError(f"{path}: row {row}: {reason} (rows must be in increasing time order)")
    weights = {n: _column(path, table, n) for n in names if n != "time"}
    schedule = []
    for i, at_ns in enumerate(times.tolist()):
        row = {iid: values[i] for iid, values in weights.items() if values[i] != 0}
        bad = [iid for iid, w in row.items() if not w.is_finite()]
        if bad:
            raise ConfigError(f"{path}: row {i + 1}: {bad[0]}: weight is {str(row[bad[0]]).lower()}, "
                              "expected a finite number")
        # Decimal weights travel as JSON strings, so each is read back exactly as the file wrote it
        body = msgspec.json.encode({"as_of": _iso(at_ns), "weights": row or {next(iter(weights)): "0"}})
        schedule.append(ScheduledTargets(at_ns, parse_targets(body, known, venue, source=f"{path}: row {i + 1}")))
    return schedule


def _read_table(path: Path):  # noqa: ANN202
    import pyarrow as pa

    if not path.is_file():
        raise ConfigError(f"{path}: schedule file not found")
    try:
        if path.suffix.lower() == ".csv":
            from pyarrow import csv

            # weights as text, read into Decimal as written (no float noise); blank = 0
            as_text = {name: pa.string() for name in _csv_header(path) if name != "time"}
            table = csv.read_csv(path, convert_options=csv.ConvertOptions(null_values=[""], column_types=as_text))
        elif path.suffix.lower() in (".parquet", ".pq"):
            from pyarrow import parquet

            table = parquet.read_table(path)
        else:
            raise ConfigError(f"{path}: a schedule is .json, .csv or .parquet")
    except (pa.ArrowInvalid, OSError) as exc:
        raise ConfigError(f"{path}: cannot read: {exc}") from None
    if not table.num_rows:
        raise ConfigError(f"{path}: no rows")
    return table


def _csv_header(path: Path) -> list[str]:
    import csv

    with path.open(newline="", encoding="utf-8-sig") as f:
        return next(csv.reader(f), [])


def _column(path: Path, table, name: str) -> list[Decimal]:  # noqa: ANN001
    """One weight per row, as written: text cells read as Decimal, binary floats by the shortest text of their own
    width (a float32 0.35 is 0.35, not 0.3499999940395355); blank = 0."""
    import pyarrow as pa

    column = table.column(name)
    cells = column.to_pylist()
    if pa.types.is_floating(column.type):  # numpy scalars print the shortest repr of their own width
        cells = [None if cell is None else str(v) for cell, v in zip(cells, column.to_numpy(zero_copy_only=False),
                                                                     strict=True)]
    out = []
    for i, cell in enumerate(cells):
        if cell is None or (isinstance(cell, str) and not cell.strip()):
            out.append(Decimal(0))
            continue
        try:
            weight = cell if isinstance(cell, Decimal) else Decimal(str(cell).strip())
        except (InvalidOperation, ValueError):
            raise ConfigError(f"{path}: row {i + 1}: column {name!r}: {cell!r} is not a number") from None
        out.append(Decimal("NaN") if weight.is_snan() else weight)
    return out


class AppliedTargets(msgspec.Struct, frozen=True):
    """A target version and the bar close (ns) it applies at."""

    at_ns: int
    targets: TargetWeights


def align(schedule: Sequence[ScheduledTargets], series: Sequence[BarSeries], source: str) -> tuple[list, list[str]]:
    """(applied targets, warnings): each entry at the first bar close at or after its time (None: the first bar).

    Rows that land on the same bar: the last one wins. Rows after the last bar are dropped with a warning; a schedule
    with no row inside the data, or a weight on an instrument without bars, is an error.
    """
    with_data = {s.instrument_id for s in series}
    for entry in schedule:
        missing = [i for i, w in entry.targets.weights.items() if w > 0 and i not in with_data]
        if missing:
            raise ConfigError(f"{entry.targets.source}: no bars for {', '.join(missing)} in the --data files")
    closes = np.unique(np.concatenate([s.ts for s in series]))
    first_open = min(int(s.ts[0] - s.step_ns) for s in series)
    timed = [e.at_ns for e in schedule if e.at_ns is not None]
    if timed and all(t > closes[-1] or t < first_open for t in timed) and schedule[0].at_ns is not None:
        raise ConfigError(f"{source}: every row ({_iso(timed[0])} to {_iso(timed[-1])}) lies outside the data "
                          f"({_iso(first_open)} to {_iso(closes[-1])})")
    applied: dict[int, TargetWeights] = {}
    late = 0
    for entry in schedule:
        index = 0 if entry.at_ns is None else int(np.searchsorted(closes, entry.at_ns, side="left"))
        if index == len(closes):
            late += 1
            continue
        applied[int(closes[index])] = entry.targets
    warnings = [f"{source}: {late} row(s) after the last bar ({_iso(closes[-1])}) not applied"] if late else []
    return [AppliedTargets(at, t) for at, t in sorted(applied.items())], warnings
