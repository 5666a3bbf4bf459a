"""A session's alerts: what the strategy and the venue already expose, polled on the node's loop, turned into events.

Like the plain progress lines (nautlive.report.console.PlainProgress), `SessionAlerts.watch` reads the strategy's state every
0.25 s: new drift records with `.alert`, finished rebalances, rejected or unfilled orders (also of the rebalance in
flight), budget refusals, rejected target files, the mismatches found at start, the kill-switch file, and the LIVE
venue's `down_since`. It only reads and queues; delivery happens on the sink's threads.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import functools
import time
from collections.abc import Callable, Iterator
from decimal import Decimal
from pathlib import Path

from nautlive.alerts import events
from nautlive.alerts.events import AlertEvent

POLL_SECS = 0.25


class SessionAlerts:
    """Used as a context manager around a session: `started` on entry; `ended(result)` when it is known (an exception
    escaping the session is sent as `failed`); on exit, pending alerts are flushed for at most alerts.flush_secs.

    Without alerts.urls it does nothing: no apprise import, no thread, no task; nor for a session driven by a target
    schedule (the shadow half of `nautlive parity`, an offline comparison nobody needs to be told about).
    """

    def __init__(self, profile, options, holder: dict) -> None:  # noqa: ANN001 - VenueProfile, SessionOptions
        self._profile, self._options, self._holder = profile, options, holder
        self._sink = None
        if profile.alerts.urls and not options.schedule:
            from nautlive.alerts.delivery import AlertSink

            self._sink = AlertSink(profile.alerts, f"nautlive {profile.name} {options.session}")
        self._fills = self._reports = self._refusals = self._targets = 0
        self._orders_seen: set[tuple] = set()
        self._started_seen = self._killed = self._ended = False
        self._down_since: float | None = None

    def __enter__(self) -> SessionAlerts:
        o, p = self._options, self._profile
        self._emit(events.started(o.mode, p.name, p.venue, o.session, o.feed.kind, o.targets))
        return self

    def __exit__(self, exc_type, exc, tb) -> None:  # noqa: ANN001
        if exc is not None and not self._ended:
            self._emit(events.ended(getattr(exc, "exit_code", 1), str(exc) or exc_type.__name__, 0, 0, 0, 0))
            exc.alerted = True  # for alert_refusals: not sent twice
        if self._sink is not None:
            self._sink.close()

    async def watch(self, finished: asyncio.Event) -> None:
        """Poll until the session finishes (a task on the node's loop)."""
        if self._sink is None:
            return
        while not finished.is_set():
            self.poll()
            await asyncio.sleep(POLL_SECS)

    def ended(self, result) -> None:  # noqa: ANN001 - SessionResult
        """What happened since the last poll, then the session's exit code and reason."""
        self.poll()
        self._ended = True
        from nautlive.session.end import describe_fates

        orders = sum(len(r["orders"]) for r in result.rebalances)
        self._emit(events.ended(result.exit_code, result.reason, len(result.rebalances), orders, len(result.fills),
                                result.drift_alerts, describe_fates(result.orders_by_fate)))

    def poll(self) -> None:
        strategy = self._holder.get("strategy")
        if self._sink is None or strategy is None:
            return
        for event in self.new_events(strategy):
            self._sink.emit(event)

    def new_events(self, strategy) -> Iterator[AlertEvent]:  # noqa: ANN001
        yield from self._startup(strategy)
        yield from self._drift(strategy)
        yield from self._orders(strategy)
        yield from self._rebalances(strategy)
        yield from self._refused(strategy)
        yield from self._target_files(strategy)
        yield from self._kill_switch()
        yield from self._venue()

    def _emit(self, event: AlertEvent) -> None:
        if self._sink is not None:
            self._sink.emit(event)

    # -- one source each ---------------------------------------------------------------------------------------

    def _startup(self, strategy) -> Iterator[AlertEvent]:  # noqa: ANN001
        if self._started_seen or strategy.startup is None:
            return
        self._started_seen = True
        notable = [m for m in strategy.mismatches if m.severity != "INFO"]  # a relaxation is no news for a person
        if notable:
            yield events.mismatch(notable)

    def _drift(self, strategy) -> Iterator[AlertEvent]:  # noqa: ANN001
        records = strategy.drift.records if strategy.drift is not None else []
        for record in records[self._fills:]:
            if record.alert:
                yield events.drift(record, strategy.drift.alert_bps)
        self._fills = len(records)

    def _orders(self, strategy) -> Iterator[AlertEvent]:  # noqa: ANN001
        """Rejected, denied or unfilled orders of the rebalances finished since the last poll and the one in flight."""
        for report in strategy.all_reports()[self._reports:]:
            orders = {o["client_order_id"]: o for o in report.orders}
            for what, entries in (("rejected", report.rejected), ("unfilled", report.unfilled)):
                for entry in entries:
                    key = (what, entry["client_order_id"], entry["reason"])
                    if key not in self._orders_seen:
                        self._orders_seen.add(key)
                        yield events.rejected(what, entry, orders.get(entry["client_order_id"]), report.target_hash)

    def _rebalances(self, strategy) -> Iterator[AlertEvent]:  # noqa: ANN001
        finished = strategy.reports[self._reports:]
        self._reports = len(strategy.reports)
        if not finished:
            return
        residuals = _residuals(strategy)
        records = strategy.drift.records if strategy.drift is not None else []
        for report in finished:
            ids = {o["client_order_id"] for o in report.orders}
            yield events.rebalance(report, sum(1 for r in records if r.client_order_id in ids), residuals)

    def _refused(self, strategy) -> Iterator[AlertEvent]:  # noqa: ANN001
        for reason in strategy.budget_refusals[self._refusals:]:
            yield events.refused(reason, strategy.config.enforce_budget)
        self._refusals = len(strategy.budget_refusals)

    def _target_files(self, strategy) -> Iterator[AlertEvent]:  # noqa: ANN001
        rejected = strategy.watcher.rejected if strategy.watcher is not None else []
        for reason in rejected[self._targets:]:
            yield events.target_rejected(reason)
        self._targets = len(rejected)

    def _kill_switch(self) -> Iterator[AlertEvent]:
        path = self._options.kill_switch
        if path and not self._killed and Path(path).exists():
            self._killed = True
            yield events.kill_switch(path)

    def _venue(self) -> Iterator[AlertEvent]:
        venue = self._holder.get("venue")
        down_since = getattr(venue, "down_since", None)
        if down_since is not None and self._down_since is None:
            wall = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=time.monotonic() - down_since)
            yield events.venue_down(self._profile.venue, wall.isoformat(timespec="seconds"),
                                    self._profile.live.down_timeout)
        elif down_since is None and self._down_since is not None:
            yield events.venue_up(self._profile.venue, time.monotonic() - self._down_since)
        self._down_since = down_since


