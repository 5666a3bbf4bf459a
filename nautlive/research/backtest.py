"""BACKTEST: the rebalancing strategy on NautilusTrader's BacktestEngine over recorded quotes and a target schedule.

Everything is validated before the engine starts; outputs are written only when the run completes.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Sequence
from decimal import Decimal
from pathlib import Path

import msgspec

from nautlive.catalog.specs import ExecutionMetadataCatalog, load_catalog, spec_to_instrument
from nautlive.config.profile import VenueProfile
from nautlive.core.holdings import final_weights
from nautlive.core.signals import ScheduledTargets, read_schedule, read_targets
from nautlive.data.bars import catalog_kind, is_bar_input
from nautlive.errors import ConfigError
from nautlive.research.engine import new_engine, rebalance_strategy
from nautlive.research.portfolio_stats import turnover


class BacktestSummary(msgspec.Struct):
    """What a run did: orders, fills, fees, turnover, and the final weights against the last target."""

    quotes: int
    orders: int
    fills: int
    rejected: int
    expired: int  # market orders the visible book filled only in part (the rest expired, as on Binance)
    fees: str
    turnover: str  # traded notional / starting NAV (portfolio_stats.turnover)
    traded: str  # notional bought and sold, in the quote currency
    nav_start: str
    nav_end: str
    cash_end: str
    min_cash: str
    rebalances: int
    final_weights: dict[str, dict[str, str]]
    drift_alerts: int
    capped: int = 0  # limit_cap orders the cap left (partly) unfilled (execution.style limit_cap)


class PreparedRun(msgspec.Struct):
    """The validated inputs shared by backtest and parity: instruments, ticks and the target schedule."""

    instruments: list
    ticks: list
    schedule: list[ScheduledTargets]
    catalog: ExecutionMetadataCatalog


def prepare_run(
    profile: VenueProfile,
    data: Sequence[str | Path],
    targets: str | Path,
    schedule: str | Path | None = None,
    catalog_path: str | Path | None = None,
    data_catalog: str | Path | None = None,
) -> PreparedRun:
    """Load and validate every input; raise ConfigError (exit 2) before anything runs.

    `data_catalog`: a Nautilus ParquetDataCatalog whose quote ticks join the recorded files' ticks."""
    import heapq

    from nautlive.data.bars import catalog_quotes
    from nautlive.data.depth import with_touch_book
    from nautlive.data.recorded import replay_ticks

    if not data and data_catalog is None:
        raise ConfigError("--data: at least one recorded data file is needed")
    catalog = load_catalog(catalog_path or profile.catalog)
    by_id = catalog.by_id()
    missing = [i for i in profile.instruments if i not in by_id]
    if missing:
        raise ConfigError(f"{catalog_path or profile.catalog}: catalog has no record for {', '.join(missing)}")
    instruments = [spec_to_instrument(by_id[i], taker_fee=profile.taker_fee) for i in profile.instruments]
    known = set(profile.instruments)
    plan = [ScheduledTargets(None, read_targets(targets, known, profile.venue))]
    if schedule is not None:
        plan += read_schedule(schedule, known, profile.venue)
    ticks = replay_ticks([Path(p) for p in data], {i.raw_symbol.value: i for i in instruments})
    if data_catalog is not None:
        quotes = with_touch_book(catalog_quotes(data_catalog, {str(i.id): i for i in instruments}),
                                 {i.raw_symbol.value: i for i in instruments})
        ticks = list(heapq.merge(ticks, quotes, key=lambda tick: tick.ts_init))
    with_data = {str(t.instrument_id) for t in ticks}
    for entry in plan:
        no_data = [i for i, w in entry.targets.weights.items() if w > 0 and i not in with_data]
        if no_data:
            raise ConfigError(f"{entry.targets.source}: no data for {', '.join(no_data)} in the --data files")
    return PreparedRun(instruments=instruments, ticks=ticks, schedule=plan, catalog=catalog)


def backtest_engine(profile: VenueProfile, run: PreparedRun):  # noqa: ANN201
    """new_engine with the recorded ticks and book loaded: market orders walk the L2 book, as in shadow."""
    engine = new_engine(profile, run.instruments, book=True)
    engine.add_data(run.ticks, sort=True)  # already merged by ts_init; 1.222+ refuses to run unsorted data
    return engine


def build_backtest_engine(profile: VenueProfile, run: PreparedRun, drift_path: Path | None, session: str):
    """backtest_engine plus the rebalancing strategy and the actor that publishes the target schedule."""
    from nautlive.core.schedule_actor import TargetScheduleActor, TargetScheduleConfig

    engine = backtest_engine(profile, run)
    ids = [str(i.id) for i in run.instruments]
    engine.add_actor(TargetScheduleActor(TargetScheduleConfig(instrument_ids=ids), run.schedule))
    strategy = rebalance_strategy(profile, ids, run.catalog, drift_path, session)
    engine.add_strategy(strategy)
    return engine, strategy


