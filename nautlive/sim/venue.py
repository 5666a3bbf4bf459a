"""BinanceSimulator: the whole simulated Binance Spot venue (market, exchange, API keys) and its faults, with no I/O.

It holds one account (balances, orders, fills), a touch and an L2 book per symbol and each symbol's real exchangeInfo filters,
and answers as Binance does: a result, or a BinanceReject with Binance's HTTP status, code and message. Market data
and user-stream events go out through callbacks the server sets (`on_market`, `on_user_event`, `on_drop`, and
`on_deferred`, which asks for a `flush_deferred` call after some seconds). Methods are not thread-safe: from another
thread use the /__sim/ endpoints (nautlive.sim.controls) or `RunningSimulator.call`.

Faults, each a method here and an endpoint under /__sim/:
  reject_next(code, msg)            the next order is answered with this Binance error, not executed
  stall(seconds | None), clear_stall  REST requests are held (not executed) for seconds, or until cleared
  delay_order_acks(s), clear_ack_delay  POST /api/v3/order executes at once but its REST answer waits s seconds
                                    (applied by the server)
  delay_balance_updates(s), clear_balance_delay  every outboundAccountPosition goes out s seconds late (REST
                                    /api/v3/account is up to date at once); executionReports are not delayed
  silence_user_stream(), clear_user_stream_silence()  no user-stream event is sent; they are dropped, not queued
  refuse_logons(n, code, msg)       the next n WebSocket API session.logon requests are refused with code/msg
  restart()                         every WebSocket dropped (WS API sessions and subscriptions with them), delayed
                                    events lost; balances and orders kept
  place_external_order(spec)        an order placed "on the website", behind the client's back
  fill_open(client_order_id | order_id)  what is left of a resting LIMIT fills at its limit price (maker)
  set_quote / release_quote         pin the touch, the book a ladder around it (a crossing pin fills resting
                                    orders) / let it move again
  drop_connections()                close every WebSocket (the adapter reconnects)
  limits.rate_limit_next / limits.limit_weight  HTTP 429 or 418 with Retry-After on the next requests / a
                                    REQUEST_WEIGHT limit per window (nautlive.sim.limits; the server applies them)
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Mapping
from decimal import Decimal
from typing import Any

from nautlive.sim.exchange import SpotExchange
from nautlive.sim.keys import KeyRing
from nautlive.sim.limits import RequestLimits
from nautlive.sim.rules import fmt8
from nautlive.sim.wire import (
    BinanceReject,
    SimOrder,
    answers,
    fill_json,
    order_json,
)

REQUEST_LOG = 10_000
EXTERNAL_ID_PREFIX = "web_"  # what Binance's website puts before the client order ids it makes up


class BinanceSimulator(SpotExchange):
    """One Binance Spot account on a simulated venue: symbols and their filters, balances, orders, books and faults.

    Takes SpotExchange's arguments: symbols (exchangeInfo objects), balances, and taker_fee, maker_fee, header, seed,
    clock by keyword.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.keys = KeyRing()
        # GET /sapi/v1/account/apiRestrictions: the key's rights (settable through /__sim/api_restrictions)
        self.restrictions: dict[str, bool] = {
            "ipRestrict": True, "enableReading": True, "enableWithdrawals": False, "enableInternalTransfer": False,
            "enableMargin": False, "enableFutures": False, "permitsUniversalTransfer": False,
            "enableVanillaOptions": False, "enableFixApiTrade": False, "enableFixReadOnly": True,
            "enableSpotAndMarginTrading": True, "enablePortfolioMarginTrading": False,
        }
        self.logon_refusals: list[BinanceReject] = []
        self.request_log: deque[dict[str, Any]] = deque(maxlen=REQUEST_LOG)
        self.stall_seconds = 0.0
        self.stalled = False
        self.ack_delay_seconds = 0.0
        self.balance_delay_seconds = 0.0
        self.user_stream_silent = False
        self.restarts = 0
        self.deferred: list[tuple[float, dict[str, Any]]] = []  # (due, by the simulator's clock; user event)
        self.on_drop: Callable[[], int] = lambda: 0
        self.on_deferred: Callable[[float], None] = lambda seconds: None
        self._next_external_id = 1
        self.limits = RequestLimits(self.header, self._clock)  # 429/418 faults and the used weight of REST calls

    def refuses_stream(self, stream: str) -> bool:
        """A stream name without "@" was a listen key: retired with the REST listen key (2026-02-20), so refused."""
        return "@" not in stream

    # -- faults ------------------------------------------------------------------------------------------------

    def stall(self, seconds: float | None = None) -> None:
        """Hold every REST request (not executed yet) for `seconds`, or until `clear_stall` when None."""
        if seconds is None:
            self.stalled = True
        else:
            self.stall_seconds = seconds

    def clear_stall(self) -> None:
        self.stalled = False
        self.stall_seconds = 0.0

    def delay_order_acks(self, seconds: float) -> None:
        """Execute each new order at once (state, user stream) but answer its POST /api/v3/order `seconds` later."""
        self.ack_delay_seconds = _seconds(seconds)

    def clear_ack_delay(self) -> None:
        self.ack_delay_seconds = 0.0

    def delay_balance_updates(self, seconds: float) -> None:
        """Send every outboundAccountPosition `seconds` after the change it reports (executionReports go at once)."""
        self.balance_delay_seconds = _seconds(seconds)

    def clear_balance_delay(self) -> None:
        """New balance events go out at once again; those already delayed keep their time."""
        self.balance_delay_seconds = 0.0

    def silence_user_stream(self) -> None:
        """Drop every user-stream event (orders still execute and REST shows them) until cleared."""
        self.user_stream_silent = True

    def clear_user_stream_silence(self) -> None:
        self.user_stream_silent = False

    def api_restrictions(self) -> dict[str, Any]:
        return {**self.restrictions, "createTime": 1_767_225_600_000}

    def set_restrictions(self, flags: Mapping[str, bool]) -> dict[str, bool]:
        unknown = set(flags) - set(self.restrictions)
        if unknown:
            raise ValueError(f"unknown apiRestrictions flag(s): {', '.join(sorted(unknown))}")
        self.restrictions.update(flags)
        return dict(self.restrictions)

    def refuse_logons(self, count: int = 1, code: int = -2015,
                      msg: str = "Invalid API-key, IP, or permissions for action.") -> None:
        """Refuse the next `count` session.logon requests with this error (a revoked key, a changed IP rule)."""
        self.logon_refusals = [BinanceReject(code, msg, 401 if code == -2015 else 400)] * count

    def next_logon_refusal(self) -> BinanceReject | None:
        return self.logon_refusals.pop(0) if self.logon_refusals else None

    def restart(self) -> dict[str, int]:
        """A venue restart with the same account: every WebSocket dropped (WS API sessions and their user-stream
        subscriptions with them), delayed events lost; balances, orders and fills kept."""
        self.deferred.clear()
        self.restarts += 1
        return {"dropped": self.drop_connections()}

    def drop_connections(self) -> int:
        """Close every WebSocket connection (the adapter reconnects and re-subscribes); returns how many."""
        return self.on_drop()

    @answers
    def place_external_order(self, spec: Mapping[str, Any]) -> SimOrder | BinanceReject:
        """An order placed behind the client's back, exactly as POST /api/v3/order would place it (same filters and
        faults, funds locked for a resting LIMIT): `symbol`, `side`, `type` (LIMIT or MARKET), `quantity`, `price`
        (LIMIT), optional `timeInForce` (GTC) and `clientOrderId` (default web_<n>)."""
        client_order_id = spec.get("clientOrderId")
        if not client_order_id:
            client_order_id = f"{EXTERNAL_ID_PREFIX}{self._next_external_id}"
            self._next_external_id += 1
        params = {"symbol": spec.get("symbol"), "side": spec.get("side"), "type": spec.get("type"),
                  "quantity": spec.get("quantity"), "price": spec.get("price"), "newClientOrderId": client_order_id,
                  "timeInForce": spec.get("timeInForce", "GTC") if spec.get("type") == "LIMIT" else None}
        return self.place_order({name: str(value) for name, value in params.items() if value is not None})

    def flush_deferred(self) -> float | None:
        """Send the delayed user events that are due; returns the seconds until the next one (None: none left)."""
        now = self._clock()
        due = [event for at, event in self.deferred if at <= now]
        self.deferred = [(at, event) for at, event in self.deferred if at > now]
        for event in due:
            self._send(event)
        return min(at for at, _ in self.deferred) - now if self.deferred else None

    # -- inspection --------------------------------------------------------------------------------------------

    def log_call(self, method: str, path: str, params: Mapping[str, str], api_key: bool) -> None:
        """Log one REST call, noting whether it carried an X-MBX-APIKEY header."""
        self.log_request(method, path, params)
        self.request_log[-1]["api_key"] = api_key

    def log_request(self, method: str, path: str, params: Mapping[str, str]) -> None:
        """Log one REST call: its parameters and whether it was signed (a `signature` parameter)."""
        self.request_log.append({"time": self.now_ms(), "method": method, "path": path, "params": dict(params),
                                 "signed": "signature" in params, "api_key": False})

    def state(self) -> dict[str, Any]:
        """Balances, orders, fills, books (touch, last update id, levels a side), faults and the request log (each
        call with `signed` and `api_key`), as JSON-ready data."""
        return {
            "balances": {a: {"free": fmt8(self.free.get(a, Decimal(0))), "locked": fmt8(self.locked.get(a, Decimal(0)))}
                         for a in sorted(self._assets())},
            "orders": [order_json(o) for o in self.orders.values()],
            "fills": [fill_json(f) for f in self.fills],
            "books": {s: {"bid": fmt8(q.bid), "ask": fmt8(q.ask), "update_id": self.depth[s].update_id,
                          "levels": [len(self.depth[s].book.bids), len(self.depth[s].book.asks)]}
                      for s, q in self.books.items()},
            "held": sorted(self.held),
            "pending_reject": self.pending_reject.body() if self.pending_reject else None,
            "stall": {"seconds": self.stall_seconds, "until_cleared": self.stalled},
            "ack_delay": self.ack_delay_seconds,
            "balance_delay": self.balance_delay_seconds,
            "user_stream_silent": self.user_stream_silent,
            "deferred_events": len(self.deferred),
            "restarts": self.restarts,
            "limits": self.limits.state(),
            "logon_refusals": len(self.logon_refusals),
            "requests": list(self.request_log),
        }

    # -- user events through the faults -------------------------------------------------------------------------

    def _emit(self, event: dict[str, Any]) -> None:
        if event["e"] == "outboundAccountPosition" and self.balance_delay_seconds > 0:
            self.deferred.append((self._clock() + self.balance_delay_seconds, event))
            self.on_deferred(self.balance_delay_seconds)
            return
        self._send(event)

    def _send(self, event: dict[str, Any]) -> None:
        if not self.user_stream_silent:
            self.on_user_event(event)


def _seconds(value: float) -> float:
    seconds = float(value)
    if not seconds >= 0 or seconds == float("inf"):
        raise ValueError(f"seconds: expected a non-negative number, got {value!r}")
    return seconds
