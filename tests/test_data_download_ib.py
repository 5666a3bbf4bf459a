"""`nautlive data download --venue ibkr-sim` against the loopback TWS venue: ibapi's real EClient asks reqHistoricalData
(protobuf at a current gateway's version, text at older ones), in chunks IB's duration limits allow, paced as IB
requires; the bars equal the venue's own history row for row; resume, unknown symbols, pacing violations."""

from __future__ import annotations

import datetime as dt
import json
import os
import sys
import threading
import time
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from typer.testing import CliRunner

from nautlive.cli.app import app
from nautlive.data.bars import read_bars
from nautlive.data.fetched import read_fetched, sidecar_path
from nautlive.data.klines import DAY, iso, parse_time
from nautlive.data.store import read_rows
from nautlive.sim.tws import build_tws_simulator
from nautlive.sim.tws.server import start_in_thread
from nautlive.venues.ibkr.history import bar_open_ms, chunks, duration_text, end_text, pacing_wait
from tests.conftest import REPO
from tests.test_data_download import killed_after_the_first_save

runner = CliRunner()
CATALOG = REPO / "artifacts" / "catalog" / "ibkr.yaml"
KNOWN = ["AAPL.NASDAQ", "SPY.ARCA"]
MS = parse_time


@pytest.fixture
def tws(request, monkeypatch):
    version = getattr(request, "param", None)
    sim = build_tws_simulator(KNOWN, CATALOG, contracts=[], server_version=version)
    with start_in_thread(sim) as running:
        monkeypatch.setenv("NAUTLIVE_IB_PORT", str(running.port))
        yield running


def _download(tmp_path: Path, *args: str):
    return runner.invoke(app, ["data", "download", "--venue", "ibkr-sim", "--out", str(tmp_path / "bars"), *args])


def _source(tws, symbol: str, start: str, end: str, bar_s: int = 60) -> list[tuple]:
    """The venue's own history for `symbol`: what every answer is cut from."""
    con_id = tws.sim._symbol_con_id(symbol)  # noqa: SLF001 - the venue's own lookup
    rows = tws.sim._bars(con_id, MS(start, ""), MS(end, ""), int(time.time() * 1000), bar_s, 2)  # noqa: SLF001
    return [(bar_open_ms(r[0]), r[1], r[2], r[3], r[4], float(r[5])) for r in rows]


def _history_requests(tws) -> list[dict]:
    return [r for r in tws.sim.requests if r["name"] == "reqHistoricalData"]


# -- pure parts ------------------------------------------------------------------------------------------------


def test_chunks_follow_ibs_duration_limits_on_a_fixed_grid():
    start, end = MS("2024-01-01T12:00", ""), MS("2024-01-03T06:00", "")
    assert [(iso(a), iso(b)) for a, b in chunks(start, end, DAY)] == [
        ("2024-01-01T12:00:00Z", "2024-01-02T00:00:00Z"), ("2024-01-02T00:00:00Z", "2024-01-03T00:00:00Z"),
        ("2024-01-03T00:00:00Z", "2024-01-03T06:00:00Z")]
    assert duration_text(DAY) == "1 D" and duration_text(12 * 3_600_000) == "43200 S"
    assert duration_text(6 * DAY + 1) == "7 D"  # a partial week of 5-minute bars: the days rounded up
    assert duration_text(3_600_000, DAY) == "1 D"  # at least one bar
    assert end_text(MS("2024-01-02", "")) == "20240102-00:00:00"


def test_bar_dates_read_as_ib_writes_them():
    assert bar_open_ms("1704067200") == MS("2024-01-01", "")
    assert bar_open_ms("20240101") == MS("2024-01-01", "")
    assert bar_open_ms("20240101 09:30:00 US/Eastern") == MS("2024-01-01T14:30", "")


def test_pacing_waits_for_the_oldest_of_60_requests_to_leave_the_ten_minutes():
    assert pacing_wait([float(t) for t in range(59)], 100.0) == 0.0
    assert pacing_wait([float(t) for t in range(60)], 100.0) == pytest.approx(500.0)
    assert pacing_wait([float(t) for t in range(60)], 700.0) == 0.0


