"""Order books as Nautilus data: book.py's changes as OrderBookDeltas for the shadow exchange and the backtest venue.

Three sources, one book model: a recording's `@depth@100ms` diffs with its `@bookTicker` touches (in file order), the
venue's live depth stream after a REST snapshot (venues/binance/public.py), and a ladder around each synthetic quote.
Prices and sizes travel as Nautilus raw integers at the instrument's precision, so book.py's arithmetic is exact.
"""

from __future__ import annotations

import msgspec
from nautilus_trader.model.data import OrderBookDelta, OrderBookDeltas, QuoteTick
from nautilus_trader.model.enums import BookAction, OrderSide, RecordFlag
from nautilus_trader.model.instruments import Instrument
from nautilus_trader.model.objects import FIXED_PRECISION

from nautlive.data.book import Change, L2Book, ladder

DEPTH_MARKER = b'@depth@100ms"'
SNAPSHOT_MARKER = b' {"lastUpdateId"'  # a REST /api/v3/depth body recorded as a line
GAP_MARKER = b' {"gap"'  # `nautlive record` lost the depth sequence here: diffs wait for the next snapshot
UNSYNCED = 2**63  # a book's lastUpdateId after a gap: every diff is older, until a snapshot sets it anew
LADDER_TOP_NOTIONAL = 25_000  # quote units at the touch of a synthetic walk; the ladder's deeper levels hold more


class _DepthData(msgspec.Struct, gc=False):
    s: str
    U: int
    u: int
    b: list[tuple[float, float]]
    a: list[tuple[float, float]]


class _DepthMsg(msgspec.Struct, gc=False):
    data: _DepthData


class _Snapshot(msgspec.Struct, gc=False):
    lastUpdateId: int  # noqa: N815
    bids: list[tuple[float, float]]
    asks: list[tuple[float, float]]


DEPTH_ROWS = msgspec.json.Decoder(list[tuple[int, _DepthMsg]], strict=False)  # strict=False: decimal strings as floats
SNAPSHOT_ROWS = msgspec.json.Decoder(list[tuple[int, _Snapshot]], strict=False)


def book_deltas(instrument: Instrument, changes: list[Change], ts: int) -> OrderBookDeltas:
    """One OrderBookDeltas for the changes of one book event (raw prices and sizes), flagged last on its last delta."""
    iid, pp, sp = instrument.id, instrument.price_precision, instrument.size_precision
    last = len(changes) - 1
    return OrderBookDeltas(iid, [
        OrderBookDelta.from_raw(iid, BookAction.UPDATE if qty else BookAction.DELETE,
                                OrderSide.BUY if side == "bid" else OrderSide.SELL, px, pp, qty, sp, 0,
                                RecordFlag.F_LAST if i == last else 0, 0, ts, ts)
        for i, (side, px, qty) in enumerate(changes)
    ])


class RawScale:
    """Float prices and sizes -> raw integers at an instrument's precisions (Binance's decimal strings are exact in a
    float to 8 places, so rounding the scaled float gives the exact level)."""

    def __init__(self, instrument: Instrument) -> None:
        pp, sp = instrument.price_precision, instrument.size_precision
        self._p, self._ps = 10.0**pp, 10 ** (FIXED_PRECISION - pp)
        self._s, self._ss = 10.0**sp, 10 ** (FIXED_PRECISION - sp)

    def levels(self, pairs: list) -> list[tuple[int, int]]:
        return [(round(float(px) * self._p) * self._ps, round(float(q) * self._s) * self._ss) for px, q in pairs]


def touch(book: L2Book, quote: QuoteTick) -> list[Change]:
    return book.set_top(quote.bid_price.raw, quote.bid_size.raw, quote.ask_price.raw, quote.ask_size.raw)


