"""LiveRebalanceStrategy: the backtest strategy plus the plumbing of a running session.

Instruments and the startup reconcile, the target watcher, the fill watchdog; in LIVE also the venue's truth before
each phase (`LiveVenue.refresh`), transient failures planned again, and the risk budgets over time. It overrides no
planning or order sizing: the hooks it fills (`_prepare`, `_refuse`, `_on_refused_order`, `_later`) only
decide when to plan and whether to send.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import re
from decimal import Decimal

from nautilus_trader.model.identifiers import InstrumentId

from nautlive.core.planner import Quote
from nautlive.core.strategy import NautilusRebalanceStrategy, RebalanceConfig

# Failures worth planning again after a backoff: the risk engine's submit rate, a free-balance check that ran
# before the sells' proceeds were booked, Binance's rate limits and timeouts. Filter or balance rejects at the venue
# (-1013, -2010) are final.
TRANSIENT = re.compile(r"MAX_ORDER_SUBMIT_RATE|NOTIONAL_EXCEEDS_FREE_BALANCE|-100[0-8]\b|-1015\b|-1021\b"
                       r"|[Tt]ime(d)? ?out")
PARENT_TICK_SECS = 0.25  # how late a TWAP child or a passive deadline can be on a feed with no quote


def is_transient(reason: str) -> bool:
    return bool(TRANSIENT.search(reason or ""))


class LiveRebalanceConfig(RebalanceConfig, frozen=True):
    """Live plumbing settings: where targets come from, whether catalog instruments may stand in, the watchdog."""

    targets_path: str | None = None
    targets_venue: str | None = None  # a target naming another venue's instrument is rejected as such
    targets_settle_ms: float = 0.0  # a new version of the target file is read once the file was quiet this long
    inject_catalog_instruments: bool = True
    reconcile_policy: str = "warn"  # warn | fail | strict | skip (offline feeds: the catalog is the venue)
    reconcile_overrides: dict[str, str] = {}  # the profile's reconcile.severity
    adopt: str | None = None  # "relaxed": the venue's relaxations written into the catalog file before trading
    catalog_path: str | None = None
    fill_timeout_secs: float = 30.0
    taker_fee: Decimal = Decimal("0.001")
    enforce_budget: bool = True  # LIVE refuses a rebalance that would overrun a budget; SHADOW only reports it
    live_feed: bool = True  # quotes arrive in wall time (venue or synthetic feed), not replayed from a recording


class LiveRebalanceStrategy(NautilusRebalanceStrategy):
    """NautilusRebalanceStrategy plus live plumbing only: instruments, startup reconcile, target watcher, watchdog.

    It overrides no planning or order logic; `startup` says "ready" or why the session cannot trade.
    """

    def __init__(self, config: LiveRebalanceConfig, specs, policy, drift=None, venue_specs=None,  # noqa: ANN001
                 venue=None, ledger=None, budget=None) -> None:  # noqa: ANN001
        super().__init__(config, specs, policy, drift)
        self.venue = venue  # LiveVenue (LIVE on Binance): the account over REST before each phase
        self.ledger = ledger  # Ledger: what was traded in the rolling windows (drift log + this session)
        self.budget = budget  # callable(nav) -> Budget
        self.budget_refusals: list[str] = []
        # Why no new order may go out any more (the drift log cannot be written); orders already sent run their course.
        self.halted: str | None = None
        self._ledger_seen = 0
        self.startup: str | None = None
        self.startup_error: Exception | None = None
        self.watcher = None
        self.mismatches: list = []
        self.adopted: list = []  # the catalog fields adopted from the venue at startup (reconcile.adopt: relaxed)
        self._venue_specs = venue_specs  # callable(instruments) -> {instrument_id: InstrumentSpec}
        self._watch_stop = None
        self._watch_task = None
        self._watchdog = None
        self._parent_ticks = False  # the wall-clock drive of waiting parents is scheduled

    def on_start(self) -> None:
        import asyncio

        try:
            self._inject_dummy_instruments()
            self._reconcile_at_startup()
        except Exception as exc:  # noqa: BLE001 - reported by the session runner as its exit code
            self.startup, self.startup_error = "failed", exc
            self.log.error(f"Cannot trade: {exc}")
            return
        super().on_start()
        loop = asyncio.get_running_loop()
        if self.config.targets_path:
            from nautlive.core.signals import TargetWeightWatcher

            self.watcher = TargetWeightWatcher(self.config.targets_path, self.config.instrument_ids,
                                               self.config.targets_venue, self.on_targets, self.log,
                                               self.config.targets_settle_ms)
            self._watch_stop = asyncio.Event()
            self._watch_task = loop.create_task(self.watcher.run(self._watch_stop))
        self._watchdog = loop.call_later(1.0, self._check_stuck_orders)
        self.startup = "ready"

    def on_stop(self) -> None:
        if self._watch_stop is not None:
            self._watch_stop.set()
        if self._watchdog is not None:
            self._watchdog.cancel()
        self.cancel_unfinished_orders()
        super().on_stop()

    @property
    def queued(self) -> bool:
        """A target waits for the rebalance in flight (or for its first prices)."""
        return self._pending is not None

    def cancel_unfinished_orders(self) -> None:
        """Cancel open orders and those still in flight (a submitted order may yet execute at the venue)."""
        self._abort_parents("session stopped")  # no further child goes out
        for order in self.cache.orders_open(strategy_id=self.id) + self.cache.orders_inflight(strategy_id=self.id):
            self.cancels_asked.add(order.client_order_id)
            self.cancel_order(order)

    def resend_cancels(self, client_order_ids) -> None:  # noqa: ANN001
        """Cancel these again, straight to the execution engine: a cancel sent before the venue acknowledged the order
        was dropped by the adapter (no venue order id yet), and the order still shows PENDING_CANCEL."""
        from nautilus_trader.core.uuid import UUID4
        from nautilus_trader.execution.messages import CancelOrder

        for coid in client_order_ids:
            order = self.cache.order(coid)
            if order is None or order.is_closed or order.venue_order_id is None:
                continue
            command = CancelOrder(self.trader_id, self.id, order.instrument_id, order.client_order_id,
                                  order.venue_order_id, UUID4(), self.clock.timestamp_ns())
            self.msgbus.send(endpoint="ExecEngine.execute", msg=command)

    def _inject_dummy_instruments(self) -> None:
        """Put catalog-built instruments in the cache for those the venue did not provide (offline feeds)."""
        from nautlive.catalog.specs import spec_to_instrument
        from nautlive.errors import RuntimeFailure

        missing = [i for i in self._ids if self.cache.instrument(i) is None]
        if not missing:
            return
        if not self.config.inject_catalog_instruments:
            raise RuntimeFailure(f"the venue loaded no instrument for {', '.join(map(str, missing))}")
        for iid in missing:
            self.cache.add_instrument(spec_to_instrument(self._specs[str(iid)], taker_fee=self.config.taker_fee))
        self.log.warning(f"Using catalog instruments for {', '.join(map(str, missing))} (venue's unavailable)")

    # -- hooks of the rebalance state machine -------------------------------------------------------------------

    def _prepare(self, then) -> None:  # noqa: ANN001
        """LIVE: read the account from the venue (and compare specs again) before planning a phase."""
        if self.venue is None:
            return then()

        async def refresh_then_plan() -> None:
            try:
                await self.venue.refresh(self)
            except Exception as exc:  # noqa: BLE001 - the venue down or wrong: this attempt fails, a retry may follow
                self.log.error(f"Cannot read the account from the venue before planning: {exc}")
                self._preparing = False
                self._transient.append({"client_order_id": None, "reason": f"account not read: {exc}"})
                self._finish()
                return
            then()

        asyncio.get_running_loop().create_task(refresh_then_plan())

    def _children_held(self) -> bool:
        """No TWAP or passive child goes out while the venue is not answering: it waits for the venue to answer
        again, or for the session's end (live.down_timeout), when it is reported undone."""
        return self.venue is not None and getattr(self.venue, "down_since", None) is not None

    def _drive_between_quotes(self) -> None:
        """On a live feed, waiting parents are driven every PARENT_TICK_SECS too: a TWAP child falls due, a passive
        order's patience runs out, a child held while the venue was down goes out, with no quote needed."""
        if not self.config.live_feed or self._parent_ticks:
            return
        self._parent_ticks = True

        def tick() -> None:
            if not self._parents_waiting():
                self._parent_ticks = False
                return
            self._drive_parents()
            self._later(PARENT_TICK_SECS, tick)

        self._later(PARENT_TICK_SECS, tick)

    def _fill_from_venue(self, event) -> bool:  # noqa: ANN001
        """An inferred fill (the engine reconciled an order whose stream events were lost) has a made-up trade id,
        an average price and an estimated fee: log the venue's own trades of that order instead."""
        if self.venue is None:
            return False
        self.log.warning(f"Fill of {event.client_order_id} inferred by reconciliation: logging the venue's trades")
        asyncio.get_running_loop().create_task(
            self.venue.log_order_trades(str(event.client_order_id), str(event.instrument_id), self.drift))
        return True

    def _later(self, delay: float, then) -> None:  # noqa: ANN001
        asyncio.get_running_loop().call_later(delay, then)

    def _on_refused_order(self, client_order_id: str, kind: str, reason: str) -> None:
        if self.config.max_attempts > 1 and is_transient(reason):
            self.log.warning(f"Order {client_order_id} {kind}: {reason} (transient: planned again)")
            self._transient.append({"client_order_id": client_order_id, "reason": reason})
        else:
            super()._on_refused_order(client_order_id, kind, reason)

    def _refuse(self, intents: list) -> bool:
        """A rebalance that would overrun the daily turnover or hourly order budget sends nothing (LIVE); after a halt
        nothing new is sent at all."""
        if self.halted is not None and intents:
            self._report.refused = self.halted
            return True
        if self.ledger is None or not intents:
            return False
        records = self.drift.records if self.drift is not None else []
        for record in records[self._ledger_seen:]:
            self.ledger.add_fill(dt.datetime.fromisoformat(record.ts.replace("Z", "+00:00")), Decimal(record.notional))
        self._ledger_seen = len(records)
        now = dt.datetime.now(dt.UTC)
        mids = {str(i): self._mid(i) for i in self._ids if self.cache.instrument(i) is not None}
        nav = self.cash() + self.reserved({i: Quote(bid=m, ask=m) for i, m in mids.items()}) + sum(
            (self.holding(self.cache.instrument(InstrumentId.from_str(i))) * m for i, m in mids.items()), Decimal(0))
        refusal = self.ledger.refusal(self.budget(nav), sum((i.notional for i in intents), Decimal(0)), len(intents),
                                      now, self.config.quote_currency)
        sending = sum(1 for intent in intents if intent.side == self._phase)  # the sells first, the buys later
        if refusal is None:
            self.ledger.add_orders(sending, now)
            return False
        if not self.config.enforce_budget:
            self.log.warning(f"Budget would refuse this rebalance in LIVE: {refusal}")
            self.budget_refusals.append(refusal)
            self.ledger.add_orders(sending, now)
            return False
        self.log.error(f"Refusing to trade: {refusal}")
        self.budget_refusals.append(refusal)
        self._report.refused = refusal
        return True

    def _count_child(self) -> None:
        """A passive parent's re-posting is one more order against risk.max_orders_per_hour."""
        if self.ledger is not None:
            self.ledger.add_orders(1, dt.datetime.now(dt.UTC))

    def _mid(self, iid) -> Decimal:  # noqa: ANN001
        quote = self.cache.quote_tick(iid)
        return (quote.bid_price.as_decimal() + quote.ask_price.as_decimal()) / 2 if quote else Decimal(0)

    def _reconcile_at_startup(self) -> None:
        if self._venue_specs is None or self.config.reconcile_policy == "skip":
            return
        from nautlive.catalog.reconcile import compare, enforce
        from nautlive.catalog.specs import ExecutionMetadataCatalog

        instruments = [self.cache.instrument(i) for i in self._ids]
        venue = self._venue_specs(instruments)
        catalog = ExecutionMetadataCatalog(venue=self.config.account_venues[0], instruments=list(self._specs.values()))
        result = compare(catalog, venue, overrides=self.config.reconcile_overrides)
        self.mismatches = result.mismatches
        for m in result.mismatches:
            say = self.log.info if m.severity == "INFO" else self.log.warning
            say(f"Catalog mismatch {m.instrument} {m.field}: catalog {m.catalog} vs venue {m.venue} ({m.severity})")
        enforce(result, self.config.reconcile_policy)
        if self.config.adopt == "relaxed" and self.config.catalog_path and result.info:
            from nautlive.catalog.adopt import adopt_into_session

            self.adopted = adopt_into_session(self.config.catalog_path, venue, self.config.reconcile_overrides,
                                              self._specs, self.log)
            _rebuild_catalog_instruments(self, {m.instrument for m in self.adopted})

    def _check_stuck_orders(self) -> None:
        """Cancel orders open longer than fill_timeout and let the rebalance go on: nothing stays half-filled."""
        import asyncio

        now = self.clock.timestamp_ns()
        limit = int(self.config.fill_timeout_secs * 1e9)
        for coid in list(self._open):
            order = self.cache.order(coid)
            if order is None or order.is_closed or self._rests_for_a_parent(coid):  # its parent moves it
                continue
            if now - order.init_event.ts_init > limit:
                self.log.error(f"Order {coid} still {order.status_string()} after {self.config.fill_timeout_secs}s "
                               f"(filled {order.filled_qty}): cancelling and reporting it unfilled")
                self.abandon(coid, f"unfilled after {self.config.fill_timeout_secs}s ({order.status_string()})")
                if order.is_open:
                    self.cancel_order(order)
        # A target waiting for a missing quote must start once price_wait_secs is over, even if no quote comes to
        # trigger it (an instrument the feed never serves, a replay that has ended).
        self._try_start()
        self._watchdog = asyncio.get_running_loop().call_later(1.0, self._check_stuck_orders)


def _rebuild_catalog_instruments(strategy: LiveRebalanceStrategy, instrument_ids: set[str]) -> None:
    """Instruments built from the catalog (keyless SHADOW: no venue `info`) built again from the adopted records,
    through the data engine, so the cache, the risk engine and the sandbox's exchange all trade on what was adopted."""
    from nautlive.catalog.specs import spec_to_instrument

    for iid in sorted(instrument_ids):
        cached = strategy.cache.instrument(InstrumentId.from_str(iid))
        if cached is not None and not cached.info:
            instrument = spec_to_instrument(strategy._specs[iid], taker_fee=strategy.config.taker_fee)
            strategy.msgbus.send(endpoint="DataEngine.process", msg=instrument)
