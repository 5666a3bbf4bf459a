"""NautilusLiveEngine: one builder for SHADOW and LIVE TradingNodes, and the session lifecycle around them.

SHADOW: the sandbox execution client (CASH account, synthetic cash) with the venue's data client, a replay of recorded
files, or a synthetic walk. LIVE: the venue's own data and execution clients. The same LiveRebalanceStrategy in both.
The node runs on the main thread's event loop; the session ends on --once completion, --duration, SIGINT (130),
SIGTERM (0), the kill switch, or a startup failure, and always stops the node cleanly.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import signal
import sys
from collections import Counter
from decimal import Decimal
from pathlib import Path
from typing import Literal

import msgspec

from nautlive.errors import ConfigError, NautliveError
from nautlive.profile import VenueProfile

Mode = Literal["shadow", "live"]
TRADER_ID = "NAUTLIVE-NLV"  # the NLV tag in every client order id tells nautlive's orders from others' at the venue
MAX_ATTEMPTS = 5  # a rebalance whose orders failed for a transient reason is planned again up to this many times
# Components whose warnings are routine at shutdown or on offline feeds ("Residual Position", "Reconciliation
# deactivated", "no trades on a synthetic feed"): shown from ERROR up at the default WARNING level.
QUIET = {"Cache": "ERROR", "TradingNode": "ERROR"}
# Nautilus's Binance execution client logs the API key at INFO ("API key ... has trading permissions"): its lines show
# from WARNING up whatever --log-level says, so a key never reaches a log.
KEY_LOGGING = {"ExecClient-BINANCE": "WARNING"}


class Feed(msgspec.Struct, frozen=True):
    """Where market data comes from: the venue, a replay of recorded files, or a seeded synthetic walk."""

    kind: Literal["venue", "replay", "synthetic"]
    paths: list[str] = []
    speed: float = 1.0
    seed: int = 42
    interval_secs: float = 0.2


def parse_feed(text: str | None, profile: VenueProfile, speed: float = 1.0, seed: int = 42) -> tuple[Feed, str | None]:
    """`venue`, `synthetic` or `replay:PATH[,PATH]`; no choice means venue with keys, else synthetic (with a warning)."""
    if text is None:
        if profile.adapter == "binance" and not profile.has_keys():
            return Feed("synthetic", seed=seed), "no API keys in the profile: using the synthetic feed (--feed venue needs keys)"
        return Feed("venue"), None
    kind, _, rest = text.partition(":")
    if kind == "replay":
        paths = [p for p in rest.split(",") if p]
        if not paths:
            raise ConfigError("--feed replay:PATH[,PATH]: no recording given")
        missing = [p for p in paths if not Path(p).is_file()]
        if missing:
            raise ConfigError(f"--feed: recording not found: {missing[0]}")
        return Feed("replay", paths=paths, speed=speed, seed=seed), None
    if kind in ("venue", "synthetic") and not rest:
        return Feed(kind, speed=speed, seed=seed), None
    raise ConfigError(f"--feed: expected venue, synthetic or replay:PATH[,PATH], got {text!r}")


class SessionOptions(msgspec.Struct, frozen=True):
    mode: Mode
    feed: Feed
    targets: str
    drift_log: str
    once: bool = False
    duration: float | None = None
    session: str = ""
    log_level: str = "WARNING"
    fill_timeout: float = 30.0
    connect_timeout: float = 15.0
    kill_switch: str | None = None
    schedule: list = []  # ScheduledTargets driven by data time (parity); else the watcher drives targets
    data_end_ns: dict[str, int] = {}  # stop once every instrument's last recorded quote is in and nothing is in flight
    panel: bool = False


class SessionResult(msgspec.Struct):
    """What a session did; exit_code follows the CLI contract."""

    exit_code: int
    reason: str
    session: str
    mode: str
    venue: str
    rebalances: list[dict]
    fills: list[dict]
    drift_alerts: int
    final_weights: dict[str, dict[str, str]]
    rejected_targets: list[str]
    mismatches: list[dict]
    superseded: int = 0  # target versions a newer one replaced before they started
    budget_refusals: list[str] = []
    stopped_orders: dict[str, str] = {}  # client order id -> its fate at the venue when the session stopped
    account_start: dict = {}  # LIVE: orders cancelled or kept and fills recovered at start
    stream_reestablished: int = 0


def session_id(mode: str) -> str:
    return f"{mode}-{_now().strftime('%Y%m%dT%H%M%S')}"


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def build(profile: VenueProfile, options: SessionOptions, loop: asyncio.AbstractEventLoop):
    """The TradingNode of a session (built, not started) and its strategy."""
    from nautilus_trader.config import (
        LiveDataEngineConfig,
        LiveExecEngineConfig,
        LiveRiskEngineConfig,
        LoggingConfig,
        TradingNodeConfig,
    )
    from nautilus_trader.live.node import TradingNode

    from nautlive.catalog import load_catalog
    from nautlive.drift import DriftMonitor
    from nautlive.ledger import DAY, Budget, Ledger, parse_ts, tail_fills
    from nautlive.live_strategy import LiveRebalanceConfig, LiveRebalanceStrategy
    from nautlive.validate import turnover_budget

    catalog = load_catalog(profile.catalog)
    by_id = catalog.by_id()
    missing = [i for i in profile.instruments if i not in by_id]
    if missing:
        raise ConfigError(f"{profile.catalog}: catalog has no record for {', '.join(missing)}")
    data_clients, exec_clients, factories = _clients(profile, options)
    node = TradingNode(
        config=TradingNodeConfig(
            trader_id=TRADER_ID,
            logging=LoggingConfig(log_level=options.log_level, log_colors=False,
                                  log_component_levels=_log_levels(profile, options)),
            data_engine=LiveDataEngineConfig(graceful_shutdown_on_exception=True),
            risk_engine=LiveRiskEngineConfig(graceful_shutdown_on_exception=True),
            exec_engine=LiveExecEngineConfig(reconciliation=options.mode == "live",
                                             graceful_shutdown_on_exception=True),
            data_clients=data_clients,
            exec_clients=exec_clients,
            timeout_connection=options.connect_timeout,
            timeout_reconciliation=options.connect_timeout,
            timeout_portfolio=5.0,
            timeout_disconnection=2.0,
            timeout_post_stop=0.2,
            timeout_shutdown=1.0,
        ),
        loop=loop,
    )
    if options.feed.kind != "venue":
        from nautlive.catalog import spec_to_instrument

        for iid in profile.instruments:
            node.kernel.cache.add_instrument(spec_to_instrument(by_id[iid], taker_fee=profile.taker_fee))
    drift = DriftMonitor(options.drift_log, session=options.session, mode=options.mode, venue=profile.venue,
                         alert_bps=profile.drift_alert_bps, log=None)
    logged = tail_fills(options.drift_log, _now() - max(DAY, dt.timedelta(hours=profile.live.recover_hours)),
                        profile.venue, options.mode)
    drift.seen_trade_ids.update(f.trade_id for f in logged if f.trade_id)
    strategy = LiveRebalanceStrategy(
        LiveRebalanceConfig(
            log_events=False,  # every command and event as a log line: too much for a person or a cron log
            log_commands=False,
            instrument_ids=list(profile.instruments),
            account_venues=_account_venues(profile, options),
            cash_offset=_cash_offset(profile, options),
            quote_currency=profile.quote_currency,
            targets_path=None if options.schedule else options.targets,
            targets_venue=profile.venue,
            inject_catalog_instruments=options.mode == "shadow",
            reconcile_policy=reconcile_policy(profile, options.mode, options.feed.kind),
            fill_timeout_secs=options.fill_timeout,
            taker_fee=profile.taker_fee,
            max_attempts=MAX_ATTEMPTS,
            enforce_budget=options.mode == "live",
        ),
        specs={i: by_id[i] for i in profile.instruments},
        policy=profile.rebalance,
        drift=drift,
        venue_specs=_venue_specs_reader(profile),
        ledger=Ledger([f for f in logged if _now() - parse_ts(f.ts) < DAY]),
        budget=lambda nav: Budget(max_turnover_per_day=turnover_budget(profile.risk, nav),
                                  max_orders_per_hour=profile.risk.max_orders_per_hour),
    )
    drift.log = strategy.log
    if options.schedule:
        from nautlive.strategy import TargetScheduleActor, TargetScheduleConfig

        node.trader.add_actor(TargetScheduleActor(TargetScheduleConfig(instrument_ids=list(profile.instruments)),
                                                  options.schedule))
    node.trader.add_strategy(strategy)
    for name, (data_factory, exec_factory) in factories.items():
        if data_factory is not None:
            node.add_data_client_factory(name, data_factory)
        if exec_factory is not None:
            node.add_exec_client_factory(name, exec_factory)
    node.build()
    if options.feed.kind == "replay":
        _attach_replay(node, profile, options)
    return node, strategy


def _attach_replay(node, profile: VenueProfile, options: SessionOptions) -> None:  # noqa: ANN001
    """The replay client, registered by hand so an unpaced replay can run in lockstep with the engines' queues."""
    from nautlive.feeds import ReplayDataClient, ReplayFeedConfig

    kernel = node.kernel
    config = ReplayFeedConfig(venue=profile.venue, paths=list(options.feed.paths), speed=options.feed.speed)
    client = ReplayDataClient(kernel.loop, "REPLAY", config, kernel.msgbus, kernel.cache, kernel.clock)
    client.settled = lambda: not (
        kernel.data_engine.data_qsize() or kernel.data_engine.cmd_qsize() or kernel.risk_engine.cmd_qsize()
        or kernel.risk_engine.evt_qsize() or kernel.exec_engine.cmd_qsize() or kernel.exec_engine.evt_qsize()
    )
    kernel.data_engine.register_client(client)


