"""Symbol rules of the simulated venue: Binance exchangeInfo symbols, generated from the catalog or read from a capture.

One parser (`rules_from_symbol`) turns an exchangeInfo symbol object into the filters the simulator enforces, so a
generated symbol and a real capture are checked by the same code.
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

import msgspec

from nautlive.catalog.specs import InstrumentSpec
from nautlive.errors import ConfigError

ORDER_TYPES = ["LIMIT", "LIMIT_MAKER", "MARKET", "STOP_LOSS_LIMIT", "TAKE_PROFIT_LIMIT"]
DEFAULT_MAX_PRICE = Decimal("1000000")
DEFAULT_MAX_NOTIONAL = Decimal("9000000")  # Nautilus needs NOTIONAL.maxNotional; Binance's usual, not applied to MARKET
DEFAULT_HEADER: dict[str, Any] = {
    "timezone": "UTC",
    "rateLimits": [
        {"rateLimitType": "REQUEST_WEIGHT", "interval": "MINUTE", "intervalNum": 1, "limit": 6000},
        {"rateLimitType": "ORDERS", "interval": "SECOND", "intervalNum": 10, "limit": 50},
    ],
    "exchangeFilters": [],
}


class Range(msgspec.Struct, frozen=True):
    """A Binance range filter (PRICE_FILTER, LOT_SIZE, MARKET_LOT_SIZE); a zero bound or step disables that check."""

    minimum: Decimal
    maximum: Decimal
    step: Decimal

    def admits(self, value: Decimal) -> bool:
        if self.minimum and value < self.minimum:
            return False
        if self.maximum and value > self.maximum:
            return False
        return not self.step or (value - self.minimum) % self.step == 0


class NotionalRule(msgspec.Struct, frozen=True):
    """NOTIONAL (2023+) or MIN_NOTIONAL (older): price x quantity bounds, each optionally applied to MARKET orders."""

    name: str
    minimum: Decimal
    maximum: Decimal | None
    min_to_market: bool
    max_to_market: bool

    def admits(self, notional: Decimal, market: bool) -> bool:
        if (not market or self.min_to_market) and notional < self.minimum:
            return False
        return self.maximum is None or (market and not self.max_to_market) or notional <= self.maximum


class SymbolRules(msgspec.Struct, frozen=True, kw_only=True):
    """What the venue accepts for one symbol."""

    symbol: str
    base: str
    quote: str
    status: str
    price: Range
    lot: Range
    market_lot: Range | None = None
    notional: NotionalRule | None = None


def rules_from_symbol(symbol: dict[str, Any], source: str = "exchangeInfo") -> SymbolRules:
    """Read the enforced filters of one exchangeInfo symbol; PRICE_FILTER and LOT_SIZE are mandatory, as in Nautilus."""
    name = symbol.get("symbol", "?")
    filters = {f.get("filterType"): f for f in symbol.get("filters", [])}
    try:
        if "PRICE_FILTER" not in filters or "LOT_SIZE" not in filters:
            raise KeyError("PRICE_FILTER and LOT_SIZE filters")
        price = filters["PRICE_FILTER"]
        return SymbolRules(
            symbol=name,
            base=symbol["baseAsset"],
            quote=symbol["quoteAsset"],
            status=symbol.get("status", "TRADING"),
            price=Range(Decimal(price["minPrice"]), Decimal(price["maxPrice"]), Decimal(price["tickSize"])),
            lot=_lot(filters["LOT_SIZE"]),
            market_lot=_lot(filters["MARKET_LOT_SIZE"]) if "MARKET_LOT_SIZE" in filters else None,
            notional=_notional(filters),
        )
    except KeyError as exc:
        raise ConfigError(f"{source}: symbol {name}: missing {exc.args[0]}") from None
    except (InvalidOperation, TypeError):
        raise ConfigError(f"{source}: symbol {name}: a filter value is not a decimal string") from None


def _lot(f: dict[str, Any]) -> Range:
    return Range(Decimal(f["minQty"]), Decimal(f["maxQty"]), Decimal(f["stepSize"]))


def _notional(filters: dict[str, dict[str, Any]]) -> NotionalRule | None:
    if "NOTIONAL" in filters:
        f = filters["NOTIONAL"]
        maximum = f.get("maxNotional")
        return NotionalRule(
            "NOTIONAL",
            Decimal(f["minNotional"]),
            Decimal(maximum) if maximum is not None else None,
            bool(f.get("applyMinToMarket", True)),
            bool(f.get("applyMaxToMarket", False)),
        )
    if "MIN_NOTIONAL" in filters:
        f = filters["MIN_NOTIONAL"]
        return NotionalRule("MIN_NOTIONAL", Decimal(f["minNotional"]), None, bool(f.get("applyToMarket", True)), False)
    return None


def fmt8(value: Decimal) -> str:
    """Binance's decimal strings: always 8 decimals ("0.01000000"), which gives Nautilus instruments precision 8."""
    return f"{value:.8f}"


