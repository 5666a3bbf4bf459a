"""The market side of the simulated venue: symbols and their rules, a touch and an L2 book per symbol, public trades.

Each symbol serves one L2 book (nautlive.sim.books): the one market orders walk, `GET /api/v3/depth` answers and
`<symbol>@depth@100ms` follows. A replayed recording drives it line by line as a client would build it with
nautlive.data.book (each depth diff applied, each bookTicker setting the touch, from the recording's first line; each pass
of a looped recording starts afresh). A seeded random walk, or a quote pinned by `set_quote`, makes it book.ladder
around the touch. Every change goes out through `on_market` (the bookTicker, then the depthUpdate) and is then offered
to `_book_moved`, where the exchange matches resting orders. No I/O and no threads: the server sets `on_market` and
drives the feeds.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from decimal import Decimal
from typing import Any

from nautlive.data.book import L2Book
from nautlive.errors import ConfigError
from nautlive.sim.books import SymbolBook, copy_book, ladder_levels
from nautlive.sim.feed import Quote, RandomWalk, Recorded, TradePrint
from nautlive.sim.klines import Klines
from nautlive.sim.rules import DEFAULT_HEADER, SymbolRules, fmt8, rules_from_symbol
from nautlive.sim.wire import INVALID_SYMBOL, BinanceReject, Rejected, answers, wrap_stream

RECENT_TRADES = 1000
DEFAULT_TICK = Decimal("0.01")


class MarketData:
    """Symbols (exchangeInfo objects and the rules read from them), touches, books, feeds, trades and klines."""

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
        self.books: dict[str, Quote] = {}  # the touch: what bookTicker says
        self.depth: dict[str, SymbolBook] = {}  # the L2 book served and walked
        self.recorded: dict[str, L2Book] = {}  # a replayed symbol's book as its recording builds it
        self.recorded_touch: dict[str, Quote] = {}
        self.walks: dict[str, RandomWalk] = {}
        self.replayed: set[str] = set()
        self.held: set[str] = set()
        self.recent_trades: dict[str, deque[TradePrint]] = {}
        self.klines: dict[str, Klines] = {}
        self.on_market: Callable[[str, str], None] = lambda stream, text: None
        self._seed = seed
        self._clock = clock
        self._next_trade_id = 1

    def now_ms(self) -> int:
        return int(self._clock() * 1000)

    def ensure_book(self, symbol: str) -> Quote:
        """The symbol's touch, starting a random walk (and its ladder) at its reference price the first time."""
        if symbol not in self.books:
            walk = self.walks[symbol] = RandomWalk(self.rules[symbol], self._seed)
            quote = self.books[symbol] = walk.quote()
            self.depth[symbol] = SymbolBook(symbol)
            # the opening ladder is in the first snapshot but not published (nobody can follow the book yet)
            self.depth[symbol].become(*ladder_levels(quote, self._tick(symbol)), self.now_ms())
        return self.books[symbol]

    def order_book(self, symbol: str) -> L2Book:
        """The L2 book orders of `symbol` execute against."""
        self.ensure_book(symbol)
        return self.depth[symbol].book

    def consume(self, symbol: str, side: str, fills: list[tuple[Decimal, Decimal]]) -> None:
        """Our taker fills take their size off the served book's levels (a depth diff out, and a bookTicker if the
        touch moved): gone until the feed sets those levels again (a recorded diff or snapshot, a new ladder)."""
        served = self.depth[symbol]
        levels = served.book.asks if side == "BUY" else served.book.bids
        left = [(px, max(levels.get(px, Decimal(0)) - qty, Decimal(0))) for px, qty in fills]
        diff = served.apply([], left, self.now_ms()) if side == "BUY" else served.apply(left, [], self.now_ms())
        self._publish_depth(symbol, diff)
        book = served.book
        bid, ask = book.best_bid(), book.best_ask()
        if bid is None or ask is None:
            return
        touch = Quote(bid, book.bids[bid], ask, book.asks[ask])
        if touch != self.books.get(symbol):
            self.books[symbol] = touch
            self._publish_quote(symbol)

    # -- the synthetic walk and pinned quotes ------------------------------------------------------------------

    def step_walks(self) -> None:
        """Move every walked symbol one step (held ones repeat their quote) and publish its quote and maybe a trade."""
        for symbol, walk in list(self.walks.items()):
            if symbol in self.replayed:
                continue
            if symbol in self.held:
                self._publish_quote(symbol)
                continue
            self.apply_quote(symbol, walk.step())
            book = self.books[symbol]
            self._klines(symbol).mark(self.now_ms(), (book.bid + book.ask) / 2)
            trade = walk.trade_size()
            if trade is not None:
                qty, buyer_is_maker = trade
                price = book.bid if buyer_is_maker else book.ask
                self.apply_trade(symbol, TradePrint(self._next_trade_id, price, qty, self.now_ms(), buyer_is_maker))
                self._next_trade_id += 1

    def apply_quote(self, symbol: str, quote: Quote) -> None:
        """A new synthetic touch (ignored while the symbol is held by set_quote): the book becomes book.ladder
        around it; publish both, match resting orders."""
        if symbol in self.held:
            self._publish_quote(symbol)
            return
        self.books[symbol] = quote
        diff = self.depth[symbol].become(*ladder_levels(quote, self._tick(symbol)), self.now_ms())
        self._publish_quote(symbol)
        self._publish_depth(symbol, diff)
        self._book_moved(symbol)

    @answers
    def set_quote(
        self, symbol: str, bid: Decimal, ask: Decimal, bid_qty: Decimal | None = None, ask_qty: Decimal | None = None
    ) -> Quote | BinanceReject:
        """Pin the symbol's touch, its book a ladder around it (the feed keeps publishing it unchanged) until
        `release_quote`."""
        rules = self._rules(symbol)
        current = self.ensure_book(symbol)
        served = self.depth[symbol]
        if served.book is self.recorded.get(symbol):
            served.book = copy_book(served.book)  # the recording goes on building its own book meanwhile
        self.held.discard(symbol)
        quote = Quote(bid, bid_qty or current.bid_qty, ask, ask_qty or current.ask_qty)
        self.apply_quote(rules.symbol, quote)
        self.held.add(symbol)
        return quote

    def release_quote(self, symbol: str) -> None:
        """Let the feed move the symbol again: a random walk goes on from the pinned price, a replayed symbol takes
        its recording's book and touch back."""
        self.held.discard(symbol)
        if symbol in self.replayed:
            recorded, served = self.recorded[symbol], self.depth[symbol]
            diff = served.become(recorded.levels("bid"), recorded.levels("ask"), self.now_ms())
            served.book = recorded
            self.books[symbol] = self.recorded_touch.get(symbol, self.books[symbol])
            self._publish_quote(symbol)
            self._publish_depth(symbol, diff)
            self._book_moved(symbol)
        elif symbol in self.walks:
            self.walks[symbol] = RandomWalk(self.rules[symbol], self._seed, start=self.books[symbol].bid)

    # -- replayed recordings -----------------------------------------------------------------------------------

    def attach_recording(self, recording: list[Recorded]) -> None:
        """Quote the recording's symbols from it instead of a walk: the first recorded quote is the opening touch,
        the book starts empty and is built by the lines as they are replayed."""
        symbols = {item.symbol for item in recording}
        unknown = sorted(symbols - set(self.rules))
        if unknown:
            raise ConfigError(f"replay: symbol {', '.join(unknown)} is not among the simulator's symbols")
        opening: dict[str, Quote] = {}
        for item in recording:
            if item.quote is not None:
                opening.setdefault(item.symbol, item.quote)
        unquoted = sorted(symbols - set(opening))
        if unquoted:
            raise ConfigError(f"replay: no @bookTicker line quotes {', '.join(unquoted)}: nothing to open its book at")
        for symbol in symbols - self.replayed:
            self.replayed.add(symbol)
            self.walks.pop(symbol, None)
            self.recorded[symbol] = L2Book()
            self.depth[symbol] = SymbolBook(symbol, self.recorded[symbol])
        for symbol, quote in opening.items():
            self.books[symbol] = self.recorded_touch[symbol] = quote

    def rewind_recording(self, symbols: Iterable[str]) -> None:
        """A replay starts (again) from its first line: the symbols' books empty, their trades and klines gone."""
        for symbol in symbols:
            served = self.depth[symbol]
            if served.book is self.recorded[symbol]:
                self._publish_depth(symbol, served.become([], [], self.now_ms()))
            else:
                self.recorded[symbol] = L2Book()
            self.recent_trades.pop(symbol, None)
            self._klines(symbol).clear()

    def apply_recorded(self, item: Recorded) -> None:
        """One replayed line, published as recorded (a depth line as the served book's own diff)."""
        symbol = item.symbol
        following = symbol not in self.held
        if item.trade is not None:
            self.apply_trade(symbol, item.trade, item.text)
        elif item.quote is not None:
            self.recorded_touch[symbol] = item.quote
            if not following:
                self.recorded[symbol].set_top(item.quote.bid, item.quote.bid_qty, item.quote.ask, item.quote.ask_qty)
                self._publish_quote(symbol)
                return
            self.books[symbol] = item.quote
            diff = self.depth[symbol].set_top(item.quote, self.now_ms())
            self.on_market(f"{symbol.lower()}@bookTicker", item.text)
            self._publish_depth(symbol, diff)
            self._book_moved(symbol)
        elif item.depth is not None and item.depth.snapshot:
            if not following:
                self.recorded[symbol].replace(item.depth.bids, item.depth.asks)
                return
            self._publish_depth(symbol, self.depth[symbol].become(item.depth.bids, item.depth.asks, self.now_ms()))
            self._book_moved(symbol)
        elif item.depth is not None:
            if not following:
                self.recorded[symbol].apply(item.depth.bids, item.depth.asks)
                return
            self._publish_depth(symbol, self.depth[symbol].apply(item.depth.bids, item.depth.asks, self.now_ms()))
            self._book_moved(symbol)

    # -- publishing --------------------------------------------------------------------------------------------

    def apply_trade(self, symbol: str, trade: TradePrint, text: str | None = None) -> None:
        """A public trade: remembered, counted in the klines, published on `<symbol>@trade`."""
        self.recent_trades.setdefault(symbol, deque(maxlen=RECENT_TRADES)).append(trade)
        self._klines(symbol).trade(trade.time, trade.price, trade.qty, trade.buyer_is_maker)
        stream = f"{symbol.lower()}@trade"
        if text is None:
            data = {"e": "trade", "E": trade.time, "s": symbol, "t": trade.trade_id, "p": fmt8(trade.price),
                    "q": fmt8(trade.qty), "T": trade.time, "m": trade.buyer_is_maker, "M": True}
            text = wrap_stream(stream, data)
        self.on_market(stream, text)

    def _publish_quote(self, symbol: str) -> None:
        book = self.books[symbol]
        data = {"u": self.depth[symbol].update_id, "s": symbol, "b": fmt8(book.bid), "B": fmt8(book.bid_qty),
                "a": fmt8(book.ask), "A": fmt8(book.ask_qty)}
        self.on_market(f"{symbol.lower()}@bookTicker", wrap_stream(f"{symbol.lower()}@bookTicker", data))

    def _publish_depth(self, symbol: str, diff: dict[str, Any] | None) -> None:
        if diff is not None:
            stream = f"{symbol.lower()}@depth@100ms"
            self.on_market(stream, wrap_stream(stream, diff))

    def _tick(self, symbol: str) -> Decimal:
        return self.rules[symbol].price.step or DEFAULT_TICK

    def _klines(self, symbol: str) -> Klines:
        if symbol not in self.klines:
            self.klines[symbol] = Klines()
        return self.klines[symbol]

    def _book_moved(self, symbol: str) -> None:
        """Called after every change of a symbol's book; the exchange matches its resting orders here."""

    def _rules(self, symbol: str | None) -> SymbolRules:
        if symbol not in self.rules:
            raise Rejected(INVALID_SYMBOL)
        return self.rules[symbol]