def run_backtest(
    profile: VenueProfile,
    data: Sequence[str | Path],
    targets: str | Path | None,
    schedule: str | Path | None,
    out: str | Path,
    catalog_path: str | Path | None = None,
    bars: BarOptions | None = None,
):
    """Run and write `fills.jsonl` (drift log format) and `summary.json` into `out` when the run completes.

    Bar data (or `bars.data_catalog`) runs on bars and adds `equity.csv` (and the tearsheet with `bars.html`);
    `targets` None means the profile's, except on bars with a schedule: the weight history alone.
    """
    bars = bars or BarOptions()
    quotes = bars.data_catalog is not None and catalog_kind(bars.data_catalog) == "quotes"
    if not quotes and (bars.data_catalog is not None or any(is_bar_input(str(d)) for d in data)):
        return _run_bars(profile, data, targets, schedule, Path(out), catalog_path, bars)
    run = prepare_run(profile, data, targets or profile.targets, schedule, catalog_path,
                      bars.data_catalog if quotes else None)

    def execute(tmp: Path) -> BacktestSummary:
        engine, strategy = build_backtest_engine(profile, run, tmp / "fills.jsonl", session="backtest")
        return _run_engine(engine, strategy, lambda: summarise(profile, run, strategy, engine))

    return _publish(Path(out), execute)


class BarOptions(msgspec.Struct, frozen=True):
    """What only a run on bars takes: the interval, a Nautilus data catalog, the tearsheet path, a progress callback."""

    bar_ns: int | None = None
    data_catalog: str | None = None
    html: str | None = None
    progress: object = None  # (total bars) -> callable(bars done), or None


def _run_bars(profile: VenueProfile, data, targets, schedule, out: Path, catalog_path, options: BarOptions):  # noqa: ANN001, ANN202
    from nautlive.research.bar_backtest import build_bar_engine, prepare_bars, summarise_bars, write_equity

    run = prepare_bars(profile, [str(d) for d in data], targets, schedule, catalog_path, options.bar_ns,
                       options.data_catalog)
    tick = options.progress(run.bars) if options.progress is not None else None

    def execute(tmp: Path):  # noqa: ANN202
        engine, strategy = build_bar_engine(profile, run, tmp / "fills.jsonl", "backtest", tick)
        summary, curves = _run_engine(engine, strategy, lambda: summarise_bars(profile, run, strategy, engine))
        write_equity(tmp / "equity.csv", curves)
        if options.html is not None:
            from nautlive.research.tearsheet import write_tearsheet

            write_tearsheet(tmp / "tearsheet.html", profile.name, summary, curves, profile.quote_currency)
        return summary

    summary = _publish(out, execute)
    if options.html is not None:
        html = Path(options.html)
        html.parent.mkdir(parents=True, exist_ok=True)
        shutil.move(out / "tearsheet.html", html)
    return summary


def _run_engine(engine, strategy, summarise_run):  # noqa: ANN001, ANN202
    try:
        engine.run()
        return summarise_run()
    finally:
        strategy.drift.close()
        engine.dispose()


def _publish(out: Path, execute):  # noqa: ANN001, ANN202
    """Run `execute(tmp)` in a scratch folder beside `out`; move what it wrote (and summary.json) into `out` after."""
    with tempfile.TemporaryDirectory(prefix=".backtest-", dir=_existing_parent(out)) as tmp:
        summary = execute(Path(tmp))
        Path(tmp, "summary.json").write_bytes(msgspec.json.format(msgspec.json.encode(summary)))
        Path(tmp, "fills.jsonl").touch()
        out.mkdir(parents=True, exist_ok=True)
        for written in Path(tmp).iterdir():
            shutil.move(written, out / written.name)
    return summary


def summarise(profile: VenueProfile, run: PreparedRun, strategy, engine) -> BacktestSummary:  # noqa: ANN001
    records = strategy.drift.records
    last_targets = run.schedule[-1].targets.weights if strategy.reports else {}
    weights = final_weights(strategy, last_targets)
    fees = sum((Decimal(r.fee) for r in records if r.fee), Decimal(0))
    start = sum(profile.starting_balances().values(), Decimal(0))
    traded = sum((Decimal(r.notional) for r in records), Decimal(0))
    return BacktestSummary(
        quotes=sum(1 for t in run.ticks if type(t).__name__ == "QuoteTick"),
        orders=sum(len(r.orders) for r in strategy.reports),
        fills=len(records),
        rejected=sum(len(r.rejected) for r in strategy.reports),
        expired=sum(len(r.expired) for r in strategy.reports),
        fees=_text(fees),
        turnover=_text(turnover(traded, start)),
        traded=_text(traded),
        nav_start=_text(start),
        nav_end=_text(weights.pop("_nav")),
        cash_end=_text(strategy.cash()),
        min_cash=_text(min_cash(profile, records, start)),
        rebalances=len(strategy.reports),
        final_weights={k: {"weight": _text(w), "target": _text(last_targets.get(k, Decimal(0)))}
                       for k, w in weights.items()},
        drift_alerts=strategy.drift.alerts,
        capped=sum(len(r.capped) for r in strategy.reports),
    )


def min_cash(profile: VenueProfile, records, start: Decimal) -> Decimal:  # noqa: ANN001
    """The lowest quote-currency balance along the fills (fees in the quote currency included)."""
    cash = low = profile.starting_balances().get(profile.quote_currency, start)
    for r in records:
        flow = Decimal(r.notional) * (-1 if r.side == "BUY" else 1)
        cash += flow - (Decimal(r.fee) if r.fee else 0)
        low = min(low, cash)
    return low


def _existing_parent(path: Path) -> Path:
    while not path.exists():
        path = path.parent
    return path if path.is_dir() else path.parent


def _text(value: Decimal) -> str:
    return format(value.quantize(Decimal("0.00000001")).normalize(), "f")
