"""The exchange side of the simulated venue: placing, matching and cancelling one Spot account's orders.

One fill model (nautlive.data.book): a MARKET order walks the symbol's L2 book, one trade per level at that level's price,
best first; what the visible book cannot fill EXPIRES, as on Binance. A taker fill takes its size off the levels it
filled at (MarketData.consume) until the feed sets those levels again. `quoteOrderQty` sizes it in the quote asset
instead. A LIMIT order locks its funds, takes the levels no worse than its price as a taker, and the rest rests (an
IOC rest expires; a FOK order fills whole or expires). A LIMIT_MAKER (post-only) order rests whole or is rejected
with -2010 "Order would immediately match and take." when it would cross, as Binance does. A resting order fills at its
limit price as a maker once the book crosses it, for as much as the crossing levels hold (those leave the book, as the
sellers or buyers who crossed traded with it), or in full on `fill_open`. Public trades at its price do not fill it
(no queue position is modelled).
Balances, settlement and the user-stream events are nautlive.sim.account.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal

from nautlive.sim.account import Account, q8
from nautlive.sim.books import Levels, walk_limit, walk_quote
from nautlive.sim.rules import SymbolRules
from nautlive.sim.wire import (
    BOTH_QUANTITIES,
    BUY,
    INSUFFICIENT_BALANCE,
    INVALID_ORDER_TYPE,
    INVALID_SIDE,
    MARKET_CLOSED,
    NO_SUCH_ORDER,
    RESTING_TYPES,
    SELL,
    UNKNOWN_ORDER,
    WOULD_MATCH,
    BinanceReject,
    Rejected,
    SimOrder,
    answers,
    decimal_param,
    filter_failure,
    required,
)


class SpotExchange(Account):
    """One Binance Spot account trading the market's symbols: orders placed, matched, cancelled."""

    def __init__(self, *args: object, **kwargs: object) -> None:
        """Account's arguments: symbols, balances, and taker_fee, maker_fee, header, seed, clock by keyword."""
        super().__init__(*args, **kwargs)
        self.pending_reject: BinanceReject | None = None

    @answers
    def place_order(self, params: Mapping[str, str]) -> SimOrder | BinanceReject:
        """POST /api/v3/order from its parameters: MARKET with `quantity` or `quoteOrderQty`, or LIMIT (other types
        are -1116 Invalid orderType)."""
        symbol = required(params, "symbol")
        side = required(params, "side")
        order_type = required(params, "type")
        client_order_id = params.get("newClientOrderId")
        if order_type == "MARKET" and "quoteOrderQty" in params:
            if "quantity" in params:
                raise Rejected(BOTH_QUANTITIES)
            quote_qty = decimal_param(params, "quoteOrderQty")
            return self.place_quote_market_order(symbol, side, quote_qty, client_order_id)
        quantity = decimal_param(params, "quantity")
        if order_type == "MARKET":
            return self.place_market_order(symbol, side, quantity, client_order_id)
        if order_type == "LIMIT":
            tif = required(params, "timeInForce")
            return self.place_limit_order(symbol, side, quantity, decimal_param(params, "price"), tif, client_order_id)
        if order_type == "LIMIT_MAKER":
            return self.place_limit_maker_order(symbol, side, quantity, decimal_param(params, "price"), client_order_id)
        raise Rejected(INVALID_ORDER_TYPE)

    @answers
    def place_market_order(
        self, symbol: str, side: str, quantity: Decimal, client_order_id: str | None = None
    ) -> SimOrder | BinanceReject:
        """Walk the book for `quantity` after Binance's checks (notional at the touch, funds for the walk's cost);
        the part the visible book cannot fill expires."""
        self._take_pending_reject()
        rules = self._tradable(symbol, side)
        touch = self.ensure_book(symbol)
        self._check_lot(rules, quantity, market=True)
        self._check_notional(rules, (touch.ask if side == BUY else touch.bid) * quantity, market=True)
        fills = self.order_book(symbol).walk(side, quantity)
        self._check_funds(rules, side, quantity, _cost(fills))
        order = self._new_order(symbol, side, "MARKET", "GTC", quantity, Decimal(0), client_order_id)
        return self._take(rules, order, fills, expire_rest=True)

    @answers
    def place_quote_market_order(
        self, symbol: str, side: str, quote_qty: Decimal, client_order_id: str | None = None
    ) -> SimOrder | BinanceReject:
        """A MARKET order for `quote_qty` of the quote asset (quoteOrderQty): the book walked in whole lot steps while
        the money lasts; if the visible book runs out first, the rest (what the money left would buy) expires."""
        self._take_pending_reject()
        rules = self._tradable(symbol, side)
        touch = self.ensure_book(symbol)
        self._check_notional(rules, quote_qty, market=True)
        fills, unfilled = walk_quote(self.order_book(symbol), side, quote_qty, rules.lot.step,
                                     touch.ask if side == BUY else touch.bid)
        quantity = sum((qty for _, qty in fills), unfilled)
        self._check_lot(rules, quantity, market=True)
        self._check_funds(rules, side, quantity - unfilled, _cost(fills))
        order = self._new_order(symbol, side, "MARKET", "GTC", quantity, Decimal(0), client_order_id, quote_qty)
        return self._take(rules, order, fills, expire_rest=True)

    @answers
    def place_limit_order(
        self,
        symbol: str,
        side: str,
        quantity: Decimal,
        price: Decimal,
        time_in_force: str = "GTC",
        client_order_id: str | None = None,
    ) -> SimOrder | BinanceReject:
        """Lock the funds, take the levels no worse than `price` as a taker, and rest the remainder (IOC: it expires;
        FOK: all or nothing)."""
        rules = self._limit_checks(symbol, side, quantity, price)
        fills = walk_limit(self.order_book(symbol), side, quantity, price)
        if time_in_force == "FOK" and sum(qty for _, qty in fills) < quantity:
            fills = []
        order = self._new_order(symbol, side, "LIMIT", time_in_force, quantity, price, client_order_id)
        self._lock(rules, order)
        return self._take(rules, order, fills, expire_rest=time_in_force in ("IOC", "FOK"))

    @answers
    def place_limit_maker_order(self, symbol: str, side: str, quantity: Decimal, price: Decimal,
                                client_order_id: str | None = None) -> SimOrder | BinanceReject:
        """A post-only LIMIT (LIMIT_MAKER): it rests whole at `price`, or is rejected (-2010 "Order would immediately
        match and take.") when any level of the other side is at or through its price."""
        rules = self._limit_checks(symbol, side, quantity, price)
        if walk_limit(self.order_book(symbol), side, quantity, price):
            raise Rejected(WOULD_MATCH)
        order = self._new_order(symbol, side, "LIMIT_MAKER", "GTC", quantity, price, client_order_id)
        self._lock(rules, order)
        self._emit_positions(rules)
        return order

    def _limit_checks(self, symbol: str, side: str, quantity: Decimal, price: Decimal) -> SymbolRules:
        """Binance's checks of a LIMIT or LIMIT_MAKER order: tradable, price filter, lot, notional at the price,
        funds for the whole order at its price."""
        self._take_pending_reject()
        rules = self._tradable(symbol, side)
        if not rules.price.admits(price):
            raise Rejected(filter_failure("PRICE_FILTER"))
        self._check_lot(rules, quantity, market=False)
        self._check_notional(rules, price * quantity, market=False)
        self._check_funds(rules, side, quantity, q8(quantity * price))
        self.ensure_book(symbol)
        return rules

    @answers
    def cancel_order(self, symbol: str, order_id: int | None, client_order_id: str | None) -> SimOrder | BinanceReject:
        """Cancel an open order; an unknown or closed one is -2011 "Unknown order sent." as on Binance."""
        rules = self._rules(symbol)
        order = self._find(symbol, order_id, client_order_id)
        if order is None or not order.is_open:
            raise Rejected(UNKNOWN_ORDER)
        return self._cancel(rules, order)

    @answers
    def cancel_open_orders(self, symbol: str) -> list[SimOrder] | BinanceReject:
        rules = self._rules(symbol)
        open_orders = [o for o in self.orders.values() if o.symbol == symbol and o.is_open]
        if not open_orders:
            raise Rejected(UNKNOWN_ORDER)
        return [self._cancel(rules, order) for order in open_orders]

    # -- venue-side actions and faults (tests) ---------------------------------------------------------------

    @answers
    def fill_open(
        self, client_order_id: str | None = None, order_id: int | None = None, symbol: str | None = None
    ) -> SimOrder | BinanceReject:
        """Fill what is left of a resting LIMIT order at its limit price as a maker, as a crossing book would (an
        unknown or closed order is -2013 Order does not exist)."""
        order = self._find(symbol, order_id, client_order_id)
        if order is None or not order.is_open:
            raise Rejected(NO_SUCH_ORDER)
        return self._take(self.rules[order.symbol], order, [(order.price, order.remaining)], is_maker=True)

    def reject_next(self, code: int = -2010, msg: str = INSUFFICIENT_BALANCE.msg) -> None:
        """Answer the next order with this Binance error instead of executing it."""
        self.pending_reject = BinanceReject(code, msg)

    # -- execution -----------------------------------------------------------------------------------------------

    def _take(self, rules: SymbolRules, order: SimOrder, fills: Levels, *, expire_rest: bool = False,
              is_maker: bool = False) -> SimOrder:
        """Execute the order's fills, one trade each, expire an unfilled rest if asked, then push the balances once."""
        for price, qty in fills:
            order = self._fill(order, price, qty, is_maker)
        if fills and not is_maker:
            self.consume(order.symbol, order.side, fills)
        if expire_rest and order.is_open:
            order = self._expire(order)
        self._emit_positions(rules)
        return order

    def _book_moved(self, symbol: str) -> None:
        """Fill the resting orders the book now crosses, as makers at their limit price, for what the crossing levels
        hold (taken off the book: those traders traded with the order)."""
        resting = [o for o in self.orders.values() if o.symbol == symbol and o.is_open and o.type in RESTING_TYPES]
        for order in resting:
            crossing = walk_limit(self.depth[symbol].book, order.side, order.remaining, order.price)
            if crossing:
                self._take(self.rules[symbol], order, [(order.price, sum(q for _, q in crossing))], is_maker=True)
                self.consume(symbol, order.side, crossing)

    # -- Binance's checks ------------------------------------------------------------------------------------------

    def _tradable(self, symbol: str, side: str) -> SymbolRules:
        rules = self._rules(symbol)
        if side not in (BUY, SELL):
            raise Rejected(INVALID_SIDE)
        if rules.status != "TRADING":
            raise Rejected(MARKET_CLOSED)
        return rules

    def _take_pending_reject(self) -> None:
        reject, self.pending_reject = self.pending_reject, None
        if reject is not None:
            raise Rejected(reject)

    def _check_lot(self, rules: SymbolRules, quantity: Decimal, market: bool) -> None:
        if not rules.lot.admits(quantity):
            raise Rejected(filter_failure("LOT_SIZE"))
        if market and rules.market_lot is not None and not rules.market_lot.admits(quantity):
            raise Rejected(filter_failure("MARKET_LOT_SIZE"))

    def _check_notional(self, rules: SymbolRules, notional: Decimal, market: bool) -> None:
        if rules.notional is not None and not rules.notional.admits(notional, market):
            raise Rejected(filter_failure(rules.notional.name))

    def _check_funds(self, rules: SymbolRules, side: str, quantity: Decimal, cost: Decimal) -> None:
        """A BUY needs `cost` of the quote asset free, a SELL `quantity` of the base asset."""
        asset, needed = (rules.quote, cost) if side == BUY else (rules.base, quantity)
        if self.free.get(asset, Decimal(0)) < needed:
            raise Rejected(INSUFFICIENT_BALANCE)


def _cost(fills: Levels) -> Decimal:
    """What the fills cost in the quote asset, each trade at Binance's 8 decimals."""
    return sum((q8(price * qty) for price, qty in fills), Decimal(0))
