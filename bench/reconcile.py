"""Whole `nautlive reconcile` on the 2292-symbol capture beside NautilusTrader's own exchangeInfo -> instruments path.

Both sides are measured as whole processes (interpreter start, imports, decode, work), median of 5 runs each:
  nautlive:  nautlive reconcile --from-file CAPTURE --catalog <--all snapshot of CAPTURE> --json
  baseline:  python -c: decode with BinanceSpotExchangeInfo + BinanceSpotInstrumentProvider._parse_instrument per symbol
Goal: ratio <= 1.0 and nautlive under 1.5 s.
"""

import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
CAPTURE = REPO.parent / "shared" / "data" / "binance" / "exchange_info" / "binance_spot_exchange_info_2023-09-08.json"
RUNS = 5

NAUTILUS_PARSE = """
import sys, msgspec
from nautilus_trader.adapters.binance.http.client import BinanceHttpClient
from nautilus_trader.adapters.binance.spot.providers import BinanceSpotInstrumentProvider
from nautilus_trader.adapters.binance.spot.schemas.market import BinanceSpotExchangeInfo
from nautilus_trader.common.component import LiveClock
clock = LiveClock()
provider = BinanceSpotInstrumentProvider(BinanceHttpClient(clock, "k", "s", "http://127.0.0.1:1"), clock)
info = msgspec.json.decode(open(sys.argv[1], "rb").read(), type=BinanceSpotExchangeInfo)
for symbol in info.symbols:
    provider._parse_instrument(symbol, None, 0)
assert provider.count > 2000, provider.count
"""


def wall(cmd: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run(cmd, check=False, capture_output=True)
    return time.perf_counter() - start


def main() -> None:
    if not CAPTURE.exists():
        print(f"skipped: {CAPTURE} not present")
        print(json.dumps({"name": "reconcile", "value": "skipped", "met": False}))
        return
    with tempfile.TemporaryDirectory() as tmp:
        catalog = Path(tmp) / "all.yaml"
        nautlive = [sys.executable, "-m", "nautlive"]
        subprocess.run(nautlive + ["catalog", "snapshot", "--venue", "binance", "--from-file", str(CAPTURE), "--all",
                                   "--out", str(catalog)], check=True, capture_output=True, cwd=REPO)
        ours_cmd = nautlive + ["reconcile", "--venue", "binance", "--from-file", str(CAPTURE), "--catalog",
                               str(catalog), "--json"]
        check = subprocess.run(ours_cmd, capture_output=True, text=True, cwd=REPO)
        report = json.loads(check.stdout)
        assert report["checked"] == 2292 and check.returncode == 0, check.stderr
        theirs_cmd = [sys.executable, "-c", NAUTILUS_PARSE, str(CAPTURE)]
        ours = statistics.median(wall(ours_cmd) for _ in range(RUNS))
        theirs = statistics.median(wall(theirs_cmd) for _ in range(RUNS))
    ratio = ours / theirs
    print(f"nautlive reconcile, 2292 symbols, whole process:        {ours:.3f} s (median of {RUNS})")
    print(f"Nautilus decode + instrument parsing, whole process:   {theirs:.3f} s (median of {RUNS})")
    print(f"ratio {ratio:.2f} (goal <= 1.0; nautlive goal < 1.5 s)")
    print(json.dumps({"name": "reconcile", "value": round(ours, 3), "unit": "s", "baseline": "nautilus parse",
                      "baseline_value": round(theirs, 3), "ratio": round(ratio, 2), "goal": "<= 1.0 and < 1.5 s",
                      "met": ratio <= 1.0 and ours < 1.5}))


if __name__ == "__main__":
    main()