def _log_levels(profile: VenueProfile, options: SessionOptions) -> dict[str, str]:
    """At the default level, routine noise is hidden; the key never shows at any level."""
    if options.log_level != "WARNING":
        return dict(KEY_LOGGING)
    synthetic = {f"DataClient-SYNTH-{venue}": "ERROR" for venue in exchange_venues(profile)}
    return QUIET | synthetic | KEY_LOGGING


def exchange_venues(profile: VenueProfile) -> list[str]:
    """The venues of the profile's instrument ids: BINANCE, or the exchanges IB instruments trade on."""
    return sorted({iid.rsplit(".", 1)[1] for iid in profile.instruments})


def _account_venues(profile: VenueProfile, options: SessionOptions) -> list[str]:
    """Shadow: one sandbox account per exchange venue. Live: the venue's own account (INTERACTIVE_BROKERS for IB)."""
    return exchange_venues(profile) if options.mode == "shadow" else [profile.venue]


def _cash_offset(profile: VenueProfile, options: SessionOptions) -> Decimal:
    if options.mode != "shadow":
        return Decimal(0)
    start = profile.starting_balances().get(profile.quote_currency, Decimal(0))
    return start * (len(exchange_venues(profile)) - 1)


def reconcile_policy(profile: VenueProfile, mode: Mode, feed_kind: str) -> str:
    """skip | warn | fail | strict. LIVE refuses a BLOCKING mismatch whatever the profile says; its
    `reconcile.on_mismatch: fail` refuses warnings too. SHADOW follows the profile (default warn)."""
    if feed_kind != "venue":
        return "skip"  # offline feeds trade the catalog's own instruments
    if mode == "live":
        return "strict" if profile.reconcile.on_mismatch == "fail" else "fail"
    return profile.reconcile.on_mismatch or "warn"


