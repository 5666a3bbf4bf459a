"""The `nautlive` command line: parse options, call one library function, render, map errors to exit codes.

Nothing heavy is imported at module load: `nautlive --help` must not import nautilus_trader.
"""

from __future__ import annotations

import os
import sys
import traceback
from pathlib import Path
from typing import Annotated

import typer
from typer.core import TyperGroup

from nautlive import __version__
from nautlive.errors import NautliveError

_state = {"debug": False, "fast_exit": False}


class _Group(TyperGroup):
    """Turns a NautliveError into one line on stderr and its exit code; Ctrl-C into 130."""

    def invoke(self, ctx):  # noqa: ANN001 - click's signature
        try:
            return super().invoke(ctx)
        except NautliveError as exc:
            from nautlive.profile import scrub  # no secret a profile interpolated is ever echoed

            if _state["debug"]:
                print(scrub(traceback.format_exc()), file=sys.stderr, end="")
            print(f"error: {scrub(str(exc))}", file=sys.stderr, flush=True)
            raise typer.Exit(exc.exit_code) from None
        except KeyboardInterrupt:
            print("interrupted", file=sys.stderr, flush=True)
            raise typer.Exit(130) from None


def _typer(help_text: str) -> typer.Typer:
    # Rich help on a terminal; plain help in a pipe, which also spares scripts the 0.15 s rich import.
    return typer.Typer(
        cls=_Group,
        help=help_text,
        no_args_is_help=True,
        add_completion=False,
        pretty_exceptions_enable=False,
        rich_markup_mode="rich" if sys.stdout.isatty() else None,
    )


app = _typer(
    "Run one target-weight rebalancing strategy on NautilusTrader: backtest, shadow (paper) and live, "
    "with the same logic.\n\n"
    "Paths: the working folder is --home DIR, else $NAUTLIVE_HOME, else the current folder; profiles are in "
    "<home>/profiles; paths inside a profile resolve against the home; paths on the command line against the "
    "current folder. `nautlive init DIR` creates a working folder.\n\n"
    "Exit codes: 0 ok · 1 runtime failure · 2 usage/config error · 3 blocking reconciliation mismatch · "
    "4 safety refusal · 130 interrupted."
)
profiles_app = _typer("List and inspect venue profiles (<home>/profiles/*.yaml).")
catalog_app = _typer("Build the execution metadata catalog from venue specs.")
app.add_typer(profiles_app, name="profiles")
app.add_typer(catalog_app, name="catalog")
alerts_app = _typer("Alerts that reach a person: the profile's alerts section (apprise URLs).")
app.add_typer(alerts_app, name="alerts")

# `nautlive --help` lists the commands in the order of the workflow, each with a summary that fits on its line.
COMMANDS = {
    "reconcile": "Check the catalog against the venue's live specs.",
    "catalog": "Write the execution metadata catalog from venue specs.",
    "backtest": "Run the strategy on recorded quotes with BacktestEngine.",
    "parity": "Compare a backtest and a shadow run on one recording.",
    "shadow": "Paper-trade: the real node and strategy, local fills.",
    "live": "Trade real orders (needs --arm or NAUTLIVE_ARM=1).",
    "drift-report": "Execution quality from the drift log.",
    "sim": "Serve a loopback Binance or IB venue for rehearsals.",
    "profiles": "List and inspect venue profiles.",
    "alerts": "Send a test alert to each of a profile's URLs.",
    "init": "Create a working folder: profiles, catalogs, targets.",
    "demo": "Offline demo: shadow session, target change, report.",
}


def _workflow_order(self, ctx) -> list[str]:  # noqa: ANN001 - click's signature
    names = list(TyperGroup.list_commands(self, ctx))
    if ctx.parent is not None:  # a sub-group (profiles, catalog): its own order
        return names
    for name in names:
        command = self.commands[name]
        if name in COMMANDS and not command.short_help:
            command.short_help = COMMANDS[name]
    order = list(COMMANDS)
    return sorted(names, key=lambda n: order.index(n) if n in order else len(order))


