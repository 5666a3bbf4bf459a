"""Research commands: backtest, parity and drift-report.

Thin: each command parses options, calls one library function and renders; nothing heavy is imported at
module load.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from nautlive.cli.apps import app
from nautlive.cli.options import (
    CatalogOpt,
    ExecutionOpt,
    JsonOpt,
    ProfileOpt,
    TargetsOpt,
    VenueOpt,
    _fast_exit,
    _profile,
    with_execution,
)
from nautlive.errors import NautliveError

DataOpt = Annotated[
    list[Path],
    typer.Option("--data", help="Recorded Binance stream file (NS JSON lines, gzip or plain), or OHLCV bars: "
                 "freqtrade .json, .csv or .parquet, named BTC_USDT-1m.json or given as INSTRUMENT_ID=PATH."),
]
ScheduleOpt = Annotated[
    Path | None, typer.Option("--schedule", help='Target changes: [{"at": ISO time, "weights": {...}}, ...], or a '
                              "weight history .csv/.parquet: time and one column per instrument id (blank = 0).")
]


BarOpt = Annotated[str | None, typer.Option("--bar", help="Bar interval (1m, 1h, 1d); default: detected from the data.")]
DataCatalogOpt = Annotated[
    Path | None, typer.Option("--data-catalog", help="Nautilus ParquetDataCatalog folder with bars (or, without bars, "
                                              "quote ticks) of the instruments.")
]


@app.command()
def backtest(
    data: DataOpt = None,
    venue: VenueOpt = None,
    profile: ProfileOpt = None,
    targets: TargetsOpt = None,
    schedule: ScheduleOpt = None,
    catalog: CatalogOpt = None,
    out: Annotated[
        Path | None,
        typer.Option("--out", metavar="DIR", help="Folder for fills.jsonl and summary.json, on bars also equity.csv "
                     "(default: HOME/artifacts/backtest).", show_default=False),
    ] = None,
    bar: BarOpt = None,
    data_catalog: DataCatalogOpt = None,
    html: Annotated[Path | None, typer.Option("--html", help="Bars: write the tearsheet (plotly HTML) here.")] = None,
    execution: ExecutionOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Run the strategy on BacktestEngine over recorded quotes or OHLCV bars and a target schedule.

    Bars: targets apply at the first bar closing at or after each schedule row; fills at the bar's close.
    Example (from the repository): nautlive backtest --venue binance
    --data examples/data/BTCUSDT-1m.parquet --data examples/data/ETHUSDT-1m.parquet
    --schedule artifacts/orders/weekly.example.csv --html artifacts/backtest/tearsheet.html
    """
    import msgspec

    from nautlive.config.home import in_home
    from nautlive.report.console import emit_json, line, table
    from nautlive.research.backtest import BarOptions, run_backtest

    prof = with_execution(_profile(venue, profile), execution)
    out = out if out is not None else Path(in_home("artifacts/backtest"))
    options = BarOptions(bar_ns=_bar_ns(bar), data_catalog=data_catalog and str(data_catalog),
                         html=html and str(html), progress=None if json_out else _progress)
    summary = run_backtest(prof, data or [], targets, schedule, out, catalog, options)
    if json_out:
        emit_json(msgspec.to_builtins(summary))
        return
    table(
        f"backtest {prof.name}: final weights",
        ["instrument", "weight", "target"],
        [[k, v["weight"], v["target"]] for k, v in summary.final_weights.items()],
    )
    if hasattr(summary, "sharpe"):
        for warning in summary.warnings:
            line(f"warning: {warning}")
        line(f"{summary.bars} bars {summary.start} to {summary.end}: {summary.rebalances} rebalances, "
             f"{summary.orders} orders, {summary.skipped} skipped by the venue's minimums; fees {summary.fees:.2f}, "
             f"traded {summary.traded:,.2f} (turnover {summary.turnover:.2f}x starting NAV); NAV {summary.nav_start:.2f} -> {summary.nav_end:.2f} "
             f"(ideal {summary.ideal_nav_end:.2f}); return {summary.total_return:.2%}, Sharpe {summary.sharpe:.2f}, "
             f"max drawdown {summary.max_drawdown:.2%}, tracking error {summary.tracking_error:.2%}")
        line(f"wrote {out}/fills.jsonl, {out}/summary.json and {out}/equity.csv" + (f"; {html}" if html else ""))
        return
    expired = f", {summary.expired} filled in part (the book too thin, the rest expired)" if summary.expired else ""
    expired += f", {summary.capped} left in part by the price cap" if summary.capped else ""
    line(f"{summary.rebalances} rebalances, {summary.orders} orders, {summary.fills} fills, {summary.rejected} rejected"
         f"{expired}; fees {summary.fees}, traded {summary.traded} (turnover {float(summary.turnover):.2f}x starting NAV); NAV {summary.nav_start} -> {summary.nav_end};"
         f" lowest cash {summary.min_cash}")
    line(f"wrote {out}/fills.jsonl and {out}/summary.json")