def _venue_specs_reader(profile: VenueProfile):  # noqa: ANN202
    def read(instruments) -> dict:  # noqa: ANN001
        from nautlive.catalog import spec_from_instrument

        specs = {}
        for instrument in instruments:
            if instrument is None:
                continue
            info = getattr(instrument, "info", None)
            if profile.adapter == "binance" and info:
                from nautlive.venues.binance import spec_from_symbol_info

                specs[str(instrument.id)] = spec_from_symbol_info(info)
            else:
                specs[str(instrument.id)] = spec_from_instrument(instrument)
        return specs

    return read


def _clients(profile: VenueProfile, options: SessionOptions):
    """(data client configs, exec client configs, {name: (data factory, exec factory)}) for the mode and feed."""
    data, execs, factories = {}, {}, {}
    venues = exchange_venues(profile)
    if options.feed.kind == "synthetic":
        from nautlive.feeds import SyntheticDataClientFactory, SyntheticFeedConfig

        for venue in venues:
            ids = [i for i in profile.instruments if i.endswith(f".{venue}")]
            data[f"SYNTH-{venue}"] = SyntheticFeedConfig(venue=venue, instrument_ids=ids, seed=options.feed.seed,
                                                         interval_secs=options.feed.interval_secs)
        factories["SYNTH"] = (SyntheticDataClientFactory, None)
    if options.mode == "shadow":
        from nautilus_trader.adapters.sandbox.config import SandboxExecutionClientConfig

        from nautlive.sandbox import SandboxLiveExecClientFactory

        for venue in venues:
            execs[f"SANDBOX-{venue}"] = SandboxExecutionClientConfig(
                venue=venue,
                starting_balances=[f"{v} {k}" for k, v in profile.starting_balances().items()],
                base_currency=None,
                oms_type="NETTING",
                account_type="CASH",
            )
        factories["SANDBOX"] = (None, SandboxLiveExecClientFactory)
    venue_data = options.feed.kind == "venue"
    venue_exec = options.mode == "live"
    if venue_data or venue_exec:
        name, data_cfg, exec_cfg, data_factory, exec_factory = _venue_clients(profile)
        if venue_data:
            data[name] = data_cfg
        if venue_exec:
            execs[name] = exec_cfg
        factories[name] = (data_factory if venue_data else None, exec_factory if venue_exec else None)
    return data, execs, factories