# -- against the TWS venue ------------------------------------------------------------------------------------


@pytest.mark.parametrize("tws", [None, 200, 176], indirect=True, ids=["223-protobuf", "200-text", "176-text"])
def test_bars_equal_the_venues_history_row_for_row_in_one_day_chunks(tmp_path, tws):
    start, end = "2024-01-01T06:00", "2024-01-04"
    result = _download(tmp_path, "--start", start, "--end", end)
    assert result.exit_code == 0, result.output
    for symbol, iid in (("AAPL", "AAPL.NASDAQ"), ("SPY", "SPY.ARCA")):
        path = tmp_path / "bars" / f"{symbol}-1m.parquet"
        assert read_rows(path) == _source(tws, symbol, start, end)
        series, _ = read_bars(str(path), "INTERACTIVE_BROKERS", KNOWN)  # what `backtest --data` reads
        # trading hours only: 04:00-20:00 New York time, 09:00-01:00 UTC in January (Monday from 09:00)
        assert series.instrument_id == iid and len(series) == 900 + 2 * 960
    asked = _history_requests(tws)
    assert len(asked) == 6 and all(r["protobuf"] == (tws.sim.server_version >= 208) for r in asked)
    assert f"wrote {tmp_path}/bars/AAPL-1m.parquet: 2820 bars 2024-01-01T09:00:00Z to 2024-01-03T23:59:00Z " \
           f"(2820 new from IB Gateway at 127.0.0.1:{tws.port})" in result.stdout, result.stdout
    assert "AAPL 2024-01-01T06:00:00Z..2024-01-02T00:00:00Z: 900 bars from IB" in result.stderr


def test_longer_bars_come_in_longer_chunks_the_venue_accepts(tmp_path, tws):
    result = _download(tmp_path, "--start", "2024-01-01", "--end", "2024-03-01", "--interval", "1h", "--symbols",
                       "AAPL")
    assert result.exit_code == 0, result.output
    assert read_rows(tmp_path / "bars" / "AAPL-1h.parquet") == _source(tws, "AAPL", "2024-01-01", "2024-03-01", 3600)
    assert len(_history_requests(tws)) == 3  # 30-day chunks (IB allows a month of hourly bars per request)


def test_a_rerun_asks_only_for_what_the_file_lacks(tmp_path, tws):
    assert _download(tmp_path, "--start", "2024-01-01", "--end", "2024-01-03", "--symbols", "AAPL").exit_code == 0
    before = len(_history_requests(tws))
    result = _download(tmp_path, "--start", "2024-01-01", "--end", "2024-01-04", "--symbols", "AAPL")
    assert result.exit_code == 0, result.output
    assert len(_history_requests(tws)) == before + 1
    assert "(960 new from IB Gateway" in result.stdout  # Wednesday's session, 09:00 to 01:00 UTC
    assert read_rows(tmp_path / "bars" / "AAPL-1m.parquet") == _source(tws, "AAPL", "2024-01-01", "2024-01-04")


WEEK = ("--symbols", "AAPL", "--start", "2024-06-03", "--end", "2024-06-08")  # Monday to Friday, UTC days


def _new_york(ms: int) -> dt.datetime:
    return dt.datetime.fromtimestamp(ms / 1000, ZoneInfo("US/Eastern"))


def test_a_weeks_download_holds_only_trading_hours_and_warns_about_nothing(tmp_path, tws):
    result = _download(tmp_path, *WEEK)
    assert result.exit_code == 0, result.output
    rows = read_rows(tmp_path / "bars" / "AAPL-1m.parquet")
    assert rows == _source(tws, "AAPL", "2024-06-03", "2024-06-08") and len(rows) == 5 * 16 * 60
    assert {(_new_york(r[0]).weekday() < 5, 4 <= _new_york(r[0]).hour < 20) for r in rows} == {(True, True)}
    assert "warning" not in result.stderr, result.stderr
    # the four nights between the sessions (00:00-08:00 UTC in June) and the Monday before the first one
    assert "AAPL 1m: 5 period(s) without bars at the venue (market closed), not asked again" in result.stdout


