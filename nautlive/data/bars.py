"""OHLCV bars for BACKTEST and PARITY: freqtrade JSON, CSV and Parquet files, checked and turned into Nautilus Bars.

A file is mapped to an instrument explicitly (`BTCUSDT.BINANCE=PATH`) or by a freqtrade-style name (`BTC_USDT-1m.json`
-> BTCUSDT on the profile's venue). Rows are `time, open, high, low, close, volume`; `time` is the bar's OPEN time
(freqtrade, Binance klines, ccxt), ISO 8601 or epoch s/ms/us/ns; the bar closes one interval later, and that close time
is the bar's Nautilus timestamp. The interval is the most common step between rows, or `--bar` (1m, 1h, 1d).

Everything is kept as numpy columns (48 bytes a bar); Nautilus Bar objects are made a chunk at a time while the
engine runs, so a year of minute bars for ten instruments streams instead of sitting in memory as objects.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import msgspec
import numpy as np

from nautlive.errors import ConfigError

BAR_SUFFIXES = {".json", ".csv", ".parquet", ".pq"}
COLUMNS = ("time", "open", "high", "low", "close", "volume")
PRICES = ("open", "high", "low", "close")
GAP_BARS = 10  # a step of at least this many intervals is reported as a gap
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_NAME = re.compile(r"^([A-Za-z0-9]+)_([A-Za-z0-9]+)(?:-|\.|$)")
_FREQTRADE = msgspec.json.Decoder(list[tuple[int, float, float, float, float, float]])
NS = 1_000_000_000


@dataclass(frozen=True)
class BarSeries:
    """One instrument's bars as columns; `ts` is each bar's close time in ns."""

    instrument_id: str
    source: str
    step_ns: int
    ts: np.ndarray
    open: np.ndarray
    high: np.ndarray
    low: np.ndarray
    close: np.ndarray
    volume: np.ndarray

    def __len__(self) -> int:
        return len(self.ts)


def is_bar_input(text: str) -> bool:
    """Whether a --data argument names bars (ID=PATH or a .json/.csv/.parquet file) rather than a recording."""
    path = text.split("=", 1)[1] if _has_id(text) else text
    return _has_id(text) or Path(path).suffix.lower() in BAR_SUFFIXES


def parse_interval(text: str) -> int:
    """'1m', '15m', '1h', '1d' -> ns."""
    match = re.fullmatch(r"(\d+)([smhdw])", text.strip())
    if not match or int(match.group(1)) == 0:
        raise ConfigError(f"--bar: {text!r} is not an interval like 1m, 5m, 1h or 1d")
    return int(match.group(1)) * _UNITS[match.group(2)] * NS


def instrument_for(text: str, venue: str, known: Sequence[str]) -> tuple[str, Path]:
    """`ID=PATH` or a PATH whose name says the pair (`BTC_USDT-1m.json`, `BTCUSDT.csv`)."""
    if _has_id(text):
        iid, path = text.split("=", 1)
        if iid not in known:
            raise ConfigError(f"--data {text}: {iid} is not an instrument of this profile ({', '.join(known)})")
        return iid, Path(path)
    path = Path(text)
    match = _NAME.match(path.name)
    symbol = (match.group(1) + match.group(2)) if match else path.stem.split("-")[0]
    iid = f"{symbol.upper()}.{venue}"
    by_symbol = [k for k in known if k.rsplit(".", 1)[0] == symbol.upper()]
    iid = by_symbol[0] if iid not in known and len(by_symbol) == 1 else iid  # IB: AAPL-1m.parquet is AAPL.NASDAQ
    if iid not in known:
        raise ConfigError(f"--data {text}: cannot tell the instrument from the name ({iid} is not in the profile): "
                          "write --data INSTRUMENT_ID=PATH")
    return iid, path


def _has_id(text: str) -> bool:
    head = text.split("=", 1)[0]
    return "=" in text and "." in head and "/" not in head


def read_bars(text: str, venue: str, known: Sequence[str], step_ns: int | None = None) -> tuple[BarSeries, list[str]]:
    """Read and check one --data bar file; (series, warnings). Any bad row is a ConfigError naming file, row, reason."""
    iid, path = instrument_for(text, venue, known)
    if not path.is_file():
        raise ConfigError(f"{path}: bar file not found")
    suffix = path.suffix.lower()
    columns = _read_freqtrade(path) if suffix == ".json" else _read_table(path, suffix)
    open_ns = _times_ns(path, columns["time"])
    step = step_ns or _detect_step(path, open_ns)
    series = BarSeries(iid, str(path), step, open_ns + step, *(columns[c] for c in COLUMNS[1:]))
    return series, check(series)


def _read_freqtrade(path: Path) -> dict[str, np.ndarray]:
    try:
        rows = _FREQTRADE.decode(path.read_bytes())
    except msgspec.ValidationError as exc:
        row = re.search(r"\$\[(\d+)\]", str(exc))
        where = f"row {int(row.group(1)) + 1}: " if row else ""
        raise ConfigError(f"{path}: {where}expected [open_time_ms, open, high, low, close, volume]: {exc}") from None
    except msgspec.DecodeError as exc:
        raise ConfigError(f"{path}: not a freqtrade OHLCV JSON list: {exc}") from None
    if not rows:
        raise ConfigError(f"{path}: no bars")
    table = np.array(rows, dtype=np.float64)
    out = {c: np.ascontiguousarray(table[:, i]) for i, c in enumerate(COLUMNS)}
    out["time"] = np.array([r[0] for r in rows], dtype=np.int64) * 1_000_000
    return out


def _read_table(path: Path, suffix: str) -> dict[str, np.ndarray]:
    import pyarrow as pa

    try:
        if suffix == ".csv":
            from pyarrow import csv

            table = csv.read_csv(path)
        else:
            from pyarrow import parquet

            table = parquet.read_table(path)
    except (pa.ArrowInvalid, OSError) as exc:
        raise ConfigError(f"{path}: cannot read: {exc}") from None
    names = [n.strip().lower() for n in table.column_names]
    unknown = [n for n in names if n not in COLUMNS]
    missing = [c for c in COLUMNS if c not in names]
    if unknown:
        raise ConfigError(f"{path}: unknown column {unknown[0]!r} (expected {', '.join(COLUMNS)})")
    if missing:
        raise ConfigError(f"{path}: no {missing[0]!r} column (expected {', '.join(COLUMNS)})")
    if not table.num_rows:
        raise ConfigError(f"{path}: no bars")
    table = table.rename_columns(names)
    out = {"time": table.column("time")}
    for c in COLUMNS[1:]:
        try:
            out[c] = np.array(table.column(c).cast(pa.float64()).to_numpy(zero_copy_only=False))  # writable
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            raise ConfigError(f"{path}: {_first_non_numeric(table.column(c))}column {c!r} is not numeric") from None
    return out  # nulls are NaN now: check() reports them with the row


def _first_non_numeric(column) -> str:  # noqa: ANN001
    """'row N: 'cell' in ' for the first cell that is not a number (rows counted from 1 after the header)."""
    for i, cell in enumerate(column.to_pylist()):
        try:
            float(cell if cell is not None else "nan")
        except (TypeError, ValueError):
            return f"row {i + 1}: {cell!r} in "
    return ""


def _times_ns(path: Path, column) -> np.ndarray:  # noqa: ANN001
    """A time column (arrow or numpy) -> int64 ns: timestamps, ISO 8601 strings, or epoch s/ms/us/ns by magnitude."""
    import pyarrow as pa
    import pyarrow.compute as pc

    if isinstance(column, np.ndarray):
        return column
    if column.null_count:
        row = int(np.flatnonzero(column.is_null().to_numpy(zero_copy_only=False))[0]) + 1
        raise ConfigError(f"{path}: row {row}: empty time")
    if pa.types.is_string(column.type) or pa.types.is_large_string(column.type):
        column = _parse_iso(path, column)
    if pa.types.is_timestamp(column.type):
        if column.type.tz is None:
            column = column.cast(pa.timestamp(column.type.unit))
        return pc.cast(column, pa.timestamp("ns")).cast(pa.int64()).to_numpy(zero_copy_only=False)
    if not (pa.types.is_integer(column.type) or pa.types.is_floating(column.type)):
        raise ConfigError(f"{path}: time column of type {column.type}: expected ISO 8601 or epoch s/ms/us/ns")
    values = column.cast(pa.float64()).to_numpy(zero_copy_only=False)
    scale = _epoch_scale(float(np.nanmax(np.abs(values))))
    return (column.cast(pa.int64()).to_numpy(zero_copy_only=False) * scale).astype(np.int64)


def _parse_iso(path: Path, column):  # noqa: ANN001, ANN202
    import pyarrow as pa
    import pyarrow.compute as pc

    text = pc.replace_substring_regex(column, r"(Z|[+-]00:?00)$", "")
    text = pc.replace_substring(text, "T", " ")
    try:
        return pc.cast(text, pa.timestamp("ns"))
    except pa.ArrowInvalid:
        for i, value in enumerate(text.to_pylist()):
            try:
                pc.cast(pa.array([value]), pa.timestamp("ns"))
            except pa.ArrowInvalid:
                raise ConfigError(f"{path}: row {i + 1}: time {column[i].as_py()!r} is not ISO 8601 (UTC)"
                                  " or epoch") from None
        raise


def _epoch_scale(magnitude: float) -> int:
    """ns per unit of an epoch number: seconds (~1.7e9), ms (~1.7e12), us (~1.7e15) or ns (~1.7e18)."""
    for limit, scale in ((1e11, NS), (1e14, 1_000_000), (1e17, 1_000)):
        if magnitude < limit:
            return scale
    return 1


def _detect_step(path: Path, open_ns: np.ndarray) -> int:
    steps = np.diff(open_ns)
    steps = steps[steps > 0]
    if not len(steps):
        raise ConfigError(f"{path}: cannot tell the bar interval from one row: give --bar (1m, 1h, 1d)")
    values, counts = np.unique(steps, return_counts=True)
    return int(values[np.argmax(counts)])


def check(series: BarSeries) -> list[str]:
    """Raise on the first bad row (time order, prices, high < low); return warnings for gaps of GAP_BARS or more."""
    where = series.source
    steps = np.diff(series.ts)
    for bad, reason in ((steps < 0, "time before the previous row (rows must be sorted by time)"),
                        (steps == 0, "duplicate time (same as the previous row)")):
        if bad.any():
            raise ConfigError(f"{where}: row {int(np.argmax(bad)) + 2}: {reason}")
    for name in PRICES:
        values = getattr(series, name)
        bad = ~np.isfinite(values) | (values <= 0)
        if bad.any():
            row = int(np.argmax(bad))
            raise ConfigError(f"{where}: row {row + 1}: {name} is {values[row]}: prices must be positive numbers")
    volume_bad = ~np.isfinite(series.volume) | (series.volume < 0)
    if volume_bad.any():
        row = int(np.argmax(volume_bad))
        raise ConfigError(f"{where}: row {row + 1}: volume is {series.volume[row]}: expected a number >= 0")
    inverted = series.high < series.low
    if inverted.any():
        row = int(np.argmax(inverted))
        raise ConfigError(f"{where}: row {row + 1}: high {series.high[row]} is below low {series.low[row]}")
    gaps = np.flatnonzero(steps >= GAP_BARS * series.step_ns)
    return [f"{where}: gap of {int(steps[i] // series.step_ns) - 1} bars from {_iso(series.ts[i])} to "
            f"{_iso(series.ts[i + 1] - series.step_ns)}" for i in gaps]


def _iso(ns: int) -> str:
    import datetime as dt

    return dt.datetime.fromtimestamp(int(ns) / NS, dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


# -------------------------------------------------------------------- Nautilus bars


def bar_type(instrument_id: str, step_ns: int):  # noqa: ANN201
    """`BTCUSDT.BINANCE-1-MINUTE-LAST-EXTERNAL` for a 60 s step."""
    from nautilus_trader.model.data import BarType

    secs = step_ns // NS
    for unit, name in ((86400, "DAY"), (3600, "HOUR"), (60, "MINUTE"), (1, "SECOND")):
        if secs % unit == 0:
            return BarType.from_str(f"{instrument_id}-{secs // unit}-{name}-LAST-EXTERNAL")
    raise ConfigError(f"{instrument_id}: bar interval of {step_ns} ns is not a whole number of seconds")


def nautilus_bars(series: BarSeries, instrument, start: int, stop: int) -> list:  # noqa: ANN001
    """Rows start:stop of a series as Nautilus Bars at the instrument's precisions (ts_event = ts_init = close)."""
    from nautilus_trader.model.data import Bar

    ts = series.ts[start:stop].astype(np.uint64)
    return Bar.from_raw_arrays_to_list(
        bar_type(series.instrument_id, series.step_ns), instrument.price_precision, instrument.size_precision,
        *(np.ascontiguousarray(getattr(series, c)[start:stop]) for c in COLUMNS[1:]), ts, ts,
    )


