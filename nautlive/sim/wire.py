"""What the simulated Binance venue says on the wire: its records (orders, fills), its errors, and their JSON.

`BinanceReject` is Binance's HTTP status plus its `{"code", "msg"}` body; inside the simulator a `Rejected` carries one
up to the public method, which `answers` turns into a returned reject. `order_json`, `fill_json`, `execution_report`
and `account_position` build the exact REST and user-stream shapes; `required` and `decimal_param` read query
parameters as Binance validates them.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from decimal import Decimal, InvalidOperation
from functools import wraps
from typing import Any

import msgspec

from nautlive.sim.rules import fmt8

BUY, SELL = "BUY", "SELL"
OPEN_STATUSES = ("NEW", "PARTIALLY_FILLED")


class BinanceReject(msgspec.Struct, frozen=True):
    """What Binance answers instead of a result: the HTTP status and the {"code", "msg"} body."""

    code: int
    msg: str
    status: int = 400

    def body(self) -> dict[str, Any]:
        return {"code": self.code, "msg": self.msg}


INVALID_SYMBOL = BinanceReject(-1121, "Invalid symbol.")
INSUFFICIENT_BALANCE = BinanceReject(-2010, "Account has insufficient balance for requested action.")
# LIMIT_MAKER that would cross (https://developers.binance.com/docs/binance-spot-api-docs/rest-api/trading-endpoints:
# "LIMIT_MAKER are LIMIT orders that will be rejected if they would immediately match and trade as a taker")
WOULD_MATCH = BinanceReject(-2010, "Order would immediately match and take.")
RESTING_TYPES = ("LIMIT", "LIMIT_MAKER")  # order types whose unfilled rest rests on the book
NO_SUCH_ORDER = BinanceReject(-2013, "Order does not exist.")
UNKNOWN_ORDER = BinanceReject(-2011, "Unknown order sent.")
MARKET_CLOSED = BinanceReject(-1013, "Market is closed.")
INVALID_SIDE = BinanceReject(-1117, "Invalid side.")
INVALID_ORDER_TYPE = BinanceReject(-1116, "Invalid orderType.")
INVALID_LISTEN_KEY = BinanceReject(-1125, "This listenKey does not exist.")
BOTH_QUANTITIES = BinanceReject(-1106, "Parameter 'quoteOrderQty' sent when not required.")
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
    quote_order_qty: Decimal = Decimal(0)  # a MARKET order sized in the quote asset (quoteOrderQty)
    time: int
    update_time: int

    @property
    def remaining(self) -> Decimal:
        return self.quantity - self.executed_qty

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
        "isWorking": order.type in RESTING_TYPES,
        "workingTime": order.time,
        "origQuoteOrderQty": fmt8(order.quote_order_qty),
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
    """The user-stream executionReport for one order event (NEW, TRADE, CANCELED, EXPIRED)."""
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
        "Q": fmt8(order.quote_order_qty),
        "W": order.time,
        "V": "NONE",
    }



def account_position(now: int, balances: list[dict[str, str]]) -> dict[str, Any]:
    """The user-stream outboundAccountPosition for some assets, from their GET /api/v3/account balance objects."""
    return {"e": "outboundAccountPosition", "E": now, "u": now,
            "B": [{"a": b["asset"], "f": b["free"], "l": b["locked"]} for b in balances]}


def wrap_stream(stream: str, data: dict[str, Any]) -> str:
    """A combined-stream message: every WebSocket message, user stream included, is {"stream", "data"}."""
    return msgspec.json.encode({"stream": stream, "data": data}).decode()


def required(params: Mapping[str, str], name: str) -> str:
    """A mandatory query parameter; absent or empty is Binance's -1102."""
    value = params.get(name)
    if not value:
        raise Rejected(missing_param(name))
    return value


def decimal_param(params: Mapping[str, str], name: str) -> Decimal:
    """A mandatory non-negative decimal with at most 8 decimals, rejected as Binance does (-1100, -1111)."""
    text = required(params, name)
    try:
        value = Decimal(text)
    except InvalidOperation:
        raise Rejected(illegal_chars(name)) from None
    if not value.is_finite() or value < 0:
        raise Rejected(illegal_chars(name))
    if value.as_tuple().exponent < -8:
        raise Rejected(BinanceReject(-1111, f"Parameter '{name}' has too much precision."))
    return value

