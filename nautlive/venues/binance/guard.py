"""Nautilus's own Binance REST calls (orders, cancels, its reconciliation queries) through nautlive's request gate.

What nautlive can enforce there: Nautilus's BinanceHttpClient sends every REST request through one pyo3 HttpClient
(`_client`), so that object is wrapped: each request waits for the gate (the Retry-After of a 429, the weight of the
window) or, during an IP ban (418), is refused locally with a BinanceClientError(418) that Nautilus handles as the
venue's own answer (the order is rejected: nothing is sent). Each answer's status teaches the gate; Nautilus 1.231's
HttpResponse hands over no headers, so after its 429 the gate waits for the end of the weight window and after its
418 for the ban's end its message names (Binance's "IP banned until <ms>"). What it cannot: Nautilus's WebSocket traffic (market streams, the WebSocket API's user stream) has limits of its own
that this gate does not count.
"""

from __future__ import annotations

import urllib.parse
from collections.abc import Callable

from nautlive.venues.binance.limits import Gate, IpBanned, gate_for, weight_of


class GuardedHttpClient:
    """Stands in for the pyo3 HttpClient of a Nautilus BinanceHttpClient: the gate before, its lessons after."""

    def __init__(self, inner, gate: Gate) -> None:  # noqa: ANN001
        self.inner = inner
        self.gate = gate

    async def request(self, method, url: str, headers=None, body=None, keys=None, **kwargs):  # noqa: ANN001, ANN003, ANN201
        from nautilus_trader.adapters.binance.http.error import BinanceClientError

        parts = urllib.parse.urlsplit(url)
        verb = str(method).rsplit(".", 1)[-1].upper()
        params = dict(urllib.parse.parse_qsl(parts.query))
        try:
            await self.gate.admit(weight_of(verb, parts.path, params))
        except IpBanned as banned:
            raise BinanceClientError(418, {"code": -1003, "msg": str(banned)}, {}) from None
        response = await self.inner.request(method, url, headers=headers, body=body, keys=keys, **kwargs)
        self.gate.answered(response.status, dict(response.headers or {}), response.body)
        return response

    def __getattr__(self, name: str):  # noqa: ANN204 - anything else as the wrapped client has it
        return getattr(self.inner, name)


def guard_node(node, base_url: str, stop: Callable[[int, str], None]) -> Gate:  # noqa: ANN001
    """Route the node's Binance REST clients through the endpoint's gate; an IP ban stops the session (exit 1)."""
    gate = gate_for(base_url)
    kernel = node.kernel
    for client in [*kernel.exec_engine._clients.values(), *kernel.data_engine._clients.values()]:
        http = getattr(client, "_http_client", None)
        if http is not None and not isinstance(getattr(http, "_client", None), GuardedHttpClient | None):
            http._client = GuardedHttpClient(http._client, gate)
    gate.on_ban.append(lambda banned: stop(1, f"{banned}: session stopped"))
    return gate
