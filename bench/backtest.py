"""Quotes per second of the rebalancing strategy on BacktestEngine over the real 2024-08-08 BTCUSDT + ETHUSDT
recording, beside the same engine, venue and data with a strategy that only subscribes (the engine's own cost).

Ratio = our engine.run() time / the subscribe-only engine.run() time, median of 3 runs each. Goal: <= 1.25.
"""

import json
import statistics
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
MARKET = REPO.parent / "shared" / "data" / "binance" / "market"
FILES = [MARKET / "btcusdt_20240808.gz", MARKET / "ethusdt_20240808.gz"]
RUNS = 3


def timed_run(engine) -> float:  # noqa: ANN001
    start = time.perf_counter()
    engine.run()
    elapsed = time.perf_counter() - start
    engine.dispose()
    return elapsed


def main() -> None:
    if not all(f.exists() for f in FILES):
        print(f"skipped: recordings not present in {MARKET}")
        print(json.dumps({"name": "backtest", "value": "skipped", "met": False}))
        return
    import tempfile

    from nautilus_trader.config import StrategyConfig
    from nautilus_trader.model.identifiers import InstrumentId
    from nautilus_trader.trading.strategy import Strategy

    from nautlive.config.profile import load_profile
    from nautlive.research.backtest import backtest_engine, build_backtest_engine, prepare_run

    class SubscribeOnly(Strategy):
        def __init__(self, ids):  # noqa: ANN001
            super().__init__(StrategyConfig(strategy_id="SubscribeOnly-001"))
            self.ids = ids

        def on_start(self) -> None:
            for iid in self.ids:
                self.subscribe_quote_ticks(InstrumentId.from_str(iid))
                self.subscribe_trade_ticks(InstrumentId.from_str(iid))

    profile = load_profile(profile=REPO / "profiles" / "binance.yaml")
    with tempfile.TemporaryDirectory() as tmp:
        targets = Path(tmp) / "t.json"
        targets.write_text(json.dumps({"weights": {"BTCUSDT.BINANCE": 0.5, "ETHUSDT.BINANCE": 0.3}}))
        schedule = Path(tmp) / "s.json"
        schedule.write_text(json.dumps([{"at": "2024-08-08T23:57:00Z",
                                         "weights": {"BTCUSDT.BINANCE": 0.2, "ETHUSDT.BINANCE": 0.6}}]))
        import os

        os.chdir(REPO)
        run = prepare_run(profile, FILES, targets, schedule)
        quotes = sum(1 for t in run.ticks if type(t).__name__ == "QuoteTick")
        ours, theirs = [], []
        for _ in range(RUNS):
            engine, strategy = build_backtest_engine(profile, run, None, session="bench")
            ours.append(timed_run(engine))
            assert len(strategy.reports) == 2, "both target changes must be applied"
            engine = backtest_engine(profile, run)
            engine.add_strategy(SubscribeOnly(profile.instruments))
            theirs.append(timed_run(engine))
    ours_s, theirs_s = statistics.median(ours), statistics.median(theirs)
    ratio = ours_s / theirs_s
    print(f"ticks {len(run.ticks)} ({quotes} quotes)")
    print(f"rebalancing strategy:   {quotes / ours_s:,.0f} quotes/s ({ours_s:.3f} s, median of {RUNS})")
    print(f"subscribe-only (engine): {quotes / theirs_s:,.0f} quotes/s ({theirs_s:.3f} s, median of {RUNS})")
    print(f"overhead ratio {ratio:.2f} (goal <= 1.25)")
    print(json.dumps({"name": "backtest", "value": round(quotes / ours_s), "unit": "quotes/s",
                      "baseline": "subscribe-only engine", "baseline_value": round(quotes / theirs_s),
                      "ratio": round(ratio, 2), "goal": "<= 1.25", "met": ratio <= 1.25}))


if __name__ == "__main__":
    main()
