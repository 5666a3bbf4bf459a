"""The simulated venue's WebSocket API at `/ws-api/v3`: sessions, and the user data stream on them.

What Binance documents (binance-spot-api-docs, web-socket-api.md and its CHANGELOG up to 2026), served here:
  session.logon                      apiKey, timestamp, signature (recvWindow): Ed25519 keys only; an HMAC-signed or
                                     wrongly signed logon is refused with -1022
  session.status, session.logout     the session's key (logout ends its subscriptions with eventStreamTerminated)
  userDataStream.subscribe           only on a session logged on with an Ed25519 key -> {"subscriptionId": N}
  userDataStream.subscribe.signature apiKey, timestamp, signature: any key type, no logon needed
  userDataStream.unsubscribe         (subscriptionId, or all) -> {}, then eventStreamTerminated
  ping                               -> {}
Requests are `{"id", "method", "params"}`; answers `{"id", "status": 200, "result"}` or
`{"id", "status", "error": {"code", "msg"}}`; user events go out as `{"subscriptionId": N, "event": {...}}`.
The server pings every 20 s (aiohttp heartbeat) and answers the client's pings.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from aiohttp import web

from nautlive.sim.hub import Connection, Hub
from nautlive.sim.keys import KeyType, signed_payload
from nautlive.sim.wire import BinanceReject

PATH = "/ws-api/v3"
HEARTBEAT = 20.0  # Binance pings every 20 s
DEFAULT_RECV_WINDOW = 5000
MAX_RECV_WINDOW = 60_000
INVALID_SIGNATURE = BinanceReject(-1022, "Signature for this request is not valid.")
REJECTED_KEY = BinanceReject(-2015, "Invalid API-key, IP, or permissions for action.", 401)


class ApiConnection(Connection):
    """One WebSocket API socket: the key it logged on with, when, and its user-stream subscriptions."""

    def __init__(self, ws: web.WebSocketResponse, connected_ms: int) -> None:
        super().__init__(ws)
        self.api_key: str | None = None
        self.key_type: KeyType | None = None
        self.connected_ms = connected_ms
        self.authorized_ms: int | None = None
        self.next_subscription = 0


class Refused(Exception):
    def __init__(self, reject: BinanceReject) -> None:
        super().__init__(reject.msg)
        self.reject = reject


async def serve_ws_api(request: web.Request, hub: Hub) -> web.WebSocketResponse:
    ws = web.WebSocketResponse(heartbeat=HEARTBEAT)
    await ws.prepare(request)
    conn = ApiConnection(ws, hub.sim.now_ms())
    await hub.serve(conn, lambda text: handle(hub, conn, text))
    return ws


def handle(hub: Hub, conn: ApiConnection, text: str) -> list[str]:
    """The frames to send back for one request frame (an answer, maybe followed by events)."""
    try:
        request = json.loads(text)
        request_id, method, params = request.get("id"), request["method"], request.get("params") or {}
        if not isinstance(params, dict):
            raise TypeError
    except (json.JSONDecodeError, KeyError, TypeError, AttributeError):
        return [_error(None, BinanceReject(-1000, "Invalid JSON request: expected {\"id\", \"method\", \"params\"}."))]
    hub.sim.log_call("WS", method, {k: str(v) for k, v in params.items()}, api_key=conn.api_key is not None)
    handler = METHODS.get(method)
    if handler is None:
        return [_error(request_id, BinanceReject(-1020, f"Unsupported operation: {method}."))]
    try:
        result, after = handler(hub, conn, params)
    except Refused as exc:
        return [_error(request_id, exc.reject)]
    return [json.dumps({"id": request_id, "status": 200, "result": result}), *after]


def _error(request_id: Any, reject: BinanceReject) -> str:
    return json.dumps({"id": request_id, "status": reject.status, "error": reject.body()})


def _verified(hub: Hub, params: dict[str, Any]) -> tuple[str, KeyType]:
    """The api key and the kind of key that signed `params`, after Binance's checks (key, timestamp, signature)."""
    api_key, signature = str(params.get("apiKey", "")), str(params.get("signature", ""))
    if not api_key or not signature or "timestamp" not in params:
        missing = next(k for k in ("apiKey", "signature", "timestamp") if not params.get(k))
        raise Refused(BinanceReject(-1102, f"Mandatory parameter '{missing}' was not sent, was empty/null, or "
                                           "malformed."))
    if not hub.sim.keys.knows(api_key):
        raise Refused(REJECTED_KEY)
    _check_timestamp(hub, params)
    kind = hub.sim.keys.verify(api_key, signed_payload(params), signature)
    if kind is None:
        raise Refused(INVALID_SIGNATURE)
    return api_key, kind


