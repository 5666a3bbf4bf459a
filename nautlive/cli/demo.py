"""`nautlive demo` (and `make demo`): an offline shadow session with a mid-run target change, then the drift report.

Everything runs through the real `nautlive` commands, on the synthetic feed (no network, no keys), in
`<home>/artifacts/demo/`. Outside a working folder it first writes one (`nautlive-demo/`, as `nautlive init` does) from
the data shipped in the package, so it works from an installed wheel in an empty folder.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

DEMO_HOME = Path("nautlive-demo")
FIRST = {"as_of": "2026-11-24T12:00:00Z", "weights": {"BTCUSDT.BINANCE": 0.50, "ETHUSDT.BINANCE": 0.30}}
SECOND = {"as_of": "2026-11-24T12:05:00Z", "weights": {"BTCUSDT.BINANCE": 0.25, "ETHUSDT.BINANCE": 0.55}}


def write_atomically(path: Path, doc: dict) -> None:
    """As an optimiser should: write a temp file, then rename it over the target."""
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(doc, indent=2))
    os.replace(tmp, path)


def nautlive(home: Path, *args: str) -> int:
    """Run a real `nautlive` command in a child process, naming the working folder unless it is the current one."""
    full = [*(["--home", str(home)] if home != Path(".") else []), *args]
    print(f"\n$ nautlive {' '.join(full)}", flush=True)
    return subprocess.call([sys.executable, "-m", "nautlive", *full])


def working_folder() -> Path:
    """The working folder when it has the binance profile, else a demo folder written from the packaged data."""
    from nautlive.config.home import home, init_home

    current = home()
    if (current / "profiles" / "binance.yaml").is_file():
        return current
    folder = current / DEMO_HOME
    written = [path for path, action in init_home(folder) if action != "unchanged"]
    print(f"no profiles/binance.yaml in {current.absolute()}: the demo runs in the working folder {folder} "
          f"({len(written)} files written from the shipped data, as `nautlive init {folder}` does)", flush=True)
    return folder


def main() -> int:
    home = working_folder()
    demo = (Path("artifacts/demo") if home == Path(".") else home / "artifacts" / "demo")
    demo.mkdir(parents=True, exist_ok=True)
    targets, drift_log = demo / "target_weights.json", demo / "drift.log"
    drift_log.unlink(missing_ok=True)
    write_atomically(targets, FIRST)
    print(f"targets {FIRST['weights']}; in 6 s the optimiser writes {SECOND['weights']}", flush=True)
    timer = threading.Timer(6.0, write_atomically, (targets, SECOND))
    timer.start()
    try:
        code = nautlive(home, "shadow", "--venue", "binance", "--feed", "synthetic", "--targets", str(targets),
                        "--drift-log", str(drift_log), "--duration", "12", "--summary", str(demo / "summary.json"))
    finally:
        timer.cancel()
    if code:
        return code
    time.sleep(0.1)
    return nautlive(home, "drift-report", "--log", str(drift_log))


if __name__ == "__main__":
    sys.exit(main())
