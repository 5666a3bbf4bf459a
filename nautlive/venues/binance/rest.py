"""The venue's own account over signed REST: balances, open orders, order status, trades, cancels.

LIVE plans from what these calls return, not from the user stream (a cache that a venue restart or a dropped
listen key silently empties). Plain aiohttp with HMAC signing, so every call has a deadline and no error message
ever carries a signed URL.
"""

from __future__ import annotations

import sys
import time
import urllib.parse
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import msgspec

from nautlive.errors import RuntimeFailure
from nautlive.venues.binance.keys import signer
from nautlive.venues.binance.limits import IpBanned, VenueDown, gate_for, weight_of
from nautlive.venues.binance.urls import endpoints

__all__ = ["Balance", "BinanceRest", "IpBanned", "VenueDown", "VenueError", "VenueOrder", "VenueTrade"]

# Transient answers worth a retry after a backoff (rate limits, the venue busy or timing out); anything else is final.
TRANSIENT_CODES = frozenset({-1000, -1001, -1003, -1006, -1007, -1008, -1015, -1021})


class VenueError(RuntimeFailure):
    """The venue answered with a Binance error code."""

    def __init__(self, code: int, msg: str, path: str) -> None:
        super().__init__(f"{path}: Binance error {code}: {msg}")
        self.code = code
        self.msg = msg

    @property
    def transient(self) -> bool:
        return self.code in TRANSIENT_CODES


class Balance(msgspec.Struct, frozen=True):
    asset: str
    free: Decimal
    locked: Decimal

    @property
    def total(self) -> Decimal:
        return self.free + self.locked


class VenueOrder(msgspec.Struct, frozen=True):
    """One order as the venue reports it (open orders, allOrders, a status query)."""

    symbol: str
    orderId: int  # noqa: N815 - Binance's field names
    clientOrderId: str  # noqa: N815
    side: str
    type: str
    status: str
    origQty: Decimal  # noqa: N815
    executedQty: Decimal  # noqa: N815
    price: Decimal = Decimal(0)
    time: int = 0

    @property
    def terminal(self) -> bool:
        return self.status in ("FILLED", "CANCELED", "REJECTED", "EXPIRED", "EXPIRED_IN_MATCH")


class VenueTrade(msgspec.Struct, frozen=True):
    """One execution of an order (myTrades)."""

    symbol: str
    id: int
    orderId: int  # noqa: N815
    price: Decimal
    qty: Decimal
    commission: Decimal
    commissionAsset: str  # noqa: N815
    time: int
    isBuyer: bool  # noqa: N815


class _Account(msgspec.Struct):
    balances: list[Balance]


