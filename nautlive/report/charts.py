"""The page's charts, per venue (plotly, imported only when a page is written): the drift histogram per mode, drift
over time per session (each session on its own clock, so a replay that logged its recording's times does not stretch
the axis over years), and drift against fill notional."""

from __future__ import annotations

import numpy as np

from nautlive.report.columns import DriftColumns

HISTOGRAM_BINS = 80
TAIL_PERCENT = 0.5  # drifts beyond these percentiles are counted in the edge bars, which say so
RAW_POINTS_MAX = 2000
TIME_BINS = 500
SESSIONS_MAX = 12
SCATTER_POINTS_MAX = 4000
COLOURS = {"live": "#d62728", "shadow": "#1f77b4", "backtest": "#2ca02c"}


def venue_figure(columns: DriftColumns, venue: str):  # noqa: ANN201 (a plotly Figure)
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    rows = np.flatnonzero(_of_venue(columns, venue)[columns.kind] & ~np.isnan(columns.drift_bps))
    modes = sorted({columns.kinds[k].mode for k in set(columns.kind[rows].tolist())})
    sessions = _sessions(columns, rows)
    fig = make_subplots(rows=3, cols=1, vertical_spacing=0.08, subplot_titles=(
        f"{venue}: drift histogram per mode (bps; the edge bars hold the tails beyond p{TAIL_PERCENT:g} and "
        f"p{100 - TAIL_PERCENT:g})",
        f"{venue}: drift over time per session (minutes since the session's first fill"
        + (f"; the latest {SESSIONS_MAX} of {len(sessions)} sessions)" if len(sessions) > SESSIONS_MAX else ")"),
        f"{venue}: drift against fill notional (a sample of at most {SCATTER_POINTS_MAX} fills per mode)",
    ))
    edges = _edges(columns.drift_bps[rows])
    for mode in modes:
        mine = rows[_mode_of(columns, rows) == mode]
        counts, _ = np.histogram(np.clip(columns.drift_bps[mine], edges[0], edges[-1]), bins=edges)
        fig.add_trace(go.Bar(x=edges[:-1], y=counts, width=np.diff(edges), offset=0, name=f"{mode} fills",
                             marker_color=COLOURS.get(mode), opacity=0.6, legendgroup=mode), row=1, col=1)
        sample = mine[:: max(1, len(mine) // SCATTER_POINTS_MAX)]
        fig.add_trace(go.Scattergl(x=columns.notional[sample], y=columns.drift_bps[sample], mode="markers",
                                   marker={"size": 4, "color": COLOURS.get(mode), "opacity": 0.5},
                                   name=f"{mode}: drift vs notional", legendgroup=mode, showlegend=False),
                      row=3, col=1)
    for name, mine in sessions[-SESSIONS_MAX:]:
        minutes, drift, label = drift_series(columns, mine)
        each_fill = len(minutes) == len(mine)  # separate fills are points; a line joins only binned means
        fig.add_trace(go.Scattergl(x=minutes, y=drift, mode="markers" if each_fill else "lines+markers",
                                   marker={"size": 5 if each_fill else 4}, name=f"{name} {label}"), row=2, col=1)
    fig.update_layout(barmode="overlay", height=1100, bargap=0, legend={"orientation": "h"})
    fig.update_xaxes(range=[edges[0], edges[-1]], title_text="drift bps (positive = cost)", row=1, col=1)
    fig.update_yaxes(title_text="fills", row=1, col=1)
    fig.update_xaxes(title_text="minutes since the session's first fill", row=2, col=1)
    fig.update_yaxes(title_text="drift bps", row=2, col=1)
    fig.update_xaxes(type="log", title_text="fill notional (quote currency)", row=3, col=1)
    fig.update_yaxes(title_text="drift bps", row=3, col=1)
    return fig


def _of_venue(columns: DriftColumns, venue: str) -> np.ndarray:
    return np.array([k.venue == venue for k in columns.kinds] or [False], bool)


def _mode_of(columns: DriftColumns, rows: np.ndarray) -> np.ndarray:
    return np.array([k.mode for k in columns.kinds] or [""], object)[columns.kind[rows]]


def _edges(drift: np.ndarray) -> np.ndarray:
    """Histogram bin edges over the central (100 - 2 x TAIL_PERCENT) % of the drifts (one bar when all are equal)."""
    low, high = np.percentile(drift, [TAIL_PERCENT, 100 - TAIL_PERCENT]) if len(drift) else (0.0, 0.0)
    if high <= low:
        low, high = low - 0.5, high + 0.5
    return np.linspace(low, high, HISTOGRAM_BINS + 1)


def _sessions(columns: DriftColumns, rows: np.ndarray) -> list[tuple[str, np.ndarray]]:
    """The rows of each session, sessions in the order of their first fill."""
    session = np.array([k.session for k in columns.kinds] or [""], object)[columns.kind[rows]]
    names, codes = np.unique(session, return_inverse=True)
    groups = [rows[codes == i] for i in range(len(names))]
    order = sorted(range(len(names)), key=lambda i: columns.ts[groups[i]].min())
    return [(str(names[i]), groups[i]) for i in order]


def drift_series(columns: DriftColumns, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray, str]:
    """Minutes since the first of `rows` and each fill's drift when there are few; else the notional-weighted mean
    per TIME_BINS-th of the period, so the page stays small."""
    rows = rows[np.argsort(columns.ts[rows], kind="stable")]
    ticks = columns.ts[rows].astype(np.int64)
    minutes = (ticks - ticks[0]) / 60e6
    drift, notional = columns.drift_bps[rows], columns.notional[rows]
    if len(rows) <= RAW_POINTS_MAX:
        return minutes, drift, "(each fill)"
    edges = np.linspace(minutes[0], minutes[-1], TIME_BINS + 1)
    bins = np.clip(np.searchsorted(edges, minutes, side="right") - 1, 0, TIME_BINS - 1)
    weight = np.bincount(bins, notional, TIME_BINS)
    filled = weight > 0
    mean = np.bincount(bins, drift * notional, TIME_BINS)[filled] / weight[filled]
    return ((edges[:-1] + edges[1:]) / 2)[filled], mean, f"(weighted mean per {TIME_BINS}-th of the session)"
