"""Backtest on bars: slices of the real freqtrade files, an independent numpy recount, every bad input (exit 2)."""

import json

import numpy as np
import pyarrow as pa
import pytest
from pyarrow import csv, parquet
from typer.testing import CliRunner

from nautlive.cli.app import app

from .conftest import REPO, shared_file

runner = CliRunner()
BTC, ETH = "BTCUSDT.BINANCE", "ETHUSDT.BINANCE"
ROWS = 3 * 1440  # three days of minutes
FEE = 0.001


def raw(name: str, rows: int = ROWS) -> np.ndarray:
    return np.array(json.loads(shared_file("binance", "market", name).read_text())[:rows], dtype=np.float64)


def write_slice(tmp_path, name: str, rows: int = ROWS):
    path = tmp_path / name
    path.write_text(json.dumps(json.loads(shared_file("binance", "market", name).read_text())[:rows]))
    return path


def backtest(tmp_path, *args):
    return runner.invoke(app, ["backtest", "--profile", str(REPO / "profiles" / "binance.yaml"),
                               "--catalog", str(REPO / "artifacts" / "catalog" / "binance.yaml"),
                               "--out", str(tmp_path / "out"), *args])


def iso(ms: float) -> str:
    return np.datetime_as_string(np.datetime64(int(ms), "ms"), unit="s") + "Z"


@pytest.fixture
def sliced(tmp_path):
    btc, eth = write_slice(tmp_path, "BTC_USDT-1m.json"), write_slice(tmp_path, "ETH_USDT-1m.json")
    times = raw("BTC_USDT-1m.json")[:, 0]
    schedule = tmp_path / "w.csv"
    schedule.write_text(f"time,{BTC},{ETH}\n{iso(times[100] + 30_000)},0.5,0.3\n{iso(times[2000])},0.2,0.6\n"
                        f"{iso(times[3500])},,0.5\n")
    return tmp_path, ["--data", str(btc), "--data", str(eth), "--schedule", str(schedule)]


def test_nav_matches_an_independent_numpy_recount(sliced):
    tmp_path, args = sliced
    result = backtest(tmp_path, *args, "--json")
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    fills = [json.loads(line) for line in (tmp_path / "out" / "fills.jsonl").read_text().splitlines()]
    closes = {BTC: raw("BTC_USDT-1m.json"), ETH: raw("ETH_USDT-1m.json")}
    close_time = {k: (v[:, 0] + 60_000) * 1_000_000 for k, v in closes.items()}
    # The fee-paying NAV: the fills' quantities at the raw closes of their bars, the taker fee on each.
    cash, held = 100_000.0, {BTC: 0.0, ETH: 0.0}
    for f in fills:
        ts = int(np.datetime64(f["ts"].replace("Z", ""), "ns").astype(np.int64))
        px = closes[f["instrument"]][np.searchsorted(close_time[f["instrument"]], ts), 4]
        assert abs(float(f["fill_px"]) - px) <= 0.01  # the close; one tick worse beyond a quarter of the volume
        qty = float(f["qty"]) * (1 if f["side"] == "BUY" else -1)
        held[f["instrument"]] += qty
        cash -= qty * px + abs(qty) * px * FEE
    nav = cash + sum(held[k] * closes[k][-1, 4] for k in held)
    assert summary["nav_end"] == pytest.approx(nav, rel=1e-7)
    assert summary["fees"] == pytest.approx(sum(abs(float(f["qty"])) * float(f["fill_px"]) * FEE for f in fills),
                                            rel=1e-6)
    # The ideal: the weights exactly at the closes of the bars where they apply, no fees, no lots.
    prices = np.stack([closes[BTC][:, 4], closes[ETH][:, 4]], axis=1)
    cash, units = 100_000.0, np.zeros(2)
    for row, weights in ((100, (0.5, 0.3)), (1999, (0.2, 0.6)), (3499, (0.0, 0.5))):
        value = cash + units @ prices[row]
        units = np.array(weights) * value / prices[row]
        cash = value - units @ prices[row]
    ideal_end = cash + units @ prices[-1]
    assert summary["ideal_nav_end"] == pytest.approx(ideal_end, rel=1e-9)
    assert abs(summary["nav_end"] - ideal_end) < summary["fees"] + 0.02 * 100_000  # fees, lots and the band
    assert summary["rebalances"] == 3 and summary["orders"] == summary["fills"] == len(fills) >= 5
    assert 0 <= summary["max_drawdown"] < 1 and summary["turnover"] > 0 and summary["tracking_error"] >= 0
    header = (tmp_path / "out" / "equity.csv").read_text().splitlines()[0]
    assert header == f'"time","nav","ideal_nav","cash","{BTC}","{ETH}"'



