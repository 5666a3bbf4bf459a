"""One Spot account on the simulated venue: balances (free, locked), orders and their fills, and the queries on them.

Settlement is here: a fill moves the balances and takes the commission in the asset received (base on a BUY, quote on
a SELL), an unfilled rest expires, a cancel frees what was locked. Each change is pushed through `_emit` as the
user-stream event Binance sends (executionReport; outboundAccountPosition once an action is done); the venue layer
decides when (and whether) it reaches `on_user_event`. Placing and matching orders is nautlive.sim.exchange.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from decimal import Decimal
from typing import Any

import msgspec

from nautlive.sim.public import PublicMarket
from nautlive.sim.rules import SymbolRules, fmt8
from nautlive.sim.wire import (
    BUY,
    NO_ORDER_ID,
    NO_SUCH_ORDER,
    RESTING_TYPES,
    BinanceReject,
    Fill,
    Rejected,
    SimOrder,
    account_position,
    answers,
    execution_report,
)

EIGHT_DECIMALS = Decimal("0.00000001")
FIRST_ORDER_ID = 1_000_001
MAX_PAGE = 1000  # Binance's largest `limit` for allOrders and myTrades


class Account(PublicMarket):
    """Balances, orders, fills and fees of the one account trading the market's symbols."""

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

    # -- queries -----------------------------------------------------------------------------------------------

    @answers
    def query_order(self, symbol: str, order_id: int | None, client_order_id: str | None) -> SimOrder | BinanceReject:
        self._rules(symbol)
        order = self._find(symbol, order_id, client_order_id)
        if order is None:
            raise Rejected(NO_SUCH_ORDER)
        return order

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

    # -- order life ----------------------------------------------------------------------------------------------

    def _new_order(self, symbol: str, side: str, order_type: str, tif: str, quantity: Decimal, price: Decimal,
                   client_id: str | None, quote_order_qty: Decimal = Decimal(0)) -> SimOrder:
        now = self.now_ms()
        order = SimOrder(symbol=symbol, order_id=self._next_order_id, client_order_id=client_id or
                         f"sim-{self._next_order_id}", side=side, type=order_type, time_in_force=tif,
                         quantity=quantity, price=price, quote_order_qty=quote_order_qty, time=now, update_time=now)
        self._next_order_id += 1
        self.orders[order.order_id] = order
        self._emit(execution_report(order, "NEW", now, self._execution_id()))
        return order

    def _fill(self, order: SimOrder, price: Decimal, qty: Decimal, is_maker: bool) -> SimOrder:
        """Execute `qty` of the order at `price` as one trade: settle the balances (what stays open of a LIMIT
        order stays locked) and push its TRADE executionReport."""
        rules = self.rules[order.symbol]
        self._unlock(rules, order)
        quote_qty = q8(qty * price)
        rate = self.maker_fee if is_maker else self.taker_fee
        if order.side == BUY:
            commission, asset = q8(qty * rate), rules.base
            self._add(rules.quote, -quote_qty)
            self._add(rules.base, qty - commission)
        else:
            commission, asset = q8(quote_qty * rate), rules.quote
            self._add(rules.base, -qty)
            self._add(rules.quote, quote_qty - commission)
        now = self.now_ms()
        fill = Fill(trade_id=self._next_trade_id, order_id=order.order_id, symbol=order.symbol, side=order.side,
                    price=price, qty=qty, quote_qty=quote_qty, commission=commission, commission_asset=asset,
                    is_maker=is_maker, time=now)
        self._next_trade_id += 1
        self.fills.append(fill)
        executed = order.executed_qty + qty
        order = msgspec.structs.replace(order, status="FILLED" if executed >= order.quantity else "PARTIALLY_FILLED",
                                        executed_qty=executed, cum_quote=order.cum_quote + quote_qty, update_time=now)
        self.orders[order.order_id] = order
        self._lock(rules, order)
        self._emit(execution_report(order, "TRADE", now, self._execution_id(), fill=fill))
        return order

    def _expire(self, order: SimOrder) -> SimOrder:
        """What is left of the order expires (a MARKET order the visible book could not fill, an IOC or FOK rest)."""
        self._unlock(self.rules[order.symbol], order)
        now = self.now_ms()
        order = msgspec.structs.replace(order, status="EXPIRED", update_time=now)
        self.orders[order.order_id] = order
        self._emit(execution_report(order, "EXPIRED", now, self._execution_id()))
        return order

    def _cancel(self, rules: SymbolRules, order: SimOrder) -> SimOrder:
        self._unlock(rules, order)
        now = self.now_ms()
        order = msgspec.structs.replace(order, status="CANCELED", update_time=now)
        self.orders[order.order_id] = order
        self._emit(execution_report(order, "CANCELED", now, self._execution_id()))
        self._emit_positions(rules)
        return order

    def _lock(self, rules: SymbolRules, order: SimOrder) -> None:
        """Lock what the open rest of a LIMIT order may spend (MARKET orders lock nothing)."""
        if order.type in RESTING_TYPES and order.is_open:
            asset, amount = _locked_part(rules, order)
            self._add(asset, -amount)
            self.locked[asset] = self.locked.get(asset, Decimal(0)) + amount

    def _unlock(self, rules: SymbolRules, order: SimOrder) -> None:
        if order.type in RESTING_TYPES and order.is_open:
            asset, amount = _locked_part(rules, order)
            self.locked[asset] -= amount
            self._add(asset, amount)

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

    # -- balances and events -----------------------------------------------------------------------------------

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
        return rules.quote, q8(order.remaining * order.price)
    return rules.base, order.remaining


def q8(value: Decimal) -> Decimal:
    """A quote amount at Binance's 8 decimals."""
    return value.quantize(EIGHT_DECIMALS)

