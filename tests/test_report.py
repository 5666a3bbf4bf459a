"""drift-report: statistics checked against numpy on a generated log, the reader's paths, every bad input, the CLI."""

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from nautlive import report
from nautlive.cli.app import app
from nautlive.errors import ConfigError, RuntimeFailure
from nautlive.report import charts, decode, read

runner = CliRunner()
MIDS = {"BTCUSDT.BINANCE": 60000.0, "ETHUSDT.BINANCE": 3000.0, "SOLUSDT.BINANCE": 150.0}
START = datetime(2026, 11, 24, 12, tzinfo=UTC)


@pytest.fixture(autouse=True)
def private_cache(tmp_path_factory, monkeypatch):
    """Each test's report cache in its own folder, never the user's."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path_factory.mktemp("cache")))


def generated_fills(n: int, seed: int, venue: str = "BINANCE") -> dict[str, np.ndarray]:
    """Random fills as the truth the test computes from: the exact values that end up in the log."""
    rng = np.random.default_rng(seed)
    instrument = rng.choice(list(MIDS), n)
    side = rng.choice(["BUY", "SELL"], n)
    mid = np.array([MIDS[i] for i in instrument]) * rng.uniform(0.99, 1.01, n)
    cost = rng.normal(1.0, 4.0, n)  # bps, positive = paid more than mid
    fill = np.where(side == "BUY", mid * (1 + cost / 1e4), mid * (1 - cost / 1e4))
    qty = rng.uniform(0.001, 2.0, n)
    drift = np.round(np.where(side == "BUY", fill - mid, mid - fill) / mid * 1e4, 4)
    drift[rng.choice(n, 5, replace=False)] = np.nan  # no mid at submit: logged as null
    fee_quote = np.where(np.arange(n) % 3 == 0, np.round(qty * fill * 0.001, 8), np.nan)  # else an unknown fee
    return {
        "ts": np.array([START + timedelta(seconds=int(s)) for s in np.sort(rng.integers(0, 86400, n))]),
        "session": rng.choice(["S-1", "S-2"], n),
        "mode": rng.choice(["shadow", "live"], n),
        "venue": np.full(n, venue),
        "instrument": instrument,
        "side": side,
        "qty": qty,
        "fill_px": fill,
        "mid": mid,
        "drift": drift,
        "notional": qty * fill,
        "fee_quote": fee_quote,
        "alert": np.abs(np.nan_to_num(drift)) > 5,
        "client_order_id": np.array([f"O-{venue}-{i}" for i in range(n)]),
    }


def log_lines(fills: dict[str, np.ndarray]) -> list[str]:
    """One JSON line per fill, varying how prices are written (decimal strings or numbers) and how a fee is logged:
    with its currency and in the quote currency (fee_quote, as drift.py writes now, sometimes as a recovered fill),
    or as lines of older writers did: a fee without a currency, a null fee, no fee. Those have an unknown fee."""
    lines = []
    for i in range(len(fills["qty"])):
        number = (lambda v: repr(float(v))) if i % 2 else float
        record = {
            "ts": fills["ts"][i].strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
            "session": str(fills["session"][i]),
            "mode": str(fills["mode"][i]),
            "venue": str(fills["venue"][i]),
            "instrument": str(fills["instrument"][i]),
            "side": str(fills["side"][i]),
            "qty": number(fills["qty"][i]),
            "fill_px": number(fills["fill_px"][i]),
            "mid_at_submit": None if np.isnan(fills["drift"][i]) else number(fills["mid"][i]),
            "last_tick_px": number(fills["mid"][i]),
            "drift_bps": None if np.isnan(fills["drift"][i]) else float(fills["drift"][i]),
            "notional": number(fills["notional"][i]),
            "client_order_id": str(fills["client_order_id"][i]),
            "target_hash": "abc123",
            "alert": bool(fills["alert"][i]),
        }
        if not np.isnan(fills["fee_quote"][i]):
            buy = fills["side"][i] == "BUY"  # Binance takes a buy's commission in the base asset
            fee = fills["fee_quote"][i] / fills["fill_px"][i] if buy else fills["fee_quote"][i]
            record |= {"trade_id": str(1000 + i), "fee": repr(float(fee)),
                       "fee_currency": fills["instrument"][i][:3] if buy else "USDT",
                       "fee_quote": number(fills["fee_quote"][i])}
            if i % 5 == 0:
                record["recovered"] = True
        elif i % 3 == 1:
            record["fee"] = number(fills["notional"][i] * 0.001) if i % 2 else None  # an older writer's line
        lines.append(json.dumps(record))
    return lines


def write_log(path, lines: list[str], end: str = "\n"):
    path.write_text("\n".join(lines) + end)
    return path


def json_report(*logs: Path) -> dict:
    """What `drift-report --log LOG... --json` prints, once it exited 0 with nothing on stderr."""
    result = runner.invoke(app, ["drift-report", *(arg for log in logs for arg in ("--log", str(log))), "--json"])
    assert (result.exit_code, result.stderr) == (0, ""), result.output
    return json.loads(result.stdout)


def expected_stats(fills: dict[str, np.ndarray], rows: np.ndarray) -> dict:
    drift, notional, fee = fills["drift"][rows], fills["notional"][rows], fills["fee_quote"][rows]
    known = ~np.isnan(drift)
    return {
        "fills": int(rows.sum()),
        "fills_without_drift": int((~known).sum()),
        "notional": pytest.approx(notional.sum(), rel=1e-12),
        "mean_bps": pytest.approx(drift[known].mean(), rel=1e-9),
        "weighted_mean_bps": pytest.approx(np.average(drift[known], weights=notional[known]), rel=1e-9),
        "median_bps": pytest.approx(np.median(drift[known]), rel=1e-9),
        "p90_bps": pytest.approx(np.percentile(drift[known], 90), rel=1e-9),
        "p99_bps": pytest.approx(np.percentile(drift[known], 99), rel=1e-9),
        "worst_bps": pytest.approx(drift[known].max(), rel=1e-12),
        "alerts": int(fills["alert"][rows].sum()),
        "fees": pytest.approx(np.nansum(fee), rel=1e-12) if (~np.isnan(fee)).any() else None,
        "fees_bps": pytest.approx(np.nansum(fee) / notional[~np.isnan(fee)].sum() * 1e4, rel=1e-9)
        if (~np.isnan(fee)).any() else None,
        "fills_unknown_fee": int(np.isnan(fee).sum()),
    }


@pytest.fixture(scope="module")
def generated(tmp_path_factory):
    fills = generated_fills(3000, seed=7)
    return fills, write_log(tmp_path_factory.mktemp("drift") / "drift.log", log_lines(fills))


def test_statistics_match_numpy(generated):
    fills, path = generated
    result = report.report_json(report.summarise(report.read_drift_log([path])))
    assert result["malformed_lines"] == 0
    assert (result["fills"], result["fills_unknown_fee"]) == (3000, int(np.isnan(fills["fee_quote"]).sum()))
    [venue] = result["venues"]
    assert venue["venue"] == "BINANCE"
    assert venue["first_ts"] == fills["ts"].min().strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    assert venue["overall"] == expected_stats(fills, np.ones(len(fills["qty"]), bool))
    assert {m["mode"]: m["stats"] for m in venue["by_mode"]} == {
        mode: expected_stats(fills, fills["mode"] == mode) for mode in ("live", "shadow")
    }
    groups = {(g["instrument"], g["side"], g["mode"]): g["stats"] for g in venue["by_instrument_side"]}
    assert len(groups) == 3 * 2 * 2
    for (instrument, side, mode), stats in groups.items():
        rows = (fills["instrument"] == instrument) & (fills["side"] == side) & (fills["mode"] == mode)
        assert stats == expected_stats(fills, rows)
    for pair in venue["shadow_vs_live"]:
        shadow = expected_stats(fills, (fills["instrument"] == pair["instrument"]) & (fills["mode"] == "shadow"))
        live = expected_stats(fills, (fills["instrument"] == pair["instrument"]) & (fills["mode"] == "live"))
        assert (pair["shadow"], pair["live"]) == (shadow, live)
        assert pair["live_minus_shadow_bps"] == pytest.approx(
            live["weighted_mean_bps"].expected - shadow["weighted_mean_bps"].expected
        )
    assert [p["instrument"] for p in venue["shadow_vs_live"]] == sorted(MIDS)


def test_worst_fills_are_the_highest_drift_read_back_in_full(generated):
    fills, path = generated
    [venue] = report.summarise(report.read_drift_log([path])).venues
    order = np.argsort(-np.nan_to_num(fills["drift"], nan=-np.inf))[:10]
    assert [w.client_order_id for w in venue.worst] == list(fills["client_order_id"][order])
    worst = venue.worst[0]
    assert worst.drift_bps == fills["drift"][order[0]]
    assert float(worst.fill_px) == pytest.approx(fills["fill_px"][order[0]], rel=1e-15)
    assert float(worst.qty) == pytest.approx(fills["qty"][order[0]], rel=1e-15)


def test_chunked_parallel_reading_equals_one_piece(generated, monkeypatch):
    _, path = generated
    whole = report.report_json(report.summarise(report.read_drift_log([path])))
    monkeypatch.setattr(read, "CHUNK_BYTES", 10_000)
    monkeypatch.setattr(read, "PARALLEL_MIN_BYTES", 0)
    assert len(read.line_aligned_ranges(path, 0, path.stat().st_size, read.CHUNK_BYTES)) > 50
    assert report.report_json(report.summarise(report.read_drift_log([path]))) == whole


@pytest.mark.parametrize(
    ("options", "selected"),
    [
        ({"mode": "live"}, lambda f: f["mode"] == "live"),
        ({"instrument": "ETHUSDT.BINANCE"}, lambda f: f["instrument"] == "ETHUSDT.BINANCE"),
        ({"session": "S-2"}, lambda f: f["session"] == "S-2"),
        ({"since": "2026-11-24T18:00:00Z"}, lambda f: f["ts"] >= START + timedelta(hours=6)),
        ({"until": "2026-11-24T20:00:00+02:00"}, lambda f: f["ts"] < START + timedelta(hours=6)),
        ({"since": "2026-11-24T14:00", "venue_id": "BINANCE"}, lambda f: f["ts"] >= START + timedelta(hours=2)),
        ({"venue_id": "binance"}, lambda f: np.ones(len(f["ts"]), bool)),  # the venue matches regardless of case
        ({"venue_id": "IBKR"}, lambda f: np.zeros(len(f["ts"]), bool)),
    ],
)
def test_filters(generated, options, selected):
    fills, path = generated
    columns = report.read_drift_log([path], report.parse_filters(**options))
    rows = selected(fills)
    assert len(columns) == rows.sum()
    if rows.any():
        assert report.summarise(columns).venues[0].overall.fills == rows.sum()
        assert report.summarise(columns).venues[0].overall.weighted_mean_bps == pytest.approx(
            expected_stats(fills, rows)["weighted_mean_bps"].expected, rel=1e-9
        )


def test_cli_json_equals_library(generated):
    _, path = generated
    assert json_report(path) == report.report_json(report.summarise(report.read_drift_log([path])))


def test_cli_tables_without_terminal(generated):
    _, path = generated
    result = runner.invoke(app, ["drift-report", "--log", str(path), "--mode", "shadow"])
    assert result.exit_code == 0, result.output
    assert "# BINANCE: " in result.stdout
    assert "# BINANCE: by instrument x side x mode" in result.stdout
    assert "# BINANCE: worst 10 orders" in result.stdout
    assert "shadow vs live" not in result.stdout  # --mode shadow leaves no live fills


def test_cli_fail_above(generated):
    fills, path = generated
    weighted = expected_stats(fills, np.ones(len(fills["qty"]), bool))["weighted_mean_bps"].expected
    above = runner.invoke(app, ["drift-report", "--log", str(path), "--json", "--fail-above", str(weighted - 0.01)])
    assert above.exit_code == 1
    assert above.stderr.startswith("error: notional-weighted mean drift above --fail-above")
    assert json.loads(above.stdout)["venues"]  # the report is printed before the verdict
    below = runner.invoke(app, ["drift-report", "--log", str(path), "--json", "--fail-above", str(weighted + 0.01)])
    assert below.exit_code == 0


def test_cli_html_is_self_contained(generated, tmp_path):
    _, path = generated
    page = tmp_path / "drift.html"
    result = runner.invoke(app, ["drift-report", "--log", str(path), "--html", str(page), "--json"])
    assert result.exit_code == 0, result.output
    html = page.read_text()
    assert "<script src=" not in html  # plotly.js is embedded: the page works offline
    assert "BINANCE: drift histogram per mode" in html and "S-1 (each fill)" in html


def test_long_series_are_binned_for_the_chart():
    n = charts.RAW_POINTS_MAX + 500
    fills = generated_fills(n, seed=3)
    drift = np.nan_to_num(fills["drift"])
    columns = report.DriftColumns(
        paths=[], kinds=[report.FillKind("V", "live", "X", "BUY", "S")], kind=np.zeros(n, np.int32),
        ts=np.array([t.replace(tzinfo=None) for t in fills["ts"]], "datetime64[us]"), notional=fills["notional"],
        drift_bps=drift, fee_quote=fills["fee_quote"], bid=np.full(n, np.nan), ask=np.full(n, np.nan),
        alert=fills["alert"], source=np.zeros(n, np.int32),
        offset=np.zeros(n, np.int64), malformed=0,
    )
    minutes, means, label = charts.drift_series(columns, np.arange(n))
    assert "weighted mean" in label and len(minutes) <= charts.TIME_BINS
    assert minutes[0] >= 0 and (np.diff(minutes) > 0).all() and minutes[-1] <= 24 * 60
    assert drift.min() <= means.min() and means.max() <= drift.max()


def test_mixed_venues_are_reported_separately(tmp_path):
    binance, ibkr = generated_fills(400, seed=1), generated_fills(300, seed=2, venue="IBKR")
    lines = log_lines(binance) + log_lines(ibkr)
    path = write_log(tmp_path / "drift.log", [lines[i] for i in np.random.default_rng(0).permutation(len(lines))])
    venues = report.summarise(report.read_drift_log([path])).venues
    assert [v.venue for v in venues] == ["BINANCE", "IBKR"]
    assert venues[0].overall == report.summarise(
        report.read_drift_log([path], report.parse_filters(venue_id="BINANCE"))
    ).venues[0].overall
    assert venues[1].overall.weighted_mean_bps == pytest.approx(
        expected_stats(ibkr, np.ones(300, bool))["weighted_mean_bps"].expected
    )
    assert all(w.client_order_id.startswith("O-IBKR-") for w in venues[1].worst)


def test_several_logs_are_one_report(generated, tmp_path):
    fills, path = generated
    other = write_log(tmp_path / "other.log", log_lines(generated_fills(200, seed=9)))
    assert json_report(path, other)["venues"][0]["overall"]["fills"] == len(fills["qty"]) + 200


# ---------------------------------------------------------------- bad input


def test_truncated_last_line_is_ignored_silently(tmp_path):
    lines = log_lines(generated_fills(50, seed=4))
    path = write_log(tmp_path / "drift.log", lines[:-1] + [lines[-1][: len(lines[-1]) // 2]], end="")
    columns = report.read_drift_log([path])
    assert (len(columns), columns.malformed) == (49, 0)
    json_report(path)  # no warning


def test_malformed_lines_are_skipped_and_counted_in_one_warning(tmp_path):
    lines = log_lines(generated_fills(50, seed=5))
    bad = ["{not json", '{"ts": "yesterday", "session": "S", "mode": "live", "venue": "V", "instrument": "I", '
           '"side": "BUY", "notional": 1, "drift_bps": 1, "alert": false}', '{"ts": "2026-11-24T12:00:00Z"}',
           "[1, 2]", lines[0] + lines[1]]
    path = write_log(tmp_path / "drift.log", lines[:10] + bad + [""] + lines[10:])
    columns = report.read_drift_log([path])
    assert (len(columns), columns.malformed) == (50, 5)
    result = runner.invoke(app, ["drift-report", "--log", str(path), "--json"])
    assert result.exit_code == 0
    assert result.stderr.splitlines() == [f"warning: skipped 5 malformed line(s) in {path}"]
    assert json.loads(result.stdout)["malformed_lines"] == 5


def test_crlf_line_ends_and_invalid_utf8(tmp_path):
    lines = log_lines(generated_fills(40, seed=6))
    path = tmp_path / "drift.log"
    crlf = "\r\n".join(lines[:20]).encode() + b"\r\n\xff\xfe{\r\n" + "\r\n".join(lines[20:]).encode() + b"\r\n"
    path.write_bytes(crlf)
    columns = report.read_drift_log([path])
    assert (len(columns), columns.malformed) == (40, 1)
    unix = report.read_drift_log([write_log(tmp_path / "unix.log", lines)])
    assert report.summarise(columns).venues[0].overall == report.summarise(unix).venues[0].overall


def test_missing_log(tmp_path):
    with pytest.raises(ConfigError, match="drift log not found"):
        report.read_drift_log([tmp_path / "nope.log"])
    result = runner.invoke(app, ["drift-report", "--log", str(tmp_path / "nope.log")])
    assert result.exit_code == 2
    assert result.stderr.splitlines() == [f"error: drift log not found: {tmp_path / 'nope.log'} "
                                          "(pass --log PATH; shadow and live sessions write one)"]


def test_default_log_is_the_binance_profiles_drift_log(tmp_path, monkeypatch):
    """Like every command, drift-report runs on a profile (default binance): its drift_log, missing here: exit 2."""
    (tmp_path / "profiles").mkdir()
    (tmp_path / "profiles" / "binance.yaml").write_bytes((Path(__file__).parent.parent / "profiles/binance.yaml").read_bytes())
    monkeypatch.chdir(tmp_path)
    result = runner.invoke(app, ["drift-report"])
    assert result.exit_code == 2
    assert "drift log not found: " in result.stderr and "artifacts/logs/live/drift.log" in result.stderr


@pytest.mark.parametrize("content", ["", "\n\n", '{"ts": "2026-11-24T12:00:00Z", "mode": "li'])
def test_a_log_without_fills_is_a_report_of_no_fills(tmp_path, content):
    """A day without trades (or a first fill cut short by a crash) is not an error: cron must not fail on it."""
    path = tmp_path / "drift.log"
    path.write_text(content)
    columns = report.read_drift_log([path])
    assert (len(columns), columns.malformed, columns.fills_in_logs) == (0, 0, 0)
    plain = runner.invoke(app, ["drift-report", "--log", str(path)])
    assert (plain.exit_code, plain.stderr) == (0, "")
    assert plain.stdout.splitlines() == [f"drift report: {path}", "no fills"]
    as_json = runner.invoke(app, ["drift-report", "--log", str(path), "--json", "--fail-above", "0"])
    assert (as_json.exit_code, as_json.stderr) == (0, "")  # no fills cannot be above a threshold
    assert json.loads(as_json.stdout) == {
        "logs": [str(path)], "malformed_lines": 0, "fills": 0, "fills_unknown_fee": 0, "venues": []
    }


def test_an_empty_log_with_html_writes_a_page_that_says_so(tmp_path):
    path = tmp_path / "drift.log"
    path.write_text("")
    page = tmp_path / "drift.html"
    result = runner.invoke(app, ["drift-report", "--log", str(path), "--html", str(page)])
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines() == [f"drift report: {path}", "no fills", f"wrote {page}"]
    assert "no fills" in page.read_text()


def test_a_file_none_of_whose_lines_is_a_fill_is_a_bad_path(tmp_path):
    path = tmp_path / "targets.json"
    path.write_text('{\n  "weights": {"BTCUSDT.BINANCE": 0.5}\n}\n')
    with pytest.raises(ConfigError, match=r"not a drift log: .*targets.json: none of its lines is a fill"):
        report.read_drift_log([path])
    assert runner.invoke(app, ["drift-report", "--log", str(path)]).exit_code == 2


def test_filters_matching_nothing_report_no_fills(generated):
    _, path = generated
    plain = runner.invoke(app, ["drift-report", "--log", str(path), "--since", "2030-01-01"])
    assert (plain.exit_code, plain.stderr) == (0, "")
    assert plain.stdout.splitlines() == [f"drift report: {path}", "no fills match the filters (3000 in the logs)"]
    result = runner.invoke(
        app, ["drift-report", "--log", str(path), "--json", "--since", "2030-01-01", "--fail-above", "-100"]
    )
    assert (result.exit_code, result.stderr) == (0, "")
    assert json.loads(result.stdout) | {"logs": None} == {
        "logs": None, "malformed_lines": 0, "fills": 0, "fills_unknown_fee": 0, "venues": []
    }


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--since", "last tuesday"], "error: --since: expected an ISO-8601 time like 2026-11-24T12:00:00Z, got "
                                      "'last tuesday'"),
        (["--until", "2026-13-01"], "error: --until: expected an ISO-8601 time"),
        (["--mode", "paper"], "error: --mode must be one of shadow, live, backtest, got 'paper'"),
        (["--fail-above", "lots"], "Invalid value for '--fail-above'"),
    ],
)
def test_bad_options_exit_2(generated, args, message):
    _, path = generated
    result = runner.invoke(app, ["drift-report", "--log", str(path), *args])
    assert result.exit_code == 2
    assert message in result.stderr


def test_unwritable_html(generated, tmp_path):
    _, path = generated
    result = runner.invoke(app, ["drift-report", "--log", str(path), "--html", str(tmp_path / "no" / "x.html")])
    assert result.exit_code == 2
    assert result.stderr.splitlines()[-1].startswith(f"error: --html: cannot write {tmp_path / 'no' / 'x.html'}")


def test_check_fail_above_names_each_venue():
    stats = report.DriftStats(1, 0, 10.0, 3.0, 3.25, 3.0, 3.0, 3.0, 3.0, 0, None, None, 1)
    venue = report.VenueReport("BINANCE", "a", "b", stats, [], [], [], [], [], [])
    with pytest.raises(RuntimeFailure, match=r"above --fail-above 3 bps: BINANCE 3.25 bps"):
        report.check_fail_above(report.DriftReport([], 0, 1, 1, [venue]), 3.0)
    report.check_fail_above(report.DriftReport([], 0, 1, 1, [venue]), 3.25)


# ---------------------------------------------------------------- timestamps


@pytest.mark.parametrize(
    "texts",
    [
        ["2026-11-24T12:00:00.123456Z", "2026-02-28T23:59:59.000001Z"],
        ["2026-11-24T12:00:00Z", "2024-02-29T00:00:00Z"],
        ["2026-11-24 12:00:00.5", "2026-11-24 12:00:01.7"],
        ["2026-11-24T12:00:00.123456789+00:00", "1999-12-31T23:59:59.999999999+00:00"],
    ],
)
def test_fast_timestamp_path_agrees_with_numpy(texts):
    fast = decode.uniform_utc_times(texts)
    assert fast is not None
    expected = [np.datetime64(datetime.fromisoformat(t[:26].rstrip("Z+")).replace(tzinfo=None), "us") for t in texts]
    assert list(fast) == expected


@pytest.mark.parametrize(
    "texts",
    [
        ["2026-02-30T12:00:00Z", "2026-02-28T12:00:00Z"],  # no such day
        ["2026-11-24T12:00:00+01:00", "2026-11-24T12:00:00+01:00"],  # an offset other than UTC
        ["2026-11-24T12:00:00+00:00", "2026-11-24T12:00:00+01:00"],
        ["2026-11-24T12:00:00Z", "2026-11-24T12:00:01+"],
        ["2026-11-24T12:00:00Z", "2026-11-24X12:00:01Z"],
    ],
)
def test_irregular_timestamps_take_the_general_path(texts):
    assert decode.uniform_utc_times(texts) is None


def test_general_timestamp_path_converts_offsets_and_marks_garbage():
    times = decode.utc_times(["2026-11-24T13:00:00+01:00", "garbage", "2026-02-30T00:00:00Z", "2026-11-24"])
    assert times[0] == np.datetime64("2026-11-24T12:00:00", "us")
    assert np.isnat(times[1]) and np.isnat(times[2])
    assert times[3] == np.datetime64("2026-11-24T00:00:00", "us")


# ---------------------------------------------------------------- labels learnt while reading


def test_known_labels_decoder_is_used_once_labels_are_learnt(generated, monkeypatch):
    _, path = generated
    monkeypatch.setattr(decode, "known_labels", {name: set() for name in decode.LABELS})
    first = report.report_json(report.summarise(report.read_drift_log([path])))  # general decoder, learns
    assert decode.known_labels["instrument"] == set(MIDS)
    assert decode.known_labels["side"] == {"BUY", "SELL"}
    fills = decode.decode_lines(path.read_bytes())
    assert type(fills[0]).__name__ == "_KnownFill"  # a fresh decode takes the fast decoder
    assert report.report_json(report.summarise(report.read_drift_log([path]))) == first


def test_a_new_label_falls_back_to_the_general_decoder_and_is_learnt(tmp_path, monkeypatch):
    monkeypatch.setattr(decode, "known_labels", {name: set() for name in decode.LABELS})
    old = write_log(tmp_path / "old.log", log_lines(generated_fills(100, seed=12)))
    report.read_drift_log([old])
    fills = generated_fills(100, seed=13)
    fills["instrument"][7] = "XRPUSDT.BINANCE"
    new = write_log(tmp_path / "new.log", log_lines(fills))
    assert type(decode.decode_lines(new.read_bytes())[0]).__name__ == "Fill"
    assert "XRPUSDT.BINANCE" in decode.known_labels["instrument"]
    [venue] = report.summarise(report.read_drift_log([new])).venues
    assert ("XRPUSDT.BINANCE", fills["side"][7], fills["mode"][7]) in {
        (g.instrument, g.side, g.mode) for g in venue.by_instrument_side
    }
    assert venue.overall.fills == 100


def test_bad_lines_after_labels_are_learnt_are_still_counted(tmp_path, monkeypatch):
    monkeypatch.setattr(decode, "known_labels", {name: set() for name in decode.LABELS})
    lines = log_lines(generated_fills(50, seed=14))
    report.read_drift_log([write_log(tmp_path / "good.log", lines)])
    columns = report.read_drift_log([write_log(tmp_path / "bad.log", lines[:20] + ["{not json"] + lines[20:])])
    assert (len(columns), columns.malformed) == (50, 1)


def test_known_labels_decoder_waits_for_every_label():
    assert decode.known_labels_decoder((("BINANCE",), (), ("X",), ("BUY",))) is None
    decoder = decode.known_labels_decoder((("BINANCE",), ("live",), ("X",), ("BUY",)))
    line = (
        b'{"ts":"t","session":"S","mode":"live","venue":"BINANCE","instrument":"X","side":"BUY","notional":"1.5",'
        b'"drift_bps":null,"alert":false}'
    )
    fill = decoder.decode(line)
    assert (fill.notional, fill.drift_bps, fill.fee_quote) == (1.5, None, None)
    with pytest.raises(decode.msgspec.ValidationError):
        decoder.decode(line.replace(b'"BUY"', b'"SELL"'))


def test_a_session_appending_after_a_crash_keeps_its_first_fill(tmp_path):
    """A line cut short by a crash is ended before the next session appends: one bad line, no fill lost."""
    from decimal import Decimal

    from nautlive.core.drift import DriftMonitor, SubmitSnapshot

    log = tmp_path / "drift.log"
    good = log_lines(generated_fills(10, seed=7))[:3]
    write_log(log, good[:2] + [good[2][:40]], end="")  # the crash cut the third line short
    monitor = DriftMonitor(log, "after-crash", "shadow", "BINANCE", Decimal(25))
    monitor.on_submit("O-1", SubmitSnapshot("BTCUSDT.BINANCE", "BUY", Decimal(100), Decimal(100), "h"))
    monitor.on_fill("O-1", Decimal("0.5"), Decimal("100.01"), 1_700_000_000_000_000_000)
    monitor.close()
    columns = report.read_drift_log([log])
    assert len(columns) == 3 and columns.malformed == 1
    assert "after-crash" in {k.session for k in columns.kinds}


# ---------------------------------------------------------------- fees in their currencies


def fee_line(side: str, fee: str, **fields) -> str:
    """A drift-log line of a 1.5 ETHUSDT fill at 3000 with the given fee fields."""
    record = {
        "ts": "2026-11-24T12:00:00.000000Z", "session": "S", "mode": "live", "venue": "BINANCE",
        "instrument": "ETHUSDT.BINANCE", "side": side, "qty": "1.5", "fill_px": "3000", "mid_at_submit": "3000",
        "last_tick_px": "3000", "drift_bps": 0.0, "notional": "4500", "client_order_id": f"O-{side}",
        "target_hash": "h", "alert": False, "fee": fee,
    }
    return json.dumps(record | fields)


def test_fees_are_added_in_the_quote_currency_only(tmp_path):
    """A BUY's commission in ETH and a SELL's in USDT add up through fee_quote, never as 0.0115 + 10."""
    lines = [
        fee_line("BUY", "0.0115", trade_id="1001", fee_currency="ETH", fee_quote="34.5"),
        fee_line("SELL", "10", trade_id="1002", fee_currency="USDT", fee_quote="10", recovered=True),
    ]
    path = write_log(tmp_path / "drift.log", lines)
    out = json_report(path)
    overall = out["venues"][0]["overall"]
    assert (overall["fees"], overall["fills_unknown_fee"], out["fills_unknown_fee"]) == (44.5, 0, 0)
    sides = {g["side"]: g["stats"]["fees"] for g in out["venues"][0]["by_instrument_side"]}
    assert sides == {"BUY": 34.5, "SELL": 10.0}


def test_a_line_of_an_older_writer_has_an_unknown_fee(tmp_path):
    """An old line's fee has no currency: it is counted as unknown, not added to the fees."""
    lines = [
        fee_line("BUY", "0.0115", trade_id="1001", fee_currency="ETH", fee_quote="34.5"),
        fee_line("SELL", "10", trade_id="1002", fee_currency="USDT", fee_quote="10"),
        fee_line("BUY", "0.002"),  # older writer: fee without currency or fee_quote
        fee_line("SELL", None, trade_id="1003", fee_currency=None, fee_quote=None),  # the writer knew no fee
    ]
    path = write_log(tmp_path / "drift.log", lines)
    out = json_report(path)
    overall = out["venues"][0]["overall"]
    assert (overall["fills"], overall["fees"], overall["fills_unknown_fee"]) == (4, 44.5, 2)
    assert (out["fills"], out["fills_unknown_fee"]) == (4, 2)
    plain = runner.invoke(app, ["drift-report", "--log", str(path)])
    assert "# BINANCE: 4 fills 2026-11-24T12:00:00.000000Z .. 2026-11-24T12:00:00.000000Z; fees leave out 2 fill(s) " \
           "of unknown fee (no fee_quote: logged before fees had a currency)" in plain.stdout.splitlines()
    only_old = write_log(tmp_path / "old.log", [fee_line("BUY", "0.002")])
    [venue] = report.summarise(report.read_drift_log([only_old])).venues
    assert (venue.overall.fees, venue.overall.fills_unknown_fee) == (None, 1)


