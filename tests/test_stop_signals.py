"""Every catchable fatal signal stops a session the way SIGTERM does: the stop procedure, the fills logged, a summary,
one exit code (SIGHUP 0 like SIGTERM, SIGINT 130, any other 1 naming it). A real session process, signalled."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from nautlive.session.stop_signals import install, stop_signals
from tests.conftest import REPO

BTC, ETH = "BTCUSDT.BINANCE", "ETHUSDT.BINANCE"


def test_the_table_of_stop_signals():
    table = {sig.name: (code, reason) for sig, code, reason in stop_signals()}
    assert table["SIGINT"] == (130, "interrupted") and table["SIGTERM"] == (0, "SIGTERM received")
    assert table["SIGHUP"][0] == 0 and table["SIGQUIT"] == (1, "SIGQUIT received: stopped")
    assert not {"SIGKILL", "SIGSTOP", "SIGSEGV", "SIGABRT", "SIGPIPE", "SIGCHLD"} & set(table)


def test_an_ignored_or_foreign_handled_signal_is_left_alone():
    import asyncio

    previous = signal.signal(signal.SIGHUP, signal.SIG_IGN)  # nohup
    try:
        loop = asyncio.new_event_loop()
        try:
            installed = install(loop, lambda code, reason: None)
        finally:
            loop.close()
        assert signal.SIGHUP not in installed and {signal.SIGINT, signal.SIGTERM} <= set(installed)
        assert signal.getsignal(signal.SIGHUP) is signal.SIG_IGN
    finally:
        signal.signal(signal.SIGHUP, previous)


@pytest.mark.slow
@pytest.mark.parametrize(("sig", "code"), [(signal.SIGHUP, 0), (signal.SIGUSR1, 1)])
def test_a_signal_stops_a_session_with_a_summary_and_its_exit_code(tmp_path: Path, sig, code):
    targets, log, summary = tmp_path / "t.json", tmp_path / "drift.log", tmp_path / "last.json"
    targets.write_text(json.dumps({"weights": {BTC: 0.5, ETH: 0.3}}))
    proc = subprocess.Popen([sys.executable, "-m", "nautlive", "shadow", "--venue", "binance", "--feed", "synthetic",
                             "--targets", str(targets), "--drift-log", str(log), "--duration", "60", "--summary",
                             str(summary)], cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=os.environ.copy())
    try:
        deadline = time.monotonic() + 60
        while not (log.exists() and len(log.read_text().splitlines()) >= 2):
            assert proc.poll() is None and time.monotonic() < deadline, "no fills before the signal"
            time.sleep(0.1)
        started = time.monotonic()
        proc.send_signal(sig)
        out, err = proc.communicate(timeout=30)
    finally:
        proc.kill()
    assert proc.returncode == code, err[-3000:]
    assert time.monotonic() - started < 15 and "Traceback" not in err
    result = json.loads(summary.read_text())
    assert result["exit_code"] == code and result["reason"].startswith(f"{sig.name} received")
    assert len(result["fills"]) == len(log.read_text().splitlines()) >= 2  # every fill in the log and the summary
    assert out.splitlines()[-1].startswith("1 rebalances, 2 orders, ")
    if code:
        assert err.splitlines()[-1] == f"error: {sig.name} received: stopped"
    else:
        assert "error:" not in err
