"""The O(1) closed-position PnL record (nautilus_trader#4434 worked around): the same series as Nautilus's own."""

import random

import pandas as pd
from nautilus_trader.analysis.analyzer import PortfolioAnalyzer
from nautilus_trader.model.currencies import USD, USDT
from nautilus_trader.model.identifiers import PositionId
from nautilus_trader.model.objects import Money

from nautlive.core.pnl_records import AppendOnlyPnlAnalyzer, keep_pnl_records_cheap


class _Portfolio:
    def __init__(self) -> None:
        self.analyzer = PortfolioAnalyzer()


def _records(count: int, seed: int = 1):
    rng = random.Random(seed)
    for i in range(count):
        currency = USDT if i % 3 else USD
        yield PositionId(f"BTCUSDT.BINANCE-{i % 7}"), Money(rng.uniform(-5, 5), currency), None if i % 5 == 0 else i


def _assert_same(got: pd.Series | None, expected: pd.Series | None) -> None:
    assert (got is None) == (expected is None)
    if expected is not None:
        pd.testing.assert_series_equal(got, expected)


def test_records_read_as_nautilus_writes_them_whenever_they_are_read():
    stock, portfolio = PortfolioAnalyzer(), _Portfolio()
    keep_pnl_records_cheap(portfolio)
    cheap = portfolio.analyzer
    for i, record in enumerate(_records(60)):
        stock.record_trade(*record)
        cheap.record_trade(*record)
        if i in (0, 11, 40, 59):  # reads in between: what was materialized is extended, not rebuilt
            for currency in (USDT, USD):
                _assert_same(cheap.realized_pnls(currency), stock.realized_pnls(currency))
    for currency in (USDT, USD):
        pd.testing.assert_series_equal(cheap._recorded_realized_pnl_timestamps[currency],
                                       stock._recorded_realized_pnl_timestamps[currency])


def test_reset_forgets_pending_records_and_converting_twice_keeps_them():
    portfolio = _Portfolio()
    keep_pnl_records_cheap(portfolio)
    portfolio.analyzer.record_trade(*next(_records(1)))
    keep_pnl_records_cheap(portfolio)
    assert isinstance(portfolio.analyzer, AppendOnlyPnlAnalyzer) and len(portfolio.analyzer._pending) == 1
    portfolio.analyzer.reset()
    assert portfolio.analyzer.realized_pnls() is None


def test_backtest_engines_get_the_cheap_record():
    from nautlive.config.profile import load_profile
    from nautlive.research.engine import new_engine

    engine = new_engine(load_profile("binance-sim"), [])
    try:
        assert isinstance(engine.portfolio.analyzer, AppendOnlyPnlAnalyzer)
    finally:
        engine.dispose()
