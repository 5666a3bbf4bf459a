"""Parent orders: the styles that send one planned order as several child orders (`twap`, `passive_then_market`).

Our own small scheduler inside the strategy, not Nautilus's ExecAlgorithm framework. ExecAlgorithm does run in
BacktestEngine and TradingNode alike, but it would not serve these three modes the same way:
- its timers run on the node's clock, which in SHADOW replay (`--speed 0`) is the wall clock while the data runs at
  recorded time, so backtest and shadow would send different children (parity lost). Here a child is due by *data
  time* (the last quote's timestamp plus the wall time since it arrived), as the target schedule is, so a backtest, a
  replay at any speed and a live feed cross each slice on the same quote;
- each child must keep the planner's venue rules (lot step, min notional: a child below it merges into the next) and
  count against the risk rails, and a new target must cancel the rest of the plan: that is the strategy's
  knowledge (the rebalance state machine, the report, the live watchdog and stop procedure that cancel and confirm
  every open order of the strategy). An ExecAlgorithm's primary order would stay INITIALIZED in the cache while its
  spawned children reduce it, which every one of those paths would have to special-case.

So the strategy keeps its phases (sells, then buys) and, under these styles, hands each phase's planned orders to
`_start_parents`; a phase ends when every parent is done and every child is terminal. The decisions are pure
functions (nautlive.core.execution_twap, nautlive.core.execution_passive); this mixin only keeps the state and sends.
"""

from __future__ import annotations

from decimal import Decimal

import msgspec
from nautilus_trader.model.enums import OrderSide, TimeInForce
from nautilus_trader.model.events import OrderRejected
from nautilus_trader.model.identifiers import InstrumentId

from nautlive.core.execution_passive import left_to_fill, needs_reprice, patience_over, touch_price
from nautlive.core.execution_twap import due_ns, min_child_steps, slice_count, slipped_start, twap_children

MAX_POST_ONLY_REJECTS = 5  # post-only orders the venue refused as crossing before the parent crosses as market


class ParentOrder:
    """One planned order and the children it sends (state only; the mixin decides)."""

    def __init__(self, intent, style: str, started_ns: int, children: list | None = None) -> None:  # noqa: ANN001
        self.intent = intent
        self.style = style
        self.started_ns = started_ns  # the arrival: the drift log's parent_ts, a passive order's patience
        self.schedule_ns = started_ns  # twap: slice k is due k x interval after this (pushed back by a late slice)
        self.children = children or []  # twap: (slice index, quantity) not sent yet
        self.parent_id: str | None = None  # the first child's client order id
        self.arrival_mid: Decimal | None = None
        self.child_ids: list = []
        self.resting = None  # passive: the open post-only child
        self.resting_px: Decimal | None = None
        self.cancelling = False
        self.wait_quote = False  # passive: a post-only refused as crossing waits for the next quote
        self.refused = 0
        self.done = False


