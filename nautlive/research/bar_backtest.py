"""BACKTEST on bars: the rebalancing strategy on BacktestEngine's bar execution over OHLCV files and a weight history.

Fills: Nautilus's bar execution turns each bar into trades at open, high, low and close (a quarter of the volume each),
so once a bar has closed the book stands at its close. A weight change applies when every instrument's bar of its
time step has been processed (a time alert at the bar close fires after the data of that instant): market orders fill
at the close, and what exceeds a quarter of the bar's volume one tick worse. The strategy reads its prices from
quotes, which bars do not have: the schedule actor puts a quote at each instrument's last close into the cache just
before it publishes the targets, so planning, sizing and the order list are the strategy's own, unchanged.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from decimal import Decimal
from pathlib import Path

import msgspec

from nautlive.catalog.specs import load_catalog, spec_to_instrument
from nautlive.config.profile import VenueProfile
from nautlive.core.signals import ScheduledTargets, read_targets
from nautlive.data.bar_run import CHUNK_NS, BarRun, apply_at_close  # noqa: F401 - the bar backtest's own
from nautlive.data.bars import NS, catalog_bars, merged_chunks, read_bars
from nautlive.data.schedule import align, read_weight_history
from nautlive.errors import ConfigError
from nautlive.research.portfolio_stats import Fill, curves, statistics
from nautlive.venues import venue_for

MINIMUM_SKIPS = {"below min_qty", "below min_notional", "below step_size", "max order size below min trade"}


class BarSummary(msgspec.Struct):
    """summary.json of a run on bars: the statistics first, then what the run traded on."""

    nav_start: float
    nav_end: float
    total_return: float
    cagr: float
    volatility: float
    sharpe: float
    sortino: float
    max_drawdown: float
    turnover: float  # traded notional / starting NAV (portfolio_stats.turnover)
    traded: float  # notional bought and sold, in the quote currency
    fees: float
    orders: int
    fills: int
    rebalances: int
    skipped: int
    tracking_error: float
    ideal_nav_end: float
    rejected: int
    bars: int
    start: str
    end: str
    interval_secs: dict[str, int]
    final_weights: dict[str, dict[str, float]]
    warnings: list[str]


def prepare_bars(profile: VenueProfile, data: Sequence[str], targets: str | Path | None, schedule: str | Path | None,
                 catalog_path: str | Path | None = None, bar: int | None = None,
                 data_catalog: str | Path | None = None) -> BarRun:
    """Read and check every input before anything runs; ConfigError (exit 2) names the file, row and reason."""
    from nautlive.core.execution import needs_quotes

    needs_quotes(profile.execution.style, "a run on bars")
    catalog = load_catalog(catalog_path or profile.catalog)
    by_id = catalog.by_id()
    missing = [i for i in profile.instruments if i not in by_id]
    if missing:
        raise ConfigError(f"{catalog_path or profile.catalog}: catalog has no record for {', '.join(missing)}")
    known = list(profile.instruments)
    warnings: list[str] = []
    series = catalog_bars(data_catalog, known) if data_catalog is not None else []
    for text in data:
        one, notes = read_bars(str(text), profile.venue, known, bar)
        if any(s.instrument_id == one.instrument_id for s in series):
            raise ConfigError(f"--data {text}: a second bar file for {one.instrument_id}")
        series.append(one)
        warnings += notes
    if not series:
        raise ConfigError("--data: at least one bar file (or --data-catalog) is needed")
    series.sort(key=lambda s: known.index(s.instrument_id))
    plan = [] if targets is None and schedule is not None else [
        ScheduledTargets(None, read_targets(targets or profile.targets, known, profile.venue))]
    if schedule is not None:
        plan += read_weight_history(schedule, known, profile.venue)
    applied, notes = align(plan, series, str(schedule or targets))
    instruments = {s.instrument_id: spec_to_instrument(by_id[s.instrument_id], taker_fee=profile.taker_fee)
                   for s in series}
    return BarRun(series, instruments, applied, catalog, warnings + notes)


def build_bar_engine(profile: VenueProfile, run: BarRun, drift_path: Path | None, session: str,
                     progress: Callable[[int], None] | None = None):  # noqa: ANN201
    """BacktestEngine (CASH account, bar execution) streaming the bars, the schedule actor and the strategy."""
    from nautlive.research.engine import new_engine, rebalance_strategy

    engine = new_engine(profile, run.instruments.values())
    engine.add_data_iterator("bars", _counted(merged_chunks(run.series, run.instruments, CHUNK_NS), progress))
    ids = [s.instrument_id for s in run.series]
    engine.add_actor(bar_schedule_actor(run))
    strategy = rebalance_strategy(profile, ids, run.catalog, drift_path, session, market_tif="GTC")
    engine.add_strategy(strategy)
    return engine, strategy


def _counted(chunks, progress: Callable[[int], None] | None):  # noqa: ANN001, ANN202
    for chunk in chunks:
        yield chunk
        if progress is not None:
            progress(len(chunk))


def bar_schedule_actor(run: BarRun):  # noqa: ANN201
    """The actor that applies each target version once its bar step has been processed (Nautilus imported here)."""
    from nautilus_trader.common.actor import Actor
    from nautilus_trader.config import ActorConfig

    class BarScheduleActor(Actor):
        def on_start(self) -> None:
            for k, entry in enumerate(run.applied):
                self.clock.set_time_alert_ns(f"targets-{k}", entry.at_ns,
                                             lambda _, t=entry.targets: apply_at_close(self.cache, self.msgbus, run, t))

    return BarScheduleActor(ActorConfig(component_id="BarSchedule"))


def engine_fills(engine) -> list[Fill]:  # noqa: ANN001
    """Every fill of the run from the engine's cache, fees in the quote currency, in time order."""
    from nautilus_trader.model.events import OrderFilled

    out = []
    for order in engine.cache.orders():
        for e in order.events:
            if isinstance(e, OrderFilled):
                sign = 1.0 if e.order_side.name == "BUY" else -1.0
                price = e.last_px.as_double()
                fee = e.commission.as_double() if e.commission.currency.code != _base(engine, e) else (
                    e.commission.as_double() * price)
                out.append(Fill(e.ts_event, str(e.instrument_id), sign * e.last_qty.as_double(), price, fee))
    return sorted(out, key=lambda f: f.ts_ns)