def _residuals(strategy) -> dict[str, tuple[Decimal, Decimal]]:  # noqa: ANN001
    """instrument -> (weight now, target in force), at the last mids."""
    from nautlive.core.holdings import final_weights

    watcher = strategy.watcher
    targets = watcher.last_good.weights if watcher is not None and watcher.last_good is not None else {}
    weights = final_weights(strategy, targets)
    weights.pop("_nav")
    return {iid: (w, Decimal(targets.get(iid, 0))) for iid, w in weights.items()}


def alert_refusals(run: Callable) -> Callable:
    """Wrap `run(profile, mode, ...)`: a refusal before the session starts (not armed, the kill switch present, the
    account locked, a rejected target file under --once, a gateway not reachable) is sent as a `failed` event."""

    @functools.wraps(run)
    def wrapper(profile, mode, *args, **kwargs):  # noqa: ANN001, ANN002, ANN003, ANN202
        from nautlive.errors import NautliveError

        try:
            return run(profile, mode, *args, **kwargs)
        except NautliveError as exc:
            if profile.alerts.urls and not getattr(exc, "alerted", False):
                from nautlive.alerts.delivery import send_once

                send_once(profile.alerts, events.refused_start(mode, exc.exit_code, str(exc)),
                          f"nautlive {profile.name}")
            raise

    return wrapper
