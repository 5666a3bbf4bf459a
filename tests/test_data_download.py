"""`nautlive data download` against a loopback archive + REST built from the real 1m bars in ../shared/data, and
against `nautlive sim`'s REST klines: the bars equal the source row for row, resume, corrupt zips, 429s, bad input."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from nautlive.cli.app import app
from nautlive.data import klines
from nautlive.data.bars import read_bars
from nautlive.data.download import Piece, missing
from nautlive.data.fetched import read_fetched, sidecar_path, write_fetched
from nautlive.data.store import file_name, read_rows, write_rows
from nautlive.venues.binance.archive import ArchiveCorrupt, verify
from nautlive.venues.binance.download import plan
from tests.archive_server import ArchiveServer, ArchiveState
from tests.conftest import REPO, shared_file

runner = CliRunner()
MS = klines.parse_time
KNOWN = ["BTCUSDT.BINANCE", "ETHUSDT.BINANCE"]


@pytest.fixture(scope="module")
def source() -> dict[str, list[list]]:
    return {s: json.loads(shared_file("binance", "market", f"{s[:3]}_USDT-1m.json").read_text())
            for s in ("BTCUSDT", "ETHUSDT")}


@pytest.fixture
def archive(source):
    with ArchiveServer(ArchiveState(rows=source)) as server:
        yield server


def _profile(tmp_path: Path, url: str) -> Path:
    path = tmp_path / "dl.yaml"
    text = (REPO / "profiles" / "binance.yaml").read_text()
    text = text.replace("binance:\n", f"binance:\n  base_url_http: {url}\n  archive_url: {url}\n", 1)
    path.write_text(text)
    return path


def _download(tmp_path: Path, url: str, *args: str):
    return runner.invoke(app, ["data", "download", "--profile", str(_profile(tmp_path, url)), "--out",
                               str(tmp_path / "bars"), *args])


def _expected(rows: list[list], start: str, end: str) -> list[tuple]:
    return [tuple(r) for r in rows if MS(start, "") <= r[0] < MS(end, "")]


# -- pure parts ------------------------------------------------------------------------------------------------


def test_plan_takes_whole_finished_months_and_days_from_the_archive_and_the_rest_from_rest():
    now = MS("2023-05-01T12:34", "")
    pieces = plan(MS("2023-03-30T06:00", ""), MS("2023-05-01T13:00", ""), now)
    assert [(p.kind, p.label) for p in pieces] == [
        ("rest", "2023-03-30T06:00:00Z..2023-03-31T00:00:00Z"), ("day", "2023-03-31"), ("month", "2023-04"),
        ("rest", "2023-05-01T00:00:00Z..2023-05-01T13:00:00Z")]
    assert plan(MS("2023-04-01", ""), MS("2023-05-01", ""), MS("2023-04-20", ""))[0] == \
        Piece("day", MS("2023-04-01", ""), MS("2023-04-02", ""))  # an unfinished month comes by its days


def test_missing_is_before_the_first_bar_between_bars_and_after_the_last():
    rows = [(MS("2023-04-01", "") + i * 60_000, 1.0, 1.0, 1.0, 1.0, 0.0) for i in range(10) if i not in (4, 5)]
    assert missing(rows, MS("2023-04-01", ""), MS("2023-04-01T00:04", ""), 60_000) == []
    assert missing(rows, MS("2023-03-31T23:58", ""), MS("2023-04-01T00:12", ""), 60_000) == [
        (MS("2023-03-31T23:58", ""), MS("2023-04-01", "")), (MS("2023-04-01T00:04", ""), MS("2023-04-01T00:06", "")),
        (MS("2023-04-01T00:10", ""), MS("2023-04-01T00:12", ""))]
    assert missing(rows, MS("2023-04-02", ""), MS("2023-04-03", ""), 60_000) == [(MS("2023-04-02", ""),
                                                                                 MS("2023-04-03", ""))]


def test_missing_leaves_out_what_was_fetched_so_a_gap_the_venue_answered_empty_is_not_asked_again():
    t0 = MS("2023-04-01", "")
    rows = [(t0 + i * 60_000, 1.0, 1.0, 1.0, 1.0, 0.0) for i in range(10) if i not in (4, 5)]
    assert missing(rows, t0, t0 + 12 * 60_000, 60_000, [(t0, t0 + 10 * 60_000)]) == [
        (t0 + 10 * 60_000, t0 + 12 * 60_000)]  # the gap at 00:04 was answered: only the never-fetched end


def test_the_last_hour_is_never_recorded_as_fetched_so_late_bars_are_asked_for_again(tmp_path):
    """A venue may publish its latest bars late: a re-run asks again for what was fetched within the hour."""
    import asyncio

    from nautlive.data.download import SETTLING_MS, Job, download

    now = MS("2023-04-02", "")
    start = now - 3 * 3_600_000

    class OneMinuteBars:
        """A venue with a bar every minute, fetched in one piece."""

        trades_in_sessions = False

        async def start(self, symbols: list[str]) -> None:
            pass

        def pieces(self, start_ms: int, end_ms: int, now_ms: int) -> list[Piece]:
            return [Piece("rest", start_ms, end_ms)]

        async def fetch(self, symbol: str, piece: Piece) -> tuple[list, str, list]:
            return [], "REST", [(t, 1.0, 1.0, 1.0, 1.0, 0.0) for t in range(piece.start_ms, piece.end_ms, 60_000)]

        def describe(self, added: dict[str, int]) -> str:
            return ""

        async def close(self) -> None:
            pass

    job = Job(["BTCUSDT"], "1m", 60_000, start, now, tmp_path, "parquet")
    asyncio.run(download(job, OneMinuteBars(), lambda *_: None, now_ms=now))
    path = tmp_path / file_name("BTCUSDT", "1m", "parquet")
    assert read_fetched(path, read_rows(path)) == [(start, now - SETTLING_MS)]


def test_a_record_of_what_was_fetched_counts_only_for_the_bars_it_was_written_with(tmp_path):
    path = tmp_path / "BTCUSDT-1m.parquet"
    rows = [(MS("2023-04-01", "") + i * 60_000, 1.0, 1.0, 1.0, 1.0, 0.0) for i in range(3)]
    write_fetched(path, rows, [(0, 60_000), (60_000, 120_000), (300_000, 360_000)])
    assert read_fetched(path, rows) == [(0, 120_000), (300_000, 360_000)]
    assert read_fetched(path, rows[:2]) == []  # the file changed since (edited by hand): stale
    sidecar_path(path).write_text('{"format": 0, "fetched": [[0, 60000]]}')  # an older format
    assert read_fetched(path, rows) == []
    sidecar_path(path).unlink()
    assert read_fetched(path, rows) == []


def test_archive_times_in_microseconds_since_2025_read_as_milliseconds():
    row = "1735689600000000,93576.00,93610.93,93537.50,93610.93,8.21827,1735689659999999,768978.0,1726,3.9,36.0,0"
    assert klines.csv_rows("open_time,open,high,low,close,volume\n" + row, "x")[0][0] == 1735689600000
    assert klines.csv_rows("1601510340000,4.1507,4.1587,4.1506,4.1554,539.23,1601510399999,0,13,0,0,0", "x")[0] == (
        1601510340000, 4.1507, 4.1587, 4.1506, 4.1554, 539.23)


def test_gaps_inside_and_at_the_ends_are_named():
    t0 = MS("2023-04-01", "")
    rows = [(t0 + i * 60_000, 1.0, 1.0, 1.0, 1.0, 0.0) for i in (1, 2, 5)]
    found = klines.gaps(rows, 60_000, t0, t0 + 8 * 60_000)
    assert [(klines.iso(g.first_ms), g.bars) for g in found] == [
        ("2023-04-01T00:00:00Z", 1), ("2023-04-01T00:03:00Z", 2), ("2023-04-01T00:06:00Z", 2)]


def test_a_zip_whose_checksum_differs_is_refused_naming_it():
    with pytest.raises(ArchiveCorrupt, match=r"^X-1m-2023-04.zip: checksum mismatch"):
        verify("X-1m-2023-04.zip", b"zip bytes", b"0" * 64 + b"  X-1m-2023-04.zip\n")


def test_files_are_named_so_backtest_data_maps_them_to_the_instrument():
    assert file_name("BTCUSDT", "1m", "parquet") == "BTCUSDT-1m.parquet"
    assert file_name("ETHUSDT", "1h", "json") == "ETH_USDT-1h.json"  # freqtrade's name


# -- against the loopback archive + REST ----------------------------------------------------------------------


def test_bars_equal_the_source_row_for_row_from_daily_and_monthly_zips_and_rest(tmp_path, archive, source):
    start, end = "2023-03-30", "2023-05-01T12:00"
    result = _download(tmp_path, archive.url, "--start", start, "--end", end)
    assert result.exit_code == 0, result.output
    for symbol in ("BTCUSDT", "ETHUSDT"):
        path = tmp_path / "bars" / f"{symbol}-1m.parquet"
        assert read_rows(path) == _expected(source[symbol], start, end)
        series, _ = read_bars(str(path), "BINANCE", KNOWN)  # what `backtest --data` reads
        assert series.instrument_id == f"{symbol}.BINANCE" and len(series) == len(_expected(source[symbol], start,
                                                                                             end))
    paths = "\n".join(archive.state.log)
    assert "daily/klines/BTCUSDT/1m/BTCUSDT-1m-2023-03-30.zip" in paths
    assert "monthly/klines/BTCUSDT/1m/BTCUSDT-1m-2023-04.zip" in paths
    assert "startTime=1682899200000" in paths  # 2023-05-01T00:00 from REST
    assert f"wrote {tmp_path}/bars/BTCUSDT-1m.parquet: 46800 bars 2023-03-30T00:00:00Z to 2023-05-01T11:59:00Z " \
           "(46080 new from the archive, 720 from REST)" in result.stdout, result.stdout


def test_json_format_is_freqtrades_layout_and_microsecond_archives_read(tmp_path, archive, source):
    archive.state.us_from_ms = MS("2023-04-15", "")
    result = _download(tmp_path, archive.url, "--start", "2023-04-01", "--end", "2023-05-01", "--format", "json",
                       "--symbols", "ETHUSDT")
    assert result.exit_code == 0, result.output
    path = tmp_path / "bars" / "ETH_USDT-1m.json"
    assert [tuple(r) for r in json.loads(path.read_text())] == _expected(source["ETHUSDT"], "2023-04-01",
                                                                           "2023-05-01")


def test_a_rerun_fetches_only_what_the_file_lacks(tmp_path, archive, source):
    assert _download(tmp_path, archive.url, "--start", "2023-04-01", "--end", "2023-04-03",
                     "--symbols", "BTCUSDT").exit_code == 0
    archive.state.log.clear()
    result = _download(tmp_path, archive.url, "--start", "2023-04-01", "--end", "2023-04-04", "--symbols", "BTCUSDT")
    assert result.exit_code == 0, result.output
    assert [p.rsplit("/", 1)[1] for p in archive.state.log if "daily" in p] == [
        "BTCUSDT-1m-2023-04-03.zip", "BTCUSDT-1m-2023-04-03.zip.CHECKSUM"]
    assert read_rows(tmp_path / "bars" / "BTCUSDT-1m.parquet") == _expected(source["BTCUSDT"], "2023-04-01",
                                                                             "2023-04-04")
    again = _download(tmp_path, archive.url, "--start", "2023-04-01", "--end", "2023-04-04", "--symbols", "BTCUSDT")
    assert "(0 new from the archive, 0 from REST)" in again.stdout


def test_a_rerun_fetches_a_gap_in_the_middle_of_the_file_and_only_it(tmp_path, archive, source):
    args = ("--start", "2023-04-01", "--end", "2023-04-03", "--symbols", "BTCUSDT")
    assert _download(tmp_path, archive.url, *args).exit_code == 0
    path = tmp_path / "bars" / "BTCUSDT-1m.parquet"
    # bars removed by hand: the record of what was fetched no longer names this file, so it is ignored
    write_rows(path, [r for r in read_rows(path) if not MS("2023-04-01T10:00", "") <= r[0] < MS("2023-04-01T12:00",
                                                                                              "")])
    archive.state.log.clear()
    result = _download(tmp_path, archive.url, *args)
    assert result.exit_code == 0, result.output
    assert archive.state.log == [  # the symbol check, then the two missing hours from REST
        "/api/v3/klines?symbol=BTCUSDT&interval=1m&limit=1",
        f"/api/v3/klines?symbol=BTCUSDT&interval=1m&startTime={MS('2023-04-01T10:00', '')}"
        f"&endTime={MS('2023-04-01T12:00', '') - 1}&limit=1000"]
    assert "(0 new from the archive, 120 from REST)" in result.stdout
    assert read_rows(path) == _expected(source["BTCUSDT"], "2023-04-01", "2023-04-03")


def test_gaps_in_the_venues_data_are_reported_not_filled(tmp_path, archive, source):
    result = _download(tmp_path, archive.url, "--start", "2023-03-24", "--end", "2023-03-25", "--symbols", "BTCUSDT")
    assert result.exit_code == 0, result.output
    assert "warning: BTCUSDT 1m: 80 bar(s) missing from 2023-03-24T12:40:00Z to 2023-03-24T13:59:00Z" \
        in result.stderr, result.stderr
    assert read_rows(tmp_path / "bars" / "BTCUSDT-1m.parquet") == _expected(source["BTCUSDT"], "2023-03-24",
                                                                             "2023-03-25")
    archive.state.log.clear()
    again = _download(tmp_path, archive.url, "--start", "2023-03-24", "--end", "2023-03-25", "--symbols", "BTCUSDT")
    assert again.exit_code == 0, again.output
    assert archive.state.log == ["/api/v3/klines?symbol=BTCUSDT&interval=1m&limit=1"]  # the gap is not asked again
    assert "warning: BTCUSDT 1m: 80 bar(s) missing from 2023-03-24T12:40:00Z" in again.stderr  # Binance never closes


def test_a_corrupt_zip_is_refused_in_one_line_naming_it_and_nothing_of_it_is_written(tmp_path, archive):
    archive.state.corrupt = {"BTCUSDT-1m-2023-04-02.zip"}
    result = _download(tmp_path, archive.url, "--start", "2023-04-01", "--end", "2023-04-03", "--symbols", "BTCUSDT")
    assert result.exit_code == 1
    assert result.stderr.splitlines()[-1].startswith("error: BTCUSDT-1m-2023-04-02.zip: checksum mismatch (sha256 ")
    rows = read_rows(tmp_path / "bars" / "BTCUSDT-1m.parquet")  # the whole day before it is kept for the re-run
    assert rows[-1][0] == MS("2023-04-01T23:59", "") and len(rows) == 1440


def test_a_429_is_waited_out_as_retry_after_says(tmp_path, archive, source):
    archive.state.too_many, archive.state.retry_after = 2, "1"
    started = time.monotonic()
    result = _download(tmp_path, archive.url, "--start", "2023-04-10T00:00", "--end", "2023-04-10T06:00",
                       "--symbols", "BTCUSDT")
    assert result.exit_code == 0, result.output
    assert time.monotonic() - started >= 2.0
    assert result.stderr.count("answered 429 (rate limit): waiting 1 s as Retry-After says") == 2, result.stderr
    assert read_rows(tmp_path / "bars" / "BTCUSDT-1m.parquet") == _expected(source["BTCUSDT"], "2023-04-10T00:00",
                                                                             "2023-04-10T06:00")


@pytest.mark.parametrize(("args", "message"), [
    (["--symbols", "NOPEUSDT"], "error: unknown symbol NOPEUSDT: {url} says 'Invalid symbol.'"),
    (["--symbols", "BTC/USDT"], "error: --symbols: 'BTC/USDT' is not a symbol like BTCUSDT"),
    (["--interval", "7m"], "error: --interval '7m': expected one of 1m, 3m, 5m, 15m, 30m, 1h, 2h, 4h, 6h, 8h, 12h, 1d"),
    (["--end", "2023-03-01"], "error: --end 2023-03-01 is not after --start 2023-04-01"),
    (["--end", "yesterday"], "error: --end 'yesterday': expected a UTC date or time like 2023-03-16 or "
                             "2023-03-16T12:00Z"),
    (["--format", "csv"], "error: --format 'csv': expected parquet or json"),
])
def test_bad_input_is_one_line_and_exit_2_with_nothing_written(tmp_path, archive, args, message):
    result = _download(tmp_path, archive.url, "--start", "2023-04-01", *args)
    assert result.exit_code == 2
    assert result.stderr.splitlines() == [message.format(url=archive.url)]
    assert not (tmp_path / "bars").exists()


def test_an_unreachable_venue_is_exit_1_naming_the_url(tmp_path):
    result = _download(tmp_path, "http://127.0.0.1:9", "--start", "2023-04-01", "--end", "2023-04-02")
    assert result.exit_code == 1
    assert result.stderr.splitlines()[-1].startswith("error: http://127.0.0.1:9/api/v3/klines: venue unreachable: "
                                                     "connection refused")


def killed_after_the_first_save(args: list[str], path: Path, env: dict) -> list:
    """Run the download `args`, kill -9 it once `path` and its record of what was fetched exist (written after it: its
    first pieces saved): the rows it left."""
    proc = subprocess.Popen(args, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    deadline = time.monotonic() + 60
    while not sidecar_path(path).exists():
        assert time.monotonic() < deadline and proc.poll() is None, proc.communicate()
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.communicate()
    return read_rows(path)


@pytest.mark.slow
def test_a_killed_download_resumes_without_duplicates(tmp_path, archive, source):
    archive.state.delay = 0.4  # each archive answer: the kill lands mid-download, after the first save
    profile = _profile(tmp_path, archive.url)
    args = [sys.executable, "-m", "nautlive", "data", "download", "--profile", str(profile), "--out",
            str(tmp_path / "bars"), "--symbols", "BTCUSDT", "--start", "2023-03-17", "--end", "2023-04-20"]
    path = tmp_path / "bars" / "BTCUSDT-1m.parquet"
    saved = killed_after_the_first_save(args, path, {**os.environ, "PYTHONPATH": str(REPO)})
    assert 0 < len(saved) < len(_expected(source["BTCUSDT"], "2023-03-17", "2023-04-20"))
    archive.state.delay, archive.state.log = 0, []
    result = runner.invoke(app, ["data", "download", *args[args.index("--profile"):]])
    assert result.exit_code == 0, result.output
    assert read_rows(path) == _expected(source["BTCUSDT"], "2023-03-17", "2023-04-20")
    last_saved_day = klines.iso(saved[-1][0])[:10]
    assert not any(f"BTCUSDT-1m-{day}.zip" in p for p in archive.state.log for day in
                   [f"2023-03-{d:02d}" for d in range(17, 32)] if day < last_saved_day)


def test_data_catalog_holds_the_same_bars_for_backtest_data_catalog(tmp_path, archive, source, repo_cwd):
    from nautlive.data.bars import catalog_bars

    result = _download(tmp_path, archive.url, "--start", "2023-04-01", "--end", "2023-04-02T06:00",
                       "--data-catalog", str(tmp_path / "nautilus"))
    assert result.exit_code == 0, result.output
    assert f"wrote {tmp_path / 'nautilus'}: 3600 bars of 2 instrument(s) (Nautilus ParquetDataCatalog)" in result.stdout
    by_id = {s.instrument_id: s for s in catalog_bars(tmp_path / "nautilus", KNOWN)}
    for symbol in ("BTCUSDT", "ETHUSDT"):
        series = by_id[f"{symbol}.BINANCE"]
        rows = _expected(source[symbol], "2023-04-01", "2023-04-02T06:00")
        assert series.step_ns == 60 * 10**9 and len(series) == len(rows)
        assert (series.ts // 1_000_000 - 60_000).tolist() == [r[0] for r in rows]  # stamped at the close
        for i, column in enumerate(("open", "high", "low", "close", "volume"), 1):  # at the instrument's precision
            assert [round(x, 8) for x in getattr(series, column).tolist()] == [r[i] for r in rows], column


def test_a_bar_the_venue_sends_twice_is_kept_once_and_reported(tmp_path, source):
    day = [r for r in source["BTCUSDT"] if MS("2023-04-01", "") <= r[0] < MS("2023-04-02", "")]
    twice = day[:100] + [[day[99][0], *[v * 1.01 for v in day[99][1:]]]] + day[100:]  # a second, different row
    with ArchiveServer(ArchiveState(rows={"BTCUSDT": twice})) as server:
        result = _download(tmp_path, server.url, "--start", "2023-04-01", "--end", "2023-04-02", "--symbols",
                           "BTCUSDT")
    assert result.exit_code == 0, result.output
    assert "warning: BTCUSDT 1m: 1 bar(s) seen twice, kept once" in result.stderr
    assert read_rows(tmp_path / "bars" / "BTCUSDT-1m.parquet") == [tuple(r) for r in day]
