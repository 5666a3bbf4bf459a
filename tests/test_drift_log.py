"""DriftMonitor when the log cannot be written: the fills stay in memory and on stderr, the session is told once, the
log is tried again (no node needed: /dev/full fails every write with ENOSPC, as a full disk does)."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest

from nautlive.core.drift import DriftMonitor, SubmitSnapshot

FULL = "/dev/full"


def monitor(path) -> DriftMonitor:  # noqa: ANN001
    drift = DriftMonitor(path, session="live-x", mode="live", venue="BINANCE", alert_bps=Decimal(25))
    drift.on_submit("O-1", SubmitSnapshot("BTCUSDT.BINANCE", "BUY", Decimal(100), None, "abc"))
    return drift


def fill(drift: DriftMonitor, trade_id: str):  # noqa: ANN201
    return drift.on_fill("O-1", Decimal("0.5"), Decimal("100.1"), 1_765_000_000_000_000_000, trade_id=trade_id)


def test_a_full_disk_keeps_the_fills_says_them_once_and_tells_the_session_once(tmp_path, capsys):
    drift = monitor(FULL)
    drift.on_write_error = (told := []).append
    first, second = fill(drift, "1"), fill(drift, "2")
    assert drift.records == [first, second] and drift.unwritten == [first, second]
    assert told == [f"drift log {FULL}: no space left on the disk: new orders stopped"]
    said = capsys.readouterr().err.splitlines()
    assert [line.split(", kept: ")[0] for line in said] == [f"fill not written to the drift log {FULL}: no space "
                                                            "left on the disk"] * 2
    assert [json.loads(line.split(", kept: ")[1])["trade_id"] for line in said] == ["1", "2"]
    assert not drift.retry() and capsys.readouterr().err == ""  # tried again, nothing said twice
    assert drift.missing().startswith("2 fill(s) missing from it")

    drift.path = tmp_path / "drift.log"  # room again (the same file on a disk with space)
    assert drift.retry() and drift.unwritten == []
    assert [json.loads(line)["trade_id"] for line in drift.path.read_text().splitlines()] == ["1", "2"]
    assert drift.missing() == "the fills were written on a later try"


def test_a_line_cut_short_stays_a_bad_line_of_its_own(tmp_path):
    path = tmp_path / "drift.log"
    path.write_bytes(b'{"ts": "2026-12-07T00:00:00Z", "sess')  # a crash (or a full disk) mid-line
    drift = monitor(path)
    fill(drift, "7")
    drift.close()
    lines = path.read_bytes().splitlines()
    assert lines[0].endswith(b'"sess') and json.loads(lines[1])["trade_id"] == "7"


def test_without_a_session_to_tell_the_error_is_raised_as_before():
    drift = monitor(FULL)
    with pytest.raises(OSError):
        fill(drift, "1")
