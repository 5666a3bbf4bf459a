"""SHADOW end to end: the real TradingNode, LiveRebalanceStrategy, sandbox fills, synthetic and replay feeds.

Several nodes run in this one pytest process (verified: Nautilus' once-per-process logging does not stop a second
node); the signal tests run `python -m nautlive shadow` in a subprocess.
"""

from __future__ import annotations

import datetime as dt
import gzip
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections import defaultdict
from decimal import Decimal
from pathlib import Path

import pytest
from nautilus_trader.model.identifiers import InstrumentId

from nautlive.config.profile import load_profile
from nautlive.core.signals import TargetWeightWatcher
from nautlive.session import engine
from nautlive.session.engine import Feed, SessionOptions
from nautlive.session.runner import run_session
from tests.conftest import REPO, shared_file

pytestmark = pytest.mark.slow

BTC, ETH = "BTCUSDT.BINANCE", "ETHUSDT.BINANCE"
FIRST = {"weights": {BTC: 0.5, ETH: 0.3}}
SECOND = {"weights": {BTC: 0.2, ETH: 0.6}}
DRIFT_FIELDS = {"ts", "session", "mode", "venue", "instrument", "side", "qty", "fill_px", "mid_at_submit",
                "last_tick_px", "drift_bps", "notional", "client_order_id", "target_hash", "alert"}
SYNTHETIC = Feed("synthetic", interval_secs=0.05)


def write_atomically(path: Path, content: bytes) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(content)
    os.replace(tmp, path)


def targets_file(tmp_path: Path, doc: object) -> Path:
    path = tmp_path / "orders" / "target_weights.json"
    path.parent.mkdir(exist_ok=True)
    write_atomically(path, json.dumps(doc).encode())
    return path


def shadow(profile, tmp_path: Path, feed: Feed, targets: Path, **kw):  # noqa: ANN001, ANN201
    options = SessionOptions(mode="shadow", feed=feed, targets=str(targets), drift_log=str(tmp_path / "drift.log"),
                             session=f"test-{time.monotonic_ns()}", **kw)
    return run_session(profile, options)


def drift_lines(path: Path) -> list[dict]:
    """The drift log, each line checked against DESIGN.md: fields, types, sign convention, notional, alert."""
    records = []
    for raw in path.read_bytes().splitlines():
        record = json.loads(raw)
        assert DRIFT_FIELDS <= record.keys(), DRIFT_FIELDS - record.keys()
        assert record["mode"] == "shadow" and record["venue"] == "BINANCE" and record["side"] in ("BUY", "SELL")
        dt.datetime.fromisoformat(record["ts"].replace("Z", "+00:00"))
        qty, fill, mid = Decimal(record["qty"]), Decimal(record["fill_px"]), Decimal(record["mid_at_submit"])
        signed = fill - mid if record["side"] == "BUY" else mid - fill
        assert record["drift_bps"] == pytest.approx(float(signed / mid * 10_000), abs=1e-4)
        assert Decimal(record["notional"]) == qty * fill
        assert record["alert"] == (abs(record["drift_bps"]) > 25)
        records.append(record)
    return records


def assert_within_band(result, band: Decimal = Decimal("0.01")) -> None:  # noqa: ANN001
    for iid, row in result.final_weights.items():
        assert abs(Decimal(row["weight"]) - Decimal(row["target"])) <= band, (iid, row)


def assert_every_order_filled_whole(result, records: list[dict]) -> None:  # noqa: ANN001
    filled: dict[str, Decimal] = defaultdict(Decimal)
    for record in records:
        filled[record["client_order_id"]] += Decimal(record["qty"])
    for rebalance in result.rebalances:
        assert rebalance["unfilled"] == [] and rebalance["rejected"] == []
        for order in rebalance["orders"]:
            assert filled[order["client_order_id"]] == Decimal(order["quantity"]), order


@pytest.fixture
def binance(repo_cwd):  # noqa: ANN001, ANN201
    return load_profile("binance")


def test_synthetic_once_reaches_the_targets_and_logs_every_fill(binance, tmp_path):
    result = shadow(binance, tmp_path, SYNTHETIC, targets_file(tmp_path, FIRST), once=True)
    assert result.exit_code == 0, result.reason
    assert_within_band(result)
    records = drift_lines(tmp_path / "drift.log")
    assert {r["instrument"] for r in records} == {BTC, ETH}
    assert {r["session"] for r in records} == {result.session}
    assert {r["target_hash"] for r in records} == {result.rebalances[0]["target_hash"]}
    assert records == result.fills
    assert_every_order_filled_whole(result, records)