_Group.list_commands = _workflow_order

VenueOpt = Annotated[
    str | None,
    typer.Option(
        "--venue",
        help="Profile name: loads <home>/profiles/NAME.yaml. Default: binance (unless --profile).",
        show_default=False,
    ),
]
ProfileOpt = Annotated[Path | None, typer.Option("--profile", help="Path of a profile YAML file.")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print one JSON object for scripts instead of tables.")]
CatalogOpt = Annotated[Path | None, typer.Option("--catalog", help="Catalog YAML (default: the profile's).")]


def _version(value: bool) -> None:
    if value:
        print(f"nautlive {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version and exit.")
    ] = False,
    debug: Annotated[bool, typer.Option("--debug", help="Show tracebacks on errors.")] = False,
    home: Annotated[
        Path | None,
        typer.Option("--home", help="Working folder (default: $NAUTLIVE_HOME, else the current folder).",
                     show_default=False),
    ] = None,
) -> None:
    from nautlive.home import set_home

    _state["debug"] = debug
    set_home(home)


def _profile(venue: str | None, profile: Path | None):  # noqa: ANN202
    """The profile a command runs on: --profile PATH, else --venue NAME, else profiles/binance.yaml."""
    return _load_profile(venue, profile)[0]


def _load_profile(venue: str | None, profile: Path | None):  # noqa: ANN202
    """(profile with its paths resolved against the working folder, the file it came from)."""
    from nautlive.home import resolve_profile_paths
    from nautlive.profile import load_profile, profile_path

    name = venue or ("binance" if profile is None else None)
    return resolve_profile_paths(load_profile(name, profile)), profile_path(name, profile)


def main() -> None:
    try:
        app(prog_name="nautlive")
        code = 0
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    if _state["fast_exit"]:
        # Commands that never start a node skip the interpreter's teardown of Nautilus's modules (~0.2 s of a
        # 1.5 s reconcile): everything they write is flushed here and no Nautilus logger is running.
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    sys.exit(code)


def _fast_exit() -> None:
    _state["fast_exit"] = True


def _wrote(message: str, json_out: bool) -> None:
    """Say which file a command wrote: on stdout with the tables, on stderr under --json (stdout is the JSON)."""
    print(message, file=sys.stderr if json_out else sys.stdout, flush=True)


@profiles_app.command("list")
def profiles_list(json_out: JsonOpt = False) -> None:
    """List the profiles in <home>/profiles with their venue, adapter and the file each came from."""
    from nautlive.home import no_profiles_error
    from nautlive.profile import load_profile, profiles_dir
    from nautlive.render import emit_json, table

    folder = profiles_dir()
    if not folder.is_dir():
        raise no_profiles_error(folder)
    rows = []
    for path in sorted(folder.glob("*.yaml")):
        try:
            p = load_profile(profile=path)
            rows.append({"name": path.stem, "venue": p.venue, "adapter": p.adapter, "instruments": p.instruments,
                         "file": str(path)})
        except NautliveError as exc:
            rows.append({"name": path.stem, "error": str(exc), "file": str(path)})
    if json_out:
        emit_json(rows)
        return
    table(
        f"profiles in {folder.absolute()}",
        ["name", "venue", "adapter", "instruments", "file"],
        [[r["name"], r.get("venue"), r.get("adapter"), ", ".join(r.get("instruments", [])) or r.get("error"),
          r["file"]] for r in rows],
    )


@profiles_app.command("show")
def profiles_show(
    name: Annotated[str | None, typer.Argument(help="Profile name (<home>/profiles/NAME.yaml).")] = None,
    venue: Annotated[
        str | None, typer.Option("--venue", help="Profile name, as NAME (loads <home>/profiles/NAME.yaml).",
                                 show_default=False)
    ] = None,
    profile: ProfileOpt = None,
) -> None:
    """Print the resolved profile (environment interpolated) with every secret shown as ****."""
    if name is not None and venue is not None and name != venue:
        from nautlive.errors import ConfigError

        raise ConfigError(f"profiles show: two profile names given ({name} and --venue {venue}): pass one")
    name = name or venue
    import yaml

    from nautlive.home import resolve_profile_paths
    from nautlive.profile import load_profile, redacted

    print(yaml.safe_dump(redacted(resolve_profile_paths(load_profile(name, profile))), sort_keys=False), end="")