def merged_chunks(series: Sequence[BarSeries], instruments: dict, chunk_ns: int) -> Iterator[list]:
    """Nautilus Bars of every series in time order, a `chunk_ns` window at a time; equal times in series order."""
    if not series:
        return
    begin = min(int(s.ts[0]) for s in series)
    end = max(int(s.ts[-1]) for s in series)
    cursor = [0] * len(series)
    for window_end in range(begin + chunk_ns, end + chunk_ns + 1, chunk_ns):
        parts, times, ranks = [], [], []
        for k, s in enumerate(series):
            stop = int(np.searchsorted(s.ts, window_end, side="left"))
            if stop > cursor[k]:
                parts += nautilus_bars(s, instruments[s.instrument_id], cursor[k], stop)
                times.append(s.ts[cursor[k]:stop])
                ranks.append(np.full(stop - cursor[k], k))
                cursor[k] = stop
        if parts:
            order = np.lexsort((np.concatenate(ranks), np.concatenate(times)))
            yield [parts[i] for i in order.tolist()]


def catalog_bars(path: str | Path, known: Sequence[str]) -> list[BarSeries]:
    """Bars of the profile's instruments from a Nautilus ParquetDataCatalog, through Nautilus's catalog API."""
    from nautilus_trader.persistence.catalog import ParquetDataCatalog

    if not Path(path).is_dir():
        raise ConfigError(f"--data-catalog {path}: not a folder")
    bars = ParquetDataCatalog(str(path)).bars(instrument_ids=list(known))
    by_type: dict = {}
    for bar in bars:
        by_type.setdefault(bar.bar_type, []).append(bar)
    out = []
    for bt, rows in by_type.items():
        if any(str(other.instrument_id) == str(bt.instrument_id) for other in by_type if other != bt):
            raise ConfigError(f"--data-catalog {path}: several bar types for {bt.instrument_id}: keep one")
        columns = [np.array([getattr(b, c).as_double() for b in rows]) for c in COLUMNS[1:]]
        ts = np.array([b.ts_init for b in rows], dtype=np.int64)
        out.append(BarSeries(str(bt.instrument_id), f"{path} ({bt})", int(bt.spec.timedelta.total_seconds() * NS),
                             ts, *columns))
    if not out:
        raise ConfigError(f"--data-catalog {path}: no bars for {', '.join(known)}")
    return out


