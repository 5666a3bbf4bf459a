"""The loopback TWS venue as clients other than Nautilus's see it: ib_async 2.1.0 (its own protocol code, server
version 178: text) and ibapi's own EClient with its reader thread (223: protobuf; 176: text)."""

from __future__ import annotations

import logging
import threading
from decimal import Decimal

import pytest
from ibapi.client import EClient
from ibapi.wrapper import EWrapper

from nautlive.sim.tws import build_tws_simulator
from nautlive.sim.tws.server import start_in_thread

from .conftest import REPO

CATALOG = REPO / "artifacts" / "catalog" / "ibkr.yaml"
AAPL_CON_ID = 265598
D = Decimal


@pytest.fixture
def venue():
    """The default venue (a current IB Gateway), AAPL 5 shares held."""
    sim = build_tws_simulator(["AAPL.NASDAQ", "SPY.ARCA"], CATALOG, contracts=[])
    sim.account.positions[AAPL_CON_ID] = (D(5), D(180))
    with start_in_thread(sim, quote_interval=0.05) as running:
        yield running


def test_ib_async_connects_reads_positions_and_fills_a_plain_market_order(venue, caplog):
    import ib_async  # make install brings ib_async 2.1.0, without its tzdata pin (see the Makefile)

    caplog.set_level(logging.INFO, logger="ib_async")
    ib = ib_async.IB()
    ib.connect("127.0.0.1", venue.port, clientId=9, timeout=5)
    try:
        assert ib.client.serverVersion() == 178  # ib_async offers v157..178: text messages
        assert [(p.contract.conId, p.position) for p in ib.positions()] == [(AAPL_CON_ID, 5)]
        assert {v.tag for v in ib.accountValues()} >= {"NetLiquidation", "AvailableFunds"}
        [contract] = ib.qualifyContracts(ib_async.Stock("AAPL", "SMART", "USD", primaryExchange="NASDAQ"))
        trade = ib.placeOrder(contract, ib_async.MarketOrder("BUY", 1))  # no time in force: IB takes DAY
        for _ in range(50):
            if trade.isDone():
                break
            ib.sleep(0.1)
        assert trade.orderStatus.status == "Filled" and [f.execution.shares for f in trade.fills] == [1]
        ib.sleep(0.2)
        assert [(p.contract.conId, p.position) for p in ib.positions()] == [(AAPL_CON_ID, 6)]
        assert [t.orderStatus.status for t in ib.reqCompletedOrders(apiOnly=True)] == ["Filled"]
    finally:
        ib.disconnect()
    assert not [r.getMessage() for r in caplog.records if "timed out" in r.getMessage()]
    assert venue.call(lambda: [o.tif for o in venue.sim.account.orders.values()]) == ["DAY"]


class Recorder(EWrapper):
    """ibapi's EWrapper, recording the callbacks these tests read; `ended[name]` is set when that callback came."""

    def __init__(self, *ends: str) -> None:
        super().__init__()
        self.calls: list[tuple[str, tuple]] = []
        self.ended = {name: threading.Event() for name in ("nextValidId", *ends)}

    def _record(self, name: str, *args: object) -> None:
        self.calls.append((name, args))
        if name in self.ended:
            self.ended[name].set()

    def nextValidId(self, orderId):  # noqa: ANN001, N802, N803 - ibapi's names
        self._record("nextValidId", orderId)

    def openOrder(self, orderId, contract, order, orderState):  # noqa: ANN001, N802, N803
        self._record("openOrder", orderId, contract, order, orderState)

    def openOrderEnd(self):  # noqa: N802
        self._record("openOrderEnd")

    def completedOrder(self, contract, order, orderState):  # noqa: ANN001, N802, N803
        self._record("completedOrder", contract, order, orderState)

    def completedOrdersEnd(self):  # noqa: N802
        self._record("completedOrdersEnd")

    def updateAccountValue(self, key, val, currency, accountName):  # noqa: ANN001, N802, N803
        self._record("updateAccountValue", key, val, currency, accountName)

    def updatePortfolio(self, contract, position, *values):  # noqa: ANN001, ANN002, N802
        self._record("updatePortfolio", contract, position, *values)

    def accountDownloadEnd(self, accountName):  # noqa: ANN001, N802, N803
        self._record("accountDownloadEnd", accountName)


def connect_eclient(port: int, client_id: int, *ends: str) -> tuple[EClient, Recorder]:
    wrapper = Recorder(*ends)
    client = EClient(wrapper)
    client.connect("127.0.0.1", port, client_id)
    threading.Thread(target=client.run, daemon=True).start()
    assert wrapper.ended["nextValidId"].wait(5)
    return client, wrapper


@pytest.mark.parametrize("gateway", [223, 176])
def test_ibapi_eclient_reads_all_open_orders_completed_orders_and_account_updates(gateway):
    sim = build_tws_simulator(["AAPL.NASDAQ", "SPY.ARCA"], CATALOG, contracts=[], server_version=gateway)
    sim.account.positions[AAPL_CON_ID] = (D(5), D(180))
    with start_in_thread(sim, quote_interval=0.05) as running:
        theirs = running.call(running.sim.place_working, 7, "AAPL", "BUY", D(2), 150.0, "theirs")
        running.call(running.sim.place_working, 3, "SPY", "BUY", D(1), 100.0, "other")
        client, wrapper = connect_eclient(running.port, 5, "openOrderEnd", "completedOrdersEnd", "accountDownloadEnd")
        try:
            assert client.serverVersion() == gateway
            client.reqAllOpenOrders()
            assert wrapper.ended["openOrderEnd"].wait(5)
            placed_by = {args[2].orderRef: args[2].clientId for name, args in wrapper.calls if name == "openOrder"}
            assert placed_by == {"theirs": 7, "other": 3}
            running.call(running.sim.cancel_at_venue, theirs.order_id)
            client.reqCompletedOrders(False)
            assert wrapper.ended["completedOrdersEnd"].wait(5)
            [(_, (_, order, state))] = [c for c in wrapper.calls if c[0] == "completedOrder"]
            assert (order.orderRef, state.status) == ("theirs", "Cancelled") and state.completedTime
            client.reqAccountUpdates(True, "DU123456")
            assert wrapper.ended["accountDownloadEnd"].wait(5)
            values = {args[0] for name, args in wrapper.calls if name == "updateAccountValue"}
            assert {"NetLiquidation", "TotalCashValue", "AvailableFunds"} <= values
            [(_, (contract, position, *_))] = [c for c in wrapper.calls if c[0] == "updatePortfolio"]
            assert (contract.conId, position) == (AAPL_CON_ID, 5)
        finally:
            client.disconnect()
