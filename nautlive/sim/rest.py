"""The Binance Spot REST endpoints the Nautilus adapter calls, answered from a BinanceSimulator (no HTTP here).

Parameters come in the query string (as the adapter sends them) or a form body, as Binance accepts both (the query
string wins when both name one); signatures, timestamps and recvWindow are accepted unchecked.

The REST listen key (`POST/PUT/DELETE /api/v3/userDataStream`) was retired on 2026-02-20 07:00 UTC (Binance's
CHANGELOG of 2026-01-21); those requests get the `410 Gone` HTML page users report from Binance's edge. The user
stream lives on the WebSocket API (nautlive.sim.ws_api).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any

from nautlive.sim.books import DEFAULT_DEPTH_LIMIT
from nautlive.sim.klines import DEFAULT_LIMIT
from nautlive.sim.venue import BinanceSimulator
from nautlive.sim.wire import BinanceReject, Rejected, fill_json, illegal_chars, order_json, required

Params = Mapping[str, str]
NOT_FOUND = BinanceReject(-1099, "Not found, unauthenticated, or unauthorized.", status=404)
RETIRED_PATHS = frozenset({"/api/v3/userDataStream"})
GONE_HTML = "<html>\r\n<head><title>410 Gone</title></head>\r\n<body>\r\n<center><h1>410 Gone</h1></center>\r\n</body>\r\n</html>\r\n"


class Gone:
    """The answer to a retired endpoint: HTTP 410 with an HTML body, not Binance's JSON error shape."""

    status = 410
    html = GONE_HTML


GONE = Gone()


def answer(sim: BinanceSimulator, method: str, path: str, params: Params) -> Any:
    """The JSON-ready body for one request, or the BinanceReject to send instead."""
    path = "/" + path.lstrip("/")
    if path in RETIRED_PATHS:
        return GONE
    route = ROUTES.get((method, path))
    if route is None:
        return NOT_FOUND
    try:
        return route(sim, params)
    except Rejected as exc:
        return exc.reject


def _exchange_info(sim: BinanceSimulator, p: Params) -> Any:
    if "symbols" in p:
        try:
            symbols = json.loads(p["symbols"])
        except json.JSONDecodeError:
            symbols = None
        if not isinstance(symbols, list) or not all(isinstance(s, str) for s in symbols):
            raise Rejected(BinanceReject(-1100, "Illegal characters found in parameter 'symbols'."))
        return sim.exchange_info(symbols)
    return sim.exchange_info([p["symbol"]] if "symbol" in p else None)


def _place_order(sim: BinanceSimulator, p: Params) -> Any:
    return _view(sim.place_order(p), order_with_fills(sim))


def order_with_fills(sim: BinanceSimulator) -> Callable[[Any], dict[str, Any]]:
    """The FULL answer of POST /api/v3/order: the order plus its fills."""

    def view(order: Any) -> dict[str, Any]:
        mine = (fill for fill in sim.fills if fill.order_id == order.order_id)  # rendered: this order's only
        fills = [{"price": f["price"], "qty": f["qty"], "commission": f["commission"],
                  "commissionAsset": f["commissionAsset"], "tradeId": f["id"]} for f in map(fill_json, mine)]
        return {**order_json(order), "fills": fills}

    return view


def _query_order(sim: BinanceSimulator, p: Params) -> Any:
    return _view(sim.query_order(_symbol(p), _int(p, "orderId"), p.get("origClientOrderId")), order_json)


def _cancel_order(sim: BinanceSimulator, p: Params) -> Any:
    return _view(sim.cancel_order(_symbol(p), _int(p, "orderId"), p.get("origClientOrderId")), order_json)


def _all_orders(sim: BinanceSimulator, p: Params) -> Any:
    """Paged as Binance pages it: from orderId, or within startTime..endTime, else the most recent `limit`."""
    return _orders(sim.all_orders(_symbol(p), order_id=_int(p, "orderId"), start_ms=_int(p, "startTime"),
                                  end_ms=_int(p, "endTime"), limit=_int(p, "limit", 500)))


