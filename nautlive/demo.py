"""`make demo`: an offline shadow session with a mid-run target change, then the drift report.

Everything runs through the real `nautlive` commands, on the synthetic feed (no network, no keys), in artifacts/demo/.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

DEMO = Path("artifacts/demo")
FIRST = {"as_of": "2026-11-24T12:00:00Z", "weights": {"BTCUSDT.BINANCE": 0.50, "ETHUSDT.BINANCE": 0.30}}
SECOND = {"as_of": "2026-11-24T12:05:00Z", "weights": {"BTCUSDT.BINANCE": 0.25, "ETHUSDT.BINANCE": 0.55}}


def write_atomically(path: Path, doc: dict) -> None:
    """As an optimiser should: write a temp file, then rename it over the target."""
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(doc, indent=2))
    os.replace(tmp, path)


def nautlive(*args: str) -> int:
    print(f"\n$ nautlive {' '.join(args)}", flush=True)
    return subprocess.call([sys.executable, "-m", "nautlive", *args])


def main() -> int:
    DEMO.mkdir(parents=True, exist_ok=True)
    targets, drift_log = DEMO / "target_weights.json", DEMO / "drift.log"
    drift_log.unlink(missing_ok=True)
    write_atomically(targets, FIRST)
    print(f"targets {FIRST['weights']}; in 6 s the optimiser writes {SECOND['weights']}")
    threading.Timer(6.0, write_atomically, (targets, SECOND)).start()
    code = nautlive("shadow", "--venue", "binance", "--feed", "synthetic", "--targets", str(targets),
                    "--drift-log", str(drift_log), "--duration", "12", "--summary", str(DEMO / "summary.json"))
    if code:
        return code
    time.sleep(0.1)
    return nautlive("drift-report", "--log", str(drift_log))


if __name__ == "__main__":
    sys.exit(main())