def test_replay_once_fills_every_order_whole_at_the_touch(binance, tmp_path):
    market = ("binance", "market")
    feed = Feed("replay", paths=[str(shared_file(*market, "btcusdt_20240808.gz")),
                                 str(shared_file(*market, "ethusdt_20240808.gz"))], speed=0)
    # ~11 ETH for 30%: far above the recorded top-of-book sizes, so a naive market order would stick half-filled.
    result = shadow(binance, tmp_path, feed, targets_file(tmp_path, FIRST), once=True, fill_timeout=5.0)
    assert result.exit_code == 0, result.reason
    records = drift_lines(tmp_path / "drift.log")
    assert_every_order_filled_whole(result, records)
    assert_within_band(result)
    # A market order filled against the quote it was sent on pays half the spread: never better than mid.
    assert all(r["drift_bps"] >= 0 for r in records), [(r["side"], r["fill_px"], r["mid_at_submit"]) for r in records]


def test_an_instrument_without_quotes_is_skipped_and_the_rest_trade(binance, tmp_path):
    feed = Feed("replay", paths=[str(shared_file("binance", "market", "btcusdt_20240808.gz"))], speed=0)
    result = shadow(binance, tmp_path, feed, targets_file(tmp_path, FIRST), once=True)  # ETH never quoted
    # the rest trades, but --once tells the truth: a target was not reached
    assert result.exit_code == 1 and result.reason.startswith(f"no price for {ETH}"), result.reason
    (rebalance,) = result.rebalances
    assert {o["instrument"] for o in rebalance["orders"]} == {BTC}
    assert [(s["instrument_id"], s["reason"]) for s in rebalance["skipped"]] == [(ETH, "no price")]
    assert {r["instrument"] for r in drift_lines(tmp_path / "drift.log")} == {BTC}
    assert abs(Decimal(result.final_weights[BTC]["weight"]) - Decimal("0.5")) <= Decimal("0.01")


def test_once_with_a_file_rejected_inside_the_session_exits_2_without_orders(binance, tmp_path):
    targets = targets_file(tmp_path, {BTC: 0.9, ETH: 0.9})
    result = shadow(binance, tmp_path, SYNTHETIC, targets, once=True)
    assert result.exit_code == 2 and "above 1" in result.reason
    assert result.rebalances == [] and result.fills == []
    assert not (tmp_path / "drift.log").exists()


def test_a_running_session_applies_a_new_file_and_rides_out_every_bad_one(binance, tmp_path, monkeypatch):
    watchers: list[TargetWeightWatcher] = []
    original_init = TargetWeightWatcher.__init__

    def recording_init(self, *args, **kwargs) -> None:  # noqa: ANN001, ANN002, ANN003
        original_init(self, *args, **kwargs)
        watchers.append(self)

    monkeypatch.setattr(TargetWeightWatcher, "__init__", recording_init)
    targets, log = targets_file(tmp_path, FIRST), tmp_path / "drift.log"
    trace: dict = {"errors": []}

    def wait(predicate, what: str, timeout: float = 10.0) -> None:  # noqa: ANN001
        deadline = time.monotonic() + timeout
        while not predicate():
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out waiting for {what}")
            time.sleep(0.01)

    def fill_count() -> int:
        return len(log.read_bytes().splitlines()) if log.exists() else 0

    def reject(write, reason: str) -> None:  # noqa: ANN001
        seen = len(watchers[0].rejected)
        write()
        wait(lambda: len(watchers[0].rejected) > seen and reason in watchers[0].rejected[-1],
             f"rejection: {reason} (last: {watchers[0].rejected[-1:]})")

    def operator() -> None:
        """What the upstream optimiser (and a clumsy one) does while the session runs."""
        try:
            wait(lambda: fill_count() >= 2, "the fills of the first rebalance")
            time.sleep(0.3)
            before = fill_count()
            bad = [
                (b"{not json", "not valid JSON"),
                (json.dumps(SECOND).encode()[:20], "not valid JSON"),
                (b"", "empty file"),
                (b'{"BTCUSDT.BINANCE": NaN}', "not valid JSON"),
                (b'{"BTCUSDT.BINANCE": "inf"}', "finite"),
                (b'{"BTCUSDT.BINANCE": -0.2}', "negative weight"),
                (b'{"BTCUSDT.BINANCE": 0.7, "ETHUSDT.BINANCE": 0.7}', "above 1"),
                (b'{"SOLUSDT.BINANCE": 0.1}', "unknown instrument"),
                (b'{"BTCUSDT.OKX": 0.1}', "belongs to venue OKX"),
            ]
            for content, reason in bad:
                reject(lambda c=content: write_atomically(targets, c), reason)
            reject(lambda: os.truncate(targets, 50 * 1024 * 1024), "byte limit")
            targets.unlink()
            time.sleep(0.2)
            reject(targets.mkdir, "is a directory")
            targets.rmdir()
            time.sleep(0.5)
            trace["fills_after_bad_files"] = fill_count() - before
            write_atomically(targets, json.dumps(SECOND).encode())
            wait(lambda: any(json.loads(line)["target_hash"] != json.loads(log.read_bytes().splitlines()[0])
                             ["target_hash"] for line in log.read_bytes().splitlines()), "the second rebalance")
            time.sleep(0.5)
        except Exception as exc:  # noqa: BLE001 - reported by the test
            trace["errors"].append(exc)
        finally:
            os.kill(os.getpid(), signal.SIGTERM)  # the session's own handler: clean stop, exit 0

    thread = threading.Thread(target=operator, daemon=True)
    thread.start()
    result = shadow(binance, tmp_path, SYNTHETIC, targets, duration=40)
    thread.join(5)
    assert trace["errors"] == []
    assert (result.exit_code, result.reason) == (0, "SIGTERM received")
    assert trace["fills_after_bad_files"] == 0
    assert len(result.rebalances) == 2
    assert len(result.rejected_targets) == 11
    assert_within_band(result)
    assert {k: v["target"] for k, v in result.final_weights.items()} == {BTC: "0.2", ETH: "0.6"}
    records = drift_lines(log)
    assert [r["target_hash"] for r in records] == sorted(
        (r["target_hash"] for r in records), key=[x["target_hash"] for x in result.rebalances].index)
    assert_every_order_filled_whole(result, records)


