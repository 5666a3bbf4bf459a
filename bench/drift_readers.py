"""The floor under `bench/drift_report.py`: the readers alone on the same 1,000,000-fill log, no statistics.

The drift-report goal (whole command under 1.5 s) was set on a machine where pyarrow's JSON reader alone takes about
1.2 s. This prints what reading alone takes on this machine, beside `nautlive --help` (interpreter start and CLI
import, which every command pays):
  pyarrow.json.read_json with an explicit schema of the fields the report needs (multithreaded);
  msgspec decode_lines with the report's own decoder and chunks, one forked process per core;
  the same plus the least a report needs from the decoded fills: drift, notional, fee and alert as numpy columns and
  each fill's group (venue, mode, instrument, side) as a code. No timestamps, statistics or output.
Startup plus the last one is the floor of a report built on msgspec.
"""

import json
import multiprocessing
import os
import subprocess
import sys
import tempfile
import time
from operator import attrgetter
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.json as pj

sys.path.insert(0, str(Path(__file__).parent))
from drift_report import FILLS, GOAL_SECONDS, write_log  # noqa: E402

from nautlive.report.decode import DECODER, Fill  # noqa: E402
from nautlive.report.read import CHUNK_BYTES, line_aligned_ranges  # noqa: E402

FIELDS = {"ts": pa.string(), "session": pa.string(), "mode": pa.string(), "venue": pa.string(),
          "instrument": pa.string(), "side": pa.string(), "notional": pa.string(), "drift_bps": pa.float64(),
          "alert": pa.bool_(), "fee_quote": pa.string()}


def best_of(runs: int, measure) -> float:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        measure()
        times.append(time.perf_counter() - start)
    return min(times)


def pyarrow_read(path: Path) -> None:
    options = pj.ParseOptions(explicit_schema=pa.schema(FIELDS), unexpected_field_behavior="ignore")
    pj.read_json(path, read_options=pj.ReadOptions(block_size=16 << 20), parse_options=options)


def msgspec_range(task: tuple[str, int, int, bool]) -> int:
    path, start, end, with_columns = task
    with open(path, "rb") as f:
        f.seek(start)
        fills = DECODER.decode_lines(f.read(end - start))
    if with_columns:
        columns(fills)
    return len(fills)


def columns(fills: list[Fill]) -> list[np.ndarray]:
    n, codes = len(fills), {}
    group = np.fromiter(
        (codes.setdefault(k, len(codes)) for k in map(attrgetter("venue", "mode", "instrument", "side"), fills)),
        np.int32, n,
    )
    numbers = [np.array(list(map(attrgetter(name), fills)), np.float64) for name in ("drift_bps", "notional", "fee_quote")]
    return [group, *numbers, np.fromiter(map(attrgetter("alert"), fills), np.bool_, n)]


def msgspec_read(path: Path, with_columns: bool) -> None:
    """The report's own decoder over the report's own line-aligned chunks, one forked process per core."""
    ranges = line_aligned_ranges(path, 0, path.stat().st_size, CHUNK_BYTES)
    tasks = [(str(path), a, b, with_columns) for a, b in ranges]
    with multiprocessing.get_context("fork").Pool(len(os.sched_getaffinity(0))) as pool:
        assert sum(pool.map(msgspec_range, tasks, chunksize=1)) == FILLS


def main() -> int:
    startup = best_of(3, lambda: subprocess.run([sys.executable, "-m", "nautlive", "--help"], capture_output=True))
    with tempfile.TemporaryDirectory() as tmp:
        log = Path(tmp) / "drift.log"
        write_log(log, FILLS)
        readers = {
            "pyarrow.json.read_json, explicit schema": best_of(3, lambda: pyarrow_read(log)),
            f"msgspec decode_lines, {len(os.sched_getaffinity(0))} processes": best_of(3, lambda: msgspec_read(log, False)),
            "the same + group code and numeric columns": best_of(3, lambda: msgspec_read(log, True)),
        }
    print(f"nautlive --help (interpreter start + CLI import): {startup:.2f} s")
    for name, seconds in readers.items():
        print(f"{name}, {FILLS:,} fills, reader alone: {seconds:.2f} s")
    floor = startup + readers["the same + group code and numeric columns"]
    print(f"floor of a report built on msgspec: {floor:.2f} s (goal {GOAL_SECONDS} s for the whole command)")
    print(json.dumps({
        "name": "drift_reader_floor",
        "value": round(floor, 3),
        "unit": "s",
        "baseline": "drift-report goal",
        "baseline_value": GOAL_SECONDS,
        "ratio": round(floor / GOAL_SECONDS, 2),
        "goal": f"printed: the goal is reachable only if this is < {GOAL_SECONDS} s",
        "met": floor < GOAL_SECONDS,
    }))
    return 0


if __name__ == "__main__":
    sys.exit(main())