@alerts_app.command("test")
def alerts_test(venue: VenueOpt = None, profile: ProfileOpt = None) -> None:
    """Send one test message to each of the profile's alerts.urls; print ok or the error per target (URLs shown
    with their credentials masked). Exit 1 if any failed, 2 if the profile has no alerts.urls."""
    _fast_exit()
    from nautlive.alerts import events
    from nautlive.alerts.delivery import send_each
    from nautlive.errors import ConfigError
    from nautlive.render import line

    prof = _profile(venue, profile)
    if not prof.alerts.urls:
        raise ConfigError(f"{prof.source}: alerts.urls: no alert URL to test (see README, Alerts)")
    origin = f"nautlive {prof.name}"
    results = send_each(prof.alerts.urls, events.test(origin), origin)
    for label, error in results:
        line(f"ok\t{label}" if error is None else f"failed\t{label}: {error}")
    if any(error is not None for _, error in results):
        raise typer.Exit(1)


@app.command()
def reconcile(
    venue: VenueOpt = None,
    profile: ProfileOpt = None,
    from_file: Annotated[
        Path | None, typer.Option("--from-file", help="Venue specs from a captured file instead of the venue.")
    ] = None,
    catalog: CatalogOpt = None,
    json_out: JsonOpt = False,
    write_patch: Annotated[
        Path | None, typer.Option("--write-patch", help="Write the catalog with the venue's values to PATH.")
    ] = None,
) -> None:
    """Check the catalog against the venue's live specs: exit 0 when nothing blocks trading, 3 when something does.

    Example (from the repository): nautlive reconcile --venue binance --from-file
    ../shared/data/binance/exchange_info/binance_spot_exchange_info_2022-11-28.json
    """
    _fast_exit()
    from nautlive import reconcile as rec
    from nautlive.render import emit_json, line, table
    prof = _profile(venue, profile)
    cat, specs, result = rec.reconcile_profile(prof, from_file, catalog)
    if write_patch is not None:
        from nautlive.catalog import save_catalog

        patched = rec.patched_catalog(cat, specs.specs)
        save_catalog(patched, write_patch)
        _wrote(f"wrote {write_patch}: the catalog with the venue's values ({len(patched.instruments)} instruments)",
               json_out)
    if json_out:
        emit_json(result.to_json())
    else:
        table(
            f"reconcile {prof.name}: catalog vs venue",
            ["instrument", "field", "catalog", "venue", "severity"],
            [[m.instrument, m.field, m.catalog, m.venue, m.severity] for m in result.mismatches],
        )
        line(f"{result.checked} instruments checked: {result.blocking} blocking, {result.warnings} warnings")
    if result.blocking:
        raise typer.Exit(3)


@catalog_app.command("snapshot")
def catalog_snapshot(
    out: Annotated[Path, typer.Option("--out", help="Catalog YAML to write.")],
    venue: VenueOpt = None,
    profile: ProfileOpt = None,
    from_file: Annotated[
        Path | None, typer.Option("--from-file", help="Venue specs from a captured file instead of the venue.")
    ] = None,
    symbols: Annotated[
        str | None, typer.Option("--symbols", help="Comma-separated symbols (default: the profile's instruments).")
    ] = None,
    all_symbols: Annotated[bool, typer.Option("--all", help="Every symbol the venue lists, TRADING or not.")] = False,
) -> None:
    """Write a catalog from the venue's specs (or a captured file)."""
    _fast_exit()
    from nautlive.catalog import snapshot_catalog
    from nautlive.render import line

    written = snapshot_catalog(_profile(venue, profile), from_file, symbols, all_symbols, out)
    line(f"wrote {out}: {len(written.instruments)} instruments")


