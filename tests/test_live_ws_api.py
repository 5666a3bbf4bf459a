"""LIVE on Binance as it is today: Ed25519 keys, the key's rights, and the user stream over the WebSocket API.

Against the loopback simulator, which serves what Binance serves since 2026-02-20 (the REST listen key answers 410;
session.logon takes Ed25519 keys only), through the real Nautilus 1.231 adapter in a `nautlive live` process.
"""

from __future__ import annotations

import json
import os
import signal
import time
import urllib.request

import pytest

from nautlive.sim.wire import BinanceReject
from tests.live_helpers import (
    D,
    ed25519_key_pair,
    error_line,
    finish,
    order_posts,
    register_new_key,
    run_live,
    start_live,
    state,
    use_key_file,
    wait_until,
    weights_at_venue,
    write_targets,
)
from tests.test_live_faults import logged_trade_ids, set_live, venue_trade_ids

pytestmark = pytest.mark.slow


def ws_api_calls(running) -> list[str]:  # noqa: ANN001
    return [r["path"] for r in state(running)["requests"] if r["method"] == "WS"]


def control(running, path: str) -> dict:  # noqa: ANN001
    request = urllib.request.Request(running.http_url + path, method="POST")
    with urllib.request.urlopen(request, timeout=5) as response:
        return json.loads(response.read())


def rest_paths(running) -> set[str]:  # noqa: ANN001
    return {r["path"] for r in state(running)["requests"] if r["method"] != "WS"}


def test_once_reaches_the_target_over_the_ws_api_user_stream_never_the_listen_key(venue, session_dir):
    result = run_live(session_dir, venue, "--arm", "--once")
    assert result.returncode == 0, result.stderr[-3000:]
    calls = ws_api_calls(venue)
    assert "session.logon" in calls and "userDataStream.subscribe" in calls
    assert not any("userDataStream" in path for path in rest_paths(venue))  # retired on 2026-02-20
    assert "/sapi/v1/account/apiRestrictions" in rest_paths(venue)
    weights = weights_at_venue(venue)
    assert abs(weights["BTCUSDT.BINANCE"] - D("0.3")) < D("0.01") and abs(weights["ETHUSDT.BINANCE"] - D("0.2")) < D("0.01")
    assert logged_trade_ids(session_dir) == venue_trade_ids(venue)


def test_a_key_file_of_the_owner_only_trades(venue, session_dir):
    use_key_file(session_dir, register_new_key(venue, "file-key"))
    result = run_live(session_dir, venue, "--arm", "--once", NAUTLIVE_SIM_KEY="file-key")
    assert result.returncode == 0, result.stderr[-3000:]
    assert len(order_posts(venue)) == 2


def test_an_unregistered_ed25519_key_is_refused_by_the_venue_exit_1_nothing_traded(venue, session_dir):
    pem, _ = ed25519_key_pair()  # the venue does not know its public half
    result = run_live(session_dir, venue, "--arm", "--once", NAUTLIVE_SIM_SECRET=pem)
    assert result.returncode == 1, result.stderr[-3000:]
    line = error_line(result.stderr)
    assert "refused the user stream" in line and "-1022" in line and "nothing traded" in line
    assert order_posts(venue) == [] and pem.splitlines()[1] not in result.stderr + result.stdout


def test_a_key_that_can_withdraw_is_refused_with_exit_4_and_no_order(venue, session_dir):
    venue.sim.set_restrictions({"enableWithdrawals": True})
    result = run_live(session_dir, venue, "--arm", "--once")
    assert result.returncode == 4, result.stderr[-3000:]
    assert "can withdraw funds" in error_line(result.stderr) and "allow_withdrawal_keys" in error_line(result.stderr)
    assert order_posts(venue) == [] and "session.logon" not in ws_api_calls(venue)


def test_withdrawals_accepted_by_the_profile_and_no_ip_restriction_are_warnings(venue, session_dir):
    venue.sim.set_restrictions({"enableWithdrawals": True, "ipRestrict": False})
    set_live(session_dir, allow_withdrawal_keys=True)
    result = run_live(session_dir, venue, "--arm", "--once")
    assert result.returncode == 0, result.stderr[-3000:]
    assert "can withdraw funds" in result.stderr and "not restricted to trusted IP addresses" in result.stderr


def test_a_venue_that_does_not_tell_the_keys_rights_fails_closed(venue, session_dir):
    venue.sim.api_restrictions = lambda: BinanceReject(-1002, "You are not authorized to execute this request.", 401)
    result = run_live(session_dir, venue, "--arm", "--once")
    assert result.returncode == 1, result.stderr[-3000:]
    assert "apiRestrictions" in error_line(result.stderr) and "-1002" in error_line(result.stderr)
    assert order_posts(venue) == []


def test_a_dropped_ws_api_socket_is_logged_on_again_and_the_next_target_is_reached(venue, session_dir):
    set_live(session_dir, down_report_secs=1)
    proc = start_live(session_dir, venue, "--arm", "--duration", "60")
    try:
        wait_until(lambda: len(state(venue)["fills"]) == 2, 30, "first rebalance", proc)
        logons = ws_api_calls(venue).count("session.logon")
        assert control(venue, "/__sim/ws_api/drop") == {"dropped": 1}
        wait_until(lambda: ws_api_calls(venue).count("userDataStream.subscribe") > logons, 30, "re-logon", proc)
        write_targets(session_dir, {"BTCUSDT.BINANCE": 0.2, "ETHUSDT.BINANCE": 0.2})
        wait_until(lambda: len(state(venue)["fills"]) == 3, 30, "the BTC sell", proc)
        time.sleep(1.5)
    finally:
        proc.send_signal(signal.SIGTERM)
    code, _, stderr = finish(proc, session_dir)
    assert code == 0, stderr[-3000:]
    assert ws_api_calls(venue).count("session.logon") > logons
    assert "re-established" in stderr
    assert abs(weights_at_venue(venue)["BTCUSDT.BINANCE"] - D("0.2")) < D("0.01")
    assert logged_trade_ids(session_dir) == venue_trade_ids(venue)  # every fill once


def test_a_refused_re_logon_stops_the_session_with_exit_1(venue, session_dir):
    set_live(session_dir, down_report_secs=1)
    proc = start_live(session_dir, venue, "--arm", "--duration", "60")
    try:
        wait_until(lambda: len(state(venue)["fills"]) == 2, 30, "first rebalance", proc)
        assert control(venue, "/__sim/ws_api/refuse_logon?count=100") == {"logon_refusals": 100}  # key revoked
        assert control(venue, "/__sim/ws_api/drop") == {"dropped": 1}
        code, stdout, stderr = finish(proc, session_dir, timeout=45)
    finally:
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGKILL)
    assert code == 1, stderr[-3000:]
    line = error_line(stderr)
    assert "user stream lost" in line and "refused a new logon" in line and "Invalid API-key" in line
    assert logged_trade_ids(session_dir) == venue_trade_ids(venue)
