"""Backtest on bars: the whole `nautlive backtest` against Nautilus's BacktestEngine alone on the same bars.

1. Speed, the two shipped 1m files (132,174 bars): bars/s of run_backtest (reading, engine, statistics, equity.csv)
   against the engine alone (same reader, same bar stream, bar execution, a strategy that only subscribes to the bars).
   Goal: ratio >= 0.8.
2. Memory, a year of 1m bars for 10 instruments (about 5.3M bars, the shipped files repeated and scaled, as Parquet):
   peak RSS of each side in its own process. Goal: ours <= 1.25 x the engine alone's.
"""

import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
MARKET = REPO.parent / "shared" / "data" / "binance" / "market"
FILES = [MARKET / "BTC_USDT-1m.json", MARKET / "ETH_USDT-1m.json"]
YEAR_MINUTES = 525_600
SYMBOLS = ["BTC", "ETH", "AAA", "BBB", "CCC", "DDD", "EEE", "FFF", "GGG", "HHH"]


def engine_only(profile, data: list[str], schedule: str) -> int:  # noqa: ANN001
    """The engine alone on the same bars: same reader and stream, a strategy that only subscribes. Returns bars."""
    from nautilus_trader.config import StrategyConfig
    from nautilus_trader.trading.strategy import Strategy

    from nautlive.data.bars import bar_type, merged_chunks
    from nautlive.research.backtest import new_engine
    from nautlive.research.bar_backtest import CHUNK_NS, prepare_bars

    run = prepare_bars(profile, data, None, schedule)

    class SubscribeOnly(Strategy):
        def on_start(self) -> None:
            for s in run.series:
                self.subscribe_bars(bar_type(s.instrument_id, s.step_ns))

    engine = new_engine(profile, run.instruments.values())
    engine.add_data_iterator("bars", merged_chunks(run.series, run.instruments, CHUNK_NS))
    engine.add_strategy(SubscribeOnly(StrategyConfig(strategy_id="SubscribeOnly-001")))
    engine.run()
    engine.dispose()
    return run.bars


def ours(profile, data: list[str], schedule: str, out: str) -> int:  # noqa: ANN001
    from nautlive.research.backtest import run_backtest

    return run_backtest(profile, data, None, schedule, out).bars


def timed(fn, *args) -> tuple[int, float]:  # noqa: ANN001
    start = time.perf_counter()
    bars = fn(*args)
    return bars, time.perf_counter() - start


def speed() -> dict:
    import nautilus_trader.backtest.engine  # noqa: F401  imports are not part of either timing

    from nautlive.config.profile import load_profile

    profile = load_profile(profile=REPO / "profiles" / "binance.yaml")
    data = [str(f) for f in FILES]
    schedule = str(REPO / "artifacts" / "orders" / "weekly.example.csv")
    with tempfile.TemporaryDirectory() as tmp:
        bars, theirs_s = timed(engine_only, profile, data, schedule)
        _, ours_s = timed(ours, profile, data, schedule, tmp)
    ratio = theirs_s / ours_s
    print(f"shipped files, {bars:,} bars: nautlive backtest {bars / ours_s:,.0f} bars/s ({ours_s:.2f} s), "
          f"engine alone {bars / theirs_s:,.0f} bars/s ({theirs_s:.2f} s): ratio {ratio:.2f} (goal >= 0.8)")
    return {"bars_s": round(bars / ours_s), "engine_bars_s": round(bars / theirs_s), "ratio": round(ratio, 2)}


