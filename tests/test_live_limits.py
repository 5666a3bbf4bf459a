"""LIVE within Binance's request limits: a 429 on an order is waited out (no request before the weight window ends),
the order planned again and the summary counts what the venue did; a 418 ban stops the session naming its end and
nothing is sent during it; the request weight is budgeted, so a session never reaches 429. Against the loopback
simulator's rate-limit controls, through the real adapter.
"""

from __future__ import annotations

import signal
import time

import pytest

from nautlive.sim.venue import BinanceSimulator
from nautlive.venues.binance.limits import weight_of
from tests.live_helpers import (
    D,
    error_line,
    finish,
    run_live,
    start_live,
    state,
    wait_until,
    weights_at_venue,
    write_targets,
)

pytestmark = pytest.mark.slow


def refuse_first_order(sim: BinanceSimulator, status: int, retry_after: float) -> None:
    """The first POST /api/v3/order is answered HTTP `status` with Retry-After, not executed."""
    log_request, done = sim.log_request, []

    def log_then_refuse(method: str, path: str, params: dict) -> None:
        log_request(method, path, params)
        if (method, path) == ("POST", "/api/v3/order") and not done:
            done.append(True)
            sim.limits.rate_limit_next(status, retry_after, 1)

    sim.log_request = log_then_refuse


def test_a_429_on_an_order_is_waited_out_then_traded_and_counted_as_the_venue_saw_it(venue, session_dir):
    venue.call(venue.sim.limits.limit_weight, 6000, 3)  # 3 s weight windows, as exchangeInfo's rateLimits say
    venue.call(refuse_first_order, venue.sim, 429, 2)
    result = run_live(session_dir, venue, "--arm", "--once")
    assert result.returncode == 0, result.stderr[-3000:]
    requests = [r for r in state(venue)["requests"] if r["method"] != "WS"]  # REST: the WebSocket API has its own
    refused = next(r for r in requests if r.get("refused") == 429)
    window_end = (refused["time"] // 3000 + 1) * 3000
    after = [r["time"] for r in requests if refused["time"] + 300 < r["time"]]
    assert after and min(after) >= window_end  # nothing between the 429 and the end of its window
    assert "applied: 2 orders filled (of 3 sent: 2 filled, 1 rejected)" in result.stdout
    assert "1 rebalances, 3 orders (2 filled, 1 rejected)" in result.stdout


def test_a_418_ban_stops_the_session_naming_its_end_and_nothing_is_sent_during_it(venue, session_dir):
    proc = start_live(session_dir, venue, "--arm", "--duration", "60")
    try:
        wait_until(lambda: len(state(venue)["fills"]) == 2, 30, "first rebalance", proc)
        time.sleep(1.0)
        venue.call(venue.sim.limits.rate_limit_next, 418, 120, 1)
        write_targets(session_dir, {"BTCUSDT.BINANCE": 0.2, "ETHUSDT.BINANCE": 0.2})
        started = time.monotonic()
        code, stdout, stderr = finish(proc, session_dir)
    finally:
        proc.kill()
    assert code == 1, stderr[-3000:]
    assert time.monotonic() - started < 20
    line = error_line(stderr)
    assert "banned this IP until 20" in line and "(HTTP 418, Retry-After): no request sent before then" in line
    rest = [r for r in state(venue)["requests"] if r["method"] != "WS"]  # WebSocket API frames are logged too
    assert rest[-1].get("refused") == 418  # the banned request was the last REST call the venue saw
    assert len(state(venue)["fills"]) == 2
    end = line.split("banned this IP until ")[1].split(" ")[0]
    again = run_live(session_dir, venue, "--arm", "--once")  # cron's next run: the ban is remembered
    assert again.returncode == 1, again.stderr[-3000:]
    assert f"banned this IP until {end}" in error_line(again.stderr) and "nothing traded" in error_line(again.stderr)
    assert len([r for r in state(venue)["requests"] if r["method"] != "WS"]) == len(rest)  # nothing sent


def test_request_weight_is_budgeted_so_a_session_never_reaches_429(venue, session_dir):
    venue.call(venue.sim.limits.limit_weight, 150, 2)  # 150 per 2 s: nautlive spends at most 120 a window
    result = run_live(session_dir, venue, "--arm", "--once")
    assert result.returncode == 0, result.stderr[-3000:]
    assert state(venue)["limits"]["refused"] == {"429": 0, "418": 0}
    spent = sum(weight_of(r["method"], r["path"], r["params"]) for r in state(venue)["requests"])
    assert spent > 150  # more than one window's worth: the budget had to hold some of them back


def test_a_429_mid_session_holds_every_request_until_its_retry_after_then_trades(venue, session_dir):
    proc = start_live(session_dir, venue, "--arm", "--duration", "60")
    try:
        wait_until(lambda: len(state(venue)["fills"]) == 2, 30, "first rebalance", proc)
        time.sleep(1.0)
        venue.call(venue.sim.limits.rate_limit_next, 429, 3, 1)
        write_targets(session_dir, {"BTCUSDT.BINANCE": 0.2, "ETHUSDT.BINANCE": 0.2})
        wait_until(lambda: abs(weights_at_venue(venue)["BTCUSDT.BINANCE"] - D("0.2")) < D("0.01"), 30,
                   "the BTC sell after the 429", proc)
        time.sleep(0.5)
    finally:
        proc.send_signal(signal.SIGTERM)
    code, _, stderr = finish(proc, session_dir)
    assert code == 0, stderr[-3000:]
    rest = [r for r in state(venue)["requests"] if r["method"] != "WS"]
    at = next(i for i, r in enumerate(rest) if r.get("refused") == 429)
    assert rest[at + 1]["time"] - rest[at]["time"] >= 3000  # the next REST call came after Retry-After
