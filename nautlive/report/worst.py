"""The worst orders of a venue: drift per order (its levels' notional-weighted drift), the WORST_COUNT highest.

A market order that walks the book logs one line per level; the levels of one order follow each other in the log with
the same kind (session, instrument, side ...) and timestamp, so runs of such rows are the candidate orders, found in one
pass over the columns (no sort of a million rows). Only the top runs' lines are read back, and split by
client_order_id (two orders at the same instant stay two rows).
"""

from __future__ import annotations

import msgspec
import numpy as np

from nautlive.report.columns import DriftColumns
from nautlive.report.figures import WorstFill
from nautlive.report.fill_orders import by_order
from nautlive.report.read import read_lines

WORST_COUNT = 10


def worst_orders(columns: DriftColumns, ids: list[int], count: int = WORST_COUNT) -> list[WorstFill]:
    """The `count` orders of these kinds with the highest drift (ties: the earlier first), VWAP over their levels."""
    mine = np.zeros(len(columns.kinds), bool)
    mine[ids] = True
    rows = np.flatnonzero(mine[columns.kind] & ~np.isnan(columns.drift_bps))
    if not len(rows):
        return []
    every = len(rows) == len(columns.kind)  # the usual case: the columns as they are, not a copy of each
    kind, ts, source = (columns.kind, columns.ts, columns.source) if every else (
        columns.kind[rows], columns.ts[rows], columns.source[rows])
    starts = np.flatnonzero(np.r_[True, (kind[1:] != kind[:-1]) | (ts[1:] != ts[:-1]) | (source[1:] != source[:-1])])
    ends = np.append(starts[1:], len(rows))
    drift, notional = (columns.drift_bps, columns.notional) if every else (columns.drift_bps[rows],
                                                                         columns.notional[rows])
    total = np.add.reduceat(notional, starts)
    plain = np.add.reduceat(drift, starts) / (ends - starts)
    weighted = np.divide(np.add.reduceat(drift * notional, starts), total, out=plain.copy(), where=total > 0)
    # The top `count` runs without sorting them all: every run at or above the count-th largest drift, then those.
    k = min(count, len(weighted))
    threshold = np.partition(weighted, len(weighted) - k)[len(weighted) - k]
    candidates = np.flatnonzero(weighted >= threshold)
    top = candidates[np.lexsort((starts[candidates], -weighted[candidates]))][:count]
    orders = []
    for g in top.tolist():
        run = rows[starts[g]:ends[g]]
        src = int(columns.source[run[0]])
        lines = read_lines(columns.paths[src], columns.offset[run].tolist())
        orders += [_worst(columns.kinds[columns.kind[run[0]]], o) for o in by_order(map(msgspec.json.decode, lines))]
    orders.sort(key=lambda w: -w.drift_bps)  # stable: ties keep the log's order
    return orders[:count]


def _worst(kind, order) -> WorstFill:  # noqa: ANN001
    return WorstFill(
        ts=order.ts,
        session=kind.session,
        mode=kind.mode,
        instrument=kind.instrument,
        side=kind.side,
        qty=_text(order.qty),
        fill_px=_text(order.vwap),
        mid_at_submit=str(order.first.get("mid_at_submit")),
        drift_bps=order.drift_bps if order.drift_bps is not None else float(order.first.get("drift_bps")),
        notional=float(order.notional) or float(order.first.get("notional") or 0.0),
        client_order_id=order.client_order_id,
        levels=order.levels,
    )


def _text(value) -> str:  # noqa: ANN001
    return format(value.normalize(), "f") if value == value else str(value)