def _check_timestamp(hub: Hub, params: dict[str, Any]) -> None:
    try:
        timestamp = int(params["timestamp"])
        window = int(params.get("recvWindow", DEFAULT_RECV_WINDOW))
    except (TypeError, ValueError):
        raise Refused(BinanceReject(-1100, "Illegal characters found in parameter 'timestamp'.")) from None
    if window > MAX_RECV_WINDOW:
        raise Refused(BinanceReject(-1131, "recvWindow must be less than 60000."))
    timestamp_ms = timestamp // 1000 if timestamp > 10**14 else timestamp  # microseconds are accepted too
    now = hub.sim.now_ms()
    if timestamp_ms > now + 1000 or now - timestamp_ms > window:
        raise Refused(BinanceReject(-1021, "Timestamp for this request is outside of the recvWindow."))


def _status(hub: Hub, conn: ApiConnection) -> dict[str, Any]:
    return {"apiKey": conn.api_key, "authorizedSince": conn.authorized_ms, "connectedSince": conn.connected_ms,
            "returnRateLimits": False, "serverTime": hub.sim.now_ms(), "userDataStream": bool(conn.subscriptions)}


Answer = tuple[Any, list[str]]


def _logon(hub: Hub, conn: ApiConnection, params: dict[str, Any]) -> Answer:
    refusal = hub.sim.next_logon_refusal()
    if refusal is not None:
        raise Refused(refusal)
    api_key, kind = _verified(hub, params)
    if kind != "ed25519":  # Binance's logon takes Ed25519 keys only; an HMAC-signed one fails as a bad signature
        raise Refused(INVALID_SIGNATURE)
    conn.api_key, conn.key_type, conn.authorized_ms = api_key, kind, hub.sim.now_ms()
    return _status(hub, conn), []


def _logout(hub: Hub, conn: ApiConnection, params: dict[str, Any]) -> Answer:
    ended = _end_subscriptions(hub, conn, set(conn.subscriptions))
    conn.api_key = conn.key_type = conn.authorized_ms = None
    return _status(hub, conn), ended


def _subscribe(hub: Hub, conn: ApiConnection, params: dict[str, Any]) -> Answer:
    if conn.key_type != "ed25519":
        raise Refused(REJECTED_KEY)
    return {"subscriptionId": _new_subscription(conn)}, []


def _subscribe_signature(hub: Hub, conn: ApiConnection, params: dict[str, Any]) -> Answer:
    _verified(hub, params)
    return {"subscriptionId": _new_subscription(conn)}, []


def _new_subscription(conn: ApiConnection) -> int:
    subscription = conn.next_subscription
    conn.next_subscription += 1
    conn.subscriptions.add(subscription)
    return subscription


def _unsubscribe(hub: Hub, conn: ApiConnection, params: dict[str, Any]) -> Answer:
    wanted = params.get("subscriptionId")
    if wanted is None:
        chosen = set(conn.subscriptions)
    else:
        try:  # Binance documents an INT; Nautilus 1.231 sends a numeric string: both are taken
            chosen = {int(wanted)} & conn.subscriptions
        except (TypeError, ValueError):
            raise Refused(BinanceReject(-1100, "Illegal characters found in parameter 'subscriptionId'.")) from None
    return {}, _end_subscriptions(hub, conn, chosen)


def _end_subscriptions(hub: Hub, conn: ApiConnection, chosen: set[int]) -> list[str]:
    conn.subscriptions -= chosen
    return [terminated(hub, subscription) for subscription in sorted(chosen)]


def terminated(hub: Hub, subscription: int) -> str:
    return json.dumps({"subscriptionId": subscription, "event": {"e": "eventStreamTerminated", "E": hub.sim.now_ms()}})


METHODS: dict[str, Callable[[Hub, ApiConnection, dict[str, Any]], Answer]] = {
    "session.logon": _logon,
    "session.status": lambda hub, conn, params: (_status(hub, conn), []),
    "session.logout": _logout,
    "userDataStream.subscribe": _subscribe,
    "userDataStream.subscribe.signature": _subscribe_signature,
    "userDataStream.unsubscribe": _unsubscribe,
    "ping": lambda hub, conn, params: ({}, []),
}
