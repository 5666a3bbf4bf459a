"""The equity curve of a bar backtest, its ideal twin, and the portfolio statistics of both (numpy, no engine).

Time grid: every bar close of any instrument; an instrument's price at a grid time is its last close so far.
Actual: the holdings and cash that the engine's fills imply (fill price, fee in the quote currency).
Ideal: the same weights applied exactly at the same closes, no fees, no lots, no band.
Daily figures sample the curves at the last grid time of each UTC day; Sharpe, Sortino and volatility come from
Nautilus's own statistics over those daily returns, annualised over `periods` days (365 for crypto, 252 else).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from nautlive.data.bars import NS, BarSeries

DAY_NS = 86_400 * NS


@dataclass(frozen=True)
class Fill:
    ts_ns: int
    instrument_id: str
    qty: float  # signed: + bought, - sold
    price: float
    fee: float  # in the quote currency


@dataclass(frozen=True)
class Curves:
    time: np.ndarray  # ns
    nav: np.ndarray
    ideal_nav: np.ndarray
    cash: np.ndarray
    weights: np.ndarray  # (time, instrument)
    targets: np.ndarray  # (time, instrument): the weights in force
    fees: np.ndarray  # cumulative
    ids: list[str]


def closes_on_grid(series: Sequence[BarSeries]) -> tuple[np.ndarray, np.ndarray]:
    """(grid, prices): each instrument's last close at every grid time (0 before its first bar)."""
    grid = np.unique(np.concatenate([s.ts for s in series]))
    prices = np.zeros((len(grid), len(series)))
    for k, s in enumerate(series):
        index = np.searchsorted(s.ts, grid, side="right") - 1
        prices[:, k] = np.where(index >= 0, s.close[np.maximum(index, 0)], 0.0)
    return grid, prices


def curves(series: Sequence[BarSeries], fills: Sequence[Fill], applied: Sequence[tuple[int, dict[str, float]]],
           start_cash: float) -> Curves:
    """Actual and ideal curves on the bar grid; `applied` is [(bar close ns, {instrument: weight})] in time order."""
    ids = [s.instrument_id for s in series]
    grid, prices = closes_on_grid(series)
    column = {iid: k for k, iid in enumerate(ids)}
    rows = np.searchsorted(grid, [f.ts_ns for f in fills], side="left").astype(np.int64)
    qty = np.zeros_like(prices)
    flow = np.zeros(len(grid))
    fee = np.zeros(len(grid))
    for row, f in zip(rows.tolist(), fills, strict=True):
        qty[row, column[f.instrument_id]] += f.qty
        flow[row] -= f.qty * f.price + f.fee
        fee[row] += f.fee
    cash = start_cash + np.cumsum(flow)
    holdings = np.cumsum(qty, axis=0, out=qty)
    values = np.multiply(holdings, prices, out=holdings)  # matrices reused in place: 42 MB each for 10 x a year of 1m
    nav = cash + values.sum(axis=1)
    values[nav <= 0] = 0.0
    weights = np.divide(values, nav[:, None], out=values, where=nav[:, None] > 0)
    targets = np.zeros(prices.shape)
    for at, w in applied:
        targets[np.searchsorted(grid, at):] = [w.get(iid, 0.0) for iid in ids]
    ideal = ideal_nav(grid, prices, applied, ids, start_cash)
    return Curves(grid, nav, ideal, cash, weights, targets, np.cumsum(fee), ids)


def ideal_nav(grid: np.ndarray, prices: np.ndarray, applied, ids: list[str], start_cash: float) -> np.ndarray:  # noqa: ANN001
    """The NAV of holding exactly the target weights from each application on, without costs."""
    nav = np.full(len(grid), start_cash, dtype=np.float64)
    holdings = np.zeros(len(ids))
    value, marked = float(start_cash), np.zeros(len(ids))
    starts = [int(np.searchsorted(grid, at)) for at, _ in applied] + [len(grid)]
    for (_, weights), begin, end in zip(applied, starts, starts[1:], strict=False):
        value += (prices[begin] - marked) @ holdings  # NAV moves by the holdings' price changes only
        target = np.array([weights.get(iid, 0.0) for iid in ids])
        target = np.where(prices[begin] > 0, target, 0.0)
        holdings = np.divide(target * value, prices[begin], out=np.zeros(len(ids)), where=prices[begin] > 0)
        marked = prices[begin]
        nav[begin:end] = value + (prices[begin:end] - marked) @ holdings  # exactly `value` at the rebalance
    return nav


def daily(time: np.ndarray, values: np.ndarray, start: float) -> tuple[np.ndarray, np.ndarray]:
    """(day-end times, day-end values) with `start` as the value before the first day."""
    day = time // DAY_NS
    last = np.flatnonzero(np.append(np.diff(day) != 0, True))
    return np.append(time[0] - 1, time[last]), np.append(start, values[last])


def returns(values: np.ndarray) -> np.ndarray:
    return values[1:] / values[:-1] - 1.0


def max_drawdown(nav: np.ndarray) -> float:
    """The largest fall from a running peak, as a positive fraction."""
    peak = np.maximum.accumulate(nav)
    return float(np.max(1.0 - nav / peak)) if len(nav) else 0.0


def statistics(c: Curves, start_cash: float, traded: float, periods: int, first_open_ns: int) -> dict[str, float]:
    """The summary's statistics: returns, risk, turnover and tracking error against the ideal."""
    from nautilus_trader.analysis import ReturnsVolatility, SharpeRatio, SortinoRatio

    days, nav_daily = daily(c.time, c.nav, start_cash)
    _, ideal_daily = daily(c.time, c.ideal_nav, start_cash)
    r = returns(nav_daily)
    by_time = {int(t): float(v) for t, v in zip(days[1:], r, strict=True)}
    years = (int(c.time[-1]) - first_open_ns) / (365.25 * DAY_NS)
    nav_end = float(c.nav[-1])
    gap = r - returns(ideal_daily)
    return {
        "total_return": nav_end / start_cash - 1.0,
        "cagr": (nav_end / start_cash) ** (1.0 / years) - 1.0 if years > 0 and nav_end > 0 else 0.0,
        "volatility": _finite(ReturnsVolatility(periods).calculate_from_returns(by_time)),
        "sharpe": _finite(SharpeRatio(periods).calculate_from_returns(by_time)),
        "sortino": _finite(SortinoRatio(periods).calculate_from_returns(by_time)),
        "max_drawdown": max_drawdown(np.append(start_cash, c.nav)),
        "turnover": turnover(traded, start_cash),
        "traded": traded,
        "tracking_error": float(np.std(gap, ddof=1) * np.sqrt(periods)) if len(gap) > 1 else 0.0,
        "ideal_nav_end": float(c.ideal_nav[-1]),
    }


def turnover(traded, nav_start):  # noqa: ANN001, ANN201 - float or Decimal in, the same out
    """One meaning in every backtest: traded notional (buys and sells, quote currency) as a multiple of the starting
    NAV (2.0: the portfolio was bought and sold once)."""
    return traded / nav_start if nav_start else traded * 0


def _finite(value: float | None) -> float:
    return float(value) if value is not None and np.isfinite(value) else 0.0
