"""Parity on bars: the backtest on bars and a SHADOW node replaying the same bars send the same orders, fill alike."""

import json
import subprocess
import sys

import numpy as np
import pyarrow as pa
from pyarrow import csv

from .conftest import REPO, shared_file

BTC, ETH = "BTCUSDT.BINANCE", "ETHUSDT.BINANCE"
ROWS = 3 * 1440  # three days of minutes


def rows(name: str, n: int = ROWS) -> list:
    return json.loads(shared_file("binance", "market", name).read_text())[:n]


def iso(ms: float) -> str:
    return np.datetime_as_string(np.datetime64(int(ms), "ms"), unit="s") + "Z"


def parity(*args: str) -> dict:
    proc = subprocess.run([sys.executable, "-m", "nautlive", "parity", "--venue", "binance", *args, "--json"],
                          capture_output=True, text=True, cwd=REPO, timeout=300)
    assert proc.returncode in (0, 1), proc.stderr[-2000:]
    return json.loads(proc.stdout)


def weights(path, times) -> str:
    path.write_text(f"time,{BTC},{ETH}\n{iso(times[100] + 30_000)},0.5,0.3\n{iso(times[2000])},0.2,0.6\n"
                    f"{iso(times[3500])},,0.5\n")
    return str(path)


def test_three_days_of_the_real_minute_bars_give_identical_orders_and_fills(tmp_path):
    data = []
    for name in ("BTC_USDT-1m.json", "ETH_USDT-1m.json"):
        (tmp_path / name).write_text(json.dumps(rows(name)))
        data += ["--data", str(tmp_path / name)]
    times = [r[0] for r in rows("BTC_USDT-1m.json")]
    result = parity(*data, "--schedule", weights(tmp_path / "w.csv", times))
    assert result["orders_match"] and result["ok"]
    assert result["backtest_orders"] == result["shadow_orders"] == 6  # three rebalances of two orders
    assert result["divergence"] == 0.0
    for m in result["matched"]:
        assert m["backtest_px"] == m["shadow_px"] and m["backtest_notional"] == m["shadow_notional"]


def test_orders_beyond_a_quarter_of_the_bar_volume_fill_the_rest_one_tick_worse_in_both(tmp_path):
    data = np.array(rows("BTC_USDT-1m.json", 600), dtype=np.float64)
    table = {"time": [iso(t) for t in data[:, 0]],
             **{c: data[:, i + 1] for i, c in enumerate(("open", "high", "low", "close"))},
             "volume": np.full(len(data), 0.4)}  # 0.1 BTC a quarter: every order here is larger
    path = tmp_path / "thin.csv"
    csv.write_csv(pa.table(table), path)
    schedule = tmp_path / "w.csv"
    schedule.write_text(f"time,{BTC}\n{iso(data[50, 0])},0.6\n{iso(data[400, 0])},0.1\n")
    result = parity("--data", f"{BTC}={path}", "--schedule", str(schedule))
    assert result["orders_match"] and result["ok"] and result["divergence"] == 0.0
    assert result["backtest_orders"] >= 3
    closes = {round(c, 2) for c in data[:, 4]}
    assert all(m["backtest_px"] == m["shadow_px"] for m in result["matched"])
    split = [m for m in result["matched"] if float(m["backtest_px"]) not in closes]
    assert len(split) >= 3  # 0.1 BTC at the close, the rest a tick worse: an average price off the close