def _stderr(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


class ApiRestrictions(msgspec.Struct, frozen=True):
    """What the key may do (GET /sapi/v1/account/apiRestrictions)."""

    ipRestrict: bool = False  # noqa: N815 - Binance's field names
    enableWithdrawals: bool = False  # noqa: N815
    enableSpotAndMarginTrading: bool = False  # noqa: N815
    enableReading: bool = True  # noqa: N815


def unreachable_hint(base_url: str) -> str:
    host = urllib.parse.urlsplit(base_url).hostname or ""
    if host in ("127.0.0.1", "localhost", "::1"):
        return "is `nautlive sim` running?"
    return "check the network and the venue's status page"


def transport_failure(exc: BaseException, base_url: str, timeout: float) -> str:
    """Why a request got no answer (a timeout or an aiohttp error), with what to check."""
    import aiohttp

    if isinstance(exc, TimeoutError):
        reason = f"no answer within {timeout:g} s"
    else:
        reason = "connection refused" if isinstance(exc, aiohttp.ClientConnectorError) else type(exc).__name__
    return f"{reason} ({unreachable_hint(base_url)})"


class BinanceRest:
    """Signed Spot REST calls with a deadline each; one aiohttp session per instance (close() it)."""

    def __init__(self, base_url: str, api_key: str, api_secret: str, timeout: float = 10.0,
                 say: Callable[[str], None] | None = None) -> None:
        self.base_url = base_url.rstrip("/")
        self._say = say  # told when a request waits a second or more for the venue's request limit
        self._key = api_key
        self._sign = signer(api_secret) if api_secret else None
        self._timeout = timeout
        self._session = None

    @classmethod
    def for_profile(cls, profile, timeout: float | None = None) -> BinanceRest:  # noqa: ANN001
        from nautlive.core.writable import lock_dir

        settings = profile.binance
        base = endpoints(settings).http
        gate_for(base).remember_bans(lock_dir(profile))  # an IP ban outlives the run that met it
        return cls(base, settings.api_key or "", settings.api_secret or "",
                   timeout if timeout is not None else profile.live.connect_timeout, say=_stderr)

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def balances(self) -> dict[str, Balance]:
        account = msgspec.convert(await self._signed("GET", "/api/v3/account"), _Account, strict=False)
        return {b.asset: b for b in account.balances}

    async def open_orders(self, symbol: str) -> list[VenueOrder]:
        answer = await self._signed("GET", "/api/v3/openOrders", {"symbol": symbol})
        return msgspec.convert(answer, list[VenueOrder], strict=False)

    async def order(self, symbol: str, client_order_id: str) -> VenueOrder | None:
        """The order's status, or None when the venue does not know it (-2013)."""
        try:
            answer = await self._signed("GET", "/api/v3/order", {"symbol": symbol, "origClientOrderId": client_order_id})
        except VenueError as exc:
            if exc.code == -2013:
                return None
            raise
        return msgspec.convert(answer, VenueOrder, strict=False)

    async def cancel(self, symbol: str, client_order_id: str) -> VenueOrder | None:
        """Cancel; None when the order is unknown or already terminal (-2011), which the caller checks by query."""
        try:
            answer = await self._signed("DELETE", "/api/v3/order", {"symbol": symbol,
                                                                    "origClientOrderId": client_order_id})
        except VenueError as exc:
            if exc.code in (-2011, -2013):
                return None
            raise
        return msgspec.convert(answer, VenueOrder, strict=False)

    async def all_orders(self, symbol: str, start_ms: int) -> list[VenueOrder]:
        answer = await self._signed("GET", "/api/v3/allOrders", {"symbol": symbol, "startTime": str(start_ms),
                                                                 "limit": "1000"})
        return msgspec.convert(answer, list[VenueOrder], strict=False)

    async def trades(self, symbol: str, start_ms: int) -> list[VenueTrade]:
        answer = await self._signed("GET", "/api/v3/myTrades", {"symbol": symbol, "startTime": str(start_ms),
                                                                "limit": "1000"})
        return msgspec.convert(answer, list[VenueTrade], strict=False)

    async def exchange_info(self, symbols: list[str]) -> bytes:
        """The public exchangeInfo of these symbols, raw (decoded with Nautilus's schema by the caller); its
        `rateLimits` set the request weight the gate allows."""
        answer = await self._request("GET", "/api/v3/exchangeInfo", {"symbols": msgspec.json.encode(symbols).decode()},
                                     signed=False)
        if isinstance(answer, dict) and isinstance(answer.get("rateLimits"), list):
            gate_for(self.base_url).configure(answer["rateLimits"])
        return msgspec.json.encode(answer)

    async def api_restrictions(self) -> ApiRestrictions:
        return msgspec.convert(await self._signed("GET", "/sapi/v1/account/apiRestrictions"), ApiRestrictions,
                               strict=False)

    async def _signed(self, method: str, path: str, params: dict[str, str] | None = None) -> Any:
        return await self._request(method, path, dict(params or {}), signed=True)

    async def _request(self, method: str, path: str, params: dict[str, str], signed: bool) -> Any:
        """One call through the endpoint's gate: never before a 429's Retry-After, never during a 418 ban (IpBanned),
        and within the request weight of the window."""
        import aiohttp

        gate = gate_for(self.base_url)
        await gate.admit(weight_of(method, path, params), self._say)
        if signed:
            params["timestamp"] = str(int(time.time() * 1000))
            params["recvWindow"] = "5000"
            query = urllib.parse.urlencode(params)
            params["signature"] = self._sign(query) if self._sign else ""
        if self._session is None:
            self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=self._timeout))
        url = f"{self.base_url}{path}?{urllib.parse.urlencode(params)}"
        try:
            async with self._session.request(method, url, headers={"X-MBX-APIKEY": self._key}) as response:
                body = await response.read()
        except (TimeoutError, aiohttp.ClientError) as exc:
            raise VenueDown(f"{self.base_url}: {transport_failure(exc, self.base_url, self._timeout)}") from None
        gate.answered(response.status, response.headers, body)
        if response.status == 418:
            raise IpBanned(self.base_url, gate.until)
        try:
            answer = msgspec.json.decode(body)
        except msgspec.DecodeError:
            raise VenueDown(f"{self.base_url}{path}: HTTP {response.status}, not JSON") from None
        if isinstance(answer, dict) and "code" in answer and response.status >= 400:
            raise VenueError(int(answer["code"]), str(answer.get("msg", "")), path)
        if response.status >= 400:
            raise VenueDown(f"{self.base_url}{path}: HTTP {response.status}")
        return answer
