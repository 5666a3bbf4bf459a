"""NautilusLiveEngine: one builder for SHADOW and LIVE TradingNodes (session.py runs them).

SHADOW: the sandbox execution client (CASH account, synthetic cash) with the venue's data client, a replay of recorded
files, or a synthetic walk. LIVE: the venue's own data and execution clients. The same LiveRebalanceStrategy in both.
The node runs on the main thread's event loop; the session ends on --once completion, --duration, SIGINT (130),
SIGTERM (0), the kill switch, or a startup failure, and always stops the node cleanly.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from decimal import Decimal
from pathlib import Path
from typing import Literal

import msgspec

from nautlive.config.profile import VenueProfile
from nautlive.core.execution import strategy_settings
from nautlive.core.identity import TRADER_ID
from nautlive.errors import ConfigError
from nautlive.venues import venue_for

Mode = Literal["shadow", "live"]
MAX_ATTEMPTS = 5  # a rebalance whose orders failed for a transient reason is planned again up to this many times
# Components whose warnings are routine at shutdown or on offline feeds ("Residual Position", "Reconciliation
# deactivated", "no trades on a synthetic feed"): shown from ERROR up at the default WARNING level.
QUIET = {"Cache": "ERROR", "TradingNode": "ERROR"}
# Nautilus's Binance execution client logs the API key at INFO ("API key ... has trading permissions"): its lines show
# from WARNING up whatever --log-level says, so a key never reaches a log.
KEY_LOGGING = {"ExecClient-BINANCE": "WARNING"}


class Feed(msgspec.Struct, frozen=True):
    """Where market data comes from: the venue, a replay of recorded files, a seeded synthetic walk, or bars
    (parity on bars: SessionOptions.bar_run)."""

    kind: Literal["venue", "replay", "synthetic", "bars"]
    paths: list[str] = []
    speed: float = 1.0
    seed: int = 42
    interval_secs: float = 0.2


def parse_feed(text: str | None, profile: VenueProfile, speed: float = 1.0, seed: int = 42) -> Feed:
    """`venue`, `synthetic` or `replay:PATH[,PATH]`; no choice means the venue (its public data when there are no
    keys: SHADOW needs no account)."""
    if text is None:
        return Feed("venue")
    kind, _, rest = text.partition(":")
    if kind == "replay":
        paths = [p for p in rest.split(",") if p]
        if not paths:
            raise ConfigError("--feed replay:PATH[,PATH]: no recording given")
        missing = [p for p in paths if not Path(p).is_file()]
        if missing:
            raise ConfigError(f"--feed: recording not found: {missing[0]}")
        return Feed("replay", paths=paths, speed=speed, seed=seed)
    if kind in ("venue", "synthetic") and not rest:
        return Feed(kind, speed=speed, seed=seed)
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
    bar_run: object = None  # feed "bars": the bar_backtest.BarRun replayed (its targets applied at their bar closes)
    panel: bool = False


def session_id(mode: str) -> str:
    return f"{mode}-{_now().strftime('%Y%m%dT%H%M%S')}"


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def build(profile: VenueProfile, options: SessionOptions, loop: asyncio.AbstractEventLoop,
          public_specs: dict | None = None):
    """The TradingNode of a session (built, not started) and its strategy.

    `public_specs`: the venue's specs from its public exchangeInfo (keyless SHADOW on the venue's feed), compared
    with the catalog at startup in place of the adapter's instruments."""
    from nautilus_trader.config import (
        LiveDataEngineConfig,
        LiveExecEngineConfig,
        LiveRiskEngineConfig,
        LoggingConfig,
        TradingNodeConfig,
    )
    from nautilus_trader.live.node import TradingNode

    from nautlive.catalog.specs import load_catalog
    from nautlive.config.validate import turnover_budget
    from nautlive.core.drift import DriftMonitor
    from nautlive.core.ledger import DAY, Budget, Ledger, parse_ts, tail_fills
    from nautlive.core.pnl_records import keep_pnl_records_cheap
    from nautlive.session.live_strategy import LiveRebalanceConfig, LiveRebalanceStrategy

    catalog = load_catalog(profile.catalog)
    by_id = catalog.by_id()
    missing = [i for i in profile.instruments if i not in by_id]
    if missing:
        raise ConfigError(f"{profile.catalog}: catalog has no record for {', '.join(missing)}")
    data_clients, exec_clients, factories = _clients(profile, options)
    live_checks = venue_for(profile).live_exec_checks() if options.mode == "live" else {}
    node = TradingNode(
        config=TradingNodeConfig(
            trader_id=TRADER_ID,
            logging=LoggingConfig(log_level=options.log_level, log_colors=False,
                                  log_component_levels=_log_levels(profile, options)),
            data_engine=LiveDataEngineConfig(graceful_shutdown_on_exception=True),
            risk_engine=LiveRiskEngineConfig(graceful_shutdown_on_exception=True),
            exec_engine=LiveExecEngineConfig(reconciliation=options.mode == "live",
                                             graceful_shutdown_on_exception=True,
                                             **live_checks),
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
    if options.feed.kind != "venue" or is_keyless(profile, options.mode, options.feed):
        from nautlive.catalog.specs import spec_to_instrument

        for iid in profile.instruments:
            node.kernel.cache.add_instrument(spec_to_instrument(by_id[iid], taker_fee=profile.taker_fee))
    drift = DriftMonitor(options.drift_log, session=options.session, mode=options.mode, venue=profile.venue,
                         alert_bps=profile.drift_alert_bps, log=None)
    logged = tail_fills(options.drift_log, _now() - max(DAY, dt.timedelta(hours=profile.live.recover_hours)),
                        profile.venue, options.mode)
    if options.mode == "live":  # the venue's trade ids are unique for good; the sandbox's restart every session
        drift.seen_trade_ids.update(f.trade_id for f in logged if f.trade_id)
    strategy = LiveRebalanceStrategy(
        LiveRebalanceConfig(
            log_events=False,  # every command and event as a log line: too much for a person or a cron log
            log_commands=False,
            instrument_ids=list(profile.instruments),
            account_venues=_account_venues(profile, options),
            cash_offset=_cash_offset(profile, options),
            quote_currency=profile.quote_currency,
            targets_path=None if options.schedule or options.feed.kind == "bars" else options.targets,
            targets_venue=profile.venue,
            targets_settle_ms=profile.target_settle_ms,
            inject_catalog_instruments=options.mode == "shadow",
            reconcile_policy=reconcile_policy(profile, options.mode, options.feed.kind),
            reconcile_overrides=dict(profile.reconcile.severity),
            adopt=profile.reconcile.adopt,
            catalog_path=str(profile.catalog),
            fill_timeout_secs=options.fill_timeout,
            taker_fee=profile.taker_fee,
            max_attempts=MAX_ATTEMPTS,
            enforce_budget=options.mode == "live",
            live_feed=options.feed.kind not in ("replay", "bars"),
            subscribe_book=options.mode == "shadow" and options.feed.kind == "venue" and has_depth(profile, "venue"),
            market_tif=market_tif(profile, options),
            **strategy_settings(profile.execution),
            post_only=venue_for(profile).post_only,
        ),
        specs={i: by_id[i] for i in profile.instruments},
        policy=profile.rebalance,
        drift=drift,
        venue_specs=(lambda _: public_specs) if public_specs is not None else _venue_specs_reader(profile),
        ledger=Ledger([f for f in logged if _now() - parse_ts(f.ts) < DAY]),
        budget=lambda nav: Budget(max_turnover_per_day=turnover_budget(profile.risk, nav),
                                  max_orders_per_hour=profile.risk.max_orders_per_hour),
    )
    drift.log = strategy.log
    if options.schedule and options.feed.kind != "bars":
        from nautlive.core.schedule_actor import TargetScheduleActor, TargetScheduleConfig

        node.trader.add_actor(TargetScheduleActor(TargetScheduleConfig(instrument_ids=list(profile.instruments)),
                                                  options.schedule))
    node.trader.add_strategy(strategy)
    for name, (data_factory, exec_factory) in factories.items():
        if data_factory is not None:
            node.add_data_client_factory(name, data_factory)
        if exec_factory is not None:
            node.add_exec_client_factory(name, exec_factory)
    node.build()
    keep_pnl_records_cheap(node.portfolio)
    if options.feed.kind in ("replay", "bars"):
        _attach_replay(node, profile, options, strategy)
    return node, strategy


def _attach_replay(node, profile: VenueProfile, options: SessionOptions, strategy) -> None:  # noqa: ANN001
    """The replay client (ticks or bars), registered by hand so an unpaced replay can run in lockstep with the
    engines' queues; the bar replay also waits for each rebalance to finish, as the backtest does."""
    from nautlive.data.feeds import ReplayDataClient, ReplayFeedConfig

    kernel = node.kernel
    config = ReplayFeedConfig(venue=profile.venue, paths=list(options.feed.paths), speed=options.feed.speed)
    if options.feed.kind == "bars":
        from nautlive.data.bar_feed import BarReplayDataClient

        client = BarReplayDataClient(kernel.loop, "BARS", config, kernel.msgbus, kernel.cache, kernel.clock,
                                     options.bar_run)
    else:
        client = ReplayDataClient(kernel.loop, "REPLAY", config, kernel.msgbus, kernel.cache, kernel.clock)
    client.settled = lambda: not (
        kernel.data_engine.data_qsize() or kernel.data_engine.cmd_qsize() or kernel.risk_engine.cmd_qsize()
        or kernel.risk_engine.evt_qsize() or kernel.exec_engine.cmd_qsize() or kernel.exec_engine.evt_qsize()
        or (options.feed.kind == "bars" and strategy.busy)
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
    return extra_venues_cash(profile) if options.mode == "shadow" else Decimal(0)


def extra_venues_cash(profile: VenueProfile) -> Decimal:
    """Simulated accounts on several exchanges (IB) each start with the whole cash: the surplus, not the strategy's."""
    start = profile.starting_balances().get(profile.quote_currency, Decimal(0))
    return start * (len(exchange_venues(profile)) - 1)


def reconcile_policy(profile: VenueProfile, mode: Mode, feed_kind: str) -> str:
    """skip | warn | fail | strict. BLOCKING rows refuse (fail) unless a SHADOW profile says `on_mismatch: warn`;
    `on_mismatch: fail` refuses WARNING rows too (strict); INFO rows never refuse. LIVE ignores `warn`."""
    if feed_kind != "venue":
        return "skip"  # offline feeds trade the catalog's own instruments
    if profile.reconcile.on_mismatch == "fail":
        return "strict"
    return "warn" if mode == "shadow" and profile.reconcile.on_mismatch == "warn" else "fail"


def _venue_specs_reader(profile: VenueProfile):  # noqa: ANN202
    def read(instruments) -> dict:  # noqa: ANN001
        from nautlive.catalog.specs import spec_from_instrument

        specs = {}
        venue = venue_for(profile)
        for instrument in instruments:
            if instrument is None:
                continue
            info = getattr(instrument, "info", None)
            iid = str(instrument.id)
            specs[iid] = venue.spec_from_info(info, iid) if info else spec_from_instrument(instrument)
        return specs

    return read


def _clients(profile: VenueProfile, options: SessionOptions):
    """(data client configs, exec client configs, {name: (data factory, exec factory)}) for the mode and feed."""
    data, execs, factories = {}, {}, {}
    venues = exchange_venues(profile)
    if options.feed.kind == "synthetic":
        from nautlive.data.feeds import SyntheticDataClientFactory, SyntheticFeedConfig

        for venue in venues:
            ids = [i for i in profile.instruments if i.endswith(f".{venue}")]
            data[f"SYNTH-{venue}"] = SyntheticFeedConfig(venue=venue, instrument_ids=ids, seed=options.feed.seed,
                                                         interval_secs=options.feed.interval_secs)
        factories["SYNTH"] = (SyntheticDataClientFactory, None)
    if options.mode == "shadow":
        from nautlive.session.sandbox import SandboxLiveExecClientFactory, ShadowExecClientConfig

        l2 = has_depth(profile, options.feed.kind)
        for venue in venues:
            execs[f"SANDBOX-{venue}"] = ShadowExecClientConfig(
                venue=venue,
                starting_balances=[f"{v} {k}" for k, v in profile.starting_balances().items()],
                base_currency=None,
                oms_type="NETTING",
                account_type="CASH",
                book_type="L2_MBP" if l2 else "L1_MBP",
                latency_ms=profile.shadow.latency_ms if l2 else 0.0,
            )
        factories["SANDBOX"] = (None, SandboxLiveExecClientFactory)
    venue_data = options.feed.kind == "venue"
    venue_exec = options.mode == "live"
    if venue_data and is_keyless(profile, options.mode, options.feed):
        name, config, factory = venue_for(profile).public_data_client(profile)
        data[name] = config
        factories[name] = (factory, None)
        venue_data = False
    if venue_data or venue_exec:
        clients = venue_for(profile).clients(profile)
        if venue_data:
            data[clients.name] = clients.data_config
        if venue_exec:
            execs[clients.name] = clients.exec_config
        factories[clients.name] = (clients.data_factory if venue_data else None,
                                   clients.exec_factory if venue_exec else None)
    return data, execs, factories


def is_keyless(profile: VenueProfile, mode: str, feed: Feed) -> bool:
    """SHADOW on the venue's feed without keys: its public market data, no signed call (Binance: public.py)."""
    return mode == "shadow" and feed.kind == "venue" and venue_for(profile).keyless_feed(profile)


def market_tif(profile: VenueProfile, options: SessionOptions) -> str:
    """IOC where the shadow exchange walks an L2 book (its remainder expires as a Binance MARKET order's does); GTC
    for bars (the rest one tick worse, as the bar backtest) and LIVE (IB accepts MKT DAY or GTC; Binance's adapter
    sends no time in force with a MARKET order)."""
    return "IOC" if options.mode == "shadow" and has_depth(profile, options.feed.kind) else "GTC"


def has_depth(profile: VenueProfile, feed_kind: str) -> bool:
    """Whether the feed gives the shadow exchange an L2 book: recordings, the synthetic ladder, Binance's depth
    stream. IB quotes and bars are an L1 book (filled deep at the touch, or as a backtest fills bars)."""
    return feed_kind in ("replay", "synthetic") or (feed_kind == "venue" and venue_for(profile).depth_stream)
