"""BinanceSimulator: the state and rules of a loopback Binance Spot venue, with no I/O.

It holds one account (balances, orders, fills), a top of book per symbol and each symbol's real exchangeInfo filters,
and answers as Binance does: a result, or a BinanceReject with Binance's HTTP status, code and message. Market data
and user-stream events go out through three callbacks the server sets (`on_market`, `on_user_event`, `on_drop`).
Methods are not thread-safe: from another thread use the /__sim/ endpoints or `RunningSimulator.call`.
"""

from __future__ import annotations

import secrets
import time
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from decimal import Decimal, InvalidOperation
from functools import wraps
from pathlib import Path
from typing import TYPE_CHECKING, Any

import msgspec

from nautlive.errors import ConfigError
from nautlive.sim.feed import Quote, RandomWalk, Recorded, TradePrint
from nautlive.sim.rules import (
    DEFAULT_HEADER,
    SymbolRules,
    fmt8,
    read_exchange_info,
    rules_from_symbol,
    symbol_from_spec,
)

if TYPE_CHECKING:
    from nautlive.profile import VenueProfile

BUY, SELL = "BUY", "SELL"
OPEN_STATUSES = ("NEW", "PARTIALLY_FILLED")
EIGHT_DECIMALS = Decimal("0.00000001")
FIRST_ORDER_ID = 1_000_001
RECENT_TRADES = 1000
REQUEST_LOG = 10_000


class BinanceReject(msgspec.Struct, frozen=True):
    """What Binance answers instead of a result: the HTTP status and the {"code", "msg"} body."""

    code: int
    msg: str
    status: int = 400

    def body(self) -> dict[str, Any]:
        return {"code": self.code, "msg": self.msg}


INVALID_SYMBOL = BinanceReject(-1121, "Invalid symbol.")
INSUFFICIENT_BALANCE = BinanceReject(-2010, "Account has insufficient balance for requested action.")
NO_SUCH_ORDER = BinanceReject(-2013, "Order does not exist.")
UNKNOWN_ORDER = BinanceReject(-2011, "Unknown order sent.")
MARKET_CLOSED = BinanceReject(-1013, "Market is closed.")
INVALID_SIDE = BinanceReject(-1117, "Invalid side.")
INVALID_ORDER_TYPE = BinanceReject(-1116, "Invalid orderType.")
INVALID_LISTEN_KEY = BinanceReject(-1125, "This listenKey does not exist.")
NO_ORDER_ID = BinanceReject(-1102, "Param 'origClientOrderId' or 'orderId' must be sent, but both were empty/null!")


def filter_failure(name: str) -> BinanceReject:
    return BinanceReject(-1013, f"Filter failure: {name}")


def missing_param(name: str) -> BinanceReject:
    return BinanceReject(-1102, f"Mandatory parameter '{name}' was not sent, was empty/null, or malformed.")


def illegal_chars(name: str) -> BinanceReject:
    return BinanceReject(-1100, f"Illegal characters found in parameter '{name}'; legal range is "
                                "'^([0-9]{1,20})(\\.[0-9]{1,20})?$'.")


class Rejected(Exception):
    """Raised inside the simulator to answer with a BinanceReject; public methods return the reject instead."""

    def __init__(self, reject: BinanceReject) -> None:
        super().__init__(reject.msg)
        self.reject = reject


def answers(method: Callable[..., Any]) -> Callable[..., Any]:
    """Turn a raised Rejected into the returned BinanceReject."""

    @wraps(method)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return method(*args, **kwargs)
        except Rejected as exc:
            return exc.reject

    return wrapper


class SimOrder(msgspec.Struct, frozen=True, kw_only=True):
    """One order on the simulated venue; replaced (never mutated) on every change."""

    symbol: str
    order_id: int
    client_order_id: str
    side: str
    type: str
    time_in_force: str
    quantity: Decimal
    price: Decimal
    status: str = "NEW"
    executed_qty: Decimal = Decimal(0)
    cum_quote: Decimal = Decimal(0)
    time: int
    update_time: int

    @property
    def is_open(self) -> bool:
        return self.status in OPEN_STATUSES