def _venue_clients(profile: VenueProfile):
    if profile.adapter == "ibkr":
        from nautilus_trader.adapters.interactive_brokers.factories import (
            InteractiveBrokersLiveDataClientFactory,
            InteractiveBrokersLiveExecClientFactory,
        )

        from nautlive.venues import ibkr

        return ("IB", ibkr.data_client_config(profile), ibkr.exec_client_config(profile),
                InteractiveBrokersLiveDataClientFactory, InteractiveBrokersLiveExecClientFactory)
    from nautilus_trader.adapters.binance import BinanceLiveDataClientFactory, BinanceLiveExecClientFactory

    from nautlive.venues.binance import data_client_config, exec_client_config

    return ("BINANCE", data_client_config(profile), exec_client_config(profile),
            BinanceLiveDataClientFactory, BinanceLiveExecClientFactory)


# -- running a session ------------------------------------------------------------------------------------------


class _Stop(msgspec.Struct):
    exit_code: int = 0
    reason: str = ""


async def _run(profile: VenueProfile, options: SessionOptions, holder: dict) -> _Stop:
    loop = asyncio.get_running_loop()
    node, strategy = build(profile, options, loop)
    holder.update(node=node, strategy=strategy)
    finished = asyncio.Event()
    outcome = _Stop()

    def finish(code: int, reason: str) -> None:
        if not finished.is_set():
            outcome.exit_code, outcome.reason = code, reason
            finished.set()

    started = _now()
    venue = None
    if options.mode == "live" and profile.adapter == "binance":
        from nautlive.venues.binance_live import LiveVenue, prepare_account
        from nautlive.venues.binance_rest import BinanceRest

        rest = BinanceRest.for_profile(profile)
        holder["rest"] = rest
        try:
            start = await prepare_account(rest, list(profile.instruments), profile.live.open_orders, strategy.drift,
                                          _recover_since(profile, options), profile.quote_currency, _say)
        except NautliveError as exc:
            return _Stop(exc.exit_code, f"{exc}: nothing traded")
        holder["account_start"] = msgspec.to_builtins(start)
        venue = LiveVenue(rest, next(iter(node.kernel.exec_engine._clients.values())), list(profile.instruments),
                          strategy._specs, profile.quote_currency, strategy.log)
        strategy.venue = venue
        holder["venue"] = venue

    for sig, code in ((signal.SIGINT, 130), (signal.SIGTERM, 0)):
        loop.add_signal_handler(sig, finish, code, "interrupted" if sig == signal.SIGINT else "SIGTERM received")
    run_task = asyncio.create_task(node.run_async())
    watchers = [asyncio.create_task(_startup(strategy, options, finish))]
    if options.duration is not None:
        watchers.append(asyncio.create_task(_after(options.duration, finish)))
    if options.kill_switch:
        watchers.append(asyncio.create_task(_kill_switch(Path(options.kill_switch), strategy, finish)))
    if venue is not None:
        live = profile.live
        watchers.append(asyncio.create_task(venue.watch(min(5.0, live.down_report_secs), live.down_report_secs,
                                                        live.down_timeout, finish)))
    from nautlive.render import session_display

    display = session_display(profile, strategy, options.panel)
    watchers.append(asyncio.create_task(display.run(finished)))
    await finished.wait()
    for task in watchers:
        task.cancel()
    if venue is not None and strategy.startup == "ready":
        await _settle(strategy, venue, profile, started, outcome, holder)
    display.close()
    await node.stop_async()
    try:
        await asyncio.wait_for(run_task, timeout=5.0)
    except (TimeoutError, asyncio.CancelledError):
        run_task.cancel()
    return outcome


