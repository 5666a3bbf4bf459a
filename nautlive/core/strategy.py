"""NautilusRebalanceStrategy: target weights in, market orders out, with the same logic in backtest, shadow and live.

A rebalance runs in two phases: the sells, then, once every sell is terminal, the buys planned again from the real
cash. So neither the engine's risk check nor the venue ever sees an overdraft. A target that arrives while a rebalance
is in flight waits for it to finish (the latest wins); the same content twice is not applied twice.
"""

from __future__ import annotations

from decimal import Decimal

import msgspec
from nautilus_trader.model.data import QuoteTick
from nautilus_trader.model.enums import BookType, OrderSide, OrderType, TimeInForce
from nautilus_trader.model.events import (
    OrderCanceled,
    OrderDenied,
    OrderEvent,
    OrderExpired,
    OrderFilled,
    OrderRejected,
)
from nautilus_trader.model.identifiers import InstrumentId, Venue
from nautilus_trader.trading.strategy import Strategy

from nautlive.catalog.specs import InstrumentSpec
from nautlive.core.account_view import AccountView
from nautlive.core.drift import DriftMonitor, SubmitSnapshot, fee_in_quote
from nautlive.core.execution import PARENT_STYLES, cap_price
from nautlive.core.execution_parents import ParentExecution
from nautlive.core.planner import Plan, Quote, plan_rebalance
from nautlive.core.policy import RebalancePolicy
from nautlive.core.rebalance import RebalanceConfig, RebalanceReport
from nautlive.core.signals import TARGETS_TOPIC, TargetWeights