class ParentExecution:
    """Mixed into NautilusRebalanceStrategy: sends, paces, re-prices and cancels the children of parent orders."""

    def _init_parents(self) -> None:
        self._parents: list[ParentOrder] = []
        self._data_ns = 0  # the last quote's ts_init (data time)
        self._wall_ns = 0  # the clock when it arrived
        self._cut_short = False  # a new target arrived mid-way: end this rebalance once its children are terminal

    # -- time ---------------------------------------------------------------------------------------------------

    def _note_data_time(self, ts_init: int) -> None:
        if ts_init >= self._data_ns:
            self._data_ns, self._wall_ns = ts_init, self.clock.timestamp_ns()

    def _data_now(self) -> int:
        """Data time: the last quote's timestamp plus the wall time since (a quiet feed still moves on)."""
        if not self._data_ns:
            return self.clock.timestamp_ns()
        return self._data_ns + max(0, self.clock.timestamp_ns() - self._wall_ns)

    # -- what the rails and the state machine see ---------------------------------------------------------------

    def _as_children(self, intents: list) -> list:
        """The orders a list of planned orders will send, as the risk rails count them: a TWAP's children; one
        order per passive parent (each re-pricing is counted when it goes out)."""
        if self.config.execution_style != "twap":
            return intents
        return [msgspec.structs.replace(i, quantity=q, notional=q * i.price) for i in intents
                for _, q in self._twap_plan(i)]

    def _parents_waiting(self) -> bool:
        return any(not p.done for p in self._parents)

    def _twap_plan(self, intent) -> list:  # noqa: ANN001
        spec = self._specs[intent.instrument_id]
        return twap_children(intent.quantity, slice_count(self.config.horizon_secs, self.config.interval_secs),
                             spec.step_size, intent.price, spec.min_qty, spec.min_notional)

    # -- starting and driving -----------------------------------------------------------------------------------

    def _start_parents(self, intents: list) -> None:
        now = self._data_now()
        self._parents = [ParentOrder(i, self.config.execution_style, now,
                                     self._twap_plan(i) if self.config.execution_style == "twap" else None)
                         for i in intents]
        self._drive_parents(advance=False)
        self._drive_between_quotes()
        self._advance()

    def _drive_parents(self, advance: bool = True) -> None:
        """Send what is due: TWAP slices whose time came, passive orders to (re)post or to cross."""
        if not self._parents_waiting() or self._submitting or self._children_held():
            return
        now = self._data_now()
        for parent in self._parents:
            if parent.done:
                continue
            if parent.style == "twap":
                self._drive_twap(parent, now)
            else:
                self._drive_passive(parent, now)
        if advance:
            self._advance()

    def _children_held(self) -> bool:
        """Whether children that fall due wait (LIVE: while the venue is not answering); never in a backtest."""
        return False

    def _drive_between_quotes(self) -> None:
        """Keep driving waiting parents when no quote comes (a quiet feed): on a live feed, by the wall clock. Never in
        a backtest or a replay, where only the data moves time."""

    def _drive_twap(self, parent: ParentOrder, now: int) -> None:
        while parent.children and (due := due_ns(parent.schedule_ns, parent.children[0][0],
                                                 self.config.interval_secs)) <= now:
            _, quantity = parent.children.pop(0)
            self._send_child(parent, quantity, self.config.child_style)
            parent.schedule_ns = slipped_start(parent.schedule_ns, due, now, self.config.interval_secs)
        parent.done = not parent.children

    def _drive_passive(self, parent: ParentOrder, now: int) -> None:
        quote = self.cache.quote_tick(InstrumentId.from_str(parent.intent.instrument_id))
        if parent.resting is not None:
            if parent.cancelling:
                return
            late = patience_over(parent.started_ns, now, self.config.patience_secs)
            if late or (quote is not None and needs_reprice(parent.intent.side, parent.resting_px,
                                                             quote.bid_price.as_decimal(),
                                                             quote.ask_price.as_decimal())):
                self._cancel_child(parent)
            return
        left = self._left(parent)
        if not self._tradable_rest(parent, left):
            parent.done = True
            return
        if patience_over(parent.started_ns, now, self.config.patience_secs) or parent.refused >= MAX_POST_ONLY_REJECTS:
            self._send_child(parent, left, "market")
            parent.done = True
            return
        if quote is None or parent.wait_quote:
            return
        price = touch_price(parent.intent.side, quote.bid_price.as_decimal(), quote.ask_price.as_decimal())
        parent.resting = self._send_child(parent, left, "post_only", price)
        parent.resting_px = price

    def _left(self, parent: ParentOrder) -> Decimal:
        filled = sum((self.cache.order(c).filled_qty.as_decimal() for c in parent.child_ids), Decimal(0))
        return left_to_fill(parent.intent.quantity, filled, self._specs[parent.intent.instrument_id].step_size)

    def _tradable_rest(self, parent: ParentOrder, left: Decimal) -> bool:
        """Whether what is left can go out as one order under the venue's minimums (else it stays, reported)."""
        spec = self._specs[parent.intent.instrument_id]
        if left <= 0:
            return False
        if left < min_child_steps(spec.step_size, parent.intent.price, spec.min_qty, spec.min_notional) * spec.step_size:
            self._report.undone.append(self._undone(parent, left, "below the venue's minimum order"))
            return False
        return True

    # -- the children's events ----------------------------------------------------------------------------------

    def _parent_of(self, client_order_id) -> ParentOrder | None:  # noqa: ANN001
        return next((p for p in self._parents if client_order_id in p.child_ids), None)

    def _rests_for_a_parent(self, client_order_id) -> bool:  # noqa: ANN001
        """A passive parent's resting order: re-posted or crossed by its parent within the patience, so no watchdog
        gives up on it."""
        parent = self._parent_of(client_order_id)
        return parent is not None and parent.resting == client_order_id

    def _absorbs(self, event) -> bool:  # noqa: ANN001
        """A post-only child the venue refused because it would cross: no failure, the parent posts again at the
        next quote (the touch moved before the order arrived)."""
        parent = self._parent_of(event.client_order_id)
        if not isinstance(event, OrderRejected) or parent is None or not event.due_post_only:
            return False
        parent.refused += 1
        parent.wait_quote = True
        self.log.info(f"Post-only {event.client_order_id} would have crossed ({event.reason}): posting again")
        return True

    def _child_closed(self, order) -> None:  # noqa: ANN001
        """A child is terminal: a passive parent posts again at the touch, or crosses, for what is left."""
        parent = self._parent_of(order.client_order_id)
        if parent is None or parent.resting != order.client_order_id:
            return
        parent.resting, parent.resting_px, parent.cancelling = None, None, False
        self._drive_parents(advance=False)

    def _quote_for_parents(self, tick) -> None:  # noqa: ANN001
        self._note_data_time(tick.ts_init)
        for parent in self._parents:
            if str(parent.intent.instrument_id) == str(tick.instrument_id):
                parent.wait_quote = False
        self._drive_parents()

    # -- stopping -----------------------------------------------------------------------------------------------

    def _abort_parents(self, reason: str) -> None:
        """Drop what the parents have not sent (reported as undone) and cancel their open children."""
        for parent in self._parents:
            if parent.done:
                continue
            parent.done = True
            unsent = sum((q for _, q in parent.children), Decimal(0)) if parent.style == "twap" else self._left(parent)
            if parent.resting is not None:
                self._cancel_child(parent)
                unsent = self._left(parent)
            parent.children = []
            if unsent > 0 and self._report is not None:
                self._report.undone.append(self._undone(parent, unsent, reason))

    def _undone(self, parent: ParentOrder, left: Decimal, reason: str) -> dict:
        intent = parent.intent
        return {"parent_order_id": parent.parent_id, "instrument": intent.instrument_id, "side": intent.side,
                "style": parent.style, "quantity": str(intent.quantity), "left": str(left), "reason": reason}

    # -- sending ------------------------------------------------------------------------------------------------

    def _send_child(self, parent: ParentOrder, quantity: Decimal, kind: str, price: Decimal | None = None):  # noqa: ANN202
        """Create, record and submit one child order of `parent`."""
        instrument = self.cache.instrument(InstrumentId.from_str(parent.intent.instrument_id))
        intent = msgspec.structs.replace(parent.intent, quantity=quantity, notional=quantity * parent.intent.price)
        if kind == "post_only":
            side = OrderSide.BUY if intent.side == "BUY" else OrderSide.SELL
            post_only = self.config.post_only
            order = self.order_factory.limit(instrument_id=instrument.id, order_side=side,
                                             quantity=instrument.make_qty(quantity), price=instrument.make_price(price),
                                             time_in_force=TimeInForce.GTC if post_only else TimeInForce.DAY,
                                             post_only=post_only)
        else:
            order = self._new_order(instrument, intent, kind)
        if parent.parent_id is None:
            parent.parent_id = str(order.client_order_id)
            parent.arrival_mid = self._mid_now(instrument.id)
        elif parent.style == "passive_then_market":
            self._count_child()
        parent.child_ids.append(order.client_order_id)
        self._open.add(order.client_order_id)
        self._submitting = True
        try:
            self._snapshot(order, intent, parent)
            self.log.info(f"{intent.side} {quantity} {intent.instrument_id} ({parent.style} {kind} child of "
                          f"{parent.parent_id}) {order.client_order_id}")
            self.submit_order(order)
        finally:
            self._submitting = False
        return order.client_order_id

    def _cancel_child(self, parent: ParentOrder) -> None:
        order = self.cache.order(parent.resting)
        parent.cancelling = True
        self.cancels_asked.add(parent.resting)
        if order is not None and not order.is_closed:
            self.cancel_order(order)

    def _count_child(self) -> None:
        """A child beyond the first of its parent (LIVE counts passive re-postings against the hourly order rail)."""

    def _mid_now(self, instrument_id) -> Decimal | None:  # noqa: ANN001
        quote = self.cache.quote_tick(instrument_id)
        return (quote.bid_price.as_decimal() + quote.ask_price.as_decimal()) / 2 if quote else None