def test_a_rerun_over_the_same_week_asks_nothing_and_a_later_end_only_the_new_days(tmp_path, tws):
    assert _download(tmp_path, *WEEK).exit_code == 0
    path = tmp_path / "bars" / "AAPL-1m.parquet"
    written, asked = path.read_bytes(), len(_history_requests(tws))
    assert asked == 5 and sidecar_path(path).exists()
    again = _download(tmp_path, *WEEK)
    assert again.exit_code == 0 and "warning" not in again.stderr, again.output
    assert len(_history_requests(tws)) == asked and path.read_bytes() == written
    later = _download(tmp_path, *WEEK[:-1], "2024-06-12")
    assert later.exit_code == 0, later.output
    assert len(_history_requests(tws)) == asked + 4  # Saturday to Tuesday, one request a day
    assert "(1920 new from IB Gateway" in later.stdout  # Monday's and Tuesday's sessions
    assert read_rows(path) == _source(tws, "AAPL", "2024-06-03", "2024-06-12")


def test_a_corrupt_record_of_what_was_fetched_is_ignored_and_the_file_lacks_are_asked_again(tmp_path, tws):
    assert _download(tmp_path, *WEEK).exit_code == 0
    path = tmp_path / "bars" / "AAPL-1m.parquet"
    written, asked = path.read_bytes(), len(_history_requests(tws))
    sidecar_path(path).write_bytes(b"\x00\xffnot json\x13")
    result = _download(tmp_path, *WEEK)
    assert result.exit_code == 0, result.output
    assert len(_history_requests(tws)) == asked + 5  # each UTC day holds a night: asked again, as before the record
    assert path.read_bytes() == written
    assert _download(tmp_path, *WEEK).exit_code == 0 and len(_history_requests(tws)) == asked + 5  # recorded again


def test_an_unknown_symbol_is_one_line_and_exit_2_with_nothing_written(tmp_path, tws):
    result = _download(tmp_path, "--start", "2024-01-01", "--symbols", "AAPL,NOPE")
    assert result.exit_code == 2
    assert result.stderr.splitlines() == [f"error: unknown symbol NOPE: IB Gateway at 127.0.0.1:{tws.port} says 'No "
                                          "security definition has been found for the request' (error 200)"]
    assert not (tmp_path / "bars").exists()


def test_a_bar_size_ib_lacks_is_one_line_and_exit_2(tmp_path, tws):
    result = _download(tmp_path, "--start", "2024-01-01", "--interval", "6h")
    assert result.exit_code == 2
    assert result.stderr.splitlines() == ["error: --interval 6h: IB has no such bar size (IB: 1m, 3m, 5m, 15m, 30m, "
                                          "1h, 2h, 4h, 8h, 1d)"]


def test_a_period_the_venue_has_no_data_for_is_a_warning_not_a_failure(tmp_path, tws):
    result = _download(tmp_path, "--start", "2019-06-01", "--end", "2019-06-03", "--symbols", "AAPL")
    assert result.exit_code == 0, result.output
    assert "warning: AAPL 1m: the venue has no bars in this period: nothing written" in result.stderr
    assert result.stderr.count(": no bars") == 2


def test_a_pacing_violation_is_waited_out(tmp_path, tws):
    tws.sim.limit_history(3, 2.0)  # IB's 60 in 10 minutes, shortened
    started = time.monotonic()
    result = _download(tmp_path, "--start", "2024-01-01", "--end", "2024-01-06", "--symbols", "AAPL")
    assert result.exit_code == 0, result.output
    assert "historical data pacing violation (error 162): waiting 1 s" in result.stderr, result.stderr
    assert tws.sim.history_pacing.violations >= 1 and time.monotonic() - started >= 1.0
    assert read_rows(tmp_path / "bars" / "AAPL-1m.parquet") == _source(tws, "AAPL", "2024-01-01", "2024-01-06")


