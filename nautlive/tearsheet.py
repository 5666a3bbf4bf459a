"""The backtest tearsheet: one self-contained HTML page (plotly) of a run on bars.

Equity against the ideal portfolio, drawdown, each instrument's weight against its target, and the cumulative costs
(fees, and the gap to the ideal NAV). Long runs are thinned to about MAX_POINTS points per line, keeping each bucket's
minimum and maximum of the NAV, the ideal NAV and the drawdown (`thin`): the worst drawdown and the NAV's extremes are
always drawn, so the line agrees with the header.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

MAX_POINTS = 5_000


def write_tearsheet(path: Path, title: str, summary, c) -> None:  # noqa: ANN001
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    drawdown = 1.0 - c.nav / np.maximum.accumulate(c.nav)
    pick = thin([c.nav, c.ideal_nav, drawdown], MAX_POINTS)
    x = c.time[pick].astype("datetime64[ns]")
    nav, ideal = c.nav[pick], c.ideal_nav[pick]
    fig = make_subplots(rows=4, cols=1, shared_xaxes=True, vertical_spacing=0.05,
                        subplot_titles=("NAV against the ideal portfolio", "Drawdown", "Weights against targets",
                                        "Costs: fees and the gap to the ideal"))
    fig.add_trace(go.Scatter(x=x, y=nav, name="NAV"), row=1, col=1)
    fig.add_trace(go.Scatter(x=x, y=ideal, name="ideal NAV", line={"dash": "dot"}), row=1, col=1)
    fig.add_trace(go.Scatter(x=x, y=-drawdown[pick], name="drawdown", fill="tozeroy"), row=2, col=1)
    for k, iid in enumerate(c.ids):
        fig.add_trace(go.Scatter(x=x, y=c.weights[pick, k], name=f"{iid} weight"), row=3, col=1)
        fig.add_trace(go.Scatter(x=x, y=c.targets[pick, k], name=f"{iid} target", line={"dash": "dash", "shape": "hv"}),
                      row=3, col=1)
    fig.add_trace(go.Scatter(x=x, y=c.fees[pick], name="fees (cumulative)"), row=4, col=1)
    fig.add_trace(go.Scatter(x=x, y=ideal - nav, name="ideal NAV - NAV"), row=4, col=1)
    heading = (f"{title}: NAV {summary.nav_start:,.2f} -> {summary.nav_end:,.2f} (ideal {summary.ideal_nav_end:,.2f}), "
               f"return {summary.total_return:.2%}, Sharpe {summary.sharpe:.2f}, max drawdown {summary.max_drawdown:.2%},"
               f" fees {summary.fees:,.2f}, tracking error {summary.tracking_error:.2%}")
    fig.update_layout(title=heading, height=1200, hovermode="x unified")
    path.write_text(fig.to_html(include_plotlyjs=True, full_html=True))


def thin(series: list[np.ndarray], max_points: int) -> np.ndarray:
    """Sorted row indices to draw: the first and last row, and in each of the equal buckets the rows of every series'
    minimum and maximum (about `max_points` in all). Short series are kept whole."""
    n = len(series[0])
    per_bucket = 2 * len(series)
    if n <= max_points:
        return np.arange(n)
    size = -(-n * per_bucket // max_points)  # rows per bucket, rounded up
    buckets = -(-n // size)
    keep = [np.array([0, n - 1])]
    starts = np.arange(buckets) * size
    for values in series:
        padded = np.full(buckets * size, np.nan)
        padded[:n] = values
        blocks = padded.reshape(buckets, size)
        keep += [starts + np.nanargmin(blocks, axis=1), starts + np.nanargmax(blocks, axis=1)]
    return np.unique(np.concatenate(keep))
