"""Where a Binance profile connects: REST, market streams and the WebSocket API, per environment.

The defaults are Binance's hosts as its API docs list them and Nautilus 1.231's adapter has them
(`adapters/binance/common/urls.py`); a profile's binance.base_url_http / base_url_ws / base_url_ws_api override them
(the loopback simulator serves all three on one port: REST, `/stream`, `/ws-api/v3`).
"""

from __future__ import annotations

from typing import NamedTuple
from urllib.parse import urlsplit


class Endpoints(NamedTuple):
    http: str
    ws: str  # market streams' base: the client appends /stream?streams=...
    ws_api: str  # the WebSocket API (session.logon, userDataStream.subscribe), used as is


DEFAULTS = {
    "live": Endpoints("https://api.binance.com", "wss://stream.binance.com:9443",
                      "wss://ws-api.binance.com:443/ws-api/v3"),
    "testnet": Endpoints("https://testnet.binance.vision", "wss://stream.testnet.binance.vision",
                         "wss://ws-api.testnet.binance.vision/ws-api/v3"),
    "demo": Endpoints("https://demo-api.binance.com", "wss://demo-stream.binance.com",
                      "wss://demo-ws-api.binance.com/ws-api/v3"),
}


def endpoints(settings) -> Endpoints:  # noqa: ANN001 - BinanceSettings | None
    """The profile's endpoints: each override, else its environment's default; trailing slashes dropped."""
    default = DEFAULTS[settings.env if settings else "live"]
    chosen = Endpoints(*(getattr(settings, f"base_url_{name}", None) or value
                         for name, value in zip(Endpoints._fields, default, strict=True)))
    return Endpoints(*(url.rstrip("/") for url in chosen))


def url_problem(url: str, schemes: tuple[str, ...]) -> str | None:
    """Why `url` is not a SCHEME://HOST[:PORT] URL of one of `schemes`, or None."""
    expected = " or ".join(f"{s}://" for s in schemes)
    try:
        parts = urlsplit(url)
        port = parts.port  # ValueError when not a number or out of range
    except ValueError:
        return f"{url!r} has no valid numeric port (expected {expected}HOST[:PORT])"
    if parts.scheme.lower() not in schemes:
        return f"{url!r} must start with {expected}"
    if not parts.hostname:
        return f"{url!r} has no host (expected {expected}HOST[:PORT])"
    if port is None and parts.netloc.endswith(":"):
        return f"{url!r} has an empty port (expected {expected}HOST[:PORT])"
    return None