def symbol_from_spec(spec: InstrumentSpec) -> dict[str, Any]:
    """A Binance-style exchangeInfo symbol for one catalog record (PRICE_FILTER, LOT_SIZE, MARKET_LOT_SIZE, NOTIONAL).

    The catalog records the limits that apply to MARKET orders. An absent min_qty defaults to the step, an absent
    max_qty to 9000 and an absent max_notional to Binance's usual 9000000 not applied to MARKET orders (Nautilus
    cannot read a NOTIONAL filter without maxNotional); an absent market_max_qty leaves MARKET_LOT_SIZE out.
    """
    if spec.tick_size is None or spec.step_size is None or spec.base is None or spec.quote is None:
        needed = "tick_size, step_size, base and quote are needed to simulate it"
        raise ConfigError(f"catalog: {spec.instrument_id}: {needed}")
    filters: list[dict[str, Any]] = [
        {
            "filterType": "PRICE_FILTER",
            "minPrice": fmt8(spec.tick_size),
            "maxPrice": fmt8(DEFAULT_MAX_PRICE),
            "tickSize": fmt8(spec.tick_size),
        },
        {
            "filterType": "LOT_SIZE",
            "minQty": fmt8(spec.min_qty if spec.min_qty is not None else spec.step_size),
            "maxQty": fmt8(spec.max_qty if spec.max_qty is not None else Decimal(9000)),
            "stepSize": fmt8(spec.step_size),
        },
    ]
    if spec.market_max_qty is not None:
        filters.append(
            {"filterType": "MARKET_LOT_SIZE", "minQty": fmt8(Decimal(0)), "maxQty": fmt8(spec.market_max_qty),
             "stepSize": fmt8(Decimal(0))}
        )
    if spec.min_notional is not None or spec.max_notional is not None:
        filters.append(
            {"filterType": "NOTIONAL", "minNotional": fmt8(spec.min_notional or Decimal(0)), "applyMinToMarket": True,
             "maxNotional": fmt8(spec.max_notional or DEFAULT_MAX_NOTIONAL),
             "applyMaxToMarket": spec.max_notional is not None, "avgPriceMins": 5}
        )
    return {
        "symbol": spec.symbol,
        "status": spec.status or "TRADING",
        "baseAsset": spec.base,
        "baseAssetPrecision": 8,
        "quoteAsset": spec.quote,
        "quotePrecision": 8,
        "quoteAssetPrecision": 8,
        "baseCommissionPrecision": 8,
        "quoteCommissionPrecision": 8,
        "orderTypes": ORDER_TYPES,
        "icebergAllowed": True,
        "ocoAllowed": True,
        "quoteOrderQtyMarketAllowed": True,
        "allowTrailingStop": True,
        "cancelReplaceAllowed": True,
        "isSpotTradingAllowed": True,
        "isMarginTradingAllowed": False,
        "filters": filters,
        "permissions": ["SPOT"],
    }


def read_exchange_info(path: str | Path) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """A captured exchangeInfo body split into its header (timezone, rateLimits, ...) and its symbol objects."""
    path = Path(path)
    try:
        body = msgspec.json.decode(path.read_bytes())
    except FileNotFoundError:
        raise ConfigError(f"{path}: exchangeInfo file not found") from None
    except IsADirectoryError:
        raise ConfigError(f"{path}: is a directory, expected an exchangeInfo JSON file") from None
    except msgspec.DecodeError:
        raise ConfigError(f"{path}: not JSON (or truncated): cannot read exchangeInfo") from None
    if not isinstance(body, dict) or not isinstance(body.get("symbols"), list):
        raise ConfigError(f"{path}: expected an exchangeInfo object with a `symbols` list")
    header = {k: v for k, v in body.items() if k not in ("symbols", "serverTime")}
    return {**DEFAULT_HEADER, **header}, body["symbols"]
