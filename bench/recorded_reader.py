"""Quotes/s of nautlive.data.recorded.read_recorded on a real Binance recording, beside NautilusTrader's own adapter parse.

Ours: gunzip + split + decode + QuoteTicks of btcusdt_20240808.gz (quotes only), best of several runs.
Baseline: the Binance adapter's path on the same bookTicker lines, already unzipped and split (so timed without
gunzip): msgspec-decode each line with `BinanceQuoteMsg`, then `data.parse_to_quote_tick(instrument_id, ts_init)`.
"""

import json
import os
import sys
import time
import zlib
from pathlib import Path

import msgspec
from nautilus_trader.adapters.binance.common.schemas.market import BinanceQuoteMsg

from nautlive.catalog.specs import load_catalog, spec_to_instrument
from nautlive.data.recorded import read_recorded

REPO = Path(__file__).resolve().parent.parent
SHARED_DATA = Path(os.environ.get("NAUTLIVE_SHARED_DATA", REPO.parent / "shared" / "data"))
RECORDING = SHARED_DATA / "binance" / "market" / "btcusdt_20240808.gz"
GOAL = 2.5


def best_rate(run, repeats: int) -> tuple[float, int]:
    """(quotes per second of the fastest run, quote count)."""
    best, count = float("inf"), 0
    for _ in range(repeats):
        start = time.perf_counter()
        count = len(run())
        best = min(best, time.perf_counter() - start)
    return count / best, count


def adapter_quotes(lines: list[bytes], instrument_id) -> list:
    decoder = msgspec.json.Decoder(BinanceQuoteMsg)
    out = []
    for line in lines:
        ns, _, payload = line.partition(b" ")
        out.append(decoder.decode(payload).data.parse_to_quote_tick(instrument_id, int(ns)))
    return out


def main() -> int:
    if not RECORDING.exists():
        print(f"recording not found: {RECORDING}", file=sys.stderr)
        return 2
    instruments = {
        s.symbol: spec_to_instrument(s) for s in load_catalog(REPO / "artifacts/catalog/binance.yaml").instruments
    }
    ours, n = best_rate(lambda: read_recorded(RECORDING, instruments, kinds=("quotes",)), repeats=7)
    lines = [ln for ln in zlib.decompress(RECORDING.read_bytes(), wbits=31).split(b"\n") if b'@bookTicker"' in ln]
    iid = instruments["BTCUSDT"].id
    sample = read_recorded(RECORDING, instruments, kinds=("quotes",))
    assert sample[:100] == adapter_quotes(lines[:100], iid), "read_recorded disagrees with the adapter's parse"
    baseline, m = best_rate(lambda: adapter_quotes(lines, iid), repeats=3)
    ratio = ours / baseline
    print(f"recording: {RECORDING.name}, {n} quotes (adapter path: {m})")
    print(f"read_recorded (incl. gunzip):          {ours:>10,.0f} quotes/s")
    print(f"adapter BinanceQuoteMsg + parse (no gunzip): {baseline:>10,.0f} quotes/s")
    print(f"ratio: {ratio:.2f}x (goal >= {GOAL}x)")
    print(
        json.dumps(
            {
                "name": "recorded_reader",
                "value": round(ours),
                "unit": "quotes/s",
                "baseline": "binance adapter BinanceQuoteMsg.parse_to_quote_tick",
                "baseline_value": round(baseline),
                "ratio": round(ratio, 2),
                "goal": f">= {GOAL}x",
                "met": ratio >= GOAL,
            }
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
