"""An L2 order book kept as Binance documents it, and the walk of a market order through it.

One fill model for SHADOW, BACKTEST and `nautlive sim`: a market order takes the opposite side's levels best first,
each at its own price, until it is filled or the visible book runs out; what the book cannot fill expires, as a Binance
MARKET order does. Liquidity is consumed: what our fills took is gone from those levels until the book's next update
for a level (a depth diff, a touch or a snapshot) sets it again (the simulator takes it off its book, the shadow
sandbox sends the engine the thinner levels, the backtest venue runs with Nautilus's `liquidity_consumption`).

The book is kept from the `@depth@100ms` diff stream (a quantity of 0 removes a level), with `@bookTicker` setting the
touch (and dropping any level the touch has passed: the diff stream lags it), and a REST snapshot where one is taken.
Prices and quantities are any exact ordered numbers: Decimal in the simulator, Nautilus raw integers in the feeds.
No Nautilus import: the simulator and the tests use it as plain data.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right, insort
from collections.abc import Iterable
from typing import Literal

Side = Literal["BUY", "SELL"]
Change = tuple[str, object, object]  # ("bid" | "ask", price, quantity); quantity 0 removes the level

DEEP_SIZE = 1_000_000_000  # a quote this deep fills any order the strategy sends (an L1 book: bar runs)


class L2Book:
    """Price -> quantity on each side, with each side's prices kept sorted (ascending) for the touch and the walk."""

    def __init__(self) -> None:
        self.bids: dict = {}
        self.asks: dict = {}
        self._bid_px: list = []
        self._ask_px: list = []

    def apply(self, bids: Iterable[tuple], asks: Iterable[tuple]) -> list[Change]:
        """A depth diff: each (price, quantity) replaces its level, 0 removes it. Returns the changes made."""
        changes = [c for px, qty in bids if (c := self._set("bid", px, qty))]
        changes += [c for px, qty in asks if (c := self._set("ask", px, qty))]
        return changes

    def set_top(self, bid, bid_qty, ask, ask_qty) -> list[Change]:  # noqa: ANN001
        """A bookTicker: the touch as Binance reports it now; levels better than it are gone."""
        passed = [("bid", px, 0) for px in self._bid_px[bisect_right(self._bid_px, bid):]]
        passed += [("ask", px, 0) for px in self._ask_px[:bisect_left(self._ask_px, ask)]]
        changes = [c for side, px, _ in passed if (c := self._set(side, px, 0))]
        return changes + [c for c in (self._set("bid", bid, bid_qty), self._set("ask", ask, ask_qty)) if c]

    def replace(self, bids: Iterable[tuple], asks: Iterable[tuple]) -> list[Change]:
        """A snapshot: the whole book anew. Returns what differs from the old book: levels gone, new or changed."""
        old_bids, old_asks = self.bids, self.asks
        self.bids, self.asks, self._bid_px, self._ask_px = {}, {}, [], []
        self.apply(bids, asks)
        return _diff("bid", old_bids, self.bids) + _diff("ask", old_asks, self.asks)

    def best_bid(self):  # noqa: ANN201
        return self._bid_px[-1] if self._bid_px else None

    def best_ask(self):  # noqa: ANN201
        return self._ask_px[0] if self._ask_px else None

    def levels(self, side: str) -> list[tuple]:
        """(price, quantity) best first: side "bid" or "ask"."""
        if side == "bid":
            return [(px, self.bids[px]) for px in reversed(self._bid_px)]
        return [(px, self.asks[px]) for px in self._ask_px]

    def walk(self, side: Side, quantity) -> list[tuple]:  # noqa: ANN001
        """The (price, quantity) fills of a market order of `quantity`: BUY takes the asks from the lowest, SELL the
        bids from the highest. Their sum is less than `quantity` when the visible book runs out."""
        levels = self.asks if side == "BUY" else self.bids
        prices = self._ask_px if side == "BUY" else reversed(self._bid_px)
        fills, left = [], quantity
        for px in prices:
            if left <= 0:
                break
            take = min(levels[px], left)
            fills.append((px, take))
            left -= take
        return fills

    def _set(self, side: str, px, qty) -> Change | None:  # noqa: ANN001
        levels, prices = (self.bids, self._bid_px) if side == "bid" else (self.asks, self._ask_px)
        if qty:
            old = levels.get(px)
            if old == qty:
                return None
            if old is None:
                insort(prices, px)
            levels[px] = qty
            return side, px, qty
        if levels.pop(px, None) is None:
            return None
        del prices[bisect_left(prices, px)]
        return side, px, 0


def vwap(fills: list[tuple]):  # noqa: ANN201
    """The volume-weighted price of (price, quantity) fills (None for none)."""
    qty = sum(q for _, q in fills)
    return sum(p * q for p, q in fills) / qty if qty else None


def _diff(side: str, old: dict, new: dict) -> list[Change]:
    return [(side, px, 0) for px in old if px not in new] + [(side, px, q) for px, q in new.items() if old.get(px) != q]


class DepthSync:
    """Binance's recipe for a correct local book from the diff stream and a REST snapshot.

    Diffs are buffered until the snapshot arrives; those with `u` <= its lastUpdateId are dropped, the first applied
    must span lastUpdateId + 1, and each later one must start at the previous `u` + 1. A gap means the book is wrong:
    `gap` turns true and the owner takes a new snapshot (`resync`)."""

    def __init__(self, book: L2Book | None = None) -> None:
        self.book = book or L2Book()
        self.last_update_id: int | None = None
        self.buffer: list[tuple[int, int, list, list]] = []
        self.gap = False

    def diff(self, first_id: int, final_id: int, bids: list, asks: list) -> list[Change]:
        if self.last_update_id is None or self.gap:
            self.buffer.append((first_id, final_id, bids, asks))
            return []
        if final_id <= self.last_update_id:
            return []
        if first_id > self.last_update_id + 1:
            self.gap = True
            self.buffer = [(first_id, final_id, bids, asks)]
            return []
        self.last_update_id = final_id
        return self.book.apply(bids, asks)

    def snapshot(self, last_update_id: int, bids: list, asks: list) -> list[Change]:
        changes = self.book.replace(bids, asks)
        self.last_update_id, self.gap = last_update_id, False
        buffered, self.buffer = self.buffer, []
        for diff in buffered:
            changes += self.diff(*diff)
        return changes

    def resync(self) -> None:
        """Forget the sequence (a reconnect): diffs buffer again, from empty, until the next snapshot (a restarted
        venue's ids start anew)."""
        self.last_update_id = None
        self.buffer = []


LADDER_LEVELS = 20


def ladder(bid, ask, tick, top_qty, levels: int = LADDER_LEVELS) -> tuple[list[tuple], list[tuple]]:  # noqa: ANN001
    """A book around a synthetic touch: `top_qty` at the touch, then `levels - 1` levels a tick apart on each side
    holding 1, 2 or 3 times `top_qty` by the level's price (fixed per price), so a large order pays for its size and a
    move of the touch changes only a few levels (not a whole new book)."""

    def level(price, k: int):  # noqa: ANN001, ANN202
        return price, top_qty if k == 0 else top_qty * (1 + int(price // tick) % 3)

    return ([level(bid - tick * k, k) for k in range(levels)], [level(ask + tick * k, k) for k in range(levels)])