def _say(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def _recover_since(profile: VenueProfile, options: SessionOptions) -> dt.datetime:
    """Fills missing from the log are looked for since its last fill, at most live.recover_hours back."""
    from nautlive.ledger import parse_ts, tail_fills

    floor = _now() - dt.timedelta(hours=profile.live.recover_hours)
    logged = tail_fills(options.drift_log, floor, profile.venue, options.mode)
    return max([floor] + [parse_ts(f.ts) for f in logged[-1:]])


async def _settle(strategy, venue, profile: VenueProfile, started: dt.datetime, outcome: _Stop,  # noqa: ANN001
                  holder: dict) -> None:
    """Stopping: cancel every open order and wait until the venue confirms each cancelled or filled."""
    from nautilus_trader.model.identifiers import ClientOrderId

    strategy.cancel_unfinished_orders()
    submitted = {o["client_order_id"]: o["instrument"] for r in strategy.all_reports() for o in r.orders}

    def cached(coid: str):  # noqa: ANN202
        return strategy.cache.order(ClientOrderId(coid))

    def done(coid: str) -> bool:
        return cached(coid) is not None and cached(coid).is_closed

    working = {c: i for c, i in submitted.items() if not done(c)}
    before = len(strategy.drift.records)
    fates = await venue.settle(working, strategy.drift, done, profile.live.stop_timeout, started)
    stopped = {c: (cached(c).status_string().lower().replace("canceled", "cancelled") if f == "done" else
                   f.replace("canceled", "cancelled")) for c, f in fates.items()}
    holder["stopped_orders"] = stopped
    late = len(strategy.drift.records) - before
    notes = [f"{n} {fate}" for fate, n in sorted(Counter(stopped.values()).items())]
    if late:
        notes.append(f"{late} fill(s) logged while stopping")
    if notes:
        outcome.reason = f"{outcome.reason} (orders at stop: {', '.join(notes)})"
    unknown = [c for c, f in stopped.items() if f == "unknown"]
    if unknown:
        outcome.exit_code = max(outcome.exit_code, 1) if outcome.exit_code != 4 else 4
        outcome.reason = (f"{outcome.reason}; fate unknown after {profile.live.stop_timeout:g} s (live.stop_timeout) "
                          f"of {', '.join(unknown)}: check the venue")


async def _startup(strategy, options: SessionOptions, finish) -> None:  # noqa: ANN001
    """Wait for the strategy to be ready within the connect timeout; with --once, then for the rebalance to end."""
    deadline = asyncio.get_running_loop().time() + options.connect_timeout
    while strategy.startup is None:
        if asyncio.get_running_loop().time() > deadline:
            loaded = len(strategy.cache.instruments())
            finish(1, f"venue not ready within {options.connect_timeout:.0f} s ({loaded} instruments loaded, "
                      "no account or no answer; see the log above): nothing traded")
            return
        await asyncio.sleep(0.05)
    if strategy.startup_error is not None:
        error = strategy.startup_error
        finish(getattr(error, "exit_code", 1), str(error))
        return
    if options.once:
        await _until_rebalanced(strategy, options, finish)
    elif options.data_end_ns:
        await _until_replayed(strategy, options, finish)


async def _until_rebalanced(strategy, options: SessionOptions, finish) -> None:  # noqa: ANN001
    """--once: the current targets applied and every order terminal, within the price wait plus the fill timeout."""
    limit = strategy.config.price_wait_secs + options.fill_timeout + 5.0
    loop = asyncio.get_running_loop()
    deadline = loop.time() + limit
    while not strategy.reports or strategy.busy:
        if loop.time() > deadline:
            finish(1, f"rebalance not finished within {limit:.0f} s: orders left unfilled")
            return
        if strategy.watcher is not None and strategy.watcher.last_good is None and strategy.watcher.rejected:
            finish(2, strategy.watcher.rejected[-1])
            return
        await asyncio.sleep(0.05)
    report = strategy.reports[-1]
    if report.refused:
        finish(4, f"refused: {report.refused}")
        return
    unpriced = [s["instrument_id"] for s in report.skipped if s["reason"] == "no price"]
    if report.rejected or report.unfilled:
        first = (report.rejected or report.unfilled)[0]["reason"]
        finish(1, f"{len(report.rejected)} order(s) rejected, {len(report.unfilled)} unfilled (first: {first})")
    elif unpriced:
        finish(1, f"no price for {', '.join(unpriced)} within {strategy.config.price_wait_secs:g} s: not traded "
                  f"({len(report.orders)} other orders filled)")
    else:
        finish(0, f"targets {report.target_hash} applied: {len(report.orders)} orders filled")


async def _until_replayed(strategy, options: SessionOptions, finish) -> None:  # noqa: ANN001
    """A replay session (parity): ends when the recording is fully played and no rebalance is in flight."""
    from nautilus_trader.model.identifiers import InstrumentId

    def played(iid: str, end_ns: int) -> bool:
        quote = strategy.cache.quote_tick(InstrumentId.from_str(iid))
        return quote is not None and quote.ts_init >= end_ns

    while not (all(played(i, end) for i, end in options.data_end_ns.items()) and not strategy.busy):
        await asyncio.sleep(0.05)
    finish(0, "recording replayed")


async def _after(seconds: float, finish) -> None:  # noqa: ANN001
    await asyncio.sleep(seconds)
    finish(0, f"--duration {seconds:g} s elapsed")


async def _kill_switch(path: Path, strategy, finish) -> None:  # noqa: ANN001
    while not path.exists():
        await asyncio.sleep(0.2)
    strategy.log.error(f"Kill switch {path} appeared: cancelling open orders and stopping")
    strategy.cancel_unfinished_orders()
    await asyncio.sleep(0.5)
    finish(4, f"kill switch {path} appeared: session stopped")


def run_session(profile: VenueProfile, options: SessionOptions) -> SessionResult:
    """Build, run and stop a SHADOW or LIVE session; the result carries the exit code."""
    holder: dict = {}
    _node_logs_on_stderr()
    try:
        outcome = asyncio.run(_run(profile, options, holder))
    finally:
        node = holder.get("node")
        strategy = holder.get("strategy")
        if strategy is not None and strategy.drift is not None:
            strategy.drift.close()
        if node is not None:
            node.dispose()
        if holder.get("rest") is not None:
            asyncio.run(holder["rest"].close())
    return _result(profile, options, outcome, holder["strategy"], holder)


_real_stdout: dict = {}


def _node_logs_on_stderr() -> None:
    """Nautilus's logger writes to file descriptor 1, but a session's stdout is for its result (tables or --json).

    From here on fd 1 is stderr (the node's log lines, however late they are flushed), and sys.stdout writes to the
    real stdout. Done once per process.
    """
    if sys.stdout is _real_stdout.get("file"):
        return
    sys.stdout.flush()
    _real_stdout["file"] = sys.stdout = os.fdopen(os.dup(1), "w", buffering=1)
    os.dup2(2, 1)


def _result(profile: VenueProfile, options: SessionOptions, outcome: _Stop, strategy, holder: dict) -> SessionResult:  # noqa: ANN001
    from nautlive.backtest import final_weights

    targets = strategy.watcher.last_good.weights if strategy.watcher and strategy.watcher.last_good else (
        options.schedule[-1].targets.weights if options.schedule else {})
    weights = final_weights(strategy, targets) if strategy.startup == "ready" else {"_nav": Decimal(0)}
    weights.pop("_nav")
    return SessionResult(
        exit_code=outcome.exit_code,
        reason=outcome.reason,
        session=options.session,
        mode=options.mode,
        venue=profile.venue,
        rebalances=[msgspec.to_builtins(r) for r in strategy.reports],
        fills=[msgspec.to_builtins(r) for r in (strategy.drift.records if strategy.drift else [])],
        drift_alerts=strategy.drift.alerts if strategy.drift else 0,
        final_weights={k: {"weight": _text(w), "target": _text(targets.get(k, Decimal(0)))} for k, w in weights.items()},
        rejected_targets=list(strategy.watcher.rejected) if strategy.watcher else [],
        mismatches=[msgspec.to_builtins(m) for m in strategy.mismatches],
        superseded=strategy.superseded,
        budget_refusals=list(strategy.budget_refusals),
        stopped_orders=holder.get("stopped_orders", {}),
        account_start=holder.get("account_start", {}),
        stream_reestablished=getattr(holder.get("venue"), "stream_reestablished", 0),
    )


def _text(value: Decimal) -> str:
    return format(Decimal(value).quantize(Decimal("0.00000001")).normalize(), "f")


def run_from_cli(
    profile: VenueProfile,
    mode: Mode,
    feed_text: str | None,
    speed: float,
    seed: int,
    targets: str | Path | None,
    drift_log: str | Path | None,
    once: bool,
    duration: float | None,
    log_level: str,
    arm: bool,
    panel: bool,
) -> tuple[SessionResult, str | None]:
    """Check everything a session needs before a node exists, then run it: (result, a warning to show or None)."""
    from nautlive.safety import AccountLock, refuse_if_killed, require_armed
    from nautlive.signals import read_targets

    feed, note = parse_feed(feed_text, profile, speed, seed)
    targets = str(targets or profile.targets)
    if mode == "live":
        require_armed(arm)
        refuse_if_killed(profile.live.kill_switch)
        if feed.kind != "venue":
            raise ConfigError("live trading uses the venue's own market data: --feed must be venue")
    if once:
        read_targets(targets, profile.instruments, profile.venue)  # a rejected file: exit 2 before any order
    if profile.adapter == "ibkr" and (mode == "live" or feed.kind == "venue"):
        from nautlive.venues.ibkr import check_gateway_reachable, exec_client_config

        exec_client_config(profile)  # the account must be known before connecting
        check_gateway_reachable(profile.ibkr.host, profile.ibkr.port, profile.live.connect_timeout)
    options = SessionOptions(
        mode=mode,
        feed=feed,
        targets=targets,
        drift_log=str(drift_log or profile.drift_log),
        once=once,
        duration=duration,
        session=session_id(mode),
        log_level=log_level,
        fill_timeout=profile.live.fill_timeout,
        connect_timeout=profile.live.connect_timeout,
        kill_switch=profile.live.kill_switch if mode == "live" else None,
        panel=panel,
    )
    if mode == "live":
        with AccountLock(profile):
            return run_session(profile, options), note
    return run_session(profile, options), note