@pytest.mark.parametrize(("sig", "code"), [(signal.SIGTERM, 0), (signal.SIGINT, 130)])
def test_the_cli_session_stops_cleanly_on_a_signal(tmp_path, sig, code):
    targets, log = targets_file(tmp_path, FIRST), tmp_path / "drift.log"
    proc = subprocess.Popen(
        [sys.executable, "-m", "nautlive", "shadow", "--venue", "binance", "--feed", "synthetic", "--targets",
         str(targets), "--drift-log", str(log), "--duration", "60", "--json"],
        cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        deadline = time.monotonic() + 20
        while not (log.exists() and log.read_bytes().endswith(b"\n")) and time.monotonic() < deadline:
            time.sleep(0.05)
        proc.send_signal(sig)
        stopped = time.monotonic()
        out, err = proc.communicate(timeout=10)
    finally:
        proc.kill()
    assert proc.returncode == code, err
    assert time.monotonic() - stopped < 5
    summary = json.loads(out[out.index("{"):])
    reason = "interrupted" if sig == signal.SIGINT else "SIGTERM received"
    assert summary["reason"] == reason and summary["exit_code"] == code
    assert summary["fills"], "a fill before the signal"
    if code:  # an interrupt the user asked for is not an error
        assert "interrupted" in err.splitlines() and "error:" not in err
    assert "Traceback" not in err
    drift_lines(log)


def test_an_order_sent_after_a_trade_tick_still_fills_whole(binance, tmp_path, monkeypatch):
    # The first 4 lines of the real recording: depth, depth, a bookTicker (ask 61837.64, 1.5 BTC), then a 0.02 BTC
    # trade at 61837.63. The target arrives after the replay ended, so the last tick the sandbox saw is that trade.
    lines = gzip.decompress(shared_file("binance", "market", "btcusdt_20240808.gz").read_bytes()).splitlines()[:4]
    assert b"@trade" in lines[-1]
    recording = tmp_path / "btcusdt_head.gz"
    recording.write_bytes(gzip.compress(b"\n".join(lines) + b"\n"))
    targets, log = tmp_path / "orders" / "target_weights.json", tmp_path / "drift.log"
    targets.parent.mkdir()
    strategies = []
    build = engine.build
    monkeypatch.setattr(engine, "build", lambda *a, **kw: (lambda ns: strategies.append(ns[1]) or ns)(build(*a, **kw)))

    def operator() -> None:
        deadline = time.monotonic() + 10
        while not (strategies and strategies[0].cache.trade_tick(InstrumentId.from_str(BTC))):
            if time.monotonic() > deadline:
                break
            time.sleep(0.02)
        write_atomically(targets, json.dumps({BTC: 0.5}).encode())
        while not log.exists() and time.monotonic() < deadline:
            time.sleep(0.02)
        time.sleep(0.5)
        os.kill(os.getpid(), signal.SIGTERM)

    threading.Thread(target=operator, daemon=True).start()
    result = shadow(binance, tmp_path, Feed("replay", paths=[str(recording)], speed=0), targets, duration=20)
    assert result.exit_code == 0, result.reason
    records = drift_lines(log)
    assert {r["last_tick_px"] for r in records} == {"61837.63"}  # sent after the trade
    filled = sum(Decimal(r["qty"]) for r in records)
    (order,) = [o for r in result.rebalances for o in r["orders"]] or [{"quantity": "unfinished rebalance"}]
    assert str(filled) == order["quantity"], f"filled {filled} of {order['quantity']}: {records}"
    assert {r["fill_px"] for r in records} == {"61837.64"}  # the ask of the last quote, not the trade price
