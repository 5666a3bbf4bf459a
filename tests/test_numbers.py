"""Numbers as a person reads them: weights as the schedule wrote them, an exact ideal NAV, a thinned tearsheet that keeps
every extreme, one meaning of turnover (issue 30, item 1)."""

from decimal import Decimal

import numpy as np
import pyarrow as pa
import pytest
from pyarrow import parquet

from nautlive.data.bars import BarSeries
from nautlive.data.schedule import read_weight_history
from nautlive.errors import ConfigError
from nautlive.research.portfolio_stats import curves, turnover
from nautlive.research.tearsheet import thin

BTC, ETH = "BTCUSDT.BINANCE", "ETHUSDT.BINANCE"
KNOWN = [BTC, ETH]


def weights_of(path):
    return [{k: str(v) for k, v in e.targets.weights.items()} for e in read_weight_history(path, KNOWN, "BINANCE")]


def test_csv_weights_read_as_written(tmp_path):
    path = tmp_path / "w.csv"
    path.write_text(f"time,{BTC},{ETH}\n2023-03-20T00:00:00Z,0.35,0.45\n2023-03-27T00:00:00Z,0.1,\n")
    assert weights_of(path) == [{BTC: "0.35", ETH: "0.45"}, {BTC: "0.1"}]


def test_float32_parquet_weights_read_as_written(tmp_path):
    # an optimiser's float32 DataFrame: 0.35 is stored as 0.3499999940395355
    path = tmp_path / "w.parquet"
    parquet.write_table(pa.table({"time": ["2023-03-20T00:00:00Z"],
                                  BTC: pa.array([0.35], pa.float32()), ETH: pa.array([0.45], pa.float32())}), path)
    assert weights_of(path) == [{BTC: "0.35", ETH: "0.45"}]


def test_a_schedule_in_percent_says_the_sum_as_written(tmp_path):
    path = tmp_path / "w.parquet"
    parquet.write_table(pa.table({"time": ["2023-03-20T00:00:00Z"],
                                  BTC: pa.array([43.9], pa.float32()), ETH: pa.array([35.1], pa.float32())}), path)
    with pytest.raises(ConfigError, match=r"row 1: weights sum to 79\.0, above 1"):
        read_weight_history(path, KNOWN, "BINANCE")


def test_a_non_numeric_weight_names_the_row(tmp_path):
    path = tmp_path / "w.csv"
    path.write_text(f"time,{BTC}\n2023-03-20T00:00:00Z,0.3\n2023-03-27T00:00:00Z,half\n")
    with pytest.raises(ConfigError, match=f"row 2: column '{BTC}': 'half' is not a number"):
        read_weight_history(path, KNOWN, "BINANCE")


def series(iid: str, close: list[float]) -> BarSeries:
    c = np.array(close, dtype=np.float64)
    ts = (np.arange(len(c), dtype=np.int64) + 1) * 60_000_000_000
    return BarSeries(iid, "test", 60_000_000_000, ts, c, c, c, c, np.ones(len(c)))


def test_targets_and_ideal_nav_carry_no_float_noise():
    s = [series(BTC, [27972.87, 28100.13, 27900.55, 28000.0]), series(ETH, [1780.68, 1790.1, 1801.3, 1777.7])]
    applied = [(int(s[0].ts[0]), {BTC: 0.35, ETH: 0.45}), (int(s[0].ts[2]), {BTC: 0.1, ETH: 0.3})]
    c = curves(s, [], applied, 100_000.0)
    assert c.targets.dtype == np.float64 and c.targets[-1].tolist() == [0.1, 0.3]
    assert c.ideal_nav[0] == 100_000.0  # not 99999.99999999999
    value = 100_000.0 + np.array([0.35 * 100_000 / 27972.87, 0.45 * 100_000 / 1780.68]) @ (
        np.array([27900.55, 1801.3]) - np.array([27972.87, 1780.68]))
    assert c.ideal_nav[2] == pytest.approx(value, rel=1e-12)