def bars_table(rows: int = 500, times: str = "iso") -> dict:
    data = raw("BTC_USDT-1m.json", rows)
    stamp = [iso(t) for t in data[:, 0]] if times == "iso" else data[:, 0].astype(np.int64)
    return {"time": stamp, **{c: data[:, i + 1] for i, c in enumerate(("open", "high", "low", "close", "volume"))}}


def write_csv(path, table: dict):
    csv.write_csv(pa.table(table), path)
    return str(path)


def weights_csv(path, rows):
    path.write_text("\n".join(rows) + "\n")
    return str(path)


def run_bad(tmp_path, *args) -> str:
    result = backtest(tmp_path, *args)
    assert result.exit_code == 2, result.output
    assert not (tmp_path / "out").exists(), "nothing may be written"
    assert result.stderr.startswith("error: ") and result.stderr.count("\n") == 1
    return result.stderr


def test_csv_parquet_and_json_bars_give_the_same_run(tmp_path):
    table = bars_table(times="ms")
    schedule = weights_csv(tmp_path / "w.csv", ["time,BTCUSDT.BINANCE", f"{iso(table['time'][50])},0.6"])
    runs = []
    for name, path in (("json", write_slice(tmp_path, "BTC_USDT-1m.json", 500)),
                       ("csv", write_csv(tmp_path / "b.csv", bars_table())),
                       ("parquet", tmp_path / "b.parquet")):
        if name == "parquet":
            parquet.write_table(pa.table(table), path)
        result = backtest(tmp_path / name, "--data", f"{BTC}={path}", "--schedule", schedule, "--json")
        assert result.exit_code == 0, result.output
        runs.append(json.loads(result.stdout))
    assert runs[0] == runs[1] == runs[2]
    assert runs[0]["interval_secs"] == {BTC: 60} and runs[0]["orders"] == 2  # 60,000 USDT: max_order_notional 50,000


def test_hourly_bars_and_a_json_schedule(tmp_path):
    data = raw("BTC_USDT-1m.json", 60 * 48)
    hours = data.reshape(48, 60, 6)
    table = {"time": [iso(t) for t in hours[:, 0, 0]], "open": hours[:, 0, 1], "high": hours[:, :, 2].max(axis=1),
             "low": hours[:, :, 3].min(axis=1), "close": hours[:, -1, 4], "volume": hours[:, :, 5].sum(axis=1)}
    path = write_csv(tmp_path / "BTC_USDT-1h.csv", table)
    schedule = tmp_path / "s.json"
    schedule.write_text(json.dumps([{"at": iso(hours[10, 0, 0]), "weights": {BTC: 0.9}}]))
    result = backtest(tmp_path, "--data", path, "--schedule", str(schedule), "--json")
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["interval_secs"] == {BTC: 3600} and summary["bars"] == 48 and summary["rebalances"] == 1


def test_a_gap_of_many_bars_is_a_warning_with_its_span(tmp_path):
    table = bars_table()
    keep = [i for i in range(500) if not 100 <= i < 160]
    table = {k: [v[i] for i in keep] for k, v in table.items()}
    schedule = weights_csv(tmp_path / "w.csv", ["time,BTCUSDT.BINANCE", f"{table['time'][10]},0.5"])
    result = backtest(tmp_path, "--data", write_csv(tmp_path / "BTC_USDT.csv", table), "--schedule", schedule, "--json")
    assert result.exit_code == 0, result.output
    (warning,) = json.loads(result.stdout)["warnings"]
    assert "gap of 60 bars from" in warning and "BTC_USDT.csv" in warning


def changed(row: int, column: str, value):
    def change(table: dict) -> dict:
        table[column] = list(table[column])
        table[column][row] = value
        return table
    return change


