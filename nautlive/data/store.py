"""Downloaded bars on disk, one file per symbol and interval, in a form `backtest --data` reads as it is:
Parquet (`BTCUSDT-1m.parquet`: time as UTC timestamps, open, high, low, close, volume) or freqtrade's JSON
(`BTC_USDT-1m.json`: `[[open_time_ms, open, high, low, close, volume], ...]`). Every write goes to a temporary file
renamed over the old one, so a killed download leaves the last complete file, never half of one.
"""

from __future__ import annotations

import os
from pathlib import Path

import msgspec

from nautlive.data.klines import Row
from nautlive.errors import ConfigError

FORMATS = ("parquet", "json")
# Quote assets that name a freqtrade pair (BTC_USDT) from a Binance symbol (BTCUSDT), longest first.
QUOTES = ("FDUSD", "USDT", "USDC", "BUSD", "TUSD", "EUR", "TRY", "BRL", "BTC", "ETH", "BNB")
_ROWS = msgspec.json.Decoder(list[tuple[int, float, float, float, float, float]])


def file_name(symbol: str, interval: str, fmt: str) -> str:
    if fmt == "json":
        quote = next((q for q in QUOTES if symbol.endswith(q) and len(symbol) > len(q)), None)
        pair = f"{symbol[: -len(quote)]}_{quote}" if quote else symbol
        return f"{pair}-{interval}.json"
    return f"{symbol}-{interval}.parquet"


def read_rows(path: Path) -> list[Row]:
    """The rows of a file this module wrote (empty when there is none); anything else is a ConfigError."""
    if not path.exists():
        return []
    try:
        if path.suffix == ".json":
            return [tuple(r) for r in _ROWS.decode(path.read_bytes())]  # type: ignore[misc]
        import pyarrow as pa
        from pyarrow import parquet

        table = parquet.read_table(path)
        times = table.column("time").cast(pa.timestamp("ms", tz="UTC")).cast(pa.int64()).to_pylist()
        columns = [table.column(c).cast(pa.float64()).to_pylist() for c in ("open", "high", "low", "close", "volume")]
        return list(zip(times, *columns, strict=True))
    except Exception as exc:  # noqa: BLE001 - a file we cannot read back must not be overwritten blindly
        raise ConfigError(f"{path}: exists but is not a bar file this command can extend ({exc}): move it away") \
            from None


def write_rows(path: Path, rows: list[Row]) -> None:
    """Replace `path` with `rows` atomically (a temporary file beside it, then a rename)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temp = path.with_name(f".{path.name}.part")
    if path.suffix == ".json":
        temp.write_bytes(msgspec.json.encode([list(r) for r in rows]))
    else:
        import pyarrow as pa
        from pyarrow import parquet

        columns = list(zip(*rows, strict=True)) if rows else [[]] * 6
        table = pa.table({
            "time": pa.array(columns[0], pa.int64()).cast(pa.timestamp("ms", tz="UTC")),
            **{name: pa.array(columns[i + 1], pa.float64())
               for i, name in enumerate(("open", "high", "low", "close", "volume"))},
        })
        parquet.write_table(table, temp)
    os.replace(temp, path)
