"""Binance's request limits: after 429 or 418 no request before Retry-After, a ban refuses locally until its end, and
the request weight is budgeted before sending so a burst waits instead of reaching 429. Against the loopback
simulator's REST (its /__sim/ rate-limit controls), with nautlive's own client and Nautilus's BinanceHttpClient."""

from __future__ import annotations

import asyncio
import time

import pytest

from nautlive.venues.binance.limits import IpBanned, gate_for, used_weight_header, weight_of
from nautlive.venues.binance.rest import BinanceRest, VenueError
from tests.live_helpers import state


def calls(running, path: str = "/api/v3/account") -> list[int]:  # noqa: ANN001
    """The simulator's clock (ms) at each call of `path`."""
    return [r["time"] for r in state(running)["requests"] if r["path"] == path]


def rest_of(running) -> BinanceRest:  # noqa: ANN001
    return BinanceRest(running.http_url, "sim-key", "sim-secret", timeout=5)


def test_weights_and_headers_as_binance_publishes_them():
    assert weight_of("GET", "/api/v3/account") == 20 and weight_of("POST", "/api/v3/order") == 1
    assert weight_of("GET", "/api/v3/openOrders", {"symbol": "BTCUSDT"}) == 6
    assert weight_of("GET", "/api/v3/openOrders", {}) == 80
    assert weight_of("GET", "/sapi/v1/asset/tradeFee") == 0  # limits of its own
    assert [used_weight_header(w) for w in (60, 10, 120, 3600)] == [
        "X-MBX-USED-WEIGHT-1M", "X-MBX-USED-WEIGHT-10S", "X-MBX-USED-WEIGHT-2M", "X-MBX-USED-WEIGHT-1H"]


def test_after_a_429_no_request_before_retry_after(venue):
    venue.call(venue.sim.limits.rate_limit_next, 429, 2, 1)

    async def scenario() -> None:
        rest = rest_of(venue)
        try:
            with pytest.raises(VenueError) as err:
                await rest.balances()
            assert err.value.code == -1003 and err.value.transient
            await rest.balances()  # waits for Retry-After, then answered
        finally:
            await rest.close()

    asyncio.run(scenario())
    first, second = calls(venue)
    assert second - first >= 2000  # the venue saw nothing in between
    assert state(venue)["limits"]["refused"] == {"429": 1, "418": 0}
    assert gate_for(venue.http_url).used >= 20  # X-MBX-USED-WEIGHT-1M read


def test_a_418_ban_refuses_locally_until_its_end_naming_it(venue):
    venue.call(venue.sim.limits.rate_limit_next, 418, 30, 1)
    banned: list = []
    gate_for(venue.http_url).on_ban.append(banned.append)

    async def scenario() -> None:
        rest = rest_of(venue)
        try:
            for _ in range(3):
                with pytest.raises(IpBanned) as err:
                    await rest.balances()
        finally:
            await rest.close()
        assert "banned this IP until 20" in str(err.value) and "(HTTP 418, Retry-After)" in str(err.value)
        assert err.value.until - time.time() > 25

    asyncio.run(scenario())
    assert len(calls(venue)) == 1  # the two later calls never reached the venue
    assert len(banned) == 1 and banned[0].end in str(banned[0])


def test_a_burst_waits_for_the_next_window_instead_of_reaching_429(venue):
    venue.call(venue.sim.limits.limit_weight, 100, 2)  # 100 per 2 s: nautlive spends at most 80

    async def scenario() -> None:
        rest = rest_of(venue)
        try:
            await rest.exchange_info(["BTCUSDT"])  # rateLimits: the limit and its window
            for _ in range(8):  # 8 x 20 weight
                await rest.balances()
        finally:
            await rest.close()

    started = time.monotonic()
    asyncio.run(scenario())
    assert state(venue)["limits"]["refused"] == {"429": 0, "418": 0}
    assert len(calls(venue)) == 8 and time.monotonic() - started >= 2.0
    assert gate_for(venue.http_url).waits >= 2


def nautilus_client(running):  # noqa: ANN001, ANN201
    """Nautilus's own Binance HTTP client against the simulator, guarded as a LIVE session guards it."""
    from nautilus_trader.adapters.binance.http.client import BinanceHttpClient
    from nautilus_trader.common.component import LiveClock

    from nautlive.venues.binance.guard import GuardedHttpClient

    client = BinanceHttpClient(LiveClock(), "sim-key", "sim-secret", running.http_url)
    client._client = GuardedHttpClient(client._client, gate_for(running.http_url))
    return client


@pytest.mark.parametrize("status", [429, 418])
def test_nautilus_own_requests_wait_out_a_429_and_are_refused_here_during_a_ban(venue, status):
    from nautilus_trader.adapters.binance.http.error import BinanceClientError
    from nautilus_trader.core.nautilus_pyo3 import HttpMethod

    venue.call(venue.sim.limits.limit_weight, 6000, 2)  # a 2 s weight window, so that its end comes soon
    venue.call(venue.sim.limits.rate_limit_next, status, 30 if status == 418 else 2, 1)
    gate_for(venue.http_url).configure(  # as the session's exchangeInfo call at start does
        [{"rateLimitType": "REQUEST_WEIGHT", "interval": "SECOND", "intervalNum": 2, "limit": 6000}])
    client = nautilus_client(venue)

    async def scenario() -> list:
        answers = []
        for _ in range(2):
            try:
                answers.append(await client.sign_request(HttpMethod.GET, "/api/v3/account", {"timestamp": "1"}))
            except BinanceClientError as exc:
                answers.append(exc.status)
        return answers

    first, second = asyncio.run(scenario())
    assert first == status
    if status == 429:
        assert isinstance(second, bytes)  # answered: Nautilus's client hands over no Retry-After header, so the gate
        one, two = calls(venue)  # waited for the end of the weight window the 429 was about
        assert two >= (one // 2000 + 1) * 2000
    else:
        assert second == 418 and len(calls(venue)) == 1  # refused here: nothing sent during the ban


def test_a_ban_is_remembered_in_the_state_folder_for_the_next_run(tmp_path):
    from nautlive.venues.binance.limits import Gate

    now = [1_000_000.0]
    first = Gate("https://api.binance.com", clock=lambda: now[0])
    first.remember_bans(tmp_path)
    first.answered(418, {"Retry-After": "600"})
    later_run = Gate("https://api.binance.com", clock=lambda: now[0])  # another process, same endpoint
    later_run.remember_bans(tmp_path)
    with pytest.raises(IpBanned) as err:
        later_run.delay(20)
    assert err.value.until == 1_000_600.0 and "banned this IP until 1970-01-12T13:56:40Z" in str(err.value)
    now[0] += 601  # the ban is over
    assert later_run.delay(20) == 0
    other = Gate("https://testnet.binance.vision", clock=lambda: now[0] - 601)
    other.remember_bans(tmp_path)
    assert other.delay(20) == 0  # another endpoint is not banned