class NautilusRebalanceStrategy(ParentExecution, AccountView, Strategy):
    """Plans from the portfolio's real state with the pure planner and submits MarketOrders, sells before buys."""

    def __init__(
        self,
        config: RebalanceConfig,
        specs: dict[str, InstrumentSpec],
        policy: RebalancePolicy,
        drift: DriftMonitor | None = None,
    ) -> None:
        super().__init__(config)
        self._ids = [InstrumentId.from_str(i) for i in config.instrument_ids]
        self._specs = specs
        self._policy = policy
        self.drift = drift
        self._accounts = [Venue(v) for v in config.account_venues]
        self._pending: TargetWeights | None = None
        self._pending_since_ns = 0
        self._active: TargetWeights | None = None
        self._applied_hash: str | None = None
        self._phase: str | None = None
        self._open: set = set()
        self.cancels_asked: set = set()  # orders this strategy asked to cancel: their cancel is no expiry
        self._submitting = False
        self._report: RebalanceReport | None = None
        self._planned_buys: list = []
        self._preparing = False
        self._transient: list[dict] = []
        self.reports: list[RebalanceReport] = []
        self.blocked: dict[str, str] = {}  # instrument id -> why it must not trade (a blocking catalog mismatch)
        self.superseded = 0
        self.last_order_event_ns = 0  # target versions replaced by a newer one before they started (a storm coalesced)
        self._init_parents()

    # -- lifecycle ---------------------------------------------------------------------------------------------

    def on_start(self) -> None:
        for iid in self._ids:
            if self.cache.instrument(iid) is None:
                self.log.error(f"Instrument {iid} not in the cache: it cannot be traded")
                continue
            self.subscribe_quote_ticks(iid)
            self.subscribe_trade_ticks(iid)
            if self.config.subscribe_book:
                self.subscribe_order_book_deltas(iid, BookType.L2_MBP)
        self.msgbus.subscribe(topic=TARGETS_TOPIC, handler=self.on_targets)

    def on_stop(self) -> None:
        self._abort_parents("session stopped")
        self.msgbus.unsubscribe(topic=TARGETS_TOPIC, handler=self.on_targets)

    # -- inputs ------------------------------------------------------------------------------------------------

    def on_targets(self, targets: TargetWeights) -> None:
        """A validated target file version: queue it (latest wins) and start when nothing is in flight."""
        if targets.hash in (self._applied_hash, getattr(self._pending, "hash", None)) or (
            self._active is not None and targets.hash == self._active.hash
        ):
            self.log.info(f"Targets {targets.hash} already applied or queued: no second rebalance")
            return
        if self._pending is not None:
            self.superseded += 1
        self._pending = targets
        self._pending_since_ns = self.clock.timestamp_ns()
        if self._active is not None and self.config.execution_style in PARENT_STYLES:
            self._cut_short = True  # the rest of the old plan is cancelled; the new target is planned afresh
            self._abort_parents(f"superseded by targets {targets.hash}")
            self._advance()
        self._try_start()

    def on_quote_tick(self, tick: QuoteTick) -> None:
        self._quote_for_parents(tick)
        if self._pending is not None and self._active is None:
            self._try_start()

    def on_order_event(self, event: OrderEvent) -> None:
        self.last_order_event_ns = self.clock.timestamp_ns()
        if isinstance(event, OrderFilled):
            self._record_fill(event)
        elif isinstance(event, OrderRejected | OrderDenied) and self._report is not None and not self._absorbs(event):
            self._on_refused_order(str(event.client_order_id), type(event).__name__[5:].lower(), event.reason)
        order = self.cache.order(event.client_order_id)
        if isinstance(event, OrderCanceled | OrderExpired) and event.client_order_id in self._open and (
                event.client_order_id not in self.cancels_asked) and self._report is not None:
            self._on_expired(order)
        if order is not None and order.is_closed and event.client_order_id in self._open:
            self._open.discard(event.client_order_id)
            self._child_closed(order)
            self._advance()

    def _on_refused_order(self, client_order_id: str, kind: str, reason: str) -> None:
        """A denied or rejected order is reported and not retried (LIVE retries the transient ones)."""
        self.log.warning(f"Order {client_order_id} {kind}: {reason} (not retried)")
        self._report.rejected.append({"client_order_id": client_order_id, "reason": reason})

    def _on_expired(self, order) -> None:  # noqa: ANN001
        """A market order ended with the visible book short of its size, or a limit_cap order with the book beyond
        its cap: what filled stands, the rest is reported."""
        if order.order_type == OrderType.LIMIT:
            self.log.warning(f"Order {order.client_order_id}: {order.filled_qty} of {order.quantity} "
                             f"{order.instrument_id.symbol} filled within the cap ({order.price}); the rest is left")
            self._report.capped.append({"client_order_id": str(order.client_order_id),
                                        "instrument": str(order.instrument_id), "side": order.side_string(),
                                        "limit_px": str(order.price), "filled": str(order.filled_qty),
                                        "unfilled": str(order.leaves_qty)})
            return
        self.log.warning(f"Order {order.client_order_id}: the book filled {order.filled_qty} of {order.quantity} "
                         f"{order.instrument_id.symbol}; the rest expired")
        self._report.expired.append({"client_order_id": str(order.client_order_id), "instrument": str(order.instrument_id),
                                     "side": order.side_string(), "filled": str(order.filled_qty),
                                     "expired": str(order.leaves_qty)})

    # -- the rebalance state machine ---------------------------------------------------------------------------

    def abandon(self, client_order_id, reason: str) -> None:  # noqa: ANN001
        """Stop waiting for an order (the live watchdog): report it unfilled and let the rebalance go on."""
        if client_order_id not in self._open:
            return
        self._open.discard(client_order_id)
        if self._report is not None:
            self._report.unfilled.append({"client_order_id": str(client_order_id), "reason": reason})
        self._advance()

    def all_reports(self) -> list[RebalanceReport]:
        """The finished rebalances and the one in flight."""
        return self.reports + ([self._report] if self._report is not None else [])

    @property
    def busy(self) -> bool:
        return self._active is not None

    def _try_start(self) -> None:
        if self._active is not None or self._pending is None:
            return
        missing = [i for i in self._pending.weights if self.cache.quote_tick(InstrumentId.from_str(i)) is None]
        waited = (self.clock.timestamp_ns() - self._pending_since_ns) / 1e9
        if missing and waited < self.config.price_wait_secs:
            return  # wait for a first quote of every targeted instrument, up to price_wait_secs
        self._active, self._pending = self._pending, None
        self._report = RebalanceReport(target_hash=self._active.hash, started_ns=self.clock.timestamp_ns())
        self.log.info(f"Rebalancing to targets {self._active.hash} ({self._active.source})")
        self._begin("SELL")

    def _begin(self, phase: str) -> None:
        self._phase = phase
        self._preparing = True
        self._prepare(self._run_phase)

    def _prepare(self, then) -> None:  # noqa: ANN001
        """Bring the account up to date before planning a phase, then call `then()` (LIVE asks the venue)."""
        then()

    def _run_phase(self) -> None:
        self._preparing = False
        if self._cut_short:  # a new target arrived while the account was read: plan that one instead
            return self._finish()
        if self._phase == "SELL":
            plan = self._plan()
            if self._refuse(self._as_children(plan.orders)):
                return self._finish()
            self._planned_buys = plan.buys()
            self._submit(plan.sells())
        else:
            buys = self._planned_buys if self._affordable(self._planned_buys) else self._plan(explain=False).buys()
            if self._refuse(self._as_children(buys)):
                return self._finish()
            self._submit(buys)

    def _fill_from_venue(self, event: OrderFilled) -> bool:
        """Whether the venue's own trades will be logged for a fill the engine inferred (LIVE); none in backtest."""
        return False

    def _refuse(self, intents: list) -> bool:
        """Whether a risk budget stops these orders (recorded in the report); none in backtest."""
        return False

    def _advance(self) -> None:
        if self._open or self._submitting or self._preparing or self._parents_waiting():
            return
        if self._phase == "SELL" and not self._cut_short:
            self._begin("BUY")
        elif self._phase == "BUY" or (self._phase == "SELL" and self._cut_short):  # cut short: the buys are not sent
            self._finish()

    def _affordable(self, buys: list) -> bool:
        """Whether the buys planned with the sells still fit the free cash at the current asks and fees.

        Keeping them (rather than planning again) makes the order list independent of when the sells' fills arrive.
        """
        cost = Decimal(0)
        for intent in buys:
            instrument = self.cache.instrument(InstrumentId.from_str(intent.instrument_id))
            quote = self._priced(instrument)
            if quote is None:
                return False
            cost += intent.quantity * quote.ask * (1 + Decimal(str(instrument.taker_fee)))
        return cost <= self.cash()

    def _finish(self) -> None:
        report = self._report
        if self._transient:
            if self._pending is None and report.attempts < self.config.max_attempts:
                return self._retry(report)
            # A newer target replans everything; with no attempt left the failures stand.
            (report.retried if self._pending is not None else report.rejected).extend(self._transient)
            self._transient = []
        report.finished_ns = self.clock.timestamp_ns()
        self._parents, self._cut_short = [], False
        self._applied_hash = self._active.hash
        self._active, self._phase, self._report = None, None, None
        self.reports.append(report)
        self.log.info(f"Rebalance {report.target_hash} done: {len(report.orders)} orders, "
                      f"{len(report.rejected)} rejected")
        self._try_start()

    def _retry(self, report: RebalanceReport) -> None:
        report.retried.extend(self._transient)
        self._transient = []
        report.attempts += 1
        self._preparing = True  # nothing advances the rebalance while it waits
        delay = self.config.retry_backoff_secs * 2 ** (report.attempts - 2)
        self.log.warning(f"Planning targets {report.target_hash} again from the account in {delay:g} s "
                         f"(attempt {report.attempts} of {self.config.max_attempts})")
        self._later(delay, lambda: self._begin("SELL"))

    def _later(self, delay: float, then) -> None:  # noqa: ANN001
        """Call `then` after `delay` seconds (LIVE: on the event loop); only LIVE retries, so at once otherwise."""
        then()

    def _submit(self, intents: list) -> None:
        if self.config.execution_style in PARENT_STYLES:
            return self._start_parents(intents)
        orders = []
        for intent in intents:
            order = self._new_order(self.cache.instrument(InstrumentId.from_str(intent.instrument_id)), intent)
            orders.append((order, intent))
            self._open.add(order.client_order_id)
        self._submitting = True
        try:
            for order, intent in orders:
                self._snapshot(order, intent)
                self.log.info(f"{intent.side} {intent.quantity} {intent.instrument_id} (~{intent.notional:.2f} "
                              f"{self.config.quote_currency}) {order.client_order_id}")
                self.submit_order(order)
        finally:
            self._submitting = False
        self._advance()

    def _new_order(self, instrument, intent, kind: str | None = None):  # noqa: ANN001, ANN202
        """The order of one planned intent (or child) in the configured execution style, or `kind` (market or
        limit_cap); a market order when there is no quote to cap against."""
        kind = kind or self.config.execution_style
        side = OrderSide.BUY if intent.side == "BUY" else OrderSide.SELL
        quantity = instrument.make_qty(intent.quantity)
        quote = self.cache.quote_tick(instrument.id)
        if kind == "limit_cap" and quote is None:
            self.log.warning(f"{instrument.id}: no quote to cap against: a market order")
        if kind == "limit_cap" and quote is not None:
            mid = (quote.bid_price.as_decimal() + quote.ask_price.as_decimal()) / 2
            price = cap_price(intent.side, mid, self.config.max_slippage_bps, instrument.price_increment.as_decimal())
            return self.order_factory.limit(instrument_id=instrument.id, order_side=side, quantity=quantity,
                                            price=instrument.make_price(price), time_in_force=TimeInForce.IOC)
        return self.order_factory.market(instrument_id=instrument.id, order_side=side, quantity=quantity,
                                         time_in_force=TimeInForce[self.config.market_tif])

    def _snapshot(self, order, intent, parent=None) -> None:  # noqa: ANN001
        quote = self.cache.quote_tick(order.instrument_id)
        trade = self.cache.trade_tick(order.instrument_id)
        mid = (quote.bid_price.as_decimal() + quote.ask_price.as_decimal()) / 2 if quote else None
        snapshot = SubmitSnapshot(
            instrument=intent.instrument_id,
            side=intent.side,
            mid=mid,
            last_tick_px=trade.price.as_decimal() if trade else None,
            target_hash=self._active.hash,
            bid=quote.bid_price.as_decimal() if quote else None,
            ask=quote.ask_price.as_decimal() if quote else None,
            parent_order_id=parent.parent_id if parent else str(order.client_order_id),
            style=self.config.execution_style,
            arrival_mid=parent.arrival_mid if parent else mid,
            parent_qty=parent.intent.quantity if parent else intent.quantity,
            parent_start_ns=parent.started_ns if parent else self._data_now(),
        )
        self._report.orders.append({"client_order_id": str(order.client_order_id), "instrument": intent.instrument_id,
                                    "side": intent.side, "quantity": str(intent.quantity),
                                    "parent_order_id": snapshot.parent_order_id})
        if self.drift is not None:
            self.drift.on_submit(str(order.client_order_id), snapshot)

    def _record_fill(self, event: OrderFilled) -> None:
        if self.drift is None or (event.reconciliation and self._fill_from_venue(event)):
            return
        fee = None
        if event.commission is not None:
            instrument = self.cache.instrument(event.instrument_id)
            base = getattr(instrument, "base_currency", None)
            fee = fee_in_quote(event.commission.as_decimal(), event.commission.currency.code,
                               event.last_px.as_decimal(), base.code if base else None, self.config.quote_currency)
        self.drift.on_fill(str(event.client_order_id), event.last_qty.as_decimal(), event.last_px.as_decimal(),
                           event.ts_event, fee, trade_id=str(event.trade_id))

    # -- the portfolio's real state ----------------------------------------------------------------------------

    def _plan(self, explain: bool = True) -> Plan:
        quotes, holdings, specs, fees = {}, {}, {}, {}
        for iid in self._ids:
            key = str(iid)
            instrument = self.cache.instrument(iid)
            if instrument is None or key not in self._specs:
                continue
            holdings[key] = self.holding(instrument)
            fees[key] = Decimal(str(instrument.taker_fee))
            quote = self._priced(instrument)
            specs[key] = self._specs[key]
            if quote is not None:
                quotes[key] = quote
        targets = {k: v for k, v in self._active.weights.items() if k in specs}
        plan = plan_rebalance(holdings, self.cash(), quotes, targets, specs, fees, self._policy,
                              blocked=self.blocked, reserved=self.reserved(quotes))
        if explain:
            for line in plan.explanations:
                if line.action == "skip":
                    self._report.skipped.append(msgspec.to_builtins(line))
                if line.reason == "no price":
                    self.log.warning(f"No price for {line.instrument_id}, skipping")
                elif line.action == "skip":
                    self.log.info(f"{line.instrument_id}: {line.reason} (residual {line.residual_bps} bps)")
        return plan

    def _priced(self, instrument) -> Quote | None:  # noqa: ANN001
        """The prices orders are planned at: the touch; under limit_cap the cap prices where they are worse (a BUY
        locks and may pay up to its cap, so buys are sized to afford it)."""
        tick = self.cache.quote_tick(instrument.id)
        if tick is None:
            return None
        bid, ask = tick.bid_price.as_decimal(), tick.ask_price.as_decimal()
        if self.config.execution_style == "limit_cap" or (
                self.config.execution_style == "twap" and self.config.child_style == "limit_cap"):
            mid, step = (bid + ask) / 2, instrument.price_increment.as_decimal()
            bid = min(bid, cap_price("SELL", mid, self.config.max_slippage_bps, step))
            ask = max(ask, cap_price("BUY", mid, self.config.max_slippage_bps, step))
        return Quote(bid=bid, ask=ask)
