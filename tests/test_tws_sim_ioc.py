"""The TWS venue's IOC orders, through a socket, as IB Gateway takes them: what the touch shows within the limit
fills, the rest is cancelled at once (orderStatus Cancelled with the filled part); a closed market cancels them
unfilled (an IOC order cannot wait for the open)."""

from __future__ import annotations

import pytest

from nautlive.sim.tws import build_tws_simulator
from nautlive.sim.tws.server import start_in_thread
from tests.test_tws_sim import CATALOG, Client, D


@pytest.fixture
def tws():
    with start_in_thread(build_tws_simulator(["AAPL.NASDAQ", "SPY.ARCA"], CATALOG, contracts=[]),
                         quote_interval=0.05) as running:
        yield running


def status_until(client: Client, order_id: int, status: str) -> tuple[str, ...]:
    while True:
        fields = client.until(3)
        if fields[1:3] == (str(order_id), status):
            return fields


def test_an_ioc_lmt_takes_what_the_touch_shows_within_its_limit_and_the_rest_is_cancelled_at_once(tws):
    client = Client(tws.port)
    tws.call(tws.sim.set_quote, 265598, D("190.00"), D("190.02"), D(500), D(100))
    client.place(1, "300", "LMT", "190.10", "IOC")
    assert client.until(11)[2] == "1"  # execDetails for order 1
    assert D(status_until(client, 1, "Cancelled")[3]) == 100  # orderStatus Cancelled: filled 100 (of 300)
    client.place(2, "50", "LMT", "190.01", "IOC")  # below the ask: nothing fills, all of it cancelled
    assert status_until(client, 2, "Cancelled")[3:5] == ("0", "50")
    tws.call(tws.sim.set_market_open, False)  # a closed market: an IOC cannot wait for the open
    client.place(3, "10", "MKT", "", "IOC")
    assert status_until(client, 3, "Cancelled")[3:5] == ("0", "10")
    orders = tws.call(lambda: tws.sim.account.orders)
    assert [(o.status, o.filled, o.reason) for o in orders.values()] == [
        ("Cancelled", 100, "IOC: the rest cancelled at once"), ("Cancelled", 0, "IOC: the rest cancelled at once"),
        ("Cancelled", 0, "IOC: the rest cancelled at once")]
    assert tws.call(lambda: [(e.order_id, e.shares, e.price) for e in tws.sim.account.executions]) == [
        (1, 100, 190.02)]  # the ask's size, at the ask
