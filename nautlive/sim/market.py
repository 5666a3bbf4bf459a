"""The market side of the simulated venue: symbols and their rules, a top of book per symbol, public trades.

Books move by a seeded random walk, or by a replayed recording, or are pinned by `set_quote`; every new top of book is
published on `<symbol>@bookTicker` through `on_market` and then offered to `_book_moved` (where the exchange matches
resting orders). No I/O and no threads: the server sets `on_market` and drives the feeds.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from decimal import Decimal
from typing import Any

from nautlive.errors import ConfigError
from nautlive.sim.feed import Quote, RandomWalk, Recorded, TradePrint
from nautlive.sim.rules import DEFAULT_HEADER, SymbolRules, fmt8, rules_from_symbol
from nautlive.sim.wire import INVALID_SYMBOL, BinanceReject, Rejected, answers, wrap_stream

RECENT_TRADES = 1000


class MarketData:
    """Symbols (exchangeInfo objects and the rules read from them), books, feeds and recent public trades."""

    def __init__(
        self,
        symbols: Iterable[dict[str, Any]],
        *,
        header: Mapping[str, Any] | None = None,
        seed: int = 0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.symbol_info = {s["symbol"]: s for s in symbols}
        self.rules = {name: rules_from_symbol(s) for name, s in self.symbol_info.items()}
        self.header = dict(header or DEFAULT_HEADER)
        self.books: dict[str, Quote] = {}
        self.walks: dict[str, RandomWalk] = {}
        self.replayed: set[str] = set()
        self.held: set[str] = set()
        self.recent_trades: dict[str, deque[TradePrint]] = {}
        self.on_market: Callable[[str, str], None] = lambda stream, text: None
        self._seed = seed
        self._clock = clock
        self._next_trade_id = 1
        self._next_update_id = 1

    def now_ms(self) -> int:
        return int(self._clock() * 1000)

    @answers
    def exchange_info(self, symbols: list[str] | None = None) -> dict[str, Any] | BinanceReject:
        """The exchangeInfo body, for all symbols or only those asked (an unknown one is -1121 Invalid symbol)."""
        for name in symbols or []:
            self._rules(name)
        chosen = [self.symbol_info[name] for name in symbols] if symbols else list(self.symbol_info.values())
        return {**self.header, "serverTime": self.now_ms(), "symbols": chosen}


    @answers
    def depth(self, symbol: str) -> dict[str, Any] | BinanceReject:
        book = self.ensure_book(self._rules(symbol).symbol)
        return {"lastUpdateId": self._next_update_id, "bids": [[fmt8(book.bid), fmt8(book.bid_qty)]],
                "asks": [[fmt8(book.ask), fmt8(book.ask_qty)]]}

    @answers
    def trades(self, symbol: str, limit: int = 500) -> list[dict[str, Any]] | BinanceReject:
        self._rules(symbol)
        recent = list(self.recent_trades.get(symbol, ()))[-max(1, limit):]
        return [{"id": t.trade_id, "price": fmt8(t.price), "qty": fmt8(t.qty), "quoteQty": fmt8(t.price * t.qty),
                 "time": t.time, "isBuyerMaker": t.buyer_is_maker, "isBestMatch": True} for t in recent]

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

    @answers
    def agg_trades(self, symbol: str, limit: int = 500) -> list[dict[str, Any]] | BinanceReject:
        """GET /api/v3/aggTrades: each remembered trade as its own aggregate (a, p, q, f, l, T, m, M)."""
        self._rules(symbol)
        recent = list(self.recent_trades.get(symbol, ()))[-max(1, limit):]
        return [{"a": t.trade_id, "p": fmt8(t.price), "q": fmt8(t.qty), "f": t.trade_id, "l": t.trade_id,
                 "T": t.time, "m": t.buyer_is_maker, "M": True} for t in recent]

    def _per_symbol(self, symbol: str | None, view) -> dict[str, Any] | list[dict[str, Any]]:  # noqa: ANN001
        if symbol is not None:
            name = self._rules(symbol).symbol
            return view(name, self.ensure_book(name))
        return [view(name, book) for name, book in sorted(self.books.items())]

    def _last_price(self, symbol: str, book: Quote) -> Decimal:
        prints = self.recent_trades.get(symbol)
        return prints[-1].price if prints else (book.bid + book.ask) / 2

    def ensure_book(self, symbol: str) -> Quote:
        """The symbol's book, starting a random walk at its reference price the first time it is needed."""
        if symbol not in self.books:
            walk = self.walks[symbol] = RandomWalk(self.rules[symbol], self._seed)
            self.books[symbol] = walk.quote()
        return self.books[symbol]

    def step_walks(self) -> None:
        """Move every walked symbol one step (held ones repeat their quote) and publish its quote and maybe a trade."""
        for symbol, walk in list(self.walks.items()):
            if symbol in self.replayed:
                continue
            if symbol in self.held:
                self._publish_quote(symbol)
                continue
            self.apply_quote(symbol, walk.step())
            trade = walk.trade_size()
            if trade is not None:
                qty, buyer_is_maker = trade
                book = self.books[symbol]
                price = book.bid if buyer_is_maker else book.ask
                self.apply_trade(symbol, TradePrint(self._next_trade_id, price, qty, self.now_ms(), buyer_is_maker))
                self._next_trade_id += 1

    def attach_recording(self, recording: list[Recorded]) -> None:
        """Quote the recording's symbol from it (first recorded quote as the opening book) instead of a walk."""
        unknown = sorted({item.symbol for item in recording} - set(self.rules))
        if unknown:
            raise ConfigError(f"replay: symbol {', '.join(unknown)} is not among the simulator's symbols")
        self.replayed.update(item.symbol for item in recording)
        for item in reversed(recording):  # backwards, so each symbol's earliest quote is written last
            if item.quote is not None:
                self.books[item.symbol] = item.quote

    def apply_recorded(self, item: Recorded) -> None:
        if item.quote is not None:
            self.apply_quote(item.symbol, item.quote, item.text)
        elif item.trade is not None:
            self.apply_trade(item.symbol, item.trade, item.text)

    def apply_quote(self, symbol: str, quote: Quote, text: str | None = None) -> None:
        """A new top of book from the feed (ignored while the symbol is held by set_quote): publish, match resting."""
        if symbol in self.held:
            self._publish_quote(symbol)
            return
        self.books[symbol] = quote
        self._next_update_id += 1
        self.on_market(f"{symbol.lower()}@bookTicker", text or self._quote_message(symbol))
        self._book_moved(symbol)

    def apply_trade(self, symbol: str, trade: TradePrint, text: str | None = None) -> None:
        self.recent_trades.setdefault(symbol, deque(maxlen=RECENT_TRADES)).append(trade)
        stream = f"{symbol.lower()}@trade"
        if text is None:
            data = {"e": "trade", "E": trade.time, "s": symbol, "t": trade.trade_id, "p": fmt8(trade.price),
                    "q": fmt8(trade.qty), "T": trade.time, "m": trade.buyer_is_maker, "M": True}
            text = wrap_stream(stream, data)
        self.on_market(stream, text)

    def _publish_quote(self, symbol: str) -> None:
        self._next_update_id += 1
        self.on_market(f"{symbol.lower()}@bookTicker", self._quote_message(symbol))

    def _quote_message(self, symbol: str) -> str:
        book = self.books[symbol]
        data = {"u": self._next_update_id, "s": symbol, "b": fmt8(book.bid), "B": fmt8(book.bid_qty),
                "a": fmt8(book.ask), "A": fmt8(book.ask_qty)}
        return wrap_stream(f"{symbol.lower()}@bookTicker", data)

    # -- orders ------------------------------------------------------------------------------------------------


    @answers
    def set_quote(
        self, symbol: str, bid: Decimal, ask: Decimal, bid_qty: Decimal | None = None, ask_qty: Decimal | None = None
    ) -> Quote | BinanceReject:
        """Pin the symbol's top of book (the feed keeps publishing it unchanged) until `release_quote`."""
        rules = self._rules(symbol)
        current = self.ensure_book(symbol)
        self.held.discard(symbol)
        quote = Quote(bid, bid_qty or current.bid_qty, ask, ask_qty or current.ask_qty)
        self.apply_quote(rules.symbol, quote)
        self.held.add(symbol)
        return quote

    def release_quote(self, symbol: str) -> None:
        """Let the feed move the symbol again; a random walk goes on from the pinned price."""
        self.held.discard(symbol)
        if symbol in self.walks:
            self.walks[symbol] = RandomWalk(self.rules[symbol], self._seed, start=self.books[symbol].bid)


    def _book_moved(self, symbol: str) -> None:
        """Called after every new top of book; the exchange matches its resting orders here."""

    def _rules(self, symbol: str | None) -> SymbolRules:
        if symbol not in self.rules:
            raise Rejected(INVALID_SYMBOL)
        return self.rules[symbol]
