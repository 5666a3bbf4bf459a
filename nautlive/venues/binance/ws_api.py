"""nautlive's own look at Binance's WebSocket API before a LIVE node exists: does the venue take our logon?

Nautilus's exec client opens its user stream with `session.logon` then `userDataStream.subscribe`; when the venue
refuses the logon the adapter only logs it and the node says RUNNING with no user stream. So LIVE first logs on
itself, with the same key, and stops with the venue's own reason (exit 1, nothing traded) when refused.
"""

from __future__ import annotations

import itertools
import time
from typing import Any

import msgspec

from nautlive.venues.binance.keys import signer
from nautlive.venues.binance.rest import VenueDown, VenueError, transport_failure

_ids = itertools.count()


async def request(ws, method: str, params: dict[str, Any]) -> dict[str, Any]:  # noqa: ANN001 - aiohttp socket
    """Send one request and return its result; an error answer raises VenueError with Binance's code."""
    request_id = f"nautlive-{next(_ids)}"
    await ws.send_str(msgspec.json.encode({"id": request_id, "method": method, "params": params}).decode())
    while True:
        message = await ws.receive()
        if not isinstance(message.data, str):
            raise VenueDown(f"WebSocket API {method}: the venue closed the connection without an answer")
        answer = msgspec.json.decode(message.data)
        if answer.get("id") != request_id:
            continue  # an event or another answer
        if "error" in answer:
            error = answer["error"]
            raise VenueError(int(error.get("code", 0)), str(error.get("msg", "")), method)
        return answer.get("result") or {}


def logon_params(api_key: str, secret: str) -> dict[str, Any]:
    params: dict[str, Any] = {"apiKey": api_key, "timestamp": int(time.time() * 1000)}
    params["signature"] = signer(secret)("&".join(f"{k}={v}" for k, v in sorted(params.items())))
    return params


async def check_logon(url: str, api_key: str, secret: str, timeout: float) -> None:
    """Log on to the WebSocket API and subscribe to the user stream, then leave; raise with the venue's reason.

    VenueDown when nothing answers; VenueError (code, msg) when Binance refuses the logon or the subscription.
    """
    import aiohttp

    try:
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=timeout)) as session:
            async with session.ws_connect(url, headers={"X-MBX-APIKEY": api_key}) as ws:
                await request(ws, "session.logon", logon_params(api_key, secret))
                subscription = await request(ws, "userDataStream.subscribe", {})
                await request(ws, "userDataStream.unsubscribe",
                              {"subscriptionId": subscription.get("subscriptionId", 0)})
    except (TimeoutError, aiohttp.ClientError) as exc:
        raise VenueDown(f"{url}: WebSocket API: {transport_failure(exc, url, timeout)}") from None
