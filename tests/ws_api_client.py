"""A raw WebSocket API client for the simulator's tests: log on with a key, subscribe, read user events."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from nautlive.sim.keys import SIM_API_KEY, SIM_PRIVATE_KEY
from nautlive.venues.binance.ws_api import logon_params


async def ws_api_call(ws, method: str, params: dict[str, Any] | None = None, request_id: str = "t") -> dict:  # noqa: ANN001
    """Send one request and return the whole answer frame (events before it are skipped)."""
    await ws.send_str(json.dumps({"id": request_id, "method": method, "params": params or {}}))
    while True:
        answer = json.loads((await asyncio.wait_for(ws.receive(), 5)).data)
        if answer.get("id") == request_id:
            return answer


async def user_stream(client, ws_url: str, api_key: str = SIM_API_KEY, secret: str = SIM_PRIVATE_KEY):  # noqa: ANN001, ANN201
    """A WebSocket API socket logged on with the key and subscribed to the user stream."""
    ws = await client.ws_connect(f"{ws_url}/ws-api/v3")
    logon = await ws_api_call(ws, "session.logon", logon_params(api_key, secret), "logon")
    assert logon["status"] == 200, logon
    subscribed = await ws_api_call(ws, "userDataStream.subscribe", {}, "subscribe")
    assert subscribed["status"] == 200, subscribed
    return ws


async def next_event(ws, timeout: float = 5) -> dict:  # noqa: ANN001
    """The next user event's payload (the frame is {"subscriptionId": N, "event": {...}})."""
    while True:
        frame = json.loads((await asyncio.wait_for(ws.receive(), timeout)).data)
        if "event" in frame:
            return frame["event"]
