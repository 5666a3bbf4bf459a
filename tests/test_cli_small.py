"""What a cron user meets at the edges of the CLI: Ctrl-C, which profile a session loaded, help that names defaults."""

from __future__ import annotations

import json
import os
import queue
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from nautlive.cli import app
from tests.conftest import REPO

runner = CliRunner()
BTC, ETH = "BTCUSDT.BINANCE", "ETHUSDT.BINANCE"


def nautlive(*args: str, cwd: Path = REPO, env: dict | None = None, **kw) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "nautlive", *args], cwd=cwd, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env={**os.environ, **(env or {})}, **kw)


@pytest.mark.slow
def test_ctrl_c_on_a_session_prints_interrupted_not_an_error_and_exits_130(tmp_path):
    targets = tmp_path / "t.json"
    targets.write_text(json.dumps({"weights": {BTC: 0.5, ETH: 0.3}}))
    proc = nautlive("shadow", "--venue", "binance", "--feed", "synthetic", "--targets", str(targets),
                    "--drift-log", str(tmp_path / "drift.log"))
    lines: queue.Queue = queue.Queue()
    reader = threading.Thread(target=lambda: [lines.put(line) for line in proc.stderr], daemon=True)
    reader.start()
    seen: list[str] = []
    try:
        deadline = time.monotonic() + 60
        while not any(line.startswith("rebalance ") for line in seen):  # started: the first rebalance is logged
            assert time.monotonic() < deadline, seen
            try:
                seen.append(lines.get(timeout=1))
            except queue.Empty:
                assert proc.poll() is None, seen
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=30)
        reader.join(timeout=5)
    finally:
        proc.kill()
        proc.stdout.close()
    seen.extend(lines.queue)
    assert proc.returncode == 130, seen
    assert seen[-1] == "interrupted\n", seen
    assert not any(line.startswith("error:") for line in seen), seen


def test_a_session_first_says_which_profile_it_loaded_and_from_where(repo_cwd, tmp_path):
    result = runner.invoke(app, ["shadow", "--once", "--targets", str(tmp_path / "none.json")])
    assert result.stderr.splitlines()[0] == "profile binance (profiles/binance.yaml)"
    custom = tmp_path / "mine.yaml"
    custom.write_text((REPO / "profiles" / "binance-sim.yaml").read_text())
    result = runner.invoke(app, ["live", "--profile", str(custom), "--once"])
    assert result.stderr.splitlines()[0] == f"profile mine ({custom})"


@pytest.mark.parametrize("command", ["shadow", "live", "backtest", "parity", "reconcile"])
def test_help_names_the_default_profile(command):
    result = runner.invoke(app, [command, "--help"], terminal_width=200)
    assert "Default: binance" in " ".join(result.stdout.split()), result.stdout


def test_sim_help_names_its_default_profile():
    result = runner.invoke(app, ["sim", "--help"], terminal_width=200)
    assert "Default: binance-sim" in " ".join(result.stdout.split()), result.stdout