def test_fee_quote_as_a_number_and_a_bad_fee_quote(tmp_path):
    lines = [fee_line("SELL", "1", fee_quote="lots"), fee_line("BUY", "0.0115", fee_currency="ETH", fee_quote=34.5)]
    columns = report.read_drift_log([write_log(tmp_path / "drift.log", lines)])
    assert (len(columns), columns.malformed, list(columns.fee_quote)) == (1, 1, [34.5])


# ---------------------------------------------------------------- which log, which venue


def test_venue_is_a_profile_and_venue_id_the_filter(generated, tmp_path, monkeypatch):
    _, path = generated
    profile = tmp_path / "mine.yaml"
    profile.write_text(
        f"venue: BINANCE\nadapter: binance\ninstruments: [BTCUSDT.BINANCE]\nquote_currency: USDT\n"
        f"catalog: artifacts/catalog/binance.yaml\ndrift_log: {path}\n"
    )
    by_profile = runner.invoke(app, ["drift-report", "--profile", str(profile), "--json"])
    assert by_profile.exit_code == 0, by_profile.output
    assert json.loads(by_profile.stdout)["logs"] == [str(path)]  # the profile's drift_log
    (tmp_path / "profiles").mkdir()
    (tmp_path / "profiles" / "mine.yaml").write_text(profile.read_text())
    monkeypatch.chdir(tmp_path)
    by_name = runner.invoke(app, ["drift-report", "--venue", "mine", "--json", "--venue-id", "binance"])
    assert by_name.exit_code == 0, by_name.output
    assert json.loads(by_name.stdout)["fills"] == 3000
    other = runner.invoke(app, ["drift-report", "--log", str(path), "--json", "--venue-id", "IBKR"])
    assert (other.exit_code, json.loads(other.stdout)["fills"]) == (0, 0)
    not_a_profile = runner.invoke(app, ["drift-report", "--venue", "BINANCE", "--json"])
    assert not_a_profile.exit_code == 2
    assert "profile not found" in not_a_profile.stderr