def test_thinning_keeps_every_buckets_extremes():
    rng = np.random.default_rng(7)
    nav = 100_000 * np.cumprod(1 + rng.normal(0, 1e-3, 66_087))
    drawdown = 1 - nav / np.maximum.accumulate(nav)
    pick = thin([nav, drawdown], 5_000)
    assert len(pick) <= 5_002 and pick[0] == 0 and pick[-1] == len(nav) - 1
    assert drawdown[pick].max() == drawdown.max() and nav[pick].min() == nav.min() and nav[pick].max() == nav.max()
    assert thin([nav[:10]], 5_000).tolist() == list(range(10))


def test_turnover_is_traded_over_starting_nav_in_both_backtests():
    assert turnover(Decimal("284240.77"), Decimal(100_000)) == Decimal("2.8424077")
    assert turnover(278_000.0, 100_000.0) == pytest.approx(2.78)


def test_drawdown_duration_and_monthly_returns():
    from nautlive.research.tearsheet import drawdown_days, monthly_returns

    day = 86_400 * 10**9
    t0 = int(np.datetime64("2023-03-30T00:00:00", "ns").astype(np.int64))
    time = t0 + np.arange(6) * day  # Mar 30, 31, Apr 1 ... Apr 4
    nav = np.array([100.0, 110.0, 99.0, 105.0, 111.0, 108.0])
    assert drawdown_days(time, nav) == 3.0  # from the peak of Mar 31 until it is passed on Apr 3
    months = monthly_returns(time, nav, 100.0)
    assert list(months) == [(2023, 3), (2023, 4)]
    assert months[2023, 3] == pytest.approx(0.10) and months[2023, 4] == pytest.approx(108 / 110 - 1)


def test_the_tearsheet_has_the_tables_a_trader_reads_and_one_legend_per_chart(tmp_path):
    from types import SimpleNamespace

    import plotly.io as pio

    from nautlive.research.tearsheet import _figures, drawdown_fraction, write_tearsheet

    s = [series(BTC, [27972.87, 28100.13, 26900.55, 28000.0] * 50), series(ETH, [1780.68, 1790.1, 1701.3, 1777.7] * 50)]
    c = curves(s, [], [(int(s[0].ts[0]), {BTC: 0.35, ETH: 0.45})], 100_000.0)
    summary = SimpleNamespace(nav_start=100_000.0, nav_end=float(c.nav[-1]), ideal_nav_end=float(c.ideal_nav[-1]),
                              total_return=0.01, cagr=0.2, volatility=0.3, sharpe=1.1, sortino=1.4,
                              max_drawdown=float(drawdown_fraction(c.nav).max()), turnover=0.8, fees=80.0,
                              tracking_error=0.003, rebalances=1, orders=2)
    path = tmp_path / "t.html"
    write_tearsheet(path, "binance", summary, c, "USDT")
    page = path.read_text()
    for label in ("CAGR", "Sortino", "max drawdown duration", "Calmar", "turnover (x starting NAV)",
                  "fees (bps of starting NAV)", "tracking error vs ideal", "monthly returns", "<th>Jan</th>"):
        assert label in page, label
    figures = _figures(c, drawdown_fraction(c.nav), np.arange(len(c.time)), "USDT")
    assert len(figures) == 4 and page.count("plotly-graph-div") >= 4
    assert [f.layout.yaxis.title.text for f in figures] == ["NAV (USDT)", "drawdown (%)", "weight (% of NAV)", "USDT"]
    drawdown = figures[1].data[0].y
    assert min(drawdown) == pytest.approx(-100 * summary.max_drawdown)  # in %, as the header and the table say
    assert all(f.layout.xaxis.title.text == "time (UTC)" for f in figures)
    assert pio.to_json(figures[0])  # each a figure of its own: its own legend
