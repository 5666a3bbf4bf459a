"""The order book each simulated symbol serves: book.py's L2Book, its update id, and its depth messages.

The same book answers `GET /api/v3/depth`, feeds `<symbol>@depth@100ms` and is walked by market orders (one fill
model, nautlive.data.book). Every change made to it goes out as one depthUpdate whose U and u are the next update id, and
a snapshot carries the id of the last change in it, so a client following Binance's recipe (snapshot, then the diffs
after its lastUpdateId: book.DepthSync) holds exactly this book.
"""

from __future__ import annotations

from decimal import ROUND_DOWN, Decimal
from typing import Any

from nautlive.data.book import Change, L2Book, ladder
from nautlive.sim.feed import Quote
from nautlive.sim.rules import fmt8

DEFAULT_DEPTH_LIMIT = 100
MAX_DEPTH_LIMIT = 5000  # Binance answers at most 5000 levels a side; a larger limit is cut to it
EIGHT_DECIMALS = Decimal("0.00000001")

Levels = list[tuple[Decimal, Decimal]]


class SymbolBook:
    """One symbol's served L2 book and the id of its last change (0: no change yet)."""

    def __init__(self, symbol: str, book: L2Book | None = None) -> None:
        self.symbol = symbol
        self.book = book if book is not None else L2Book()
        self.update_id = 0

    def apply(self, bids: Levels, asks: Levels, now_ms: int) -> dict[str, Any] | None:
        """A depth diff applied to the book; the depthUpdate to publish (None: nothing changed)."""
        return self._diff(self.book.apply(bids, asks), now_ms)

    def set_top(self, quote: Quote, now_ms: int) -> dict[str, Any] | None:
        """A bookTicker's touch set on the book (levels it has passed dropped); the depthUpdate to publish."""
        return self._diff(self.book.set_top(quote.bid, quote.bid_qty, quote.ask, quote.ask_qty), now_ms)

    def become(self, bids: Levels, asks: Levels, now_ms: int) -> dict[str, Any] | None:
        """Make the book exactly these levels; the depthUpdate of the net change (removals and new sizes only)."""
        return self._diff(self.book.replace(bids, asks), now_ms)

    def snapshot(self, limit: int = DEFAULT_DEPTH_LIMIT) -> dict[str, Any]:
        """GET /api/v3/depth: the best `limit` levels a side, best first, with the id of the last change."""
        limit = min(limit, MAX_DEPTH_LIMIT)
        bids, asks = self.book.levels("bid")[:limit], self.book.levels("ask")[:limit]
        return {"lastUpdateId": self.update_id, "bids": _rows(bids), "asks": _rows(asks)}

    def _diff(self, changes: list[Change], now_ms: int) -> dict[str, Any] | None:
        if not changes:
            return None
        self.update_id += 1
        return {"e": "depthUpdate", "E": now_ms, "s": self.symbol, "U": self.update_id, "u": self.update_id,
                "b": [[fmt8(px), fmt8(qty)] for side, px, qty in changes if side == "bid"],
                "a": [[fmt8(px), fmt8(qty)] for side, px, qty in changes if side == "ask"]}


def ladder_levels(quote: Quote, tick: Decimal) -> tuple[Levels, Levels]:
    """book.ladder around a synthetic touch, each side's top size the quote's, sizes cut to 8 decimals (what the wire
    carries) and no price at or below zero."""
    bids = ladder(quote.bid, quote.ask, tick, quote.bid_qty)[0]
    asks = ladder(quote.bid, quote.ask, tick, quote.ask_qty)[1]
    return ([(px, _q8(qty)) for px, qty in bids if px > 0], [(px, _q8(qty)) for px, qty in asks])


def copy_book(book: L2Book) -> L2Book:
    """An independent copy of a book (a pinned symbol stops following its recording's book)."""
    twin = L2Book()
    twin.apply(book.levels("bid"), book.levels("ask"))
    return twin


def walk_quote(book: L2Book, side: str, quote_qty: Decimal, step: Decimal, touch: Decimal) -> tuple[Levels, Decimal]:
    """The fills of a MARKET order for `quote_qty` of the quote asset (quoteOrderQty): each level taken in whole lot
    steps while the money lasts. Also the quantity left unfilled when the visible book runs out first: what the
    money left would buy at the last level's price (at `touch` when the side is empty); 0 when the money ran out."""
    levels = book.levels("ask" if side == "BUY" else "bid")
    step = step or EIGHT_DECIMALS
    fills: Levels = []
    left = quote_qty
    for px, qty in levels:
        take = min(qty, _steps(left / px, step))
        if take > 0:
            fills.append((px, take))
            left -= take * px
        if take < qty:
            return fills, Decimal(0)
    return fills, _steps(left / (levels[-1][0] if levels else touch), step)


def walk_limit(book: L2Book, side: str, quantity: Decimal, limit: Decimal) -> Levels:
    """The fills of an order of `quantity` that takes levels no worse than `limit` (a marketable LIMIT order)."""
    better = (lambda px: px <= limit) if side == "BUY" else (lambda px: px >= limit)
    fills = []
    for px, qty in book.walk(side, quantity):
        if not better(px):
            break
        fills.append((px, qty))
    return fills


def _steps(quantity: Decimal, step: Decimal) -> Decimal:
    return (quantity / step).to_integral_value(ROUND_DOWN) * step


def _rows(levels: Levels) -> list[list[str]]:
    return [[fmt8(px), fmt8(qty)] for px, qty in levels]


def _q8(value: Decimal) -> Decimal:
    return value.quantize(EIGHT_DECIMALS, rounding=ROUND_DOWN)
