"""The public market-data endpoints of the simulated venue: exchangeInfo, depth, trades, aggTrades, klines, tickers.

Answers as Binance does, from MarketData's state: a result, or a BinanceReject (-1121 for an unknown symbol, -1120 for
an unknown kline interval). `limit` follows Binance's bounds: depth 100 by default and at most 5000, trades and
aggTrades 500 and at most 1000, klines 500 and at most 1000.
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import Any

from nautlive.sim.books import DEFAULT_DEPTH_LIMIT
from nautlive.sim.feed import Quote, TradePrint
from nautlive.sim.klines import DEFAULT_LIMIT, INTERVALS
from nautlive.sim.market import MarketData
from nautlive.sim.rules import fmt8
from nautlive.sim.wire import BinanceReject, Rejected, answers

INVALID_INTERVAL = BinanceReject(-1120, "Invalid interval.")
MAX_TRADES = 1000

View = Callable[[str, Quote], dict[str, Any]]


class PublicMarket(MarketData):
    """MarketData with Binance's public REST answers."""

    @answers
    def exchange_info(self, symbols: list[str] | None = None) -> dict[str, Any] | BinanceReject:
        """The exchangeInfo body, for all symbols or only those asked (an unknown one is -1121 Invalid symbol)."""
        for name in symbols or []:
            self._rules(name)
        chosen = [self.symbol_info[name] for name in symbols] if symbols else list(self.symbol_info.values())
        return {**self.header, "serverTime": self.now_ms(), "symbols": chosen}

    @answers
    def depth_snapshot(self, symbol: str, limit: int = DEFAULT_DEPTH_LIMIT) -> dict[str, Any] | BinanceReject:
        """GET /api/v3/depth: the served book's best `limit` levels a side and the id of its last change."""
        name = self._rules(symbol).symbol
        self.ensure_book(name)
        return self.depth[name].snapshot(limit)

    @answers
    def trades(self, symbol: str, limit: int = 500) -> list[dict[str, Any]] | BinanceReject:
        """GET /api/v3/trades: the most recent public trades."""
        self._rules(symbol)
        recent = list(self.recent_trades.get(symbol, ()))[-_bounded(limit, MAX_TRADES):]
        return [{"id": t.trade_id, "price": fmt8(t.price), "qty": fmt8(t.qty), "quoteQty": fmt8(t.price * t.qty),
                 "time": t.time, "isBuyerMaker": t.buyer_is_maker, "isBestMatch": True} for t in recent]

    @answers
    def agg_trades(
        self, symbol: str, limit: int = 500, *, from_id: int | None = None, start_ms: int | None = None,
        end_ms: int | None = None,
    ) -> list[dict[str, Any]] | BinanceReject:
        """GET /api/v3/aggTrades: each remembered trade as its own aggregate (a, p, q, f, l, T, m, M); from an id, or
        within [start_ms, end_ms] (oldest first), else the most recent."""
        self._rules(symbol)
        recent = _select(list(self.recent_trades.get(symbol, ())), limit, from_id, start_ms, end_ms)
        return [{"a": t.trade_id, "p": fmt8(t.price), "q": fmt8(t.qty), "f": t.trade_id, "l": t.trade_id,
                 "T": t.time, "m": t.buyer_is_maker, "M": True} for t in recent]

    @answers
    def kline_rows(
        self, symbol: str, interval: str, *, start_ms: int | None = None, end_ms: int | None = None,
        limit: int = DEFAULT_LIMIT,
    ) -> list[list[Any]] | BinanceReject:
        """GET /api/v3/klines from the trades replayed or printed so far (and a synthetic walk's mids)."""
        name = self._rules(symbol).symbol
        if interval not in INTERVALS:
            raise Rejected(INVALID_INTERVAL)
        return self._klines(name).rows(interval, start_ms, end_ms, limit)

    @answers
    def book_tickers(self, symbol: str | None) -> dict[str, Any] | list[dict[str, Any]] | BinanceReject:
        """GET /api/v3/ticker/bookTicker: one symbol's top of book, or every quoted symbol's."""
        return self._per_symbol(symbol, lambda name, book: {
            "symbol": name, "bidPrice": fmt8(book.bid), "bidQty": fmt8(book.bid_qty),
            "askPrice": fmt8(book.ask), "askQty": fmt8(book.ask_qty)})

    @answers
    def price_tickers(self, symbol: str | None) -> dict[str, Any] | list[dict[str, Any]] | BinanceReject:
        """GET /api/v3/ticker/price: the last trade's price, else the mid."""
        return self._per_symbol(symbol, lambda name, book: {"symbol": name, "price": fmt8(self._last_price(name, book))})

    @answers
    def day_tickers(self, symbol: str | None) -> dict[str, Any] | list[dict[str, Any]] | BinanceReject:
        """GET /api/v3/ticker/24hr over the trades the venue remembers (a loopback venue has no full day)."""
        def ticker(name: str, book: Quote) -> dict[str, Any]:
            prints = list(self.recent_trades.get(name, ()))
            prices = [t.price for t in prints] or [self._last_price(name, book)]
            volume = sum((t.qty for t in prints), Decimal(0))
            return {"symbol": name, "openPrice": fmt8(prices[0]), "highPrice": fmt8(max(prices)),
                    "lowPrice": fmt8(min(prices)), "lastPrice": fmt8(prices[-1]), "volume": fmt8(volume),
                    "quoteVolume": fmt8(sum((t.qty * t.price for t in prints), Decimal(0))),
                    "bidPrice": fmt8(book.bid), "askPrice": fmt8(book.ask), "count": len(prints)}

        return self._per_symbol(symbol, ticker)

    def _per_symbol(self, symbol: str | None, view: View) -> dict[str, Any] | list[dict[str, Any]]:
        if symbol is not None:
            name = self._rules(symbol).symbol
            return view(name, self.ensure_book(name))
        return [view(name, book) for name, book in sorted(self.books.items())]

    def _last_price(self, symbol: str, book: Quote) -> Decimal:
        prints = self.recent_trades.get(symbol)
        return prints[-1].price if prints else (book.bid + book.ask) / 2


def _select(trades: list[TradePrint], limit: int, from_id: int | None, start_ms: int | None,
            end_ms: int | None) -> list[TradePrint]:
    limit = _bounded(limit, MAX_TRADES)
    if from_id is not None:
        return [t for t in trades if t.trade_id >= from_id][:limit]
    if start_ms is not None or end_ms is not None:
        lo, hi = start_ms or 0, end_ms if end_ms is not None else 2**63
        return [t for t in trades if lo <= t.time <= hi][:limit]
    return trades[-limit:]


def _bounded(limit: int, most: int) -> int:
    return max(1, min(limit, most))
