"""A SHADOW or LIVE session: build the node (engine.build), run it, stop it cleanly, report what happened.

The node runs on the main thread's event loop; the session ends on --once completion, --duration, a stop signal
(SIGINT 130, SIGTERM and SIGHUP 0, any other 1: nautlive.session.stop_signals), the kill switch, a dead venue, a budget refusing
the latest target or the drift log failing (nautlive.session.end), or a startup failure. In LIVE a stop waits until the
venue confirms each order cancelled or filled (live.stop_timeout).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import gc
import os
import sys
from collections import Counter
from pathlib import Path

import msgspec

from nautlive.config.profile import VenueProfile
from nautlive.errors import ConfigError, NautliveError
from nautlive.session import engine
from nautlive.session.alerts import SessionAlerts, alert_refusals
from nautlive.session.end import (
    account_for_the_log,
    account_for_undone,
    stop_when_the_log_fails,
    until_rebalanced,
    until_refused,
)
from nautlive.session.engine import Mode, SessionOptions, _now, parse_feed, session_id
from nautlive.session.result import SessionResult, Stop, session_result
from nautlive.venues import venue_for


async def _run(profile: VenueProfile, options: SessionOptions, holder: dict, alerts) -> Stop:  # noqa: ANN001
    from nautlive.session.stop_signals import install

    loop = asyncio.get_running_loop()
    finished = asyncio.Event()
    outcome = Stop()

    def finish(code: int, reason: str) -> None:
        if not finished.is_set():
            outcome.exit_code, outcome.reason = code, reason
            finished.set()

    public_specs = {} if engine.is_keyless(profile, options.mode, options.feed) else None  # filled before start
    node, strategy = engine.build(profile, options, loop, public_specs)
    install(loop, finish)  # after the node's own (SIGINT, SIGTERM): from here on every stop signal leaves one trail
    holder.update(node=node, strategy=strategy)
    stop_when_the_log_fails(strategy, finish)
    # What exists now (Nautilus's modules, the node, its caches) lives as long as the session: out of the collector's
    # full passes, which otherwise rescan it all and stall a rebalance for ~50 ms now and then (run_session unfreezes).
    gc.collect()
    gc.freeze()
    if public_specs is not None:
        try:
            public_specs.update((await venue_for(profile).fetch_public_specs(profile)).specs)
        except NautliveError as exc:
            return Stop(exc.exit_code, f"{exc}: nothing traded")
    started = _now()
    venue = None
    if options.mode == "live":
        try:
            live_start = await venue_for(profile).start_live(profile, node, strategy, _recover_since(profile, options),
                                                             _say, finish)
        except NautliveError as exc:
            return Stop(exc.exit_code, f"{exc}: nothing traded")
        if live_start is not None:
            holder["rest"] = live_start.rest
            holder["account_start"] = live_start.account_start
            venue = strategy.venue = holder["venue"] = live_start.watcher
    if (venue_start := holder.get("venue_start")) is not None:  # Venue.prepare_live_start, before the node
        strategy.kept_reserved = venue_start.kept_value  # other clients' buy orders kept: their cash counts in NAV
        holder["account_start"] = msgspec.to_builtins(venue_start)
    if finished.is_set():  # stopped while starting: the node never ran
        return Stop(outcome.exit_code, f"{outcome.reason} before the session started: nothing traded")
    run_task = asyncio.create_task(node.run_async())
    watchers = [asyncio.create_task(_startup(strategy, options, finish))]
    if not options.once and options.mode == "live":
        watchers.append(asyncio.create_task(until_refused(strategy, finish)))
    if options.duration is not None:
        watchers.append(asyncio.create_task(_after(options.duration, finish)))
    if options.kill_switch:
        watchers.append(asyncio.create_task(_kill_switch(Path(options.kill_switch), strategy, finish)))
    recovery = None  # not cancelled at the stop: a --once run that is done at once must still log what it recovers
    if options.mode == "live" and venue_for(profile).recovers_fills_after_connect:
        recovery = asyncio.create_task(_recover_fills(strategy, node, profile, options, holder))
    if venue is not None:
        live = profile.live
        watchers.append(asyncio.create_task(venue.watch(min(5.0, live.down_report_secs), live.down_report_secs,
                                                        live.down_timeout, finish)))
    from nautlive.session.display import session_display

    display = session_display(profile, strategy, options)
    watchers.append(asyncio.create_task(display.run(finished)))
    watchers.append(asyncio.create_task(alerts.watch(finished)))
    await finished.wait()
    for task in watchers:
        task.cancel()
    await _until_recovered(recovery, options.connect_timeout)
    if options.mode == "live" and strategy.startup == "ready":
        await _settle(strategy, venue, profile, started, outcome, holder)
    account_for_undone(strategy, outcome)
    account_for_the_log(strategy.drift, outcome)
    display.close()
    await node.stop_async()
    try:
        await asyncio.wait_for(run_task, timeout=5.0)
    except (TimeoutError, asyncio.CancelledError):
        run_task.cancel()
    return outcome


async def _until_recovered(recovery: asyncio.Task | None, timeout: float) -> None:
    """Let the fill recovery finish (at most `timeout`), so its fills are in the log before the session ends."""
    if recovery is None:
        return
    try:
        await asyncio.wait_for(recovery, timeout)
    except TimeoutError:
        _say(f"reading past executions from the venue did not finish within {timeout:.0f} s: the next session tries again")


async def _recover_fills(strategy, node, profile: VenueProfile, options: SessionOptions, holder: dict) -> None:  # noqa: ANN001
    """Once the adapter is connected (IB), log the executions of our orders the drift log misses."""
    while strategy.startup is None:
        await asyncio.sleep(0.05)
    if strategy.startup != "ready":
        return
    try:
        count = await venue_for(profile).recover_fills(profile, next(iter(node.kernel.exec_engine._clients.values())),
                                                       strategy.drift, _recover_since(profile, options))
    except Exception as exc:  # noqa: BLE001 - recovery is best effort: the next session tries again
        _say(f"could not read past executions from the gateway: {exc}")
        return
    holder.setdefault("account_start", {})["recovered"] = count
    if count:
        _say(f"recovered {count} fill(s) of nautlive's orders missing from {strategy.drift.path} (recovered: true)")


def _say(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def _recover_since(profile: VenueProfile, options: SessionOptions) -> dt.datetime:
    """Fills missing from the log are looked for since its last fill, at most live.recover_hours back."""
    from nautlive.core.ledger import parse_ts, tail_fills

    floor = _now() - dt.timedelta(hours=profile.live.recover_hours)
    logged = tail_fills(options.drift_log, floor, profile.venue, options.mode)
    return max([floor] + [parse_ts(f.ts) for f in logged[-1:]])


async def _settle(strategy, venue, profile: VenueProfile, started: dt.datetime, outcome: Stop,  # noqa: ANN001
                  holder: dict) -> None:
    """Stopping: cancel every open order and wait until the venue confirms each cancelled or filled (asking over REST
    on Binance; on IB through the adapter's own order events)."""
    from nautilus_trader.model.identifiers import ClientOrderId

    strategy.cancel_unfinished_orders()
    submitted = {o["client_order_id"]: o["instrument"] for r in strategy.all_reports() for o in r.orders}

    def cached(coid: str):  # noqa: ANN202
        return strategy.cache.order(ClientOrderId(coid))

    def done(coid: str) -> bool:
        return cached(coid) is not None and cached(coid).is_closed

    working = {c: i for c, i in submitted.items() if not done(c)}
    before = len(strategy.drift.records)
    timeout = profile.live.stop_timeout
    fates = await (venue.settle(working, strategy.drift, done, timeout, started) if venue is not None
                   else _until_closed(working, done, timeout, strategy.resend_cancels))
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


async def _until_closed(orders: dict[str, str], done, timeout: float, resend) -> dict[str, str]:  # noqa: ANN001
    """Wait for the engine to see each order closed: "done", or "unknown" at the deadline. Every second the cancels
    of the orders still open are sent again (`resend`): one sent before the venue's ack is lost."""
    from nautilus_trader.model.identifiers import ClientOrderId

    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    again = loop.time() + 1.0
    while not all(map(done, orders)) and loop.time() < deadline:
        await asyncio.sleep(0.2)
        if loop.time() >= again:
            resend([ClientOrderId(c) for c in orders if not done(c)])
            again = loop.time() + 1.0
    return {c: "done" if done(c) else "unknown" for c in orders}


async def _startup(strategy, options: SessionOptions, finish) -> None:  # noqa: ANN001
    """Wait for the strategy to be ready within the connect timeout; with --once, then for the rebalance to end."""
    deadline = asyncio.get_running_loop().time() + options.connect_timeout
    while strategy.startup is None:
        if asyncio.get_running_loop().time() > deadline:
            loaded = len(strategy.cache.instruments())
            problem = strategy.venue.connection_problem() if strategy.venue is not None else ""
            finish(1, f"venue not ready within {options.connect_timeout:.0f} s ({loaded} instruments loaded, "
                      f"{problem or 'no account or no answer; see the log above'}): nothing traded")
            return
        await asyncio.sleep(0.05)
    if strategy.startup_error is not None:
        error = strategy.startup_error
        finish(getattr(error, "exit_code", 1), str(error))
        return
    if options.once:
        await until_rebalanced(strategy, options, finish)
    elif options.data_end_ns or options.feed.kind == "bars":
        await _until_replayed(strategy, options, finish)


async def _until_replayed(strategy, options: SessionOptions, finish) -> None:  # noqa: ANN001
    """A replay session (parity): ends when the recording is fully played (the bar replay says so in the cache) and
    no rebalance is in flight."""
    from nautilus_trader.model.identifiers import InstrumentId

    from nautlive.data.bar_feed import REPLAY_DONE

    def played(iid: str, end_ns: int) -> bool:
        quote = strategy.cache.quote_tick(InstrumentId.from_str(iid))
        return quote is not None and quote.ts_init >= end_ns

    def done() -> bool:
        if options.feed.kind == "bars":
            return strategy.cache.get(REPLAY_DONE) is not None
        return all(played(i, end) for i, end in options.data_end_ns.items())

    while not (done() and not strategy.busy):
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


def run_session(profile: VenueProfile, options: SessionOptions, venue_start: object = None) -> SessionResult:
    """Build, run and stop a SHADOW or LIVE session; the result carries the exit code. `venue_start`: what the venue
    showed before the node (Venue.prepare_live_start)."""
    holder: dict = {"venue_start": venue_start}
    _node_logs_on_stderr()
    with SessionAlerts(profile, options, holder) as alerts:  # started, events while running, ended; then flushed
        try:
            outcome = asyncio.run(_run(profile, options, holder, alerts))
            # Both read the node's cache, which dispose() empties (Nautilus >= 1.225).
            result = session_result(profile, options, outcome, holder["strategy"], holder)
            alerts.ended(result)
        finally:
            node = holder.get("node")
            strategy = holder.get("strategy")
            if strategy is not None and strategy.drift is not None:
                strategy.drift.close()
            if node is not None:
                node.dispose()
            if holder.get("rest") is not None:
                asyncio.run(holder["rest"].close())
            gc.unfreeze()  # the node's objects can be collected again
    return result


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


@alert_refusals
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
    summary: str | Path | None = None,
) -> SessionResult:
    """Check everything a session needs before a node exists (LIVE: before any venue call), then run it."""
    from contextlib import ExitStack

    from nautlive.core.signals import read_targets
    from nautlive.core.writable import check_session_outputs
    from nautlive.session.safety import AccountLock, refuse_if_killed, require_armed

    feed = parse_feed(feed_text, profile, speed, seed)
    targets = str(targets or profile.targets)
    drift_log = str(drift_log or profile.drift_log)
    venue = venue_for(profile)
    if mode == "live":
        venue.check_live_settings(profile)
        require_armed(arm)
        refuse_if_killed(profile.live.kill_switch)
        if feed.kind != "venue":
            raise ConfigError("live trading uses the venue's own market data: --feed must be venue")
    if once:
        read_targets(targets, profile.instruments, profile.venue)  # a rejected file: exit 2 before any order
    with ExitStack() as held:
        if mode == "live":
            check_session_outputs(drift_log, summary)  # exit 2 naming the file, before any venue call
            held.enter_context(AccountLock(profile))
        if mode == "live" or feed.kind == "venue":
            venue.check_connection(profile)  # IB: the handshake answered and the account managed, before any node
        options = SessionOptions(
            mode=mode,
            feed=feed,
            targets=targets,
            drift_log=drift_log,
            once=once,
            duration=duration,
            session=session_id(mode),
            log_level=log_level,
            fill_timeout=profile.live.fill_timeout,
            connect_timeout=profile.live.connect_timeout,
            kill_switch=profile.live.kill_switch if mode == "live" else None,
            panel=panel,
        )
        venue_start = None
        if mode == "live":
            venue_start = venue.prepare_live_start(profile, _say)  # inside the lock, before any node
        return run_session(profile, options, venue_start)
