"""Downloaded bars into a Nautilus ParquetDataCatalog (`data download --data-catalog PATH`), which `backtest
--data-catalog` and Nautilus's own tools read: each symbol's instrument (from the profile's execution metadata
catalog, at its precisions) and its bars as `<SYMBOL>.<VENUE>-<n>-<UNIT>-LAST-EXTERNAL`, stamped at each bar's close."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from nautlive.data.bars import NS, BarSeries, nautilus_bars
from nautlive.data.klines import Row
from nautlive.errors import ConfigError


def series_of(instrument_id: str, source: str, rows: list[Row], step_ms: int) -> BarSeries:
    columns = np.array(rows, dtype=np.float64).T if rows else np.zeros((6, 0))
    close_ns = (np.array([r[0] for r in rows], dtype=np.int64) + step_ms) * 1_000_000
    return BarSeries(instrument_id, source, step_ms * 1_000_000, close_ns, *(np.ascontiguousarray(c) for c in
                                                                           columns[1:]))


def write_catalog(path: Path, specs: dict, files: list[tuple[str, str, list[Row]]], step_ms: int,
                  taker_fee) -> int:  # noqa: ANN001
    """Write the instruments and bars of `files` ([(instrument id, source, rows)]) into the catalog at `path`; the
    number of bars written. `specs` maps instrument ids to the execution metadata catalog's specs."""
    from nautilus_trader.persistence.catalog import ParquetDataCatalog

    from nautlive.catalog.specs import spec_to_instrument

    if step_ms * 1_000_000 % NS:
        raise ConfigError(f"--data-catalog: a bar interval of {step_ms} ms is not whole seconds")
    catalog = ParquetDataCatalog(str(path))
    written = 0
    for iid, source, rows in files:
        if iid not in specs:
            raise ConfigError(f"--data-catalog: {iid} is not in the profile's catalog (its precisions are needed): "
                              "run `nautlive catalog snapshot` with it")
        instrument = spec_to_instrument(specs[iid], taker_fee)
        bars = nautilus_bars(series_of(iid, source, rows, step_ms), instrument, 0, len(rows))
        catalog.write_data([instrument])
        if bars:
            catalog.write_data(bars)
        written += len(bars)
    return written
