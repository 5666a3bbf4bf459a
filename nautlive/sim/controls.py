"""The /__sim/ control endpoints: faults and inspection for tests, JSON in and out, no signature needed.

Every endpoint calls one BinanceSimulator method (nautlive.sim.venue), so in-process tests can call the method itself
(through `RunningSimulator.call`). A bad parameter answers HTTP 400 {"error": "..."}; a venue-side refusal answers
Binance's own status and {"code", "msg"}.

  POST   /__sim/drop                          close every WebSocket              -> {"dropped": n}
  POST   /__sim/reject_next?code=C&msg=M      next order answered with C/M (default -2010) -> {"pending_reject": {...}}
  POST   /__sim/stall?seconds=S               hold every REST request S seconds (no S: until DELETE), not executed
  DELETE /__sim/stall                                                            -> {"stalled": false}
  POST   /__sim/ack_delay?seconds=S           POST /api/v3/order executes at once, its answer waits S seconds
  DELETE /__sim/ack_delay                                                        -> {"ack_delay": 0.0}
  POST   /__sim/balance_delay?seconds=S       outboundAccountPosition events go out S seconds late (REST is current)
  DELETE /__sim/balance_delay                                                    -> {"balance_delay": 0.0}
  POST   /__sim/user_stream_silent            no user-stream events (dropped, not queued) -> {"user_stream_silent": true}
  DELETE /__sim/user_stream_silent                                               -> {"user_stream_silent": false}
  POST   /__sim/restart                       every WebSocket dropped (WS API sessions with them), account kept
                                                                               -> {"dropped": n}
  POST   /__sim/ws_api/drop                   close the WebSocket API sockets only (the adapter reconnects, logs on
                                              and subscribes again)            -> {"dropped": n}
  POST   /__sim/ws_api/refuse_logon?count=N&code=C&msg=M  refuse the next N session.logon (default 1, -2015)
                                                                               -> {"logon_refusals": n}
  POST   /__sim/ws_api/terminate              end every user-stream subscription with eventStreamTerminated
                                                                               -> {"terminated": n}
  POST   /__sim/api_restrictions  JSON {"enableWithdrawals": true, "ipRestrict": false, ...}  the key's rights
                                              (GET /sapi/v1/account/apiRestrictions)  -> the flags
  POST   /__sim/keys  JSON {"api_key", "ed25519_public_key": PEM | "hmac_secret": S}  one more key the venue
                                              knows (it ships knowing profiles/binance-sim.yaml's) -> {"api_key"}
  POST   /__sim/order   JSON {"symbol", "side", "type": "LIMIT"|"MARKET", "quantity", "price", "clientOrderId",
                        "timeInForce"}        an order behind the client's back, as POST /api/v3/order places it
                                              (clientOrderId default web_<n>)  -> the order JSON with "fills"
  POST   /__sim/fill_open?clientOrderId=X     (or orderId=N; optional symbol) fill a resting LIMIT at its limit
                                              price as a maker                 -> the order JSON with "fills"
  POST   /__sim/quote?symbol=S&bid=B&ask=A[&bid_qty=..&ask_qty=..]  pin the touch, the book a ladder around it
                                              (book.ladder; a crossing pin fills resting orders)
  DELETE /__sim/quote?symbol=S                let the book move again (a replayed symbol's own book is back)
                                                                               -> {"held": [...]}
  POST   /__sim/rate_limit?status=429|418&retry_after=S&count=N  the next N REST requests (default 1) answered
                                              HTTP 429 or 418, Retry-After S, code -1003, not executed
                                                                               -> {"forced_next": N, ...}
  POST   /__sim/weight_limit?limit=W&window=S  REQUEST_WEIGHT W per S seconds (default 60; exchangeInfo's
                                              rateLimits say so); past it a 429 with the window's rest as
                                              Retry-After. Every REST answer carries X-MBX-USED-WEIGHT-1M (or -<S>S)
                                                                               -> {"limit": W, "window": S, ...}
  GET    /__sim/state                         balances, orders, fills, books (touch, update_id, levels), faults,
                                              request log (each call with "signed" and "api_key"; WebSocket
                                              API requests with method "WS" and the API method as path),
                                              connections, WS API sessions
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal, InvalidOperation
from typing import Any

import msgspec
from aiohttp import web

from nautlive.sim.hub import Hub
from nautlive.sim.rest import order_with_fills
from nautlive.sim.serving import Handler, json_response
from nautlive.sim.venue import BinanceSimulator
from nautlive.sim.wire import BinanceReject
from nautlive.sim.ws_api import ApiConnection, terminated

SIM_KEY = web.AppKey("sim", BinanceSimulator)
HUB_KEY = web.AppKey("hub", Hub)
SECONDS_ERROR = "seconds: expected a non-negative number of seconds"


async def _drop(request: web.Request) -> web.Response:
    return json_response({"dropped": request.app[SIM_KEY].drop_connections()})


async def _reject_next(request: web.Request) -> web.Response:
    sim, query = request.app[SIM_KEY], request.query
    try:
        code = int(query.get("code", "-2010"))
    except ValueError:
        return json_response({"error": "code: expected an integer Binance error code like -2010"}, 400)
    sim.reject_next(code, query.get("msg", "Account has insufficient balance for requested action."))
    return json_response({"pending_reject": sim.pending_reject.body() if sim.pending_reject else None})


async def _stall(request: web.Request) -> web.Response:
    seconds = request.query.get("seconds")
    try:
        request.app[SIM_KEY].stall(None if seconds is None else float(seconds))
    except ValueError:
        return json_response({"error": "seconds: expected a number (or none, to stall until cleared)"}, 400)
    return json_response({"stalled": True})


async def _set_quote(request: web.Request) -> web.Response:
    query = request.query
    try:
        prices = {k: Decimal(query[k]) for k in ("bid", "ask")}
        sizes = {k: Decimal(query[k]) for k in ("bid_qty", "ask_qty") if k in query}
    except (KeyError, InvalidOperation):
        return json_response({"error": "expected symbol, bid, ask (and optional bid_qty, ask_qty) as decimals"}, 400)
    quote = request.app[SIM_KEY].set_quote(query.get("symbol", ""), **prices, **sizes)
    if isinstance(quote, BinanceReject):
        return json_response(quote.body(), quote.status)
    return json_response({"symbol": query["symbol"], "quote": msgspec.to_builtins(quote)})


async def _release_quote(request: web.Request) -> web.Response:
    request.app[SIM_KEY].release_quote(request.query.get("symbol", ""))
    return json_response({"held": sorted(request.app[SIM_KEY].held)})


async def _rate_limit(request: web.Request) -> web.Response:
    limits, query = request.app[SIM_KEY].limits, request.query
    try:
        limits.rate_limit_next(int(query.get("status", "429")), float(query.get("retry_after", "1")),
                               int(query.get("count", "1")))
    except ValueError as exc:
        return json_response({"error": str(exc)}, 400)
    return json_response(limits.state())


async def _weight_limit(request: web.Request) -> web.Response:
    limits, query = request.app[SIM_KEY].limits, request.query
    try:
        limits.limit_weight(int(query["limit"]), float(query.get("window", "60")))
    except (KeyError, ValueError):
        return json_response({"error": "limit: expected a weight of 1 or more; window: whole seconds"}, 400)
    return json_response(limits.state())


async def _state(request: web.Request) -> web.Response:
    hub = request.app[HUB_KEY]
    counts = {"connections": len(hub.connections), "connections_opened": hub.opened,
              "ws_api_opened": hub.opened_kinds.get(ApiConnection.__name__, 0)}
    sessions = [{"api_key": c.api_key, "key_type": c.key_type, "subscriptions": sorted(c.subscriptions)}
                for c in hub.connections if isinstance(c, ApiConnection)]
    return json_response({**request.app[SIM_KEY].state(), **counts, "ws_api": sessions})


async def _drop_ws_api(request: web.Request) -> web.Response:
    return json_response({"dropped": await request.app[HUB_KEY].close_all(only=ApiConnection)})


async def _refuse_logon(request: web.Request) -> web.Response:
    sim, query = request.app[SIM_KEY], request.query
    try:
        count, code = int(query.get("count", "1")), int(query.get("code", "-2015"))
    except ValueError:
        return json_response({"error": "count and code: expected integers"}, 400)
    sim.refuse_logons(count, code, query.get("msg", "Invalid API-key, IP, or permissions for action."))
    return json_response({"logon_refusals": len(sim.logon_refusals)})


async def _terminate_streams(request: web.Request) -> web.Response:
    hub = request.app[HUB_KEY]
    return json_response({"terminated": hub.end_user_streams(lambda subscription: terminated(hub, subscription))})


async def _json_object(request: web.Request) -> dict[str, Any] | None:
    try:
        body = msgspec.json.decode(await request.read())
    except msgspec.DecodeError:
        return None
    return body if isinstance(body, dict) else None


async def _set_restrictions(request: web.Request) -> web.Response:
    flags = await _json_object(request)
    if flags is None or not all(isinstance(v, bool) for v in flags.values()):
        return json_response({"error": 'expected a JSON object of booleans like {"enableWithdrawals": true}'}, 400)
    try:
        return json_response(request.app[SIM_KEY].set_restrictions(flags))
    except ValueError as exc:
        return json_response({"error": str(exc)}, 400)


async def _add_key(request: web.Request) -> web.Response:
    spec, keys = await _json_object(request), request.app[SIM_KEY].keys
    api_key = spec.get("api_key") if spec else None
    try:
        if isinstance(api_key, str) and isinstance(spec.get("ed25519_public_key"), str):
            keys.add_ed25519(api_key, spec["ed25519_public_key"])
        elif isinstance(api_key, str) and isinstance(spec.get("hmac_secret"), str):
            keys.add_hmac(api_key, spec["hmac_secret"])
        else:
            raise ValueError
    except ValueError:
        return json_response({"error": 'expected {"api_key": K, "ed25519_public_key": PEM} or {"api_key": K, '
                                       '"hmac_secret": S}'}, 400)
    return json_response({"api_key": api_key})


async def _restart(request: web.Request) -> web.Response:
    return json_response(request.app[SIM_KEY].restart())


async def _external_order(request: web.Request) -> web.Response:
    sim = request.app[SIM_KEY]
    spec = await _json_object(request)
    if spec is None:
        return json_response({"error": 'expected a JSON object like {"symbol": "BTCUSDT", "side": "BUY", "type": "LIMIT", '
                               '"quantity": "0.01", "price": "60000", "clientOrderId": "web_1"}'}, 400)
    return _order_answer(sim, sim.place_external_order(spec))


async def _fill_open(request: web.Request) -> web.Response:
    sim, query = request.app[SIM_KEY], request.query
    try:
        order_id = int(query["orderId"]) if "orderId" in query else None
    except ValueError:
        return json_response({"error": "orderId: expected an integer"}, 400)
    return _order_answer(sim, sim.fill_open(query.get("clientOrderId"), order_id, query.get("symbol")))


def _order_answer(sim: BinanceSimulator, result: Any) -> web.Response:
    if isinstance(result, BinanceReject):
        return json_response(result.body(), result.status)
    return json_response(order_with_fills(sim)(result))


def _calls(method: Callable[[BinanceSimulator], object], answer: dict[str, Any]) -> Handler:
    """A handler that calls the simulator's `method` and answers `answer`."""

    async def handler(request: web.Request) -> web.Response:
        method(request.app[SIM_KEY])
        return json_response(answer)

    return handler