def _base(engine, event) -> str | None:  # noqa: ANN001
    base = getattr(engine.cache.instrument(event.instrument_id), "base_currency", None)
    return base.code if base is not None else None


def summarise_bars(profile: VenueProfile, run: BarRun, strategy, engine):  # noqa: ANN001, ANN201
    """(summary, curves): the statistics from the fills and the bars, and the engine's own final account."""
    fills = engine_fills(engine)
    start = float(sum(profile.starting_balances().values(), Decimal(0)))
    applied = [(a.at_ns, {k: float(v) for k, v in a.targets.weights.items()}) for a in run.applied]
    c = curves(run.series, fills, applied, start)
    traded = sum(abs(f.qty) * f.price for f in fills)
    periods = venue_for(profile).periods_per_year
    first_open = min(int(s.ts[0] - s.step_ns) for s in run.series)
    stats = statistics(c, start, traded, periods, first_open)
    reports = strategy.reports
    nav_end = float(strategy.cash()) + sum(float(strategy.holding(run.instruments[s.instrument_id])) * s.close[-1]
                                           for s in run.series)
    from nautlive.data.bars import _iso

    last = run.applied[-1].targets.weights if run.applied else {}  # Decimal, as the schedule wrote it
    summary = BarSummary(
        nav_start=start,
        nav_end=round(float(nav_end), 8),
        fees=round(float(c.fees[-1]) if len(c.fees) else 0.0, 8),
        orders=sum(len(r.orders) for r in reports),
        fills=len(fills),
        rebalances=len(reports),
        skipped=sum(1 for r in reports for s in r.skipped if s["reason"] in MINIMUM_SKIPS),
        rejected=sum(len(r.rejected) for r in reports),
        bars=run.bars,
        start=_iso(first_open),
        end=_iso(int(c.time[-1])),
        interval_secs={s.instrument_id: s.step_ns // NS for s in run.series},
        final_weights={iid: {"weight": round(float(c.weights[-1, k]), 6), "target": float(last.get(iid, 0))}
                       for k, iid in enumerate(c.ids)},
        warnings=run.warnings,
        **{k: round(float(v), 8) for k, v in stats.items()},
    )
    return summary, c


def write_equity(path: Path, c, rows: int = 50_000) -> None:  # noqa: ANN001
    """equity.csv: time (ISO 8601 UTC), nav, ideal_nav, cash and one weight column per instrument, in row blocks."""
    import pyarrow as pa
    import pyarrow.compute as pc
    from pyarrow import csv

    writer = None
    for start in range(0, len(c.time), rows):
        block = slice(start, start + rows)
        time = pc.strftime(pa.array(c.time[block] // NS, pa.timestamp("s", tz="UTC")), format="%Y-%m-%dT%H:%M:%SZ")
        columns = {"time": time, "nav": c.nav[block], "ideal_nav": c.ideal_nav[block], "cash": c.cash[block]}
        table = pa.table(columns | {iid: c.weights[block, k] for k, iid in enumerate(c.ids)})
        writer = writer or csv.CSVWriter(path, table.schema)
        writer.write_table(table)
    writer.close()