def recorded_book(quote_part: tuple[list[int], list], depth: tuple[list[int], list], snapshots: tuple[list[int], list],
                  instruments: dict[str, Instrument], gaps: list[int] = ()) -> tuple[list[int], list[OrderBookDeltas]]:
    """The book events of one recording in file order: a REST snapshot replaces the book (diffs it already holds,
    `u` <= its lastUpdateId, are dropped), each depth diff is applied, each bookTicker sets the touch.

    `quote_part` is (rows, QuoteTicks) of the file's bookTicker lines, `depth` and `snapshots` (rows, decoded rows).
    A snapshot names no symbol: it is the book of the file's one symbol (skipped in a file of several). `gaps` are the
    rows of gap lines (`nautlive record` lost the sequence there): the diffs after one wait for the next snapshot."""
    events: list[tuple[int, object]] = list(zip(*quote_part, strict=True))
    events += [(row, msg) for row, msg in zip(*depth, strict=True) if msg[1].data.s in instruments]
    symbols = {msg[1].data.s for msg in depth[1]} | {str(q.instrument_id.symbol) for q in quote_part[1]}
    if len(symbols) == 1 and (symbol := symbols.pop()) in instruments:
        events += [(row, (symbol, snap)) for row, snap in zip(*snapshots, strict=True)]
    events += [(row, None) for row in gaps]
    events.sort(key=lambda e: e[0])
    books: dict[str, tuple[L2Book, RawScale, list]] = {}
    by_id = {str(i.id): i for i in instruments.values()}
    rows, out = [], []
    for row, item in events:
        if item is None:  # a gap: every book's diffs wait for its next snapshot
            for instrument in instruments.values():
                _book_of(books, instrument)[2][:] = [UNSYNCED]
            continue
        if isinstance(item, QuoteTick):
            instrument = by_id[str(item.instrument_id)]
            book, _, _ = _book_of(books, instrument)
            changes, ts = touch(book, item), item.ts_init
        elif isinstance(item[0], str):  # a snapshot: (symbol, (ns, snapshot))
            symbol, (ts, snap) = item
            instrument = instruments[symbol]
            book, scale, synced = _book_of(books, instrument)
            synced[:] = [snap.lastUpdateId]
            changes = book.replace(scale.levels(snap.bids), scale.levels(snap.asks))
        else:  # a depth diff: (ns, message)
            ts, msg = item
            instrument = instruments[msg.data.s]
            book, scale, synced = _book_of(books, instrument)
            if synced and msg.data.u <= synced[0]:
                continue
            changes = book.apply(scale.levels(msg.data.b), scale.levels(msg.data.a))
        if changes:
            rows.append(row)
            out.append(book_deltas(instrument, changes, ts))
    return rows, out


def with_touch_book(quotes: list[QuoteTick], instruments: dict[str, Instrument]) -> list:
    """Quotes with no depth stream (a data catalog's): each preceded by the book change its touch makes."""
    rows, deltas = recorded_book((list(range(len(quotes))), quotes), ([], []), ([], []), instruments)
    before = dict(zip(rows, deltas, strict=True))
    return [item for i, quote in enumerate(quotes) for item in ((before[i], quote) if i in before else (quote,))]


def _book_of(books: dict, instrument: Instrument) -> tuple[L2Book, RawScale, list]:
    """The instrument's book, its scale, and [lastUpdateId] once a snapshot set it."""
    key = str(instrument.id)
    if key not in books:
        books[key] = (L2Book(), RawScale(instrument), [])
    return books[key]


def ladder_deltas(book: L2Book, instrument: Instrument, quote: QuoteTick) -> OrderBookDeltas | None:
    """The book around a synthetic quote (book.ladder, the quote's size at the touch) as the changes from the
    previous ladder."""
    top = quote.bid_size.raw or instrument.size_increment.raw
    bids, asks = ladder(quote.bid_price.raw, quote.ask_price.raw, instrument.price_increment.raw, top)
    changes = book.replace(bids, asks)
    return book_deltas(instrument, changes, quote.ts_init) if changes else None