@pytest.mark.parametrize(("change", "reason"), [
    (changed(7, "time", "2023-03-16T00:00:00Z"), "row 8: time before the previous row"),
    (lambda t: changed(7, "time", t["time"][6])(t), "row 8: duplicate time"),
    (changed(9, "close", float("nan")), "row 10: close is nan"),
    (lambda t: changed(9, "close", "abc")(t | {"close": [str(v) for v in t["close"]]}),
     "row 10: 'abc' in column 'close' is not numeric"),
    (changed(9, "low", 0.0), "row 10: low is 0.0: prices must be positive"),
    (changed(9, "open", -5.0), "row 10: open is -5.0"),
    (changed(11, "high", 1.0), "row 12: high 1.0 is below low"),
    (lambda t: {k: v for k, v in t.items() if k != "time"}, "no 'time' column"),
    (lambda t: t | {"vwap": t["close"]}, "unknown column 'vwap'"),
    (changed(3, "time", "yesterday"), "row 4: time 'yesterday' is not ISO 8601"),
])
def test_bad_bar_file(tmp_path, change, reason):
    path = write_csv(tmp_path / "bars.csv", change(bars_table()))
    schedule = weights_csv(tmp_path / "w.csv", ["time,BTCUSDT.BINANCE", "2023-03-17T00:00:00Z,0.5"])
    err = run_bad(tmp_path, "--data", f"{BTC}={path}", "--schedule", schedule)
    assert "bars.csv" in err and reason in err


@pytest.mark.parametrize(("rows", "reason"), [
    (["time,ETHUSDT.BINANCE", "2023-03-17T00:00:00Z,0.5"], "row 1: no bars for ETHUSDT.BINANCE"),
    (["time,BTCUSDT.BINANCE", "2024-01-01T00:00:00Z,0.5", "2024-02-01T00:00:00Z,0.4"], "every row"),
    (["when,BTCUSDT.BINANCE", "2023-03-17T00:00:00Z,0.5"], "no 'time' column"),
    (["time,BTCUSDT.BINANCE,XRPUSDT.BINANCE", "2023-03-17T00:00:00Z,0.5,"], "unknown column 'XRPUSDT.BINANCE'"),
    (["time,BTCUSDT.BINANCE", "2023-03-17T00:00:00Z,0.5", "2023-03-17T00:00:00Z,0.4"], "row 2: duplicate time"),
    (["time,BTCUSDT.BINANCE", "2023-03-17T00:00:00Z,1.5"], "row 1: weights sum to 1.5"),
    (["time,BTCUSDT.BINANCE", "2023-03-17T00:00:00Z,nan"], "row 1: BTCUSDT.BINANCE: weight is nan"),
])
def test_bad_weight_history(tmp_path, rows, reason):
    path = write_csv(tmp_path / "BTC_USDT-1m.csv", bars_table())
    err = run_bad(tmp_path, "--data", path, "--schedule", weights_csv(tmp_path / "weights.csv", rows))
    assert "weights.csv" in err and reason in err


def test_a_file_whose_name_does_not_say_the_instrument(tmp_path):
    err = run_bad(tmp_path, "--data", write_csv(tmp_path / "prices.csv", bars_table()))
    assert "cannot tell the instrument" in err and "INSTRUMENT_ID=PATH" in err


@pytest.mark.slow
def test_the_full_files_with_the_weekly_example(tmp_path):
    market = shared_file("binance", "market", "BTC_USDT-1m.json").parent
    result = backtest(tmp_path, "--data", str(market / "BTC_USDT-1m.json"), "--data", str(market / "ETH_USDT-1m.json"),
                      "--schedule", str(REPO / "artifacts" / "orders" / "weekly.example.csv"),
                      "--html", str(tmp_path / "t.html"), "--json")
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["bars"] == 132_174 and summary["rebalances"] == 6 and summary["rejected"] == 0
    assert len(summary["warnings"]) == 2  # the 80-bar gap of 2023-03-24 in both files
    assert abs(summary["nav_end"] - summary["ideal_nav_end"]) < 0.02 * summary["nav_start"]
    assert (tmp_path / "t.html").stat().st_size > 100_000