DataOpt = Annotated[
    list[Path],
    typer.Option("--data", help="Recorded Binance stream file (<ns> <JSON> lines, gzip or plain), or OHLCV bars: "
                 "freqtrade .json, .csv or .parquet, named BTC_USDT-1m.json or given as INSTRUMENT_ID=PATH."),
]
TargetsOpt = Annotated[Path | None, typer.Option("--targets", help="Target weights JSON (default: the profile's).")]
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
        typer.Option("--out", help="Folder for fills.jsonl and summary.json, on bars also equity.csv "
                     "(default: <home>/artifacts/backtest).", show_default=False),
    ] = None,
    bar: BarOpt = None,
    data_catalog: DataCatalogOpt = None,
    html: Annotated[Path | None, typer.Option("--html", help="Bars: write the tearsheet (plotly HTML) here.")] = None,
    json_out: JsonOpt = False,
) -> None:
    """Run the strategy on BacktestEngine over recorded quotes or OHLCV bars and a target schedule.

    Bars: targets apply at the first bar closing at or after each schedule row; fills at the bar's close.
    Example (from the repository): nautlive backtest --venue binance
    --data ../shared/data/binance/market/BTC_USDT-1m.json --data ../shared/data/binance/market/ETH_USDT-1m.json
    --schedule artifacts/orders/weekly.example.csv --html artifacts/backtest/tearsheet.html
    """
    import msgspec

    from nautlive.backtest import BarOptions, run_backtest
    from nautlive.home import in_home
    from nautlive.render import emit_json, line, table

    prof = _profile(venue, profile)
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
             f"turnover {summary.turnover:.2f}; NAV {summary.nav_start:.2f} -> {summary.nav_end:.2f} "
             f"(ideal {summary.ideal_nav_end:.2f}); return {summary.total_return:.2%}, Sharpe {summary.sharpe:.2f}, "
             f"max drawdown {summary.max_drawdown:.2%}, tracking error {summary.tracking_error:.2%}")
        line(f"wrote {out}/fills.jsonl, {out}/summary.json and {out}/equity.csv" + (f"; {html}" if html else ""))
        return
    line(f"{summary.rebalances} rebalances, {summary.orders} orders, {summary.fills} fills, {summary.rejected} rejected;"
         f" fees {summary.fees}, turnover {summary.turnover}; NAV {summary.nav_start} -> {summary.nav_end};"
         f" lowest cash {summary.min_cash}")
    line(f"wrote {out}/fills.jsonl and {out}/summary.json")