def _my_trades(sim: BinanceSimulator, p: Params) -> Any:
    """One order's trades (orderId), or paged: from fromId, or within startTime..endTime, else the most recent."""
    trades = sim.my_trades(_symbol(p), order_id=_int(p, "orderId"), from_id=_int(p, "fromId"),
                           start_ms=_int(p, "startTime"), end_ms=_int(p, "endTime"), limit=_int(p, "limit", 500))
    return _view(trades, lambda fills: list(map(fill_json, fills)))


def _orders(result: Any) -> Any:
    return _view(result, lambda orders: [order_json(o) for o in orders])


def _view(result: Any, render: Callable[[Any], Any]) -> Any:
    return result if isinstance(result, BinanceReject) else render(result)


def _symbol(p: Params) -> str:
    return required(p, "symbol")


def _int(p: Params, name: str, default: int | None = None) -> int | None:
    if name not in p:
        return default
    try:
        return int(p[name])
    except ValueError:
        raise Rejected(illegal_chars(name)) from None


def _klines(sim: BinanceSimulator, p: Params) -> Any:
    """Bars of the trades so far: the first `limit` from startTime, else the last up to endTime (or now)."""
    return sim.kline_rows(_symbol(p), required(p, "interval"), start_ms=_int(p, "startTime"),
                          end_ms=_int(p, "endTime"), limit=_int(p, "limit", DEFAULT_LIMIT))


def _depth(sim: BinanceSimulator, p: Params) -> Any:
    """The served book, best first: `limit` levels a side (default 100, at most 5000)."""
    limit = _int(p, "limit", DEFAULT_DEPTH_LIMIT)
    if limit < 1:
        raise Rejected(illegal_chars("limit"))
    return sim.depth_snapshot(_symbol(p), limit)


def _agg_trades(sim: BinanceSimulator, p: Params) -> Any:
    return sim.agg_trades(_symbol(p), _int(p, "limit", 500), from_id=_int(p, "fromId"),
                          start_ms=_int(p, "startTime"), end_ms=_int(p, "endTime"))


ROUTES: dict[tuple[str, str], Callable[[BinanceSimulator, Params], Any]] = {
    ("GET", "/api/v3/ping"): lambda sim, p: {},
    ("GET", "/api/v3/time"): lambda sim, p: {"serverTime": sim.now_ms()},
    ("GET", "/api/v3/exchangeInfo"): _exchange_info,
    ("GET", "/sapi/v1/asset/tradeFee"): lambda sim, p: sim.trade_fees(p.get("symbol")),
    ("GET", "/api/v3/account"): lambda sim, p: sim.account(),
    ("GET", "/sapi/v1/account/apiRestrictions"): lambda sim, p: sim.api_restrictions(),
    ("GET", "/api/v3/order"): _query_order,
    ("POST", "/api/v3/order"): _place_order,
    ("DELETE", "/api/v3/order"): _cancel_order,
    ("GET", "/api/v3/openOrders"): lambda sim, p: _orders(sim.open_orders(p.get("symbol"))),
    ("DELETE", "/api/v3/openOrders"): lambda sim, p: _orders(sim.cancel_open_orders(_symbol(p))),
    ("GET", "/api/v3/allOrders"): _all_orders,
    ("GET", "/api/v3/myTrades"): _my_trades,
    ("GET", "/api/v3/depth"): _depth,
    ("GET", "/api/v3/trades"): lambda sim, p: sim.trades(_symbol(p), _int(p, "limit", 500)),
    ("GET", "/api/v3/klines"): _klines,
    ("GET", "/api/v3/ticker/bookTicker"): lambda sim, p: sim.book_tickers(p.get("symbol")),
    ("GET", "/api/v3/ticker/price"): lambda sim, p: sim.price_tickers(p.get("symbol")),
    ("GET", "/api/v3/ticker/24hr"): lambda sim, p: sim.day_tickers(p.get("symbol")),
    ("GET", "/api/v3/aggTrades"): _agg_trades,
}