def test_html_says_what_it_wrote(generated, tmp_path):
    _, path = generated
    page = tmp_path / "drift.html"
    result = runner.invoke(app, ["drift-report", "--log", str(path), "--html", str(page), "--mode", "live"])
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines()[-1] == f"wrote {page}"
    as_json = runner.invoke(app, ["drift-report", "--log", str(path), "--html", str(page), "--json"])
    assert as_json.stderr.splitlines() == [f"wrote {page}"]
    json.loads(as_json.stdout)  # stdout stays one JSON object


def test_the_writers_lines_report_their_fees_in_the_quote_currency(tmp_path):
    """drift.py's own lines: a BUY's fee in ETH and a SELL's in USDT add up in USDT; a BNB fee is an unknown fee."""
    from decimal import Decimal

    from nautlive.core.drift import DriftMonitor, SubmitSnapshot, fee_in_quote

    log = tmp_path / "drift.log"
    monitor = DriftMonitor(log, "S", "live", "BINANCE", Decimal(25))
    fills = [("O-1", "BUY", "0.0115", "ETH", "T-1"), ("O-2", "SELL", "10", "USDT", "T-2"), ("O-3", "BUY", "1", "BNB", "T-3")]
    for order, side, fee, currency, trade in fills:
        monitor.on_submit(order, SubmitSnapshot("ETHUSDT.BINANCE", side, Decimal(3000), Decimal(3000), "h"))
        monitor.on_fill(order, Decimal("11.5"), Decimal(3000), 1_700_000_000_000_000_000,
                        fee=fee_in_quote(Decimal(fee), currency, Decimal(3000), "ETH", "USDT"), trade_id=trade,
                        recovered=trade == "T-2")
    monitor.close()
    [venue] = report.summarise(report.read_drift_log([log])).venues
    assert (venue.overall.fills, venue.overall.fees, venue.overall.fills_unknown_fee) == (3, 44.5, 1)