def catalog_kind(path: str | Path) -> str:
    """What a Nautilus ParquetDataCatalog holds for a run: "bars" (preferred) or "quotes" (quote ticks)."""
    from nautilus_trader.persistence.catalog import ParquetDataCatalog

    if not Path(path).is_dir():
        raise ConfigError(f"--data-catalog {path}: not a folder")
    kinds = ParquetDataCatalog(str(path)).list_data_types()
    if "bar" in kinds or "quote_tick" not in kinds:
        return "bars"  # catalog_bars names what is missing
    return "quotes"


def catalog_quotes(path: str | Path, instruments: dict) -> list:  # noqa: ANN001
    """Quote ticks of the instruments (id -> instrument) from a ParquetDataCatalog, in time order, at each
    instrument's precisions (the engines refuse others)."""
    from nautilus_trader.persistence.catalog import ParquetDataCatalog

    ticks = ParquetDataCatalog(str(path)).quote_ticks(instrument_ids=list(instruments))
    if not ticks:
        raise ConfigError(f"--data-catalog {path}: no bars or quote ticks for {', '.join(instruments)}")
    return sorted((_at_precision(t, instruments[str(t.instrument_id)]) for t in ticks), key=lambda t: t.ts_init)


def _at_precision(tick, instrument):  # noqa: ANN001, ANN202
    if (tick.bid_price.precision, tick.bid_size.precision) == (instrument.price_precision, instrument.size_precision):
        return tick
    from nautilus_trader.model.data import QuoteTick

    price, qty = instrument.make_price, instrument.make_qty
    return QuoteTick(instrument.id, price(tick.bid_price.as_decimal()), price(tick.ask_price.as_decimal()),
                     qty(tick.bid_size.as_decimal()), qty(tick.ask_size.as_decimal()), tick.ts_event, tick.ts_init)