def write_year(folder: Path) -> tuple[Path, list[str], str]:
    """10 Parquet files of a year of 1m bars (the shipped files repeated, each symbol scaled), a profile and catalog."""
    import numpy as np
    import pyarrow as pa
    from pyarrow import parquet

    base = [np.array(json.loads(f.read_text()), dtype=np.float64) for f in FILES]
    t0 = int(base[0][0, 0])
    paths = []
    for k, symbol in enumerate(SYMBOLS):
        rows = base[k % 2]
        reps = np.resize(np.arange(len(rows)), YEAR_MINUTES)
        scale = 1.0 + k / 10
        table = {"time": t0 + np.arange(YEAR_MINUTES, dtype=np.int64) * 60_000}
        table |= {c: rows[reps, i + 1] * (scale if c != "volume" else 1.0)
                  for i, c in enumerate(("open", "high", "low", "close", "volume"))}
        path = folder / f"{symbol}_USDT-1m.parquet"
        parquet.write_table(pa.table(table), path)
        paths.append(str(path))
    ids = [f"{s}USDT.BINANCE" for s in SYMBOLS]
    spec = json.loads((REPO / "artifacts" / "catalog" / "binance.yaml").read_text().split("[", 1)[1].split("\n")[1]
                      .rstrip(","))
    records = [spec | {"instrument_id": iid, "base": iid[:3]} for iid in ids]
    (folder / "catalog.yaml").write_text(json.dumps({"venue": "BINANCE", "instruments": records}))
    profile = (REPO / "profiles" / "binance.yaml").read_text()
    profile = profile.replace("instruments: [BTCUSDT.BINANCE, ETHUSDT.BINANCE]", f"instruments: [{', '.join(ids)}]")
    profile = profile.replace("catalog: artifacts/catalog/binance.yaml", f"catalog: {folder / 'catalog.yaml'}")
    (folder / "profile.yaml").write_text(profile)
    schedule = folder / "weekly.csv"
    weeks = np.arange(t0, t0 + YEAR_MINUTES * 60_000, 7 * 86_400_000)
    lines = [",".join(["time", *ids])] + [",".join([str(w), *(f"{0.09 + 0.01 * ((i + j) % 2):.2f}" for j in range(10))])
                                          for i, w in enumerate(weeks)]
    schedule.write_text("\n".join(lines) + "\n")
    return folder / "profile.yaml", paths, str(schedule)


def child(side: str, profile_path: str, schedule: str, out: str, *data: str) -> None:
    """One side of the memory run in this process; prints bars, seconds and peak RSS (MB) as JSON."""
    from nautlive.config.profile import load_profile

    profile = load_profile(profile=Path(profile_path))
    if side == "ours":
        bars, seconds = timed(ours, profile, list(data), schedule, out)
    else:
        bars, seconds = timed(engine_only, profile, list(data), schedule)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"bars": bars, "seconds": round(seconds, 1), "peak_mb": round(peak)}))


def memory() -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        profile, paths, schedule = write_year(Path(tmp))
        result = {}
        for side in ("engine", "ours"):
            proc = subprocess.run([sys.executable, __file__, "child", side, str(profile), schedule,
                                   str(Path(tmp) / "out"), *paths], capture_output=True, text=True, cwd=tmp)
            if proc.returncode != 0:
                raise RuntimeError(proc.stderr[-2000:])
            result[side] = json.loads(proc.stdout.strip().splitlines()[-1])
    e, o = result["engine"], result["ours"]
    ratio = o["peak_mb"] / e["peak_mb"]
    print(f"a year of 1m bars, 10 instruments ({o['bars']:,} bars): peak RSS nautlive backtest {o['peak_mb']} MB "
          f"({o['seconds']} s), engine alone {e['peak_mb']} MB ({e['seconds']} s): ratio {ratio:.2f} (goal <= 1.25)")
    return {"peak_mb": o["peak_mb"], "engine_peak_mb": e["peak_mb"], "rss_ratio": round(ratio, 2)}


def main() -> None:
    if not all(f.exists() for f in FILES):
        print(f"skipped: bar files not present in {MARKET}")
        print(json.dumps({"name": "backtest_bars", "value": "skipped", "met": False}))
        return
    os.chdir(REPO)
    fast = speed()
    big = memory() if "--speed-only" not in sys.argv else {"rss_ratio": None}
    met = fast["ratio"] >= 0.8 and (big["rss_ratio"] is None or big["rss_ratio"] <= 1.25)
    print(json.dumps({"name": "backtest_bars", "value": fast["bars_s"], "unit": "bars/s",
                      "baseline": "BacktestEngine alone", "baseline_value": fast["engine_bars_s"],
                      "ratio": fast["ratio"], "goal": ">= 0.8; RSS <= 1.25x", "met": met} | big))


if __name__ == "__main__":
    if sys.argv[1:2] == ["child"]:
        child(*sys.argv[2:])
    else:
        main()