def _bar_ns(bar: str | None) -> int | None:
    from nautlive.data.bars import parse_interval

    return None if bar is None else parse_interval(bar)


def _progress(total: int):  # noqa: ANN202
    """A progress bar on a terminal (stderr), advanced by the bars the engine has taken; None elsewhere."""
    if not sys.stderr.isatty():
        return None
    from rich.console import Console
    from rich.progress import Progress

    bar = Progress(console=Console(stderr=True), transient=True)
    task = bar.add_task("backtest", total=total)
    bar.start()

    def advance(n: int) -> None:
        bar.advance(task, n)
        if bar.tasks[0].completed >= total:
            bar.stop()

    return advance


@app.command()
def parity(
    data: DataOpt = None,
    venue: VenueOpt = None,
    profile: ProfileOpt = None,
    targets: TargetsOpt = None,
    schedule: ScheduleOpt = None,
    speed: Annotated[float, typer.Option("--speed", min=0, help="Replay speed of the shadow run (0: as fast as possible).")] = 0.0,
    tolerance: Annotated[float, typer.Option("--tolerance", help="Largest divergence that passes.")] = 0.001,
    bar: BarOpt = None,
    data_catalog: DataCatalogOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Run the backtest and a shadow TradingNode on the same recording (or bars) and targets; compare orders and fills.

    Bars (as `backtest` takes them): the shadow node replays the same bars in lockstep, targets at the same closes.

    Exit 0 when the order lists match and the divergence is within --tolerance, else 1.

    Example (from the repository): nautlive parity --venue binance --data examples/data/btcusdt_20240808.gz
    --data examples/data/ethusdt_20240808.gz --targets artifacts/orders/target_weights.json
    --schedule artifacts/orders/schedule.example.json
    """
    import msgspec

    from nautlive.report.console import emit_json, line, table
    from nautlive.research.parity import run_parity

    prof = _profile(venue, profile)
    result = run_parity(prof, data or [], targets, schedule, speed, tolerance, _bar_ns(bar),
                        data_catalog and str(data_catalog))
    if json_out:
        emit_json(msgspec.to_builtins(result) | {"ok": result.ok})
    else:
        table(
            "parity: backtest vs shadow, matched orders",
            ["instrument", "side", "qty", "backtest px", "shadow px", "backtest notional", "shadow notional"],
            [[m.instrument, m.side, m.quantity, m.backtest_px, m.shadow_px, m.backtest_notional, m.shadow_notional]
             for m in result.matched],
        )
        for name, orders in (("backtest only", result.only_backtest), ("shadow only", result.only_shadow)):
            for o in orders:
                line(f"{name}: {o['side']} {o['quantity']} {o['instrument']}")
        line(f"orders: backtest {result.backtest_orders}, shadow {result.shadow_orders}, "
             f"{'identical' if result.orders_match else 'DIFFERENT'}; divergence {result.divergence:.6f} "
             f"(tolerance {result.tolerance})")
    if not result.ok:
        raise typer.Exit(1)


@app.command("drift-report")
def drift_report(
    venue: VenueOpt = None,
    profile: ProfileOpt = None,
    log: Annotated[
        list[Path] | None,
        typer.Option(
            "--log",
            "--drift-log",
            help="Drift log (JSON Lines, plain or gzip) or a glob of them, e.g. 'drift.log*' for rotated logs; "
            "repeat for several. Default: the profile's drift_log (profiles/binance.yaml: "
            "artifacts/logs/live/drift.log).",
        ),
    ] = None,
    more_logs: Annotated[
        list[Path] | None,
        typer.Argument(metavar="[LOG]...", help="More drift logs (so that an unquoted --log drift.log* works).",
                       show_default=False),
    ] = None,
    since: Annotated[
        str | None, typer.Option("--since", help="Only fills at or after this ISO-8601 time (UTC if no zone).")
    ] = None,
    until: Annotated[
        str | None, typer.Option("--until", help="Only fills before this ISO-8601 time (UTC if no zone).")
    ] = None,
    venue_id: Annotated[
        str | None,
        typer.Option(
            "--venue-id",
            help="Filter fills by the log's venue field, e.g. BINANCE; case-insensitive match.",
        ),
    ] = None,
    mode: Annotated[
        str | None, typer.Option("--mode", help="Only fills of this mode: shadow, live or backtest.")
    ] = None,
    instrument: Annotated[str | None, typer.Option("--instrument", help="Only fills of this instrument id.")] = None,
    session: Annotated[str | None, typer.Option("--session", help="Only fills of this session id.")] = None,
    json_out: JsonOpt = False,
    html: Annotated[
        Path | None,
        typer.Option("--html", help="Also write a self-contained HTML page (figures, tables, charts) here."),
    ] = None,
    no_cache: Annotated[
        bool,
        typer.Option("--no-cache", help="Decode the logs whole, neither using nor updating the cache of decoded "
                     "fills (~/.cache/nautlive/drift-report) that lets a re-run decode only what was appended."),
    ] = False,
    fail_above: Annotated[
        float | None,
        typer.Option(
            "--fail-above", metavar="BPS", help="Exit 1 when a venue's notional-weighted mean drift exceeds BPS."
        ),
    ] = None,
) -> None:
    """Execution quality from the drift log: drift per venue, mode, instrument x side, session; shadow vs live; the
    cost breakdown (spread, impact, fees); worst fills.

    A log without fills (or filters that match none) is a report of no fills, exit 0. A re-run decodes only the lines
    appended since the last (the cache notices a replaced, truncated or rotated log).
    """
    _fast_exit()
    from nautlive import report
    from nautlive.report.console import emit_json, line, warn

    filters = report.parse_filters(since, until, venue_id, mode, instrument, session)
    log = [*(log or []), *(more_logs or [])]
    alerts_from = _profile(venue, profile) if venue or profile or not log else None  # --log alone: no profile
    if not log:
        log = [Path(alerts_from.drift_log)]
    columns = report.read_drift_log(log, filters, use_cache=not no_cache)
    if columns.malformed:
        warn(f"skipped {columns.malformed} malformed line(s) in {', '.join(columns.paths)}")
    result = report.summarise(columns)
    # None for logs written before the execution styles (the reader saw no line naming a parent: not read again)
    parents = report.parent_figures(columns.paths_naming_parents, filters)
    if html is not None:
        report.write_html(columns, result, html, parents)
    if json_out:
        emit_json({**report.report_json(result), **report.parents_json(parents)})
        if html is not None:
            print(f"wrote {html}", file=sys.stderr, flush=True)
    else:
        report.render_tables(result, columns.fills_in_logs)
        report.render_parent_figures(parents)
        if html is not None:
            line(f"wrote {html}")
    if fail_above is not None:
        try:
            report.check_fail_above(result, fail_above)
        except NautliveError as exc:
            if alerts_from is not None and alerts_from.alerts.urls:
                from nautlive.alerts import events
                from nautlive.alerts.delivery import send_once

                send_once(alerts_from.alerts, events.drift_report(str(exc), map(str, log)),
                          f"nautlive {alerts_from.name} drift-report")
            raise
