"""Alerts (#17) from real sessions: SHADOW on the synthetic feed and LIVE against the Binance simulator, to local
receivers (a receiver that answers after 10 s leaves the session alone)."""

from __future__ import annotations

import json
import time
from decimal import Decimal
from pathlib import Path

import msgspec
import pytest
import yaml

from nautlive.config.profile import load_profile
from tests.alert_helpers import BTC, ETH, Receiver, settings

pytestmark = pytest.mark.slow


@pytest.fixture
def receiver() -> Receiver:
    return Receiver()


def shadow_once(profile, tmp_path: Path, targets: bytes):  # noqa: ANN001, ANN201
    from nautlive.session.engine import Feed, SessionOptions
    from nautlive.session.runner import run_session

    path = tmp_path / "targets.json"
    path.write_bytes(targets)
    options = SessionOptions(mode="shadow", feed=Feed("synthetic", interval_secs=0.05), targets=str(path),
                             drift_log=str(tmp_path / f"drift-{time.monotonic_ns()}.log"), once=True,
                             session=f"alerts-{time.monotonic_ns()}")
    began = time.perf_counter()
    result = run_session(profile, options)
    return result, time.perf_counter() - began


def titles(got: list[dict], session: str) -> list[str]:
    prefix = f"nautlive binance {session}: "
    assert all(g["title"].startswith(prefix) for g in got), got
    return [g["title"].removeprefix(prefix) for g in got]


TARGETS = json.dumps({"weights": {BTC: 0.5, ETH: 0.3}}).encode()


@pytest.fixture
def binance(repo_cwd):  # noqa: ANN001, ANN201
    return load_profile("binance")


def test_a_shadow_session_sends_started_each_drift_alert_the_rebalance_and_ended(binance, tmp_path, receiver):
    profile = msgspec.structs.replace(binance, drift_alert_bps=Decimal(0),  # every fill off mid is an alert
                                      alerts=settings(receiver.url("json", "hook")),
                                      # orders within the synthetic ladder's top level: one fill each
                                      shadow=msgspec.structs.replace(binance.shadow,
                                                                     starting_balances={"USDT": Decimal(40_000)}))
    result, _ = shadow_once(profile, tmp_path, TARGETS)
    assert result.exit_code == 0, result.reason
    assert result.drift_alerts == len(result.fills) == 2
    got = receiver.got  # flushed before run_session returned
    assert titles(got, result.session) == [
        "shadow session started", *(f"drift alert {f['instrument']} {f['drift_bps']:+.2f} bps" for f in result.fills),
        f"rebalance {result.rebalances[0]['target_hash']} done: 2 orders, 2 fills", "session ended (exit 0)"]
    assert f"{result.fills[0]['fill_px']} vs mid {result.fills[0]['mid_at_submit']}" in got[1]["message"]
    assert "(threshold 0 bps)" in got[1]["message"]
    assert f"residual weights: {BTC} 0." in got[3]["message"] and "(target 0.5000," in got[3]["message"]
    assert result.reason in got[4]["message"] and "1 rebalances, 2 orders, 2 fills, 2 drift alerts" in got[4]["message"]


def test_a_rejected_target_file_is_sent_and_the_failed_session_too(binance, tmp_path, receiver):
    profile = msgspec.structs.replace(binance, alerts=settings(receiver.url("form", "form")))
    result, _ = shadow_once(profile, tmp_path, b'{"weights": {"BTCUSDT.BINANCE": 0.9, "ETHUSDT.BINANCE": 0.5}}')
    assert result.exit_code == 2
    got = receiver.got
    assert titles(got, result.session) == ["shadow session started", "target file rejected", "session failed (exit 2)"]
    assert "last good target stays in force" in got[1]["message"] and got[2]["type"] == "failure"


def test_a_receiver_that_answers_after_10_s_leaves_fills_and_exit_alone(binance, tmp_path, receiver):
    plain, plain_secs = shadow_once(binance, tmp_path, TARGETS)
    slow = msgspec.structs.replace(binance, drift_alert_bps=Decimal(0),
                                   alerts=settings(receiver.url("json", "slow"), flush_secs=1.0))
    result, secs = shadow_once(slow, tmp_path, TARGETS)
    assert (result.exit_code, plain.exit_code) == (0, 0), result.reason
    assert [(f["instrument"], f["side"]) for f in result.fills] == [(f["instrument"], f["side"]) for f in plain.fills]
    assert [r["rejected"] + r["unfilled"] for r in result.rebalances] == [[]]
    assert secs < plain_secs + 1.0 + 1.5, (secs, plain_secs)  # at most alerts.flush_secs more (and some noise)


def test_live_a_rejected_order_and_the_failed_session_reach_the_receiver(venue, session_dir, receiver):
    from tests.live_helpers import run_live

    profile = yaml.safe_load((session_dir / "profile.yaml").read_text())
    profile["alerts"] = {"urls": [receiver.url("json", "hook")], "events": ["rejected", "failed", "ended"]}
    (session_dir / "profile.yaml").write_text(yaml.safe_dump(profile))
    venue.call(venue.sim.reject_next, -1013, "Filter failure: NOTIONAL")
    result = run_live(session_dir, venue, "--arm", "--once")
    assert result.returncode == 1, result.stderr[-3000:]
    rejected, failed = receiver.got
    assert " order rejected: BUY " in rejected["title"] and rejected["type"] == "failure"
    assert "rejected: " in rejected["message"] and "NOTIONAL" in rejected["message"]
    assert failed["title"].endswith("session failed (exit 1)") and "1 order(s) rejected" in failed["message"]


def test_a_live_session_refused_before_it_starts_is_sent(session_dir, receiver):
    from tests.live_helpers import run_live

    profile = yaml.safe_load((session_dir / "profile.yaml").read_text())
    profile["alerts"] = {"urls": [receiver.url("json", "hook")]}
    (session_dir / "profile.yaml").write_text(yaml.safe_dump(profile))
    result = run_live(session_dir, None, "--once", port=1)  # not armed
    assert result.returncode == 4, result.stderr[-3000:]
    [got] = receiver.got
    assert got["title"] == "nautlive profile: live session not started (exit 4)" and got["type"] == "failure"
    assert "--arm" in got["message"]
