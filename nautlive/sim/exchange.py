"""The exchange side of the simulated venue: one Spot account's balances, its orders and their matching.

Market orders fill in full at the current top of book (BUY at the ask, SELL at the bid) whatever the size shown: the
simulator keeps no depth beyond the top. LIMIT orders lock funds and rest; a marketable one fills at once as a taker
at the top of book, a resting one fills as a maker at its limit price when the book crosses it (or on `fill_open`).
Every change is pushed through `_emit` as the user-stream event Binance sends (executionReport,
outboundAccountPosition); the venue layer decides when (and whether) it reaches `on_user_event`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from decimal import Decimal
from typing import Any

import msgspec

from nautlive.sim.market import MarketData
from nautlive.sim.rules import SymbolRules, fmt8
from nautlive.sim.wire import (
    BUY,
    INSUFFICIENT_BALANCE,
    INVALID_ORDER_TYPE,
    INVALID_SIDE,
    MARKET_CLOSED,
    NO_ORDER_ID,
    NO_SUCH_ORDER,
    SELL,
    UNKNOWN_ORDER,
    BinanceReject,
    Fill,
    Rejected,
    SimOrder,
    account_position,
    answers,
    decimal_param,
    execution_report,
    filter_failure,
    required,
)

EIGHT_DECIMALS = Decimal("0.00000001")
FIRST_ORDER_ID = 1_000_001
MAX_PAGE = 1000  # Binance's largest `limit` for allOrders and myTrades


class SpotExchange(MarketData):
    """One Binance Spot account trading the market's symbols: balances (free, locked), orders, fills, fees."""

    def __init__(
        self,
        symbols: Iterable[dict[str, Any]],
        balances: Mapping[str, Decimal],
        *,
        taker_fee: Decimal = Decimal("0.001"),
        maker_fee: Decimal | None = None,
        **market: Any,
    ) -> None:
        """`market`: header, seed and clock, as MarketData takes them."""
        super().__init__(symbols, **market)
        self.taker_fee = taker_fee
        self.maker_fee = taker_fee if maker_fee is None else maker_fee
        self.free = {asset: Decimal(amount) for asset, amount in balances.items()}
        self.locked: dict[str, Decimal] = {}
        self.orders: dict[int, SimOrder] = {}
        self.fills: list[Fill] = []
        self.pending_reject: BinanceReject | None = None
        self.on_user_event: Callable[[dict[str, Any]], None] = lambda event: None
        self._next_order_id = FIRST_ORDER_ID
        self._next_execution_id = 1

    @answers
    def trade_fees(self, symbol: str | None = None) -> list[dict[str, str]] | BinanceReject:
        names = [self._rules(symbol).symbol] if symbol else list(self.rules)
        maker, taker = str(self.maker_fee), str(self.taker_fee)
        return [{"symbol": name, "makerCommission": maker, "takerCommission": taker} for name in names]

    def account(self) -> dict[str, Any]:
        bps = lambda fee: int(fee * 10_000)  # noqa: E731 - Binance states account commissions in basis points
        return {
            "makerCommission": bps(self.maker_fee),
            "takerCommission": bps(self.taker_fee),
            "buyerCommission": 0,
            "sellerCommission": 0,
            "canTrade": True,
            "canWithdraw": False,
            "canDeposit": False,
            "updateTime": self.now_ms(),
            "accountType": "SPOT",
            "balances": [self._balance_json(asset) for asset in sorted(self._assets())],
            "permissions": ["SPOT"],
        }

    # -- orders ------------------------------------------------------------------------------------------------

    @answers
    def place_order(self, params: Mapping[str, str]) -> SimOrder | BinanceReject:
        """POST /api/v3/order from its query parameters: MARKET or LIMIT with `quantity` (no quoteOrderQty; other
        types are -1116 Invalid orderType)."""
        symbol = required(params, "symbol")
        side = required(params, "side")
        order_type = required(params, "type")
        quantity = decimal_param(params, "quantity")
        client_order_id = params.get("newClientOrderId")
        if order_type == "MARKET":
            return self.place_market_order(symbol, side, quantity, client_order_id)
        if order_type == "LIMIT":
            tif = required(params, "timeInForce")
            return self.place_limit_order(symbol, side, quantity, decimal_param(params, "price"), tif, client_order_id)
        raise Rejected(INVALID_ORDER_TYPE)

    @answers
    def place_market_order(
        self, symbol: str, side: str, quantity: Decimal, client_order_id: str | None = None
    ) -> SimOrder | BinanceReject:
        """Fill the full quantity at the top of book (BUY at the ask, SELL at the bid) after Binance's checks."""
        self._take_pending_reject()
        rules = self._tradable(symbol, side)
        book = self.ensure_book(symbol)
        price = book.ask if side == BUY else book.bid
        self._check_lot(rules, quantity, market=True)
        self._check_notional(rules, price * quantity, market=True)
        self._check_funds(rules, side, quantity, price)
        order = self._new_order(symbol, side, "MARKET", "GTC", quantity, Decimal(0), client_order_id)
        return self._fill(order, price, is_maker=False)

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
        """Lock the funds and rest the order, or fill it at once as a taker when it crosses the book."""
        self._take_pending_reject()
        rules = self._tradable(symbol, side)
        if not rules.price.admits(price):
            raise Rejected(filter_failure("PRICE_FILTER"))
        self._check_lot(rules, quantity, market=False)
        self._check_notional(rules, price * quantity, market=False)
        self._check_funds(rules, side, quantity, price)
        order = self._new_order(symbol, side, "LIMIT", time_in_force, quantity, price, client_order_id)
        self._lock(rules, order)
        book = self.ensure_book(symbol)
        crosses = price >= book.ask if side == BUY else price <= book.bid
        if crosses:
            return self._fill(order, book.ask if side == BUY else book.bid, is_maker=False)
        self._emit_positions(rules)
        return order

    @answers
    def query_order(self, symbol: str, order_id: int | None, client_order_id: str | None) -> SimOrder | BinanceReject:
        self._rules(symbol)
        order = self._find(symbol, order_id, client_order_id)
        if order is None:
            raise Rejected(NO_SUCH_ORDER)
        return order

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

    @answers
    def open_orders(self, symbol: str | None = None) -> list[SimOrder] | BinanceReject:
        if symbol is not None:
            self._rules(symbol)
        return [o for o in self.orders.values() if o.is_open and symbol in (None, o.symbol)]

    @answers
    def all_orders(
        self, symbol: str, *, order_id: int | None = None, start_ms: int | None = None, end_ms: int | None = None,
        limit: int = 500,
    ) -> list[SimOrder] | BinanceReject:
        """GET /api/v3/allOrders: from `order_id` on, or within [start_ms, end_ms], else the most recent."""
        self._rules(symbol)
        mine = [o for o in self.orders.values() if o.symbol == symbol]
        return _page(mine, lambda o: o.order_id, order_id, start_ms, end_ms, limit)

    @answers
    def my_trades(
        self, symbol: str, *, order_id: int | None = None, from_id: int | None = None, start_ms: int | None = None,
        end_ms: int | None = None, limit: int = 500,
    ) -> list[Fill] | BinanceReject:
        """GET /api/v3/myTrades: the fills of one order, from trade id `from_id` on, or within [start_ms, end_ms],
        else the most recent."""
        self._rules(symbol)
        mine = [f for f in self.fills if f.symbol == symbol and order_id in (None, f.order_id)]
        return _page(mine, lambda f: f.trade_id, from_id, start_ms, end_ms, limit)

    # -- venue-side actions (tests) ----------------------------------------------------------------------------

    # -- faults and inspection ---------------------------------------------------------------------------------
    @answers
    def fill_open(
        self, client_order_id: str | None = None, order_id: int | None = None, symbol: str | None = None
    ) -> SimOrder | BinanceReject:
        """Fill a resting LIMIT order in full at its limit price as a maker, as a crossing book would (an unknown or
        closed order is -2013 Order does not exist)."""
        order = self._find(symbol, order_id, client_order_id)
        if order is None or not order.is_open:
            raise Rejected(NO_SUCH_ORDER)
        return self._fill(order, order.price, is_maker=True)

    def reject_next(self, code: int = -2010, msg: str = INSUFFICIENT_BALANCE.msg) -> None:
        """Answer the next order with this Binance error instead of executing it."""
        self.pending_reject = BinanceReject(code, msg)

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

    def _check_funds(self, rules: SymbolRules, side: str, quantity: Decimal, price: Decimal) -> None:
        asset, needed = (rules.quote, _q8(quantity * price)) if side == BUY else (rules.base, quantity)
        if self.free.get(asset, Decimal(0)) < needed:
            raise Rejected(INSUFFICIENT_BALANCE)

    def _new_order(
        self,
        symbol: str,
        side: str,
        order_type: str,
        tif: str,
        quantity: Decimal,
        price: Decimal,
        client_id: str | None,
    ) -> SimOrder:
        now = self.now_ms()
        order = SimOrder(symbol=symbol, order_id=self._next_order_id, client_order_id=client_id or
                         f"sim-{self._next_order_id}", side=side, type=order_type, time_in_force=tif,
                         quantity=quantity, price=price, time=now, update_time=now)
        self._next_order_id += 1
        self.orders[order.order_id] = order
        self._emit(execution_report(order, "NEW", now, self._execution_id()))
        return order

    def _lock(self, rules: SymbolRules, order: SimOrder) -> None:
        asset, amount = _locked_part(rules, order)
        self._add(asset, -amount)
        self.locked[asset] = self.locked.get(asset, Decimal(0)) + amount

    def _unlock(self, rules: SymbolRules, order: SimOrder) -> None:
        if order.type != "LIMIT":
            return
        asset, amount = _locked_part(rules, order)
        self.locked[asset] -= amount
        self._add(asset, amount)

    def _fill(self, order: SimOrder, price: Decimal, is_maker: bool) -> SimOrder:
        """Execute the whole remaining quantity at `price`, settle balances and push TRADE + account position."""
        rules = self.rules[order.symbol]
        self._unlock(rules, order)
        qty = order.quantity - order.executed_qty
        quote_qty = _q8(qty * price)
        rate = self.maker_fee if is_maker else self.taker_fee
        if order.side == BUY:
            commission, asset = _q8(qty * rate), rules.base
            self._add(rules.quote, -quote_qty)
            self._add(rules.base, qty - commission)
        else:
            commission, asset = _q8(quote_qty * rate), rules.quote
            self._add(rules.base, -qty)
            self._add(rules.quote, quote_qty - commission)
        now = self.now_ms()
        fill = Fill(trade_id=self._next_trade_id, order_id=order.order_id, symbol=order.symbol, side=order.side,
                    price=price, qty=qty, quote_qty=quote_qty, commission=commission, commission_asset=asset,
                    is_maker=is_maker, time=now)
        self._next_trade_id += 1
        self.fills.append(fill)
        order = msgspec.structs.replace(order, status="FILLED", executed_qty=order.quantity,
                                        cum_quote=order.cum_quote + quote_qty, update_time=now)
        self.orders[order.order_id] = order
        self._emit(execution_report(order, "TRADE", now, self._execution_id(), fill=fill))
        self._emit_positions(rules)
        return order

    def _cancel(self, rules: SymbolRules, order: SimOrder) -> SimOrder:
        self._unlock(rules, order)
        now = self.now_ms()
        order = msgspec.structs.replace(order, status="CANCELED", update_time=now)
        self.orders[order.order_id] = order
        self._emit(execution_report(order, "CANCELED", now, self._execution_id()))
        self._emit_positions(rules)
        return order

    def _book_moved(self, symbol: str) -> None:
        """Fill the resting LIMIT orders the new top of book crosses, as makers at their limit price."""
        book = self.books[symbol]
        for order in [o for o in self.orders.values() if o.symbol == symbol and o.is_open and o.type == "LIMIT"]:
            if (order.side == BUY and order.price >= book.ask) or (order.side == SELL and order.price <= book.bid):
                self._fill(order, order.price, is_maker=True)

    def _find(self, symbol: str | None, order_id: int | None, client_order_id: str | None) -> SimOrder | None:
        """The order of `symbol` (any symbol if None) with this order id or client order id."""
        if order_id is None and not client_order_id:
            raise Rejected(NO_ORDER_ID)
        for order in self.orders.values():
            if symbol in (None, order.symbol) and (
                order.order_id == order_id or order.client_order_id == client_order_id
            ):
                return order
        return None

    def _add(self, asset: str, amount: Decimal) -> None:
        self.free[asset] = self.free.get(asset, Decimal(0)) + amount

    def _assets(self) -> set[str]:
        return set(self.free) | set(self.locked)

    def _balance_json(self, asset: str) -> dict[str, str]:
        return {"asset": asset, "free": fmt8(self.free.get(asset, Decimal(0))),
                "locked": fmt8(self.locked.get(asset, Decimal(0)))}

    def _emit_positions(self, rules: SymbolRules) -> None:
        now = self.now_ms()
        self._emit(account_position(now, [self._balance_json(rules.base), self._balance_json(rules.quote)]))

    def _emit(self, event: dict[str, Any]) -> None:
        """Send one user-stream event (the venue layer overrides this to apply its faults)."""
        self.on_user_event(event)

    def _execution_id(self) -> int:
        self._next_execution_id += 1
        return self._next_execution_id



def _page(items: list[Any], ident: Callable[[Any], int], from_id: int | None, start_ms: int | None,
          end_ms: int | None, limit: int) -> list[Any]:
    """Binance's paging of allOrders and myTrades: from an id, or within a time window, oldest first; else the most
    recent `limit`."""
    limit = max(1, min(limit, MAX_PAGE))
    if from_id is not None:
        return [item for item in items if ident(item) >= from_id][:limit]
    if start_ms is not None or end_ms is not None:
        lo, hi = start_ms or 0, end_ms if end_ms is not None else 2**63
        return [item for item in items if lo <= item.time <= hi][:limit]
    return items[-limit:]


def _locked_part(rules: SymbolRules, order: SimOrder) -> tuple[str, Decimal]:
    if order.side == BUY:
        return rules.quote, _q8(order.quantity * order.price)
    return rules.base, order.quantity


def _q8(value: Decimal) -> Decimal:
    return value.quantize(EIGHT_DECIMALS)
