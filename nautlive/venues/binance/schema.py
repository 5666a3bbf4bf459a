"""NautilusTrader's own msgspec schema for Binance Spot exchangeInfo, read tolerantly.

The schema's enums are closed: one filter type, exchange filter type or rate limit type this Nautilus version does not
know makes the whole body fail to decode, in our reconcile and in the adapter's instrument provider alike, and Binance
adds such types from time to time (MAX_NUM_ORDER_AMENDS and MAX_NUM_ORDER_LISTS in 2025). Here an unknown one is
dropped, with a debug line naming it, and a symbol without `permissions` (which Binance said it will remove) reads as
`permissions: []`. `tolerate_unknown_types_in_the_adapter` makes the adapter decode through this too.
"""

from __future__ import annotations

import functools
import importlib.util
import logging
import sys
from collections import Counter
from typing import Any

import msgspec

ADAPTER_PACKAGE = "nautilus_trader.adapters.binance"
log = logging.getLogger(__name__)


class Schema(msgspec.Struct, frozen=True):
    exchange_info: type  # BinanceSpotExchangeInfo
    symbol_info: type  # BinanceSpotSymbolInfo
    filter_types: frozenset[str]  # BinanceSymbolFilterType values
    exchange_filter_types: frozenset[str]
    rate_limit_types: frozenset[str]


@functools.cache
def schema() -> Schema:
    """The adapter's schema classes and the values of its enums.

    The schema sits inside the Binance adapter package, whose __init__ imports the adapter's clients, factories and
    configs: a quarter of a second that decoding never uses. When the adapter is not loaded yet, the schema modules are
    loaded under the package without running its __init__, and every module loaded under it is then dropped from
    sys.modules, so a later `import nautilus_trader.adapters.binance` runs in full as if this had not happened.
    """
    if ADAPTER_PACKAGE in sys.modules:
        return _import_schema()
    loaded_before = set(sys.modules)
    sys.modules[ADAPTER_PACKAGE] = importlib.util.module_from_spec(importlib.util.find_spec(ADAPTER_PACKAGE))
    try:
        return _import_schema()
    finally:
        for name in set(sys.modules) - loaded_before:
            if name == ADAPTER_PACKAGE or name.startswith(ADAPTER_PACKAGE + "."):
                del sys.modules[name]


def _import_schema() -> Schema:
    from nautilus_trader.adapters.binance.common import enums
    from nautilus_trader.adapters.binance.spot.schemas.market import BinanceSpotExchangeInfo, BinanceSpotSymbolInfo

    def values(enum: type) -> frozenset[str]:
        return frozenset(e.value for e in enum)

    return Schema(BinanceSpotExchangeInfo, BinanceSpotSymbolInfo, values(enums.BinanceSymbolFilterType),
                  values(enums.BinanceExchangeFilterType), values(enums.BinanceRateLimitType))


class Ignored:
    """What was dropped while decoding, said once per type at the end (`say`)."""

    def __init__(self) -> None:
        self.counts: Counter[tuple[str, str, str]] = Counter()

    def keep_known(self, items: list, key: str, known: frozenset[str], what: str, where: str) -> list:
        """The items whose `key` is a known type; the others counted as (what, type, where)."""
        unknown = [x for x in items if isinstance(x, dict) and x.get(key) not in known]
        self.counts.update((what, str(x.get(key)), where) for x in unknown)
        return [x for x in items if not any(x is u for u in unknown)]

    def say(self, source: str) -> None:
        for (what, kind, where), count in sorted(self.counts.items()):
            log.debug(f"{source}: ignored {what} {kind} {where.format(count)}: not known to this Nautilus version")


def tolerant_symbol(symbol: dict[str, Any], ignored: Ignored, unreadable: dict[str, str]):  # noqa: ANN201
    """One symbol without the filter types Nautilus does not know; None, with the reason in `unreadable`, if it still
    cannot be read."""
    cleaned = dict(symbol)
    if isinstance(cleaned.get("filters"), list):
        cleaned["filters"] = ignored.keep_known(cleaned["filters"], "filterType", schema().filter_types, "filter type",
                                              "on {} symbol(s)")
    cleaned.setdefault("permissions", [])  # "will be empty and will be removed in a future release" (Binance 2024-04)
    try:
        return msgspec.convert(cleaned, schema().symbol_info)
    except msgspec.ValidationError as exc:
        message, _, where = str(exc).partition(" - at `")
        unreadable[str(symbol.get("symbol", "?"))] = f"{message} at {where.rstrip('`').removeprefix('$.') or 'symbol'}"
        return None


def decode_exchange_info(raw: bytes, source: str = "exchangeInfo"):  # noqa: ANN201 - BinanceSpotExchangeInfo
    """The whole body as the adapter's BinanceSpotExchangeInfo, whatever new types it holds (the fast path first).

    A symbol that still cannot be read is left out (said in a debug line): the adapter then does not list it."""
    try:
        return msgspec.json.decode(raw, type=schema().exchange_info)
    except msgspec.ValidationError:
        pass
    body = msgspec.json.decode(raw)
    if not isinstance(body, dict) or not isinstance(body.get("symbols"), list):
        return msgspec.json.decode(raw, type=schema().exchange_info)  # not exchangeInfo: the schema's own error
    ignored, unreadable = Ignored(), {}
    symbols = [s for s in (tolerant_symbol(d, ignored, unreadable) for d in body["symbols"] if isinstance(d, dict))
               if s is not None]
    header = {**body, "symbols": [],
              "exchangeFilters": ignored.keep_known(body.get("exchangeFilters") or [], "filterType",
                                                    schema().exchange_filter_types, "exchange filter type", "({}x)"),
              "rateLimits": ignored.keep_known(body.get("rateLimits") or [], "rateLimitType",
                                               schema().rate_limit_types, "rate limit type", "({}x)")}
    ignored.say(source)
    for name, reason in unreadable.items():
        log.debug(f"{source}: symbol {name} left out: {reason}")
    return msgspec.structs.replace(msgspec.convert(header, schema().exchange_info), symbols=symbols)


def tolerate_unknown_types_in_the_adapter() -> None:
    """Nautilus's Binance Spot exchangeInfo endpoint decodes with `decode_exchange_info` from now on, so a filter type
    Binance adds does not stop a session's instrument loading. Idempotent."""
    from nautilus_trader.adapters.binance.spot.http.market import BinanceSpotExchangeInfoHttp
    from nautilus_trader.core.nautilus_pyo3 import HttpMethod

    if getattr(BinanceSpotExchangeInfoHttp.get, "tolerant", False):
        return

    async def get(self, params=None):  # noqa: ANN001, ANN202 - the signature of the method it replaces
        return decode_exchange_info(await self._method(HttpMethod.GET, params), "Binance exchangeInfo")

    get.tolerant = True
    BinanceSpotExchangeInfoHttp.get = get