def test_a_gateway_that_drops_the_connection_mid_download_is_exit_1_and_the_file_keeps_what_came(tmp_path, tws):
    tws.sim.limit_history(2, 30.0)  # the third request waits out violations: the drop lands then
    threading.Timer(1.5, tws.sim.drop_connections).start()
    result = _download(tmp_path, "--start", "2024-01-01", "--end", "2024-01-06", "--symbols", "AAPL")
    assert result.exit_code == 1, (result.output, result.exception)
    assert result.stderr.splitlines()[-1] == f"error: IB Gateway at 127.0.0.1:{tws.port}: the gateway closed the " \
                                             "connection"
    assert read_rows(tmp_path / "bars" / "AAPL-1m.parquet") == _source(tws, "AAPL", "2024-01-01", "2024-01-03")


def test_an_unreachable_gateway_is_exit_1_naming_it(tmp_path, monkeypatch):
    monkeypatch.setenv("NAUTLIVE_IB_PORT", "9")
    result = _download(tmp_path, "--start", "2024-01-01", "--end", "2024-01-02")
    assert result.exit_code == 1
    assert result.stderr.splitlines()[-1].startswith("error: IB Gateway not reachable at 127.0.0.1:9: connection "
                                                     "refused")


@pytest.mark.slow
def test_a_killed_download_resumes_the_unfetched_part_only(tmp_path, tws):
    tws.sim.limit_history(1, 1.0)  # one request a second: the kill lands mid-download, after the first save
    args = [sys.executable, "-m", "nautlive", "data", "download", "--venue", "ibkr-sim", "--out",
            str(tmp_path / "bars"), "--symbols", "AAPL", "--start", "2024-01-01", "--end", "2024-01-21"]
    env = {**os.environ, "PYTHONPATH": str(REPO), "NAUTLIVE_IB_PORT": str(tws.port)}
    path = tmp_path / "bars" / "AAPL-1m.parquet"
    saved = killed_after_the_first_save(args, path, env)
    (fetched,) = read_fetched(path, saved)  # whole days from the start, each answered
    assert fetched[0] == MS("2024-01-01", "") and fetched[1] % DAY == 0 and fetched[1] < MS("2024-01-21", "")
    assert saved == _source(tws, "AAPL", "2024-01-01", iso(fetched[1]))
    tws.sim.limit_history(60, 600.0)
    before = len(_history_requests(tws))
    result = runner.invoke(app, ["data", "download", *args[args.index("--venue"):]])
    assert result.exit_code == 0, result.output
    assert read_rows(path) == _source(tws, "AAPL", "2024-01-01", "2024-01-21")
    assert len(_history_requests(tws)) - before == (MS("2024-01-21", "") - fetched[1]) // DAY  # the days never fetched


def test_an_ib_download_backtests_on_one_account_per_exchange(tmp_path, tws, monkeypatch):
    """IB instruments name their exchange (AAPL.NASDAQ, SPY.ARCA): the bar backtest opens an account on each, as
    SHADOW's sandboxes do, and counts the whole starting cash once."""
    assert _download(tmp_path, "--start", "2024-01-01", "--end", "2024-01-15", "--interval", "1h").exit_code == 0
    targets = tmp_path / "targets.json"
    targets.write_text('{"weights": {"AAPL.NASDAQ": 0.5, "SPY.ARCA": 0.3}}')
    monkeypatch.chdir(REPO)
    result = runner.invoke(app, ["backtest", "--venue", "ibkr-sim", "--data", str(tmp_path / "bars" / "AAPL-1h.parquet"),
                                 "--data", str(tmp_path / "bars" / "SPY-1h.parquet"), "--targets", str(targets),
                                 "--out", str(tmp_path / "bt"), "--json"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    weights = {iid: float(w["weight"]) for iid, w in summary["final_weights"].items()}
    assert abs(weights["AAPL.NASDAQ"] - 0.5) < 0.02 and abs(weights["SPY.ARCA"] - 0.3) < 0.02, weights
    assert 90_000 < float(summary["nav_end"]) < 110_000  # one starting cash of 100,000, not one per exchange
