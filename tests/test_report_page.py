"""drift-report --html: the page a trader reads, rendered from a known log and checked against numpy (headline figures,
tables, cost breakdown), and its charts (a histogram whose bars all show, a time axis per session)."""

import json
from datetime import timedelta

import numpy as np
import pytest
from typer.testing import CliRunner

from nautlive import report
from nautlive.cli.app import app
from nautlive.report import charts
from tests.test_report import generated_fills, log_lines, write_log

runner = CliRunner()


@pytest.fixture(autouse=True)
def private_cache(tmp_path_factory, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path_factory.mktemp("cache")))


@pytest.fixture(scope="module")
def known(tmp_path_factory):
    """2000 fills; session S-2 is a replay that logged its recording's times, two years before S-1. Lines from 100 on
    carry the touch at submit (bid_at_submit, ask_at_submit), as drift.py writes them now; the first 100 do not."""
    fills = generated_fills(2000, seed=31)
    replay = fills["session"] == "S-2"
    fills["ts"] = np.array([t - timedelta(days=730) if r else t for t, r in zip(fills["ts"], replay, strict=True)])
    half_spread = np.random.default_rng(32).uniform(0.5, 3.0, 2000) / 1e4
    fills["bid"], fills["ask"] = fills["mid"] * (1 - half_spread), fills["mid"] * (1 + half_spread)
    fills["touch"] = (np.arange(2000) >= 100) & ~np.isnan(fills["drift"])
    lines = [
        json.dumps(json.loads(line) | {"bid_at_submit": repr(float(fills["bid"][i])),
                                       "ask_at_submit": repr(float(fills["ask"][i]))}) if i >= 100 else line
        for i, line in enumerate(log_lines(fills))
    ]
    return fills, write_log(tmp_path_factory.mktemp("page") / "drift.log", lines)


def test_the_page_and_the_json_carry_the_figures_numpy_computes(known, tmp_path):
    fills, log = known
    page = tmp_path / "report.html"
    result = runner.invoke(app, ["drift-report", "--log", str(log), "--json", "--html", str(page)])
    assert result.exit_code == 0, result.output
    assert result.stderr.splitlines() == [f"wrote {page}"]
    [venue] = json.loads(result.stdout)["venues"]
    html = page.read_text()

    drift, notional, fee = fills["drift"], fills["notional"], fills["fee_quote"]
    known_drift = ~np.isnan(drift)
    weighted = np.average(drift[known_drift], weights=notional[known_drift])
    p50, p90, p99 = np.percentile(drift[known_drift], [50, 90, 99])
    fees_bps = np.nansum(fee) / notional[~np.isnan(fee)].sum() * 1e4
    overall = venue["overall"]
    assert overall["weighted_mean_bps"] == pytest.approx(weighted, rel=1e-9)
    assert (overall["median_bps"], overall["p90_bps"], overall["p99_bps"]) == pytest.approx((p50, p90, p99), rel=1e-9)
    assert overall["fees_bps"] == pytest.approx(fees_bps, rel=1e-9)
    for label, value in [("fills", "2,000"), ("weighted mean", f"{weighted:.2f} bps"), ("median", f"{p50:.2f} bps"),
                         ("p90", f"{p90:.2f} bps"), ("p99", f"{p99:.2f} bps"), ("worst", f"{np.nanmax(drift):.2f} bps"),
                         ("alerts", f"{fills['alert'].sum():,}"), ("fees", f"{fees_bps:.2f} bps"),
                         ("notional", f"{notional.sum():,.2f}"), ("fees (quote ccy)", f"{np.nansum(fee):,.2f}")]:
        assert f"<b>{value}</b><span>{label}</span>" in html

    for cost in venue["costs"]:
        rows = fills["touch"] & (fills["mode"] == cost["mode"])
        spread = (fills["ask"] - fills["bid"]) / (fills["ask"] + fills["bid"]) * 1e4
        with_fee = rows & ~np.isnan(fee)
        assert cost["fills"] == rows.sum()
        assert cost["spread_bps"] == pytest.approx(np.average(spread[rows], weights=notional[rows]), rel=1e-9)
        assert cost["impact_bps"] == pytest.approx(
            np.average(drift[rows] - spread[rows], weights=notional[rows]), rel=1e-9, abs=1e-9)
        assert cost["fees_bps"] == pytest.approx(fee[with_fee].sum() / notional[with_fee].sum() * 1e4, rel=1e-9)
        assert cost["spread"] + cost["impact"] == pytest.approx((drift[rows] * notional[rows]).sum() / 1e4, rel=1e-9)
        assert f"<td>{cost['mode']}</td><td>{rows.sum()}</td>" in html

    sessions = {s["session"]: s for s in venue["by_session"]}
    assert [s["session"] for s in venue["by_session"]] == ["S-2", "S-1"]  # in the order they ran
    for name, s in sessions.items():
        rows = fills["session"] == name
        assert s["stats"]["fills"] == rows.sum()
        assert s["first_ts"] == min(fills["ts"][rows]).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    for caption in ["BINANCE: by instrument x side x mode", "BINANCE: by session", "BINANCE: shadow vs live",
                    "BINANCE: cost breakdown", "BINANCE: worst 10 orders"]:
        assert f"<caption>{caption}" in html
    assert all(f"<td>{w['client_order_id']}</td>" in html for w in venue["worst"])
    assert "<script src=" not in html  # plotly.js is embedded: the page works offline


def test_charts_keep_each_session_on_its_own_clock_and_show_whole_bars(known):
    fills, log = known
    figure = charts.venue_figure(report.read_drift_log([log]), "BINANCE")
    over_time = [t for t in figure.data if t.xaxis == "x2"]
    assert sorted(t.name.split()[0] for t in over_time) == ["S-1", "S-2"]
    for trace in over_time:  # minutes since the session's first fill, not a calendar spanning two years
        assert 0 <= min(trace.x) and max(trace.x) <= 24 * 60
    bars = [t for t in figure.data if t.type == "bar"]
    low, high = figure.layout.xaxis.range
    for bar in bars:  # every bar drawn whole inside the axis; the tails counted in the edge bars
        assert low == pytest.approx(bar.x[0]) and high == pytest.approx(bar.x[-1] + bar.width[-1])
    assert sum(sum(b.y) for b in bars) == (~np.isnan(fills["drift"])).sum()
    scatter = [t for t in figure.data if t.xaxis == "x3"]
    assert figure.layout.xaxis3.type == "log" and sum(len(t.x) for t in scatter) == (~np.isnan(fills["drift"])).sum()


def test_a_log_without_the_touch_has_no_cost_breakdown(tmp_path):
    log = write_log(tmp_path / "drift.log", log_lines(generated_fills(300, seed=33)))
    [venue] = report.summarise(report.read_drift_log([log])).venues
    assert all(c.fills == 0 and c.spread_bps is None for c in venue.costs)
    result = runner.invoke(app, ["drift-report", "--log", str(log)])
    assert "cost breakdown" not in result.stdout