class Fill(msgspec.Struct, frozen=True, kw_only=True):
    """One execution of an order, with the commission taken in the asset received."""

    trade_id: int
    order_id: int
    symbol: str
    side: str
    price: Decimal
    qty: Decimal
    quote_qty: Decimal
    commission: Decimal
    commission_asset: str
    is_maker: bool
    time: int


class BinanceSimulator:
    """One Binance Spot account on a simulated venue: symbols and their filters, balances, orders, books and faults.

    Market orders fill in full at the current top of book (BUY at the ask, SELL at the bid) whatever the size shown:
    the simulator keeps no depth beyond the top. LIMIT orders lock funds and rest; a marketable one fills at once as
    a taker at the top of book, a resting one fills as a maker at its limit price when the book crosses it.
    """

    def __init__(
        self,
        symbols: Iterable[dict[str, Any]],
        balances: Mapping[str, Decimal],
        *,
        taker_fee: Decimal = Decimal("0.001"),
        maker_fee: Decimal | None = None,
        header: Mapping[str, Any] | None = None,
        seed: int = 0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.symbol_info = {s["symbol"]: s for s in symbols}
        self.rules = {name: rules_from_symbol(s) for name, s in self.symbol_info.items()}
        self.header = dict(header or DEFAULT_HEADER)
        self.taker_fee = taker_fee
        self.maker_fee = taker_fee if maker_fee is None else maker_fee
        self.free = {asset: Decimal(amount) for asset, amount in balances.items()}
        self.locked: dict[str, Decimal] = {}
        self.orders: dict[int, SimOrder] = {}
        self.fills: list[Fill] = []
        self.books: dict[str, Quote] = {}
        self.walks: dict[str, RandomWalk] = {}
        self.replayed: set[str] = set()
        self.held: set[str] = set()
        self.recent_trades: dict[str, deque[TradePrint]] = {}
        self.listen_keys: set[str] = set()
        self.request_log: deque[dict[str, Any]] = deque(maxlen=REQUEST_LOG)
        self.pending_reject: BinanceReject | None = None
        self.stall_seconds = 0.0
        self.stalled = False
        self.on_market: Callable[[str, str], None] = lambda stream, text: None
        self.on_user_event: Callable[[dict[str, Any]], None] = lambda event: None
        self.on_drop: Callable[[], int] = lambda: 0
        self._seed = seed
        self._clock = clock
        self._next_order_id = FIRST_ORDER_ID
        self._next_trade_id = 1
        self._next_update_id = 1
        self._next_execution_id = 1

    # -- venue information -------------------------------------------------------------------------------------

    @answers
    def exchange_info(self, symbols: list[str] | None = None) -> dict[str, Any] | BinanceReject:
        """The exchangeInfo body, for all symbols or only those asked (an unknown one is -1121 Invalid symbol)."""
        for name in symbols or []:
            self._rules(name)
        chosen = [self.symbol_info[name] for name in symbols] if symbols else list(self.symbol_info.values())
        return {**self.header, "serverTime": self.now_ms(), "symbols": chosen}

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

    def create_listen_key(self) -> dict[str, str]:
        key = secrets.token_hex(30)
        self.listen_keys.add(key)
        return {"listenKey": key}

    @answers
    def keepalive_listen_key(self, key: str | None) -> dict[str, Any] | BinanceReject:
        if key not in self.listen_keys:
            raise Rejected(INVALID_LISTEN_KEY)
        return {}

    @answers
    def close_listen_key(self, key: str | None) -> dict[str, Any] | BinanceReject:
        if key not in self.listen_keys:
            raise Rejected(INVALID_LISTEN_KEY)
        self.listen_keys.discard(key)
        return {}

    def now_ms(self) -> int:
        return int(self._clock() * 1000)

    # -- market data -------------------------------------------------------------------------------------------

    @answers
    def depth(self, symbol: str) -> dict[str, Any] | BinanceReject:
        book = self.ensure_book(self._rules(symbol).symbol)
        return {"lastUpdateId": self._next_update_id, "bids": [[fmt8(book.bid), fmt8(book.bid_qty)]],
                "asks": [[fmt8(book.ask), fmt8(book.ask_qty)]]}

    @answers
    def trades(self, symbol: str, limit: int = 500) -> list[dict[str, Any]] | BinanceReject:
        self._rules(symbol)
        recent = list(self.recent_trades.get(symbol, ()))[-max(1, limit):]
        return [{"id": t.trade_id, "price": fmt8(t.price), "qty": fmt8(t.qty), "quoteQty": fmt8(t.price * t.qty),
                 "time": t.time, "isBuyerMaker": t.buyer_is_maker, "isBestMatch": True} for t in recent]

    def ensure_book(self, symbol: str) -> Quote:
        """The symbol's book, starting a random walk at its reference price the first time it is needed."""
        if symbol not in self.books:
            walk = self.walks[symbol] = RandomWalk(self.rules[symbol], self._seed)
            self.books[symbol] = walk.quote()
        return self.books[symbol]

    def step_walks(self) -> None:
        """Move every walked symbol one step (held ones repeat their quote) and publish its quote and maybe a trade."""
        for symbol, walk in list(self.walks.items()):
            if symbol in self.replayed:
                continue
            if symbol in self.held:
                self._publish_quote(symbol)
                continue
            self.apply_quote(symbol, walk.step())
            trade = walk.trade_size()
            if trade is not None:
                qty, buyer_is_maker = trade
                book = self.books[symbol]
                price = book.bid if buyer_is_maker else book.ask
                self.apply_trade(symbol, TradePrint(self._next_trade_id, price, qty, self.now_ms(), buyer_is_maker))
                self._next_trade_id += 1

    def attach_recording(self, recording: list[Recorded]) -> None:
        """Quote the recording's symbol from it (first recorded quote as the opening book) instead of a walk."""
        unknown = sorted({item.symbol for item in recording} - set(self.rules))
        if unknown:
            raise ConfigError(f"replay: symbol {', '.join(unknown)} is not among the simulator's symbols")
        self.replayed.update(item.symbol for item in recording)
        for item in reversed(recording):  # backwards, so each symbol's earliest quote is written last
            if item.quote is not None:
                self.books[item.symbol] = item.quote

    def apply_recorded(self, item: Recorded) -> None:
        if item.quote is not None:
            self.apply_quote(item.symbol, item.quote, item.text)
        elif item.trade is not None:
            self.apply_trade(item.symbol, item.trade, item.text)

    def apply_quote(self, symbol: str, quote: Quote, text: str | None = None) -> None:
        """A new top of book from the feed (ignored while the symbol is held by set_quote): publish, match resting."""
        if symbol in self.held:
            self._publish_quote(symbol)
            return
        self.books[symbol] = quote
        self._next_update_id += 1
        self.on_market(f"{symbol.lower()}@bookTicker", text or self._quote_message(symbol))
        self._match_resting(symbol)

    def apply_trade(self, symbol: str, trade: TradePrint, text: str | None = None) -> None:
        self.recent_trades.setdefault(symbol, deque(maxlen=RECENT_TRADES)).append(trade)
        stream = f"{symbol.lower()}@trade"
        if text is None:
            data = {"e": "trade", "E": trade.time, "s": symbol, "t": trade.trade_id, "p": fmt8(trade.price),
                    "q": fmt8(trade.qty), "T": trade.time, "m": trade.buyer_is_maker, "M": True}
            text = wrap_stream(stream, data)
        self.on_market(stream, text)

    def _publish_quote(self, symbol: str) -> None:
        self._next_update_id += 1
        self.on_market(f"{symbol.lower()}@bookTicker", self._quote_message(symbol))

    def _quote_message(self, symbol: str) -> str:
        book = self.books[symbol]
        data = {"u": self._next_update_id, "s": symbol, "b": fmt8(book.bid), "B": fmt8(book.bid_qty),
                "a": fmt8(book.ask), "A": fmt8(book.ask_qty)}
        return wrap_stream(f"{symbol.lower()}@bookTicker", data)

    # -- orders ------------------------------------------------------------------------------------------------

    @answers
    def place_order(self, params: Mapping[str, str]) -> SimOrder | BinanceReject:
        """POST /api/v3/order from its query parameters: MARKET or LIMIT with `quantity` (no quoteOrderQty; other
        types are -1116 Invalid orderType)."""
        symbol = _required(params, "symbol")
        side = _required(params, "side")
        order_type = _required(params, "type")
        quantity = _decimal(params, "quantity")
        client_order_id = params.get("newClientOrderId")
        if order_type == "MARKET":
            return self.place_market_order(symbol, side, quantity, client_order_id)
        if order_type == "LIMIT":
            tif = _required(params, "timeInForce")
            return self.place_limit_order(symbol, side, quantity, _decimal(params, "price"), tif, client_order_id)
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
    def all_orders(self, symbol: str, start_ms: int = 0, limit: int = 500) -> list[SimOrder] | BinanceReject:
        self._rules(symbol)
        return [o for o in self.orders.values() if o.symbol == symbol and o.time >= start_ms][-limit:]

    @answers
    def my_trades(self, symbol: str, start_ms: int = 0, limit: int = 500) -> list[Fill] | BinanceReject:
        self._rules(symbol)
        return [f for f in self.fills if f.symbol == symbol and f.time >= start_ms][-limit:]

    # -- faults and inspection ---------------------------------------------------------------------------------

    def reject_next(self, code: int = -2010, msg: str = INSUFFICIENT_BALANCE.msg) -> None:
        """Answer the next order with this Binance error instead of executing it."""
        self.pending_reject = BinanceReject(code, msg)

    def stall(self, seconds: float | None = None) -> None:
        """Delay every REST answer by `seconds`, or hold every answer until `clear_stall` when None."""
        if seconds is None:
            self.stalled = True
        else:
            self.stall_seconds = seconds

    def clear_stall(self) -> None:
        self.stalled = False
        self.stall_seconds = 0.0

    @answers
    def set_quote(
        self, symbol: str, bid: Decimal, ask: Decimal, bid_qty: Decimal | None = None, ask_qty: Decimal | None = None
    ) -> Quote | BinanceReject:
        """Pin the symbol's top of book (the feed keeps publishing it unchanged) until `release_quote`."""
        rules = self._rules(symbol)
        current = self.ensure_book(symbol)
        self.held.discard(symbol)
        quote = Quote(bid, bid_qty or current.bid_qty, ask, ask_qty or current.ask_qty)
        self.apply_quote(rules.symbol, quote)
        self.held.add(symbol)
        return quote

    def release_quote(self, symbol: str) -> None:
        """Let the feed move the symbol again; a random walk goes on from the pinned price."""
        self.held.discard(symbol)
        if symbol in self.walks:
            self.walks[symbol] = RandomWalk(self.rules[symbol], self._seed, start=self.books[symbol].bid)

    def drop_connections(self) -> int:
        """Close every WebSocket connection (the adapter reconnects and re-subscribes); returns how many."""
        return self.on_drop()

    def log_request(self, method: str, path: str, params: Mapping[str, str]) -> None:
        self.request_log.append({"time": self.now_ms(), "method": method, "path": path, "params": dict(params)})

    def state(self) -> dict[str, Any]:
        """Balances, orders, fills, books and the request log, as JSON-ready data."""
        return {
            "balances": {a: {"free": fmt8(self.free.get(a, Decimal(0))), "locked": fmt8(self.locked.get(a, Decimal(0)))}
                         for a in sorted(self._assets())},
            "orders": [order_json(o) for o in self.orders.values()],
            "fills": [fill_json(f) for f in self.fills],
            "books": {s: {"bid": fmt8(q.bid), "ask": fmt8(q.ask)} for s, q in self.books.items()},
            "held": sorted(self.held),
            "pending_reject": self.pending_reject.body() if self.pending_reject else None,
            "stall": {"seconds": self.stall_seconds, "until_cleared": self.stalled},
            "listen_keys": sorted(self.listen_keys),
            "requests": list(self.request_log),
        }

    # -- internals ---------------------------------------------------------------------------------------------

    def _rules(self, symbol: str | None) -> SymbolRules:
        if symbol not in self.rules:
            raise Rejected(INVALID_SYMBOL)
        return self.rules[symbol]

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

    def _match_resting(self, symbol: str) -> None:
        book = self.books[symbol]
        for order in [o for o in self.orders.values() if o.symbol == symbol and o.is_open and o.type == "LIMIT"]:
            if (order.side == BUY and order.price >= book.ask) or (order.side == SELL and order.price <= book.bid):
                self._fill(order, order.price, is_maker=True)

    def _find(self, symbol: str, order_id: int | None, client_order_id: str | None) -> SimOrder | None:
        if order_id is None and not client_order_id:
            raise Rejected(NO_ORDER_ID)
        for order in self.orders.values():
            if order.symbol == symbol and (order.order_id == order_id or order.client_order_id == client_order_id):
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
        balances = [{"a": b["asset"], "f": b["free"], "l": b["locked"]}
                    for b in (self._balance_json(rules.base), self._balance_json(rules.quote))]
        self._emit({"e": "outboundAccountPosition", "E": now, "u": now, "B": balances})

    def _emit(self, event: dict[str, Any]) -> None:
        self.on_user_event(event)

    def _execution_id(self) -> int:
        self._next_execution_id += 1
        return self._next_execution_id


def order_json(order: SimOrder) -> dict[str, Any]:
    """An order as GET/POST/DELETE /api/v3/order answer it, plus "avgPrice" so inferred fills get a price."""
    avg = order.cum_quote / order.executed_qty if order.executed_qty else Decimal(0)
    return {
        "symbol": order.symbol,
        "orderId": order.order_id,
        "orderListId": -1,
        "clientOrderId": order.client_order_id,
        "transactTime": order.update_time,
        "price": fmt8(order.price),
        "origQty": fmt8(order.quantity),
        "executedQty": fmt8(order.executed_qty),
        "cummulativeQuoteQty": fmt8(order.cum_quote),
        "status": order.status,
        "timeInForce": order.time_in_force,
        "type": order.type,
        "side": order.side,
        "stopPrice": fmt8(Decimal(0)),
        "icebergQty": fmt8(Decimal(0)),
        "time": order.time,
        "updateTime": order.update_time,
        "isWorking": order.type == "LIMIT",
        "workingTime": order.time,
        "origQuoteOrderQty": fmt8(Decimal(0)),
        "selfTradePreventionMode": "NONE",
        "avgPrice": fmt8(avg),
    }


def fill_json(fill: Fill) -> dict[str, Any]:
    """A fill as GET /api/v3/myTrades lists it."""
    return {
        "symbol": fill.symbol,
        "id": fill.trade_id,
        "orderId": fill.order_id,
        "orderListId": -1,
        "price": fmt8(fill.price),
        "qty": fmt8(fill.qty),
        "quoteQty": fmt8(fill.quote_qty),
        "commission": fmt8(fill.commission),
        "commissionAsset": fill.commission_asset,
        "time": fill.time,
        "isBuyer": fill.side == BUY,
        "isMaker": fill.is_maker,
        "isBestMatch": True,
    }


def execution_report(
    order: SimOrder, exec_type: str, now: int, execution_id: int, fill: Fill | None = None
) -> dict[str, Any]:
    """The user-stream executionReport for one order event (NEW, TRADE, CANCELED)."""
    canceled = exec_type == "CANCELED"
    return {
        "e": "executionReport",
        "E": now,
        "s": order.symbol,
        "c": f"cancel-{order.order_id}" if canceled else order.client_order_id,
        "S": order.side,
        "o": order.type,
        "f": order.time_in_force,
        "q": fmt8(order.quantity),
        "p": fmt8(order.price),
        "P": fmt8(Decimal(0)),
        "F": fmt8(Decimal(0)),
        "g": -1,
        "C": order.client_order_id if canceled else "",
        "x": exec_type,
        "X": order.status,
        "r": "NONE",
        "i": order.order_id,
        "l": fmt8(fill.qty if fill else Decimal(0)),
        "z": fmt8(order.executed_qty),
        "L": fmt8(fill.price if fill else Decimal(0)),
        "n": fmt8(fill.commission if fill else Decimal(0)),
        "N": fill.commission_asset if fill else None,
        "T": now,
        "t": fill.trade_id if fill else -1,
        "I": execution_id,
        "w": order.is_open,
        "m": fill.is_maker if fill else False,
        "M": False,
        "O": order.time,
        "Z": fmt8(order.cum_quote),
        "Y": fmt8(fill.quote_qty if fill else Decimal(0)),
        "Q": fmt8(Decimal(0)),
        "W": order.time,
        "V": "NONE",
    }


def parse_balances(text: str) -> dict[str, Decimal]:
    """ "USDT=100000,BTC=0" -> {"USDT": Decimal("100000"), "BTC": Decimal("0")}; bad syntax is a ConfigError."""
    balances: dict[str, Decimal] = {}
    for part in text.split(","):
        asset, sep, amount = part.strip().partition("=")
        try:
            value = Decimal(amount.strip())
        except InvalidOperation:
            value = None
        if not sep or not asset.strip().isalnum() or value is None or not value.is_finite() or value < 0:
            expected = "ASSET=AMOUNT[,ASSET=AMOUNT...] like USDT=100000,BTC=0"
            raise ConfigError(f"--balances: expected {expected}, got {part!r}")
        balances[asset.strip().upper()] = value
    return balances


def build_simulator(
    symbols_wanted: Iterable[str],
    balances: Mapping[str, Decimal],
    *,
    catalog_path: str | Path | None = None,
    exchange_info_path: str | Path | None = None,
    taker_fee: Decimal = Decimal("0.001"),
    seed: int = 0,
) -> BinanceSimulator:
    """A simulator with the symbols of an exchangeInfo capture (else of the catalog), quoting `symbols_wanted`."""
    from nautlive.catalog import load_catalog

    wanted = list(symbols_wanted)
    if exchange_info_path is not None:
        header, symbols = read_exchange_info(exchange_info_path)
        source = str(exchange_info_path)
    elif catalog_path is not None:
        catalog = load_catalog(catalog_path)
        header, symbols, source = DEFAULT_HEADER, [symbol_from_spec(s) for s in catalog.instruments], str(catalog_path)
    else:
        raise ConfigError("simulator: give a catalog or an exchangeInfo file to take the symbols from")
    known = {s.get("symbol") for s in symbols}
    missing = [name for name in wanted if name not in known]
    if missing:
        raise ConfigError(f"{source}: no symbol {', '.join(missing)} (instruments of the profile)")
    sim = BinanceSimulator(symbols, balances, taker_fee=taker_fee, header=header, seed=seed)
    for name in wanted:
        sim.ensure_book(name)
    return sim


def simulator_for_profile(
    profile: VenueProfile,
    *,
    catalog: str | Path | None = None,
    exchange_info: str | Path | None = None,
    balances: str | None = None,
    seed: int = 0,
) -> BinanceSimulator:
    """The venue a profile trades against: its instruments quoted, its catalog's (or a capture's) symbols and fee."""
    if profile.adapter != "binance":
        raise ConfigError(f"profile {profile.name}: adapter {profile.adapter}: the simulator speaks Binance only")
    return build_simulator(
        [instrument_id.rsplit(".", 1)[0] for instrument_id in profile.instruments],
        parse_balances(balances) if balances is not None else profile.starting_balances(),
        catalog_path=None if exchange_info is not None else (catalog or profile.catalog),
        exchange_info_path=exchange_info,
        taker_fee=profile.taker_fee,
        seed=seed,
    )


def _locked_part(rules: SymbolRules, order: SimOrder) -> tuple[str, Decimal]:
    if order.side == BUY:
        return rules.quote, _q8(order.quantity * order.price)
    return rules.base, order.quantity


def _required(params: Mapping[str, str], name: str) -> str:
    value = params.get(name)
    if not value:
        raise Rejected(missing_param(name))
    return value


def _decimal(params: Mapping[str, str], name: str) -> Decimal:
    text = _required(params, name)
    try:
        value = Decimal(text)
    except InvalidOperation:
        raise Rejected(illegal_chars(name)) from None
    if not value.is_finite() or value < 0:
        raise Rejected(illegal_chars(name))
    if value.as_tuple().exponent < -8:
        raise Rejected(BinanceReject(-1111, f"Parameter '{name}' has too much precision."))
    return value


def _q8(value: Decimal) -> Decimal:
    return value.quantize(EIGHT_DECIMALS)


def wrap_stream(stream: str, data: dict[str, Any]) -> str:
    """A combined-stream message: every WebSocket message, user stream included, is {"stream", "data"}."""
    return msgspec.json.encode({"stream": stream, "data": data}).decode()
