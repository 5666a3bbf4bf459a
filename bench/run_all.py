"""Run every bench/*.py script and print one table of their figures.

Each script prints what it measures and, as its last line, one JSON object:
{"name", "value", "unit", "baseline", "baseline_value", "ratio", "goal", "met"}.
"""

import json
import subprocess
import sys
from pathlib import Path

from rich.console import Console
from rich.table import Table


def main() -> int:
    here = Path(__file__).parent
    results = []
    for script in sorted(here.glob("*.py")):
        if script.name == "run_all.py":
            continue
        print(f"== {script.name}", flush=True)
        proc = subprocess.run([sys.executable, str(script)], capture_output=True, text=True)
        print(proc.stdout, end="")
        if proc.returncode != 0:
            print(proc.stderr, end="", file=sys.stderr)
        try:
            results.append(json.loads(proc.stdout.strip().splitlines()[-1]))
        except (IndexError, json.JSONDecodeError):
            results.append({"name": script.stem, "value": "failed", "met": False})
    table = Table(title="nautlive benchmarks")
    for column in ("benchmark", "figure", "baseline", "ratio", "goal", "met"):
        table.add_column(column)
    for r in results:
        figure = f"{r.get('value')} {r.get('unit', '')}".strip()
        baseline = f"{r.get('baseline', '')}: {r.get('baseline_value', '')}".strip(": ")
        table.add_row(r.get("name", "?"), figure, baseline, str(r.get("ratio", "")), str(r.get("goal", "")),
                      "yes" if r.get("met") else "no")
    Console(width=160).print(table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
