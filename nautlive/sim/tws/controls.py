"""The TWS venue's HTTP control port: inspection and faults for tests and rehearsals, JSON in and out.

Every endpoint calls one TwsSimulator method, so in-process tests can call the method itself (RunningTws.call).
A bad parameter answers HTTP 400 {"error": "..."}.

  GET    /__sim/state                       cash, positions, orders, executions, quotes, connected clients, every
                                            connection since start (offered range, negotiated version, client id,
                                            refusal), faults, the request log (each request: text or protobuf)
  POST   /__sim/drop                        error 1100 to every client and their sockets closed; each hears 1102
                                            once when it reconnects               -> {"dropped": n}
  POST   /__sim/reject_next?reason=R        the next order is answered with error 201 "Order rejected - reason:R"
  POST   /__sim/stall?seconds=S             no answer to anything, handshake included, S seconds (none: until DELETE)
  DELETE /__sim/stall                                                             -> {"stalled": false}
  POST   /__sim/quote?symbol=S&bid=B&ask=A[&bid_size=..&ask_size=..]  pin a quote (resting orders that cross fill)
  DELETE /__sim/quote?symbol=S              let it walk again
  POST   /__sim/order?client_id=C&symbol=S&side=BUY&quantity=Q[&price=P&ref=R]  an order working at the venue as
                                            if client C had placed it (another API client; an earlier session of
                                            ours): LMT at P, else MKT          -> the order
  DELETE /__sim/order?order_id=N            the venue cancels it              -> {"cancelled": bool}
  POST   /__sim/market_closed               MKT orders without outsideRth wait (PreSubmitted) for the open
  DELETE /__sim/market_closed               the market opens: waiting orders fill
  POST   /__sim/history_pacing?limit=N&window=S  reqHistoricalData: at most N requests in any S seconds (IB: 60 in
                                            600), past it error 162 pacing violation -> {"limit": N, "window": S}
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

import msgspec
from aiohttp import web

from nautlive.sim.serving import Handler, json_response
from nautlive.sim.tws.venue import TwsSimulator

SIM_KEY = web.AppKey("tws_sim", TwsSimulator)


def state(sim: TwsSimulator) -> dict:
    """Everything a test or a person rehearsing wants to see, with symbols next to conIds."""
    account, market = sim.account, sim.market

    def symbol(con_id: int) -> str:
        return market.contract(con_id).get("localSymbol", str(con_id)) if con_id in market.details else ""

    return {
        "account": account.account_id,
        "cash": {k: str(v) for k, v in account.cash.items()},
        "available_funds": str(account.available_funds()),
        "positions": {symbol(c): {"quantity": str(q), "avg_cost": str(a)} for c, (q, a) in account.positions.items()},
        "orders": [{**msgspec.to_builtins(o), "symbol": symbol(o.con_id)} for o in account.orders.values()],
        "executions": [{**msgspec.to_builtins(e), "symbol": symbol(e.con_id)} for e in account.executions],
        "quotes": {symbol(c): msgspec.to_builtins(q) for c, q in market.quotes.items()},
        "server_version": sim.server_version,
        "clients": [{"client_id": p.client_id, "version": p.version, "market_data": len(p.market_data),
                     "account_summary": bool(p.summaries)} for p in sim.peers],
        "connections": sim.connections,
        "connections_opened": sim.connections_opened,
        "faults": {"market_open": account.market_open, "stalled": sim.stalled, "pending_reject": sim.pending_reject,
                   "held_quotes": sorted(symbol(c) for c in market.held), "drops": sim.drops},
        "requests": sim.requests,
    }


def _con_id(sim: TwsSimulator, symbol: str) -> int | None:
    try:
        return sim._symbol_con_id(symbol)  # noqa: SLF001 - the venue's own lookup
    except ValueError:
        return None


async def _state(request: web.Request) -> web.Response:
    return json_response(state(request.app[SIM_KEY]))


async def _drop(request: web.Request) -> web.Response:
    return json_response({"dropped": request.app[SIM_KEY].drop_connections()})


async def _reject_next(request: web.Request) -> web.Response:
    reason = request.query.get("reason", "Insufficient funds (rejected by the simulator)")
    request.app[SIM_KEY].reject_next(reason)
    return json_response({"pending_reject": reason})


async def _stall(request: web.Request) -> web.Response:
    seconds = request.query.get("seconds")
    try:
        value = None if seconds is None else float(seconds)
    except ValueError:
        return json_response({"error": "seconds: expected a number (or none, to stall until cleared)"}, 400)
    request.app[SIM_KEY].stall(value)
    return json_response({"stalled": True, "seconds": value})


async def _clear_stall(request: web.Request) -> web.Response:
    request.app[SIM_KEY].clear_stall()
    return json_response({"stalled": False})


async def _quote(request: web.Request) -> web.Response:
    sim, query = request.app[SIM_KEY], request.query
    con_id = _con_id(sim, query.get("symbol", ""))
    if con_id is None:
        return json_response({"error": f"symbol: no contract {query.get('symbol', '')!r}"}, 400)
    try:
        bid, ask = Decimal(query["bid"]), Decimal(query["ask"])
        sizes = {k: Decimal(query[k]) for k in ("bid_size", "ask_size") if k in query}
    except (KeyError, InvalidOperation):
        return json_response({"error": "expected symbol, bid, ask (and optional bid_size, ask_size) as decimals"}, 400)
    if not (sim.market.on_tick(con_id, bid) and sim.market.on_tick(con_id, ask)) or bid >= ask:
        return json_response({"error": f"bid < ask, both on the tick {sim.market.tick(con_id)}"}, 400)
    sim.set_quote(con_id, bid, ask, **sizes)
    return json_response({"symbol": query["symbol"], "quote": msgspec.to_builtins(sim.market.quotes[con_id])})


async def _release_quote(request: web.Request) -> web.Response:
    sim = request.app[SIM_KEY]
    con_id = _con_id(sim, request.query.get("symbol", ""))
    if con_id is not None:
        sim.release_quote(con_id)
    return json_response({"held": sorted(map(str, sim.market.held))})


async def _place_order(request: web.Request) -> web.Response:
    sim, query = request.app[SIM_KEY], request.query
    try:
        price = float(query["price"]) if "price" in query else None
        order = sim.place_working(int(query.get("client_id", "7")), query.get("symbol", ""), query.get("side", "BUY"),
                                  Decimal(query.get("quantity", "1")), price, query.get("ref", ""),
                                  "LMT" if price is not None else "MKT")
    except (KeyError, ValueError, InvalidOperation) as exc:
        return json_response({"error": f"expected client_id, symbol, side, quantity[, price, ref]: {exc}"}, 400)
    return json_response(msgspec.to_builtins(order))


async def _cancel_order(request: web.Request) -> web.Response:
    try:
        order = request.app[SIM_KEY].cancel_at_venue(int(request.query["order_id"]))
    except (KeyError, ValueError):
        return json_response({"error": "expected order_id"}, 400)
    return json_response({"cancelled": order is not None})


async def _market_closed(request: web.Request) -> web.Response:
    request.app[SIM_KEY].set_market_open(False)
    return json_response({"market_open": False})


async def _market_open(request: web.Request) -> web.Response:
    request.app[SIM_KEY].set_market_open(True)
    return json_response({"market_open": True})


async def _history_pacing(request: web.Request) -> web.Response:
    try:
        limit, window = int(request.query["limit"]), float(request.query.get("window", "600"))
        request.app[SIM_KEY].limit_history(limit, window)
    except (KeyError, ValueError) as exc:
        return json_response({"error": f"expected limit (requests) and window (seconds): {exc}"}, 400)
    return json_response({"limit": limit, "window": window})


CONTROLS: list[tuple[str, str, Handler]] = [
    ("GET", "/__sim/state", _state),
    ("POST", "/__sim/drop", _drop),
    ("POST", "/__sim/reject_next", _reject_next),
    ("POST", "/__sim/stall", _stall),
    ("DELETE", "/__sim/stall", _clear_stall),
    ("POST", "/__sim/quote", _quote),
    ("DELETE", "/__sim/quote", _release_quote),
    ("POST", "/__sim/order", _place_order),
    ("DELETE", "/__sim/order", _cancel_order),
    ("POST", "/__sim/market_closed", _market_closed),
    ("DELETE", "/__sim/market_closed", _market_open),
    ("POST", "/__sim/history_pacing", _history_pacing),
]


def control_app(sim: TwsSimulator) -> web.Application:
    app = web.Application()
    app[SIM_KEY] = sim
    for method, path, handler in CONTROLS:
        app.router.add_route(method, path, handler)
    return app
