"""LIVE writes what it trades: a drift log, summary or lock folder it cannot write refuses the start before any venue
call (exit 2, one line naming the file); a drift log that fails mid-session stops new orders, keeps the fills, exits 1
naming the file, and the next run recovers the fills from the venue. Real file-system faults (tests/fs_faults.py)
against the loopback simulator, through the real adapter.
"""

from __future__ import annotations

import json
import subprocess
from decimal import Decimal as D
from pathlib import Path

import pytest

from tests.fs_faults import without_root_override
from tests.live_helpers import error_line, live_command, live_env, state

pytestmark = pytest.mark.slow


def run_with(directory: Path, running, *args: str, preexec=None, timeout: float = 60, **env: str):  # noqa: ANN001
    return subprocess.run(live_command(*args), cwd=directory, env=live_env(running, **env), capture_output=True,
                          text=True, timeout=timeout, preexec_fn=preexec)


def assert_nothing_sent(running) -> None:  # noqa: ANN001
    assert [r["path"] for r in state(running)["requests"]] == []  # not even a balance query


def test_a_read_only_drift_log_folder_refuses_before_any_venue_call(venue, session_dir):
    logs = session_dir / "logs"
    logs.mkdir()
    logs.chmod(0o555)
    try:
        result = run_with(session_dir, venue, "--arm", "--once", "--drift-log", "logs/drift.log",
                          preexec=without_root_override)
    finally:
        logs.chmod(0o755)
    assert result.returncode == 2, result.stderr[-3000:]
    assert error_line(result.stderr) == "error: drift log folder logs: not writable (permission denied)"
    assert "Traceback" not in result.stderr
    assert_nothing_sent(venue)


@pytest.mark.parametrize(("drift_log", "expected"), [
    ("/dev/full", "error: drift log /dev/full: not a regular file (the session writes it and reads it back)"),
    ("blocker/drift.log", "error: drift log folder blocker: a file is in the way (blocker is not a folder)"),
])
def test_a_drift_log_that_cannot_be_a_log_refuses_before_any_venue_call(venue, session_dir, drift_log, expected):
    (session_dir / "blocker").write_text("a file where the log's folder should be")
    result = run_with(session_dir, venue, "--arm", "--once", "--drift-log", drift_log)
    assert result.returncode == 2, result.stderr[-3000:]
    assert error_line(result.stderr) == expected
    assert_nothing_sent(venue)


def test_an_unwritable_summary_refuses_before_any_venue_call(venue, session_dir):
    (session_dir / "out").write_text("a file")
    result = run_with(session_dir, venue, "--arm", "--once", "--summary", "out/last.json")
    assert result.returncode == 2, result.stderr[-3000:]
    assert error_line(result.stderr) == "error: summary folder out: a file is in the way (out is not a folder)"
    assert_nothing_sent(venue)


def test_a_blocked_state_folder_refuses_before_any_venue_call(venue, session_dir):
    import yaml

    profile = yaml.safe_load((session_dir / "profile.yaml").read_text())
    del profile["live"]["lock_dir"]  # the per-user state folder
    (session_dir / "profile.yaml").write_text(yaml.safe_dump(profile))
    (session_dir / "state").write_text("a file where XDG_STATE_HOME should be a folder")
    result = run_with(session_dir, venue, "--arm", "--once", XDG_STATE_HOME=str(session_dir / "state"))
    assert result.returncode == 2, result.stderr[-3000:]
    folder = session_dir / "state" / "nautlive" / "locks"
    assert error_line(result.stderr) == (f"error: state folder {folder}: a file is in the way "
                                         f"({session_dir / 'state'} is not a folder)")
    assert_nothing_sent(venue)


def test_a_drift_log_that_fails_mid_session_stops_new_orders_and_the_next_run_recovers_the_fills(venue, session_dir):
    from tests.fs_faults import file_size_limit
    from tests.live_helpers import order_posts, run_live, weights_at_venue, write_targets

    first = run_live(session_dir, venue, "--arm", "--once")  # two buys, logged
    assert first.returncode == 0, first.stderr[-3000:]
    log = session_dir / "drift.log"
    write_targets(session_dir, {"BTCUSDT.BINANCE": 0.1, "ETHUSDT.BINANCE": 0.5})  # sell BTC, then buy ETH
    full = run_with(session_dir, venue, "--arm", "--once", preexec=file_size_limit(log.stat().st_size))  # disk full
    assert full.returncode == 1, full.stderr[-3000:]
    line = error_line(full.stderr)
    assert line.startswith("error: drift log drift.log: File too large: new orders stopped")
    assert line.endswith("fill(s) missing from it (printed on stderr above; the next run recovers them from the venue)")
    assert "unfilled" not in line and "Traceback" not in full.stderr
    posts = order_posts(venue)
    assert [(p["params"]["symbol"], p["params"]["side"]) for p in posts[2:]] == [("BTCUSDT", "SELL")]  # no ETH buy
    sold = {str(f["id"]) for f in state(venue)["fills"] if f["orderId"] == max(o["orderId"] for o in
                                                                                 state(venue)["orders"])}
    kept = [json.loads(text.split(", kept: ", 1)[1]) for text in full.stderr.splitlines()
            if text.startswith("fill not written to the drift log drift.log: File too large, kept: ")]
    assert {k["trade_id"] for k in kept} == sold  # every fill of the sell, on stderr
    assert f"1 rebalances, 1 orders, {len(sold)} fills" in full.stdout  # the summary has them too

    again = run_live(session_dir, venue, "--arm", "--once")  # recovers the sell's fills, then buys ETH
    assert again.returncode == 0, again.stderr[-3000:]
    assert f"recovered {len(sold)} fill(s)" in again.stderr
    lines = [json.loads(text) for text in log.read_text().splitlines() if text.startswith('{"ts"') and
             text.endswith("}")]
    assert sorted(f["trade_id"] for f in lines) == sorted(str(f["id"]) for f in state(venue)["fills"])
    assert abs(weights_at_venue(venue)["ETHUSDT.BINANCE"] - D("0.5")) < D("0.01")
