"""The backtest tearsheet: one self-contained HTML page (plotly) of a run on bars, as a trader reads one.

A statistics table (CAGR, volatility, Sharpe, Sortino, max drawdown and its duration, Calmar, turnover, fees in bps of
the starting NAV, tracking error against the ideal) and a table of monthly returns, then four charts, each with its
own legend and axis titles with units: NAV against the ideal portfolio, the drawdown in %, each instrument's weight
against its target (% of NAV), and the costs (cumulative fees and the gap to the ideal NAV). Long runs are thinned to
about MAX_POINTS points per line, keeping each bucket's minimum and maximum of the NAV, the ideal NAV and the drawdown
(`thin`): the worst drawdown and the NAV's extremes are always drawn, so the lines agree with the tables.
"""

from __future__ import annotations

import html
from pathlib import Path

import numpy as np

MAX_POINTS = 5_000
DAY_NS = 86_400 * 10**9
MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
STYLE = ("body{font:14px system-ui,sans-serif;margin:24px} table{border-collapse:collapse;margin:8px 24px 16px 0;"
         "display:inline-table;vertical-align:top} td,th{border:1px solid #ccc;padding:3px 8px;text-align:right} "
         "th{background:#f4f4f4} td:first-child{text-align:left} .neg{color:#b00}")


def write_tearsheet(path: Path, title: str, summary, c, quote: str = "USDT") -> None:  # noqa: ANN001
    import plotly.io as pio

    drawdown = drawdown_fraction(c.nav)
    pick = thin([c.nav, c.ideal_nav, drawdown], MAX_POINTS)
    charts = [pio.to_html(fig, include_plotlyjs=k == 0, full_html=False)
              for k, fig in enumerate(_figures(c, drawdown, pick, quote))]
    heading = (f"{title}: NAV {summary.nav_start:,.2f} -> {summary.nav_end:,.2f} {quote} (ideal "
               f"{summary.ideal_nav_end:,.2f}), return {summary.total_return:.2%}, max drawdown "
               f"{summary.max_drawdown:.2%}")
    page = (f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{html.escape(title)} tearsheet</title>"
            f"<style>{STYLE}</style></head><body><h2>{html.escape(heading)}</h2>"
            f"{_table('statistics', ['', 'value'], stats_rows(summary, c))}"
            f"{_monthly_table(monthly_returns(c.time, c.nav, summary.nav_start))}"
            f"{''.join(charts)}</body></html>")
    path.write_text(page)


def stats_rows(summary, c) -> list[list[str]]:  # noqa: ANN001
    """The statistics a trader looks for first, formatted with their units."""
    days = drawdown_days(c.time, c.nav)
    calmar = summary.cagr / summary.max_drawdown if summary.max_drawdown > 0 else float("nan")
    return [
        ["total return", f"{summary.total_return:.2%}"],
        ["CAGR", f"{summary.cagr:.2%}"],
        ["volatility (annualised)", f"{summary.volatility:.2%}"],
        ["Sharpe", f"{summary.sharpe:.2f}"],
        ["Sortino", f"{summary.sortino:.2f}"],
        ["max drawdown", f"{summary.max_drawdown:.2%}"],
        ["max drawdown duration", f"{days:.1f} days"],
        ["Calmar", f"{calmar:.2f}"],
        ["turnover (x starting NAV)", f"{summary.turnover:.2f}"],
        ["fees (bps of starting NAV)", f"{summary.fees / summary.nav_start * 1e4:.1f}"],
        ["tracking error vs ideal (annualised)", f"{summary.tracking_error:.2%}"],
        ["rebalances / orders", f"{summary.rebalances} / {summary.orders}"],
    ]


def drawdown_fraction(nav: np.ndarray) -> np.ndarray:
    """The fall from the running peak at every point, as a positive fraction."""
    return 1.0 - nav / np.maximum.accumulate(nav)


def drawdown_days(time: np.ndarray, nav: np.ndarray) -> float:
    """The longest time from a peak until it is regained (or the end, if it is not), in days."""
    if len(nav) < 2:
        return 0.0
    at_peak = nav >= np.maximum.accumulate(nav)
    peak_time = np.maximum.accumulate(np.where(at_peak, time, time[0]))
    under = ~at_peak[1:] | ~at_peak[:-1]  # below the peak now, or regaining it now
    spans = (time[1:] - peak_time[:-1])[under]
    return float(spans.max()) / DAY_NS if len(spans) else 0.0


def monthly_returns(time: np.ndarray, nav: np.ndarray, start: float) -> dict[tuple[int, int], float]:
    """{(year, month): return} from month-end NAVs (UTC), the first month from the starting NAV."""
    months = time.astype("datetime64[ns]").astype("datetime64[M]").astype(np.int64)
    last = np.flatnonzero(np.append(np.diff(months) != 0, True))
    ends = nav[last]
    before = np.append(start, ends[:-1])
    return {(int(m // 12 + 1970), int(m % 12 + 1)): float(e / b - 1.0)
            for m, e, b in zip(months[last], ends, before, strict=True)}


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


def _figures(c, drawdown: np.ndarray, pick: np.ndarray, quote: str) -> list:  # noqa: ANN001
    import plotly.graph_objects as go

    x = c.time[pick].astype("datetime64[ns]")
    nav, ideal = c.nav[pick], c.ideal_nav[pick]

    def figure(title: str, y_title: str, traces: list) -> go.Figure:
        fig = go.Figure(traces)
        fig.update_layout(title=title, height=360, hovermode="x unified", margin={"t": 48, "b": 40},
                          legend={"orientation": "h", "x": 1, "xanchor": "right", "y": 1.02, "yanchor": "bottom"})
        fig.update_xaxes(title_text="time (UTC)")
        fig.update_yaxes(title_text=y_title)
        return fig

    weights = []
    for k, iid in enumerate(c.ids):
        weights.append(go.Scatter(x=x, y=100 * c.weights[pick, k], name=f"{iid} weight"))
        weights.append(go.Scatter(x=x, y=100 * c.targets[pick, k], name=f"{iid} target",
                                  line={"dash": "dash", "shape": "hv"}))
    return [
        figure("NAV against the ideal portfolio", f"NAV ({quote})",
               [go.Scatter(x=x, y=nav, name="NAV"), go.Scatter(x=x, y=ideal, name="ideal NAV", line={"dash": "dot"})]),
        figure("Drawdown", "drawdown (%)",
               [go.Scatter(x=x, y=-100 * drawdown[pick], name="drawdown", fill="tozeroy")]),
        figure("Weights against targets", "weight (% of NAV)", weights),
        figure("Costs: fees and the gap to the ideal", quote,
               [go.Scatter(x=x, y=c.fees[pick], name="fees (cumulative)"),
                go.Scatter(x=x, y=ideal - nav, name="ideal NAV - NAV")]),
    ]


def _table(caption: str, header: list[str], rows: list[list[str]]) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(cell)}</td>" for cell in row) + "</tr>" for row in rows)
    return f"<table><caption>{html.escape(caption)}</caption><tr>{head}</tr>{body}</table>"


def _monthly_table(returns: dict[tuple[int, int], float]) -> str:
    years = sorted({y for y, _ in returns})
    rows = []
    for year in years:
        cells = [f"{returns[year, m]:.2%}" if (year, m) in returns else "" for m in range(1, 13)]
        in_year = [returns[year, m] for m in range(1, 13) if (year, m) in returns]
        rows.append([str(year), *cells, f"{np.prod([1 + r for r in in_year]) - 1:.2%}"])
    return _table("monthly returns", ["year", *MONTHS, "year"], rows)
