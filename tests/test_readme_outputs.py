"""The README's output blocks are what the commands print (issue 30, item 5): every `$ nautlive ...` block whose output
depends only on the repository and ../shared/data is run as written and compared line by line, so a changed command
fails here until the README is regenerated. Sessions on a clock (shadow, live, sim, the demo) are not checked.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from dataclasses import dataclass

import pytest

from .conftest import REPO

# Commands whose output is a function of their inputs (no clock, no network, no random walk).
DETERMINISTIC = ("nautlive profiles list", "nautlive reconcile --venue binance --from-file",
                 "nautlive reconcile --venue ibkr-paper --from-file", "nautlive backtest ", "nautlive parity ")
QUICK = ("nautlive profiles list", "nautlive reconcile ")
README_HOME = "/srv/nautlive"  # where the README's working folder is


@dataclass(frozen=True)
class Example:
    line: int  # in README.md
    command: str
    output: list[str]
    exit_code: int | None  # the README's `echo $?` after it, if any


def readme_examples() -> list[Example]:
    """Each `$ nautlive ...` line of a fenced block with the lines it prints (up to the next `$ ` line)."""
    examples, block = [], None
    for number, raw in enumerate((REPO / "README.md").read_text().splitlines(), start=1):
        if raw.startswith("```"):
            if block is not None:
                examples += _examples(block)
            block = None if block is not None else []
            continue
        if block is not None:
            block.append((number, raw))
    return [e for e in examples if e.command.startswith(DETERMINISTIC) and not reads_an_earlier_steps_file(e)]


INPUT_OPTIONS = ("--from-file", "--data", "--catalog", "--schedule", "--targets")


def reads_an_earlier_steps_file(example: Example) -> bool:
    """A command that reads what an earlier README step wrote (a /tmp capture, downloaded bars): its output depends on
    that step, which this check does not replay, so it is left to the tests of that feature."""
    tokens = shlex.split(example.command.partition(" | ")[0])
    return any(option in INPUT_OPTIONS and (value.startswith("/tmp/") or not (REPO / value).exists())
               for option, value in zip(tokens, tokens[1:], strict=False))


def _examples(block: list[tuple[int, str]]) -> list[Example]:
    runs: list[list] = []
    for number, raw in block:
        if raw.startswith("$ "):
            runs.append([number, raw[2:].split("  #")[0].strip(), []])
        elif runs:
            runs[-1][2].append(raw)
    out = []
    for k, (number, command, output) in enumerate(runs):
        following = runs[k + 1] if k + 1 < len(runs) else None
        code = int(following[2][0]) if following and following[1] == "echo $?" and following[2] else None
        out.append(Example(number, command, output, code))
    return out


def run(example: Example, tmp_path) -> tuple[list[str], int]:
    """Run the example from the repository root, its /tmp paths under tmp_path (and shown as written)."""
    command, _, pipe = example.command.partition(" | ")
    tokens = shlex.split(command)
    tokens = [f"{tmp_path}{t}" if t.startswith("/tmp/") else t for t in tokens]
    env = os.environ | {"PYTHONPATH": str(REPO), "COLUMNS": "200"}
    done = subprocess.run([sys.executable, "-m", "nautlive", *tokens[1:]], cwd=REPO, env=env, capture_output=True,
                          text=True, timeout=600)
    lines = done.stdout.replace(str(tmp_path), "").replace(str(REPO), README_HOME).splitlines()
    tail = re.fullmatch(r"tail -(\d+)", pipe.strip())
    return (lines[-int(tail.group(1)):] if tail else lines), done.returncode


EXAMPLES = readme_examples()


def test_the_readme_has_deterministic_examples_to_check():
    assert len(EXAMPLES) >= 6, EXAMPLES


@pytest.mark.parametrize("example", [pytest.param(e, id=f"README.md:{e.line}", marks=() if e.command.startswith(QUICK)
                                                  else pytest.mark.slow) for e in EXAMPLES])
def test_a_readme_output_block_is_what_the_command_prints(example, tmp_path):
    if "../shared/data" in example.command and not (REPO.parent / "shared" / "data").is_dir():
        pytest.skip("../shared/data is absent")
    printed, code = run(example, tmp_path)
    assert printed == example.output, f"README.md:{example.line}: `{example.command}` now prints:\n" + "\n".join(printed)
    if example.exit_code is not None:
        assert code == example.exit_code
