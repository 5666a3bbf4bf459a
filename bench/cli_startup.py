"""Wall time of `nautlive --help` beside `python -c "import nautilus_trader.live.node"`, median of 10 runs each.

The CLI must not import Nautilus at module load. Goal: ratio <= 0.3.
"""

import json
import statistics
import subprocess
import sys
import time

RUNS = 10


def wall(cmd: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run(cmd, check=True, capture_output=True)
    return time.perf_counter() - start


def main() -> None:
    help_cmd = [sys.executable, "-m", "nautlive", "--help"]
    import_cmd = [sys.executable, "-c", "import nautilus_trader.live.node"]
    wall(help_cmd), wall(import_cmd)  # warm the file cache
    ours = statistics.median(wall(help_cmd) for _ in range(RUNS))
    theirs = statistics.median(wall(import_cmd) for _ in range(RUNS))
    ratio = ours / theirs
    print(f"nautlive --help:                    {ours * 1000:.0f} ms (median of {RUNS})")
    print(f"import nautilus_trader.live.node:   {theirs * 1000:.0f} ms (median of {RUNS})")
    print(f"ratio {ratio:.2f} (goal <= 0.3)")
    print(json.dumps({"name": "cli_startup", "value": round(ours * 1000), "unit": "ms",
                      "baseline": "import nautilus_trader.live.node", "baseline_value": round(theirs * 1000),
                      "ratio": round(ratio, 2), "goal": "<= 0.3", "met": ratio <= 0.3}))


if __name__ == "__main__":
    main()