def _bar_ns(bar: str | None) -> int | None:
    from nautlive.bars import parse_interval

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
def sim(
    venue: Annotated[
        str,
        typer.Option("--venue", help="Profile name: loads <home>/profiles/NAME.yaml. Default: binance-sim; "
                     "ibkr (or any IB profile) serves a loopback TWS venue (profile ibkr-sim).", show_default=False),
    ] = "binance-sim",
    profile: ProfileOpt = None,
    catalog: CatalogOpt = None,
    host: Annotated[str, typer.Option("--host", help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[
        int | None,
        typer.Option("--port", min=0, max=65535, help="Port to listen on (0: any free port). Default 8765; IB 4002.",
                     show_default=False),
    ] = None,
    control_port: Annotated[
        int, typer.Option("--control-port", min=0, max=65535, help="IB: the HTTP control port (/__sim/state, faults).")
    ] = 4003,
    account: Annotated[
        str | None, typer.Option("--account", help="IB: the account the venue manages (default: the profile's, else "
                                                   "DU123456).")
    ] = None,
    contracts: Annotated[
        list[Path] | None,
        typer.Option("--contracts", help="IB: captured contract details JSON (repeat). Default: ../shared/data's "
                                         "captures if present, else the catalog."),
    ] = None,
    exchange_info: Annotated[
        Path | None,
        typer.Option("--exchange-info", help="Serve this exchangeInfo capture instead of one generated from the catalog."),
    ] = None,
    replay: Annotated[
        list[Path] | None,
        typer.Option("--replay", help="Recorded stream file to replay, looped (repeat per symbol). Default: random walk."),
    ] = None,
    balances: Annotated[
        str | None, typer.Option("--balances", help="Starting balances like USDT=100000,BTC=0 or USD=100000 "
                                                    "(default: the profile's).")
    ] = None,
    seed: Annotated[int, typer.Option("--seed", help="Seed of the random-walk quotes.")] = 0,
) -> None:
    """Serve a loopback venue for the real Nautilus adapter, until Ctrl-C: Binance Spot (REST + WebSocket), or with
    --venue ibkr the TWS API socket that Nautilus's IB adapter cannot tell from IB Gateway.

    Example (from the repository): nautlive sim --replay ../shared/data/binance/market/btcusdt_20240808.gz
    --replay ../shared/data/binance/market/ethusdt_20240808.gz --balances USDT=100000,BTC=0
    · nautlive sim --venue ibkr --port 4002 --account DU123456 --balances USD=100000
    """
    import asyncio
    import signal

    from nautlive.render import line
    from nautlive.sim.binance import simulator_for_profile
    from nautlive.sim.feed import read_recording
    from nautlive.sim.server import serve

    prof = _profile("ibkr-sim" if venue == "ibkr" and profile is None else venue, profile)
    if prof.adapter == "ibkr":
        from nautlive.sim.tws import tws_simulator_for_profile
        from nautlive.sim.tws.server import run_tws

        tws = tws_simulator_for_profile(prof, catalog=catalog, contracts=contracts, account=account, balances=balances,
                                        seed=seed)
        if run_tws(tws, host, 4002 if port is None else port, control_port) == signal.SIGINT:
            print("interrupted", file=sys.stderr, flush=True)
            raise typer.Exit(130)
        return
    port = 8765 if port is None else port
    simulator = simulator_for_profile(prof, catalog=catalog, exchange_info=exchange_info, balances=balances, seed=seed)
    recordings = [read_recording(path) for path in replay or []]
    received: list[int] = []

    async def main() -> None:  # serve until SIGINT (exit 130, as the exit-code table says) or SIGTERM (exit 0)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, lambda sig=sig: (received.append(sig), stop.set()))
        await serve(simulator, host, port, stop, lambda bound: line(f"simulator listening on http://{host}:{bound}"),
                    recordings)

    asyncio.run(main())
    if received and received[0] == signal.SIGINT:
        print("interrupted", file=sys.stderr, flush=True)
        raise typer.Exit(130)


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
    from nautlive.render import emit_json, line, warn

    filters = report.parse_filters(since, until, venue_id, mode, instrument, session)
    log = [*(log or []), *(more_logs or [])]
    alerts_from = _profile(venue, profile) if venue or profile or not log else None  # --log alone: no profile
    if not log:
        log = [Path(alerts_from.drift_log)]
    columns = report.read_drift_log(log, filters, use_cache=not no_cache)
    if columns.malformed:
        warn(f"skipped {columns.malformed} malformed line(s) in {', '.join(columns.paths)}")
    result = report.summarise(columns)
    if html is not None:
        report.write_html(columns, result, html)
    if json_out:
        emit_json(report.report_json(result))
        if html is not None:
            print(f"wrote {html}", file=sys.stderr, flush=True)
    else:
        report.render_tables(result, columns.fills_in_logs)
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


FeedOpt = Annotated[
    str | None,
    typer.Option("--feed", help="venue | synthetic | replay:PATH[,PATH] (default: venue with keys, else synthetic)."),
]
DriftLogOpt = Annotated[Path | None, typer.Option("--drift-log", help="Drift log (default: the profile's).")]
OnceOpt = Annotated[bool, typer.Option("--once", help="Apply the current targets, wait for fills, print, exit.")]
DurationOpt = Annotated[float | None, typer.Option("--duration", min=0, help="Stop cleanly after SECONDS.")]
SummaryOpt = Annotated[Path | None, typer.Option("--summary", help="Also write the session summary JSON here.")]
LogLevelOpt = Annotated[str, typer.Option("--log-level", help="Nautilus log level on the console.")]


@app.command()
def shadow(
    venue: VenueOpt = None,
    profile: ProfileOpt = None,
    feed: FeedOpt = None,
    speed: Annotated[float, typer.Option("--speed", min=0, help="Replay speed: 1 real time, 0 as fast as possible.")] = 1.0,
    seed: Annotated[int, typer.Option("--seed", help="Seed of the synthetic walk.")] = 42,
    targets: TargetsOpt = None,
    drift_log: DriftLogOpt = None,
    once: OnceOpt = False,
    duration: DurationOpt = None,
    summary: SummaryOpt = None,
    json_out: JsonOpt = False,
    log_level: LogLevelOpt = "WARNING",
) -> None:
    """Paper-trade: the real TradingNode and strategy on venue, recorded or synthetic data, fills simulated locally.

    Watches the target file and rebalances on each new valid version. Ctrl-C stops (exit 130), SIGTERM too (exit 0).

    Examples: nautlive shadow --venue binance --feed synthetic --once · (from the repository) nautlive shadow
    --venue binance --feed replay:../shared/data/binance/market/btcusdt_20240808.gz,../shared/data/binance/market/ethusdt_20240808.gz --speed 10 --duration 60
    """
    _session("shadow", venue, profile, feed, speed, seed, targets, drift_log, once, duration, summary, json_out,
             log_level)


def _session(mode, venue, profile, feed, speed, seed, targets, drift_log, once, duration, summary, json_out,
             log_level, arm: bool = False) -> None:  # noqa: ANN001
    from nautlive.engine import parse_feed
    from nautlive.render import is_terminal, warn
    from nautlive.session import run_from_cli

    prof, source = _load_profile(venue, profile)
    print(f"profile {prof.name} ({source})", file=sys.stderr, flush=True)
    _, note = parse_feed(feed, prof, speed, seed)
    if note:
        warn(note)  # before the session starts, not after it ended
    target_file = Path(targets or prof.targets)
    if not once and not target_file.exists():
        print(f"waiting for the target file {target_file}: nothing trades until it appears", file=sys.stderr,
              flush=True)
    result = run_from_cli(prof, mode, feed, speed, seed, targets, drift_log, once, duration, log_level, arm,
                             panel=is_terminal() and not json_out and not once)
    _render_session(result, json_out, summary)
    if result.exit_code == 130:
        print("interrupted", file=sys.stderr, flush=True)  # Ctrl-C is the user's choice, not an error
        raise typer.Exit(130)
    if result.exit_code:
        if result.reason:
            from nautlive.profile import scrub

            print(f"error: {scrub(result.reason)}", file=sys.stderr)
        raise typer.Exit(result.exit_code)


def _render_session(result, json_out: bool, summary: Path | None) -> None:  # noqa: ANN001
    import msgspec

    from nautlive.render import emit_json, line, table

    if summary is not None:
        summary.parent.mkdir(parents=True, exist_ok=True)
        summary.write_bytes(msgspec.json.format(msgspec.json.encode(result)))
    if summary is not None:  # on stderr: stdout's last line stays the session's result line
        _wrote(f"wrote {summary}: the session summary (JSON)", json_out=True)
    if json_out:
        emit_json(msgspec.to_builtins(result))
        return
    table(
        f"{result.mode} {result.session}: fills",
        ["instrument", "side", "qty", "fill", "mid at submit", "drift bps"],
        [[f["instrument"], f["side"], f["qty"], f["fill_px"], f["mid_at_submit"], f["drift_bps"]] for f in result.fills],
    )
    table(
        f"{result.mode} {result.session}: weights",
        ["instrument", "weight", "target"],
        [[k, v["weight"], v["target"]] for k, v in result.final_weights.items()],
    )
    orders = sum(len(r["orders"]) for r in result.rebalances)
    line(f"{len(result.rebalances)} rebalances, {orders} orders, {len(result.fills)} fills, "
         f"{result.drift_alerts} drift alerts{_session_notes(result)}; {result.reason}")


def _session_notes(result) -> str:  # noqa: ANN001
    """What else a session's summary line must say: coalesced targets, budgets, recovered fills, stream repairs."""
    recovered = sum(1 for f in result.fills if f.get("recovered"))
    notes = [f"{result.superseded} target versions superseded" if result.superseded else "",
             f"{len(result.budget_refusals)} refused by a budget" if result.budget_refusals else "",
             f"{recovered} fills recovered from the venue" if recovered else "",
             f"user stream re-established {result.stream_reestablished}x" if result.stream_reestablished else ""]
    return "".join(f", {n}" for n in notes if n)


@app.command()
def live(
    venue: VenueOpt = None,
    profile: ProfileOpt = None,
    arm: Annotated[bool, typer.Option("--arm", help="Really send orders (or NAUTLIVE_ARM=1). Without it: exit 4.")] = False,
    targets: TargetsOpt = None,
    drift_log: DriftLogOpt = None,
    once: OnceOpt = False,
    duration: DurationOpt = None,
    summary: SummaryOpt = None,
    json_out: JsonOpt = False,
    log_level: LogLevelOpt = "WARNING",
) -> None:
    """Trade real orders on the venue with the same strategy as shadow and backtest.

    Refuses (exit 4) without --arm, when the kill switch file exists, or when another session holds the profile's
    venue account's lock; a blocking catalog mismatch exits 3, at startup or before any rebalance. The kill switch appearing mid-run cancels open orders and
    stops. For cron: NAUTLIVE_ARM=1 nautlive live --venue binance --once --summary artifacts/logs/live/last.json

    Rehearsal: nautlive sim (one terminal) · nautlive live --venue binance-sim --arm --once (another)
    """
    _session("live", venue, profile, "venue", 1.0, 42, targets, drift_log, once, duration, summary, json_out,
             log_level, arm=arm)


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

    Example (from the repository): nautlive parity --venue binance --data ../shared/data/binance/market/btcusdt_20240808.gz
    --data ../shared/data/binance/market/ethusdt_20240808.gz --targets artifacts/orders/target_weights.json
    --schedule artifacts/orders/schedule.example.json
    """
    import msgspec

    from nautlive.parity import run_parity
    from nautlive.render import emit_json, line, table

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


@app.command()
def init(
    folder: Annotated[
        Path, typer.Argument(help="Folder to set up (created if missing; default: the current folder).")
    ] = Path("."),
    force: Annotated[bool, typer.Option("--force", help="Overwrite files that exist with other content.")] = False,
) -> None:
    """Create a working folder: the shipped profiles, catalogs and example targets, a .env.example, next steps.

    Writes FOLDER/profiles/*.yaml, FOLDER/artifacts/catalog/*.yaml, FOLDER/artifacts/orders/*.json,
    FOLDER/.env.example (the environment variables each profile reads) and FOLDER/NEXT-STEPS.txt. Refuses to overwrite
    a file with other content unless --force (exit 2, nothing written); a file already identical is left alone.

    Example: nautlive init ws && cd ws && nautlive shadow --venue binance --feed synthetic --once
    """
    _fast_exit()
    from nautlive.home import init_home
    from nautlive.render import line

    done = init_home(folder, force)
    for path, action in done:
        line(f"{action} {path}")
    written = sum(action != "unchanged" for _, action in done)
    line(f"working folder {folder.absolute()}: {written} files written, {len(done) - written} unchanged")
    line("")
    line((folder / "NEXT-STEPS.txt").read_text().rstrip())


@app.command()
def demo() -> None:
    """Offline demo: a shadow session on the synthetic feed with a target change mid-run, then the drift report.

    Runs in the working folder when it has profiles/binance.yaml, else writes one (./nautlive-demo) from the shipped
    data first. Needs no network and no keys. `make demo` runs this.
    """
    from nautlive.demo import main as run_demo

    code = run_demo()
    if code:
        raise typer.Exit(code)