def _sets_seconds(method: Callable[[BinanceSimulator, float], None],
                  answer: Callable[[BinanceSimulator], dict[str, Any]]) -> Handler:
    """A handler that calls the simulator's `method` with the query's `seconds` and answers `answer(sim)`."""

    async def handler(request: web.Request) -> web.Response:
        sim = request.app[SIM_KEY]
        try:
            method(sim, float(request.query["seconds"]))
        except (KeyError, ValueError):
            return json_response({"error": SECONDS_ERROR}, 400)
        return json_response(answer(sim))

    return handler


CONTROLS: list[tuple[str, str, Handler]] = [
    ("POST", "/__sim/drop", _drop),
    ("POST", "/__sim/reject_next", _reject_next),
    ("POST", "/__sim/stall", _stall),
    ("DELETE", "/__sim/stall", _calls(BinanceSimulator.clear_stall, {"stalled": False})),
    ("POST", "/__sim/ack_delay",
     _sets_seconds(BinanceSimulator.delay_order_acks, lambda sim: {"ack_delay": sim.ack_delay_seconds})),
    ("DELETE", "/__sim/ack_delay", _calls(BinanceSimulator.clear_ack_delay, {"ack_delay": 0.0})),
    ("POST", "/__sim/balance_delay",
     _sets_seconds(BinanceSimulator.delay_balance_updates, lambda sim: {"balance_delay": sim.balance_delay_seconds})),
    ("DELETE", "/__sim/balance_delay", _calls(BinanceSimulator.clear_balance_delay, {"balance_delay": 0.0})),
    ("POST", "/__sim/user_stream_silent",
     _calls(BinanceSimulator.silence_user_stream, {"user_stream_silent": True})),
    ("DELETE", "/__sim/user_stream_silent",
     _calls(BinanceSimulator.clear_user_stream_silence, {"user_stream_silent": False})),
    ("POST", "/__sim/restart", _restart),
    ("POST", "/__sim/ws_api/drop", _drop_ws_api),
    ("POST", "/__sim/ws_api/refuse_logon", _refuse_logon),
    ("POST", "/__sim/ws_api/terminate", _terminate_streams),
    ("POST", "/__sim/api_restrictions", _set_restrictions),
    ("POST", "/__sim/keys", _add_key),
    ("POST", "/__sim/order", _external_order),
    ("POST", "/__sim/fill_open", _fill_open),
    ("POST", "/__sim/quote", _set_quote),
    ("DELETE", "/__sim/quote", _release_quote),
    ("POST", "/__sim/rate_limit", _rate_limit),
    ("POST", "/__sim/weight_limit", _weight_limit),
    ("GET", "/__sim/state", _state),
]


def add_controls(app: web.Application) -> None:
    for method, path, handler in CONTROLS:
        app.router.add_route(method, path, handler)
