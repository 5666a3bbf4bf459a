"""The TWS venue's contracts and quotes: contract details from captures or the catalog, a seeded walk on minTick.

A contract is found the way TWS matches a reqContractDetails query: by conId when given, else every non-empty field
of the query (secType, symbol or localSymbol, exchange, primaryExchange, currency) must agree. Quotes move by whole
ticks; a pinned quote (/__sim/quote) stays until released.
"""

from __future__ import annotations

import random
import zlib
from decimal import ROUND_HALF_EVEN, Decimal

import msgspec

# Known conIds and starting prices; other symbols get a stable conId from their name and start at 100.
KNOWN_CON_IDS = {"AAPL": 265598, "SPY": 756733}
KNOWN_ISINS = {"AAPL": "US0378331005", "SPY": "US78462F1030"}  # Nautilus's equity parser insists on an ISIN
START_PRICES = {"AAPL": Decimal("190.00"), "SPY": Decimal("450.00")}
SPREAD_TICKS = 2
TOP_SIZE = (100, 900)


class Quote(msgspec.Struct):
    bid: Decimal
    ask: Decimal
    bid_size: Decimal
    ask_size: Decimal
    last: Decimal
    last_size: Decimal

    @property
    def mid(self) -> Decimal:
        return (self.bid + self.ask) / 2


def details_from_spec(spec) -> dict:  # noqa: ANN001 - nautlive.catalog.specs.InstrumentSpec
    """Contract details for an instrument with no capture (SPY), from its catalog record: a SMART-routed stock."""
    symbol, venue = spec.instrument_id.rsplit(".", 1)
    local = symbol.replace("-", " ")
    contract = {"conId": con_id_for(local), "symbol": local.split(" ")[0], "secType": "STK", "exchange": "SMART",
                "primaryExchange": venue, "currency": spec.quote, "localSymbol": local, "tradingClass": local}
    return {"contract": contract, "minTick": float(spec.tick_size), "minSize": str(spec.min_qty),
            "sizeIncrement": str(spec.step_size), "suggestedSizeIncrement": str(spec.step_size),
            "marketName": local, "longName": local, "orderTypes": "LMT,MKT,DAY,GTC,IOC",
            "validExchanges": f"SMART,{venue}", "priceMagnifier": 1, "timeZoneId": "US/Eastern", "stockType": "COMMON",
            "aggGroup": 1, "marketRuleIds": "26",
            "secIdList": [{"tag": "ISIN", "value": KNOWN_ISINS.get(local, f"XX{con_id_for(local):010d}")}]}


def con_id_for(symbol: str) -> int:
    return KNOWN_CON_IDS.get(symbol) or 1_000_000 + zlib.crc32(symbol.encode()) % 9_000_000


def matches(query: dict, contract: dict) -> bool:
    """Does a reqContractDetails query name this contract?"""
    if query.get("conId"):
        return int(query["conId"]) == int(contract.get("conId") or 0)
    names = {contract.get("symbol"), contract.get("localSymbol")}
    for key in ("symbol", "localSymbol"):
        if query.get(key) and query[key] not in names:
            return False
    if not (query.get("symbol") or query.get("localSymbol")):
        return False
    for key in ("secType", "currency", "primaryExchange"):
        if query.get(key) and query[key] != contract.get(key):
            return False
    exchange = query.get("exchange")
    return not exchange or exchange in (contract.get("exchange"), contract.get("primaryExchange"))


class Market:
    """Contracts by conId and their quotes, walking by whole ticks from a seed."""

    def __init__(self, details: list[dict], seed: int = 0) -> None:
        self.details = {int(d["contract"]["conId"]): d for d in details}
        self.quotes: dict[int, Quote] = {}
        self.held: set[int] = set()
        self.rng = random.Random(seed)
        self.seed = seed  # also keys the price history (history_bars)
        for con_id, info in self.details.items():
            symbol = info["contract"].get("symbol", "")
            self.quotes[con_id] = self._quote_around(con_id, START_PRICES.get(symbol, Decimal(100)))

    def tick(self, con_id: int) -> Decimal:
        return Decimal(str(self.details[con_id]["minTick"]))

    def contract(self, con_id: int) -> dict:
        return self.details[con_id]["contract"]

    def find(self, query: dict) -> list[dict]:
        return [d for d in self.details.values() if matches(query, d["contract"])]

    def on_tick(self, con_id: int, price: Decimal) -> bool:
        tick = self.tick(con_id)
        return price > 0 and (price / tick) == (price / tick).to_integral_value()

    def _quote_around(self, con_id: int, mid: Decimal) -> Quote:
        tick = self.tick(con_id)
        bid = (mid / tick).quantize(Decimal(1), ROUND_HALF_EVEN) * tick - tick * (SPREAD_TICKS // 2)
        bid = max(bid, tick)
        sizes = [Decimal(self.rng.randrange(*TOP_SIZE, 100)) for _ in range(3)]
        return Quote(bid, bid + tick * SPREAD_TICKS, sizes[0], sizes[1], bid + tick, sizes[2])

    def step(self) -> list[int]:
        """One walk step for every quote not pinned; returns the conIds that moved."""
        moved = []
        for con_id, quote in self.quotes.items():
            if con_id in self.held:
                continue
            tick = self.tick(con_id)
            self.quotes[con_id] = self._quote_around(con_id, quote.mid + tick * self.rng.choice((-2, -1, 0, 1, 2)))
            moved.append(con_id)
        return moved

    def pin(self, con_id: int, bid: Decimal, ask: Decimal, bid_size: Decimal | None = None,
            ask_size: Decimal | None = None) -> Quote:
        old = self.quotes[con_id]
        self.quotes[con_id] = Quote(bid, ask, bid_size or old.bid_size, ask_size or old.ask_size, bid,
                                    old.last_size)
        self.held.add(con_id)
        return self.quotes[con_id]

    def release(self, con_id: int) -> None:
        self.held.discard(con_id)
