"""The ledger: the drift log's tail read backwards, and the budgets over time it enforces (fast, no node)."""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal
from pathlib import Path

import pytest

from nautlive.core import ledger
from nautlive.core.identity import is_own_order
from nautlive.core.ledger import Budget, Ledger, tail_fills
from nautlive.venues.binance.live import describe_order
from nautlive.venues.binance.rest import VenueError, VenueOrder, unreachable_hint

NOW = dt.datetime(2026, 11, 28, 12, 0, tzinfo=dt.UTC)


def line(minutes_ago: float, notional: str = "100", coid: str = "O-1", venue: str = "BINANCE", mode: str = "live",
         trade_id: str | None = "1") -> str:
    ts = (NOW - dt.timedelta(minutes=minutes_ago)).isoformat().replace("+00:00", "Z")
    return json.dumps({"ts": ts, "session": "s", "mode": mode, "venue": venue, "instrument": "BTCUSDT.BINANCE",
                       "side": "BUY", "qty": "1", "fill_px": notional, "notional": notional, "client_order_id": coid,
                       "trade_id": trade_id, "alert": False})


def write(tmp_path: Path, lines: list[str]) -> Path:
    path = tmp_path / "drift.log"
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.mark.parametrize("chunk", [7, 64, 1 << 20])
def test_tail_reads_backwards_until_the_window_across_chunks(tmp_path, monkeypatch, chunk):
    monkeypatch.setattr(ledger, "_CHUNK", chunk)
    path = write(tmp_path, [line(300, coid="old"), line(90, coid="a"), "{not json", line(30, coid="b", mode="shadow"),
                            line(10, coid="c", venue="OTHER"), line(5, coid="d")])
    found = tail_fills(path, NOW - dt.timedelta(hours=2), "BINANCE", "live")
    assert [f.client_order_id for f in found] == ["a", "d"]  # oldest first; other venue/mode and bad lines skipped


def test_tail_of_a_missing_or_empty_log_is_empty(tmp_path):
    assert tail_fills(tmp_path / "none.log", NOW, "BINANCE", "live") == []
    assert tail_fills(write(tmp_path, []), NOW - dt.timedelta(days=1), "BINANCE", "live") == []


def test_a_last_line_cut_short_by_a_crash_is_skipped(tmp_path):
    path = tmp_path / "drift.log"
    path.write_text(line(5, coid="a") + "\n" + line(1, coid="b")[:40])
    assert [f.client_order_id for f in tail_fills(path, NOW - dt.timedelta(hours=1), "BINANCE", "live")] == ["a"]


def test_turnover_budget_counts_the_rolling_day_and_this_session():
    book = Ledger([ledger.LoggedFill(ts=(NOW - dt.timedelta(hours=h)).isoformat(), mode="live", venue="BINANCE",
                                     notional=n, client_order_id=f"O-{h}") for h, n in ((30, "90000"), (2, "40000"))])
    budget = Budget(max_turnover_per_day=Decimal(100_000), max_orders_per_hour=10)
    assert book.turnover(NOW) == Decimal(40_000)  # the fill 30 h ago is out of the window
    assert book.refusal(budget, Decimal(60_000), 1, NOW, "USDT") is None
    book.add_fill(NOW, Decimal(50_000))
    refusal = book.refusal(budget, Decimal(20_000), 1, NOW, "USDT")
    assert refusal.startswith("daily turnover budget: 90,000.00 USDT traded in the last 24 h, this rebalance needs "
                              "20,000.00 more, risk.max_turnover_per_day is 100,000.00")


def test_order_budget_counts_the_rolling_hour():
    book = Ledger([])
    budget = Budget(max_turnover_per_day=Decimal(10**9), max_orders_per_hour=5)
    book.add_orders(4, NOW - dt.timedelta(minutes=90))
    book.add_orders(4, NOW - dt.timedelta(minutes=10))
    assert book.orders(NOW) == 4
    assert book.refusal(budget, Decimal(1), 1, NOW, "USDT") is None
    assert book.refusal(budget, Decimal(1), 2, NOW, "USDT") == (
        "hourly order budget: 4 orders in the last hour, this rebalance needs 2 more, risk.max_orders_per_hour is 5")


@pytest.mark.parametrize(("coid", "own"), [("O-20261128-120000-NLV-000-12", True), ("O-20261128-120000-001-000-1", False),
                                           ("web_1", False), ("O-20261128-120000-NLV-000-", False)])
def test_own_orders_are_told_from_others_by_the_trader_tag(coid, own):
    assert is_own_order(coid) is own


def test_orders_are_described_without_noise():
    order = VenueOrder(symbol="BTCUSDT", orderId=1, clientOrderId="manual_1", side="BUY", type="LIMIT", status="NEW",
                       origQty=Decimal("0.10000000"), executedQty=Decimal(0), price=Decimal("20000.00000000"))
    assert describe_order(order) == "manual_1 BUY LIMIT 0.1 BTCUSDT @ 20000"


def test_venue_errors_know_what_is_worth_a_retry():
    assert VenueError(-1003, "Too many requests", "/api/v3/order").transient
    assert not VenueError(-2010, "insufficient balance", "/api/v3/order").transient
    assert unreachable_hint("http://127.0.0.1:8765") == "is `nautlive sim` running?"
    assert "sim" not in unreachable_hint("https://api.binance.com")


@pytest.mark.parametrize(("reason", "transient"), [
    ("Exceeded MAX_ORDER_SUBMIT_RATE", True),
    ("NOTIONAL_EXCEEDS_FREE_BALANCE: free=28790.51 USDT, balance_impact=-49999.55", True),
    ("BinanceClientError({'code': -1003, 'msg': 'Too many requests'})", True),
    ("{'code': -1015, 'msg': 'Too many new orders'}", True),
    ("request timed out", True),
    ("{'code': -1013, 'msg': 'Filter failure: NOTIONAL'}", False),
    ("{'code': -2010, 'msg': 'Account has insufficient balance'}", False),
    ("{'code': -10130, 'msg': 'made up'}", False),
])
def test_which_order_failures_are_planned_again(reason, transient):
    from nautlive.session.live_strategy import is_transient

    assert is_transient(reason) is transient
