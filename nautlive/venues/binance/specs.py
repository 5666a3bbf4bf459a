"""Binance Spot: exchangeInfo -> InstrumentSpec, decoded with NautilusTrader's own msgspec schema.

Filters map as: PRICE_FILTER -> tick_size; LOT_SIZE -> step_size, min_qty, max_qty; MARKET_LOT_SIZE -> market_max_qty;
NOTIONAL (2023+) or MIN_NOTIONAL (older) -> min_notional and max_notional, where they apply to market orders.
Today's shape decodes too: `permissions: []` beside `permissionSets`, new symbol flags (ignored by the schema), and a
filter type this Nautilus version does not know, which is dropped with a debug line naming it (never an error).
"""

from __future__ import annotations

import functools
from decimal import Decimal
from pathlib import Path

import msgspec

from nautlive.catalog.specs import InstrumentSpec
from nautlive.errors import ConfigError, RuntimeFailure
from nautlive.venues.binance.schema import Ignored, schema, tolerant_symbol
from nautlive.venues.interface import VenueSpecs

VENUE = "BINANCE"


class _ErrorBody(msgspec.Struct):
    code: int
    msg: str


class _Envelope(msgspec.Struct):
    """exchangeInfo with symbols left raw, to decode them one by one when the whole body does not decode."""

    symbols: list[msgspec.Raw]


def specs_from_exchange_info(body: bytes, source: str = "exchangeInfo") -> VenueSpecs:
    """Decode an exchangeInfo body. A symbol this Nautilus version still cannot decode is reported, not fatal."""
    try:
        info = msgspec.json.decode(body, type=schema().exchange_info)
        return VenueSpecs(venue=VENUE, specs={s.symbol: symbol_to_spec(s) for s in info.symbols})
    except msgspec.ValidationError as whole_error:  # a subclass of DecodeError: catch it first
        _raise_if_error_body(body, source)
        return _decode_per_symbol(body, source, whole_error)
    except msgspec.DecodeError:
        raise ConfigError(f"{source}: not JSON (or truncated): cannot read exchangeInfo") from None


def _raise_if_error_body(body: bytes, source: str) -> None:
    try:
        err = msgspec.json.decode(body, type=_ErrorBody)
    except msgspec.MsgspecError:
        return
    raise RuntimeFailure(f"{source}: Binance answered an error instead of exchangeInfo: code {err.code}: {err.msg}")


def _decode_per_symbol(body: bytes, source: str, whole_error: Exception) -> VenueSpecs:
    """Each symbol on its own: as it is, else without the types Nautilus does not know; else it is unreadable."""
    try:
        envelope = msgspec.json.decode(body, type=_Envelope)
    except msgspec.ValidationError:
        raise ConfigError(f"{source}: not an exchangeInfo body: {whole_error}") from None
    symbol_type = schema().symbol_info
    specs: dict[str, InstrumentSpec] = {}
    unreadable: dict[str, str] = {}
    ignored = Ignored()
    for raw in envelope.symbols:
        try:
            symbol = msgspec.json.decode(raw, type=symbol_type)
        except msgspec.ValidationError:
            symbol = tolerant_symbol(msgspec.json.decode(raw), ignored, unreadable)
        if symbol is not None:
            specs[symbol.symbol] = symbol_to_spec(symbol)
    ignored.say(source)
    return VenueSpecs(venue=VENUE, specs=specs, unreadable=unreadable)


def symbol_to_spec(symbol) -> InstrumentSpec:  # noqa: ANN001 - BinanceSpotSymbolInfo, imported lazily
    """One exchangeInfo symbol -> InstrumentSpec."""
    fields: dict[str, object] = {}
    for f in symbol.filters:
        kind = f.filterType.value
        if kind == "PRICE_FILTER":
            fields["tick_size"] = _dec(f.tickSize)
            fields["price_precision"] = _precision(f.tickSize)
        elif kind == "LOT_SIZE":
            fields.update(step_size=_dec(f.stepSize), min_qty=_dec(f.minQty), max_qty=_dec(f.maxQty))
            fields["size_precision"] = _precision(f.stepSize)
        elif kind == "MARKET_LOT_SIZE":
            fields["market_max_qty"] = _dec(f.maxQty)
        elif kind in ("NOTIONAL", "MIN_NOTIONAL"):
            # The strategy sends market orders: record only the limits Binance applies to them.
            if f.applyMinToMarket is not False:
                fields["min_notional"] = _dec(f.minNotional)
            if f.maxNotional is not None and f.applyMaxToMarket is not False:
                fields["max_notional"] = _dec(f.maxNotional)
    return InstrumentSpec(
        instrument_id=f"{symbol.symbol}.{VENUE}",
        status=symbol.status,
        base=symbol.baseAsset,
        quote=symbol.quoteAsset,
        **{k: v for k, v in fields.items() if v is not None},
    )


def read_exchange_info_file(path: str | Path) -> VenueSpecs:
    path = Path(path)
    try:
        body = path.read_bytes()
    except FileNotFoundError:
        raise ConfigError(f"{path}: exchangeInfo file not found") from None
    except IsADirectoryError:
        raise ConfigError(f"{path}: is a directory, expected an exchangeInfo JSON file") from None
    return specs_from_exchange_info(body, source=str(path))


def fetch_exchange_info(base_url_http: str | None, timeout: float = 10.0) -> VenueSpecs:
    """GET /api/v3/exchangeInfo (public, no keys) with NautilusTrader's Binance HTTP client."""
    import asyncio

    base = (base_url_http or "https://api.binance.com").rstrip("/")
    try:
        body = asyncio.run(asyncio.wait_for(_get_exchange_info(base), timeout))
    except TimeoutError:
        raise RuntimeFailure(f"{base}: no answer to exchangeInfo within {timeout:.0f} s") from None
    except Exception as exc:  # noqa: BLE001 - any transport failure is "venue unreachable"
        text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise RuntimeFailure(f"{base}: venue unreachable: {text}") from None
    return specs_from_exchange_info(body, source=f"{base}/api/v3/exchangeInfo")


async def _get_exchange_info(base: str) -> bytes:
    from nautilus_trader.adapters.binance.http.client import BinanceHttpClient
    from nautilus_trader.common.component import LiveClock
    from nautilus_trader.core.nautilus_pyo3 import HttpMethod

    client = BinanceHttpClient(clock=LiveClock(), api_key="", api_secret="", base_url=base)
    return await client.send_request(HttpMethod.GET, "/api/v3/exchangeInfo")


@functools.lru_cache(maxsize=4096)  # a few hundred distinct values among thousands of symbols
def _dec(text: str | None) -> Decimal | None:
    return None if text is None else Decimal(text)


@functools.lru_cache(maxsize=4096)
def _precision(text: str | None) -> int | None:
    """Nautilus sets precision from the decimals in the string: "0.01000000" -> 8."""
    if text is None:
        return None
    _, _, decimals = text.partition(".")
    return len(decimals)


def spec_from_symbol_info(info: dict) -> InstrumentSpec:
    """The spec of a Nautilus Binance instrument, from the raw exchangeInfo symbol it keeps in `info`."""
    return symbol_to_spec(msgspec.convert(info, schema().symbol_info, strict=False))
