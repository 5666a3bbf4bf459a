"""The L2 book and its market-order walk (pure: no node)."""

from decimal import Decimal as D

from nautlive.data.book import DepthSync, L2Book, vwap


def book() -> L2Book:
    b = L2Book()
    b.apply([(D("100"), D("1")), (D("99"), D("2")), (D("98"), D("3"))],
            [(D("101"), D("1")), (D("102"), D("2")), (D("103"), D("3"))])
    return b


def test_walk_takes_levels_best_first_at_their_own_prices():
    fills = book().walk("BUY", D("2.5"))
    assert fills == [(D("101"), D("1")), (D("102"), D("1.5"))]
    assert vwap(fills) == (D("101") + D("1.5") * D("102")) / D("2.5")
    assert book().walk("SELL", D("1")) == [(D("100"), D("1"))]


def test_walk_stops_where_the_visible_book_ends():
    fills = book().walk("SELL", D("10"))
    assert sum(q for _, q in fills) == D("6")
    assert vwap([]) is None


def test_zero_quantity_removes_a_level_and_changes_are_reported_once():
    b = book()
    assert b.apply([(D("99"), D("0"))], []) == [("bid", D("99"), 0)]
    assert b.apply([(D("99"), D("0")), (D("100"), D("1"))], []) == []  # already gone, unchanged
    assert sorted(b.bids) == [D("98"), D("100")]


def test_book_ticker_sets_the_touch_and_drops_passed_levels():
    b = book()
    changes = b.set_top(D("99"), D("5"), D("102"), D("2"))
    assert ("bid", D("100"), 0) in changes and ("ask", D("101"), 0) in changes
    assert b.best_bid() == D("99") and b.bids[D("99")] == D("5")
    assert b.best_ask() == D("102")


def test_replace_is_a_snapshot():
    b = book()
    b.replace([(D("50"), D("1"))], [(D("60"), D("1"))])
    assert b.bids == {D("50"): D("1")} and b.asks == {D("60"): D("1")}


def test_depth_sync_follows_binance_recipe():
    sync = DepthSync()
    assert sync.diff(5, 7, [(1, 1)], []) == []  # buffered before the snapshot
    assert sync.diff(8, 9, [(2, 1)], []) == []
    changes = sync.snapshot(6, [(1, 5)], [(3, 1)])
    assert sync.last_update_id == 9 and sync.book.bids == {1: 1, 2: 1}
    assert ("bid", 2, 1) in changes
    assert sync.diff(8, 9, [(4, 1)], []) == []  # old: dropped
    sync.diff(11, 12, [(5, 1)], [])  # 10 missing: a gap
    assert sync.gap and 5 not in sync.book.bids
    sync.snapshot(12, [], [])
    assert not sync.gap and sync.book.bids == {}


def test_ladder_holds_the_touch_size_then_sizes_fixed_per_price_so_a_move_changes_few_levels():
    from nautlive.data.book import ladder

    bids, asks = ladder(D("100"), D("100.1"), D("0.1"), D("2"), levels=3)
    # the touch holds the top size; ticks 999, 998 hold 1 and 3 x it, 1002, 1003 hold 1 and 2 x
    assert bids == [(D("100"), D("2")), (D("99.9"), D("2")), (D("99.8"), D("6"))]
    assert asks == [(D("100.1"), D("2")), (D("100.2"), D("2")), (D("100.3"), D("4"))]
    book = L2Book()
    book.replace(*ladder(D("100"), D("100.1"), D("0.1"), D("2")))
    moved = book.replace(*ladder(D("100.1"), D("100.2"), D("0.1"), D("2")))  # one tick up
    assert len(moved) <= 6
