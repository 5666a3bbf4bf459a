"""The drift report's HTML page: per venue, a drift histogram and drift over time per instrument (plotly)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from nautlive.errors import ConfigError
from nautlive.report.read import DriftColumns
from nautlive.report.stats import DriftReport

RAW_POINTS_MAX = 2000
TIME_BINS = 500
HISTOGRAM_BINS = 100


def write_html(columns: DriftColumns, report: DriftReport, path: Path) -> None:
    """A self-contained page (plotly.js embedded): per venue, a drift histogram and drift over time per instrument."""
    figures = [_venue_figure(columns, v.venue) for v in report.venues]
    parts = [f.to_html(full_html=False, include_plotlyjs=(i == 0)) for i, f in enumerate(figures)]
    page = (
        "<!DOCTYPE html><html><head><meta charset='utf-8'><title>nautlive drift report</title></head><body>"
        f"<h1>nautlive drift report</h1><p>{', '.join(report.logs)}</p>{''.join(parts) or '<p>no fills</p>'}"
        "</body></html>"
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
        times, drift, label = drift_series(columns, np.flatnonzero(instrument == code))
        fig.add_trace(go.Scattergl(x=times, y=drift, name=f"{name} {label}", mode="lines+markers"), row=2, col=1)
    fig.update_xaxes(title_text="drift bps (positive = cost)", row=1, col=1)
    fig.update_yaxes(title_text="fills", row=1, col=1)
    fig.update_yaxes(title_text="drift bps", row=2, col=1)
    fig.update_layout(height=800)
    return fig


def drift_series(columns: DriftColumns, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray, str]:
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
