"""The loopback TWS venue: every message decoded by the real ibapi Decoder, requests as the real EClient writes them,
the account's rules (whole shares, minTick, cash), the faults and the control port."""

from __future__ import annotations

import json
import socket
import urllib.request
from decimal import Decimal

import pytest
from ibapi import comm
from ibapi.client import EClient
from ibapi.common import PROTOBUF_MSG_ID
from ibapi.contract import Contract
from ibapi.decoder import Decoder
from ibapi.order import Order
from ibapi.server_versions import MIN_SERVER_VER_PROTOBUF
from ibapi.wrapper import EWrapper

from nautlive.sim.tws import build_tws_simulator, read_captures
from nautlive.sim.tws import messages as msg
from nautlive.sim.tws.protocol import (
    SERVER_VERSION,
    Incoming,
    ProtocolError,
    Refused,
    negotiate,
    parse_handshake,
    split_messages,
)
from nautlive.sim.tws.records import Execution, SimOrder
from nautlive.sim.tws.requests import parse
from nautlive.sim.tws.server import start_in_thread

from .conftest import REPO, shared_file

CATALOG = REPO / "artifacts" / "catalog" / "ibkr.yaml"
D = Decimal


class Recorder(EWrapper):
    """An EWrapper that records every callback as (name, args)."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, tuple]] = []

    def __getattribute__(self, name: str):  # noqa: ANN204
        if name.startswith("_") or name in ("calls", "logAnswer"):
            return object.__getattribute__(self, name)
        return lambda *args: object.__getattribute__(self, "calls").append((name, args))


VERSIONS = [176, 178, 187, 200, 201, 207, SERVER_VERSION]  # 2023's gateway, ib_async's 178, text to 200, protobuf on


def decode(message: msg.Out, version: int = SERVER_VERSION) -> list[tuple[str, tuple]]:
    """One message, encoded at `version`, through ibapi's Decoder as its reader hands it over (the id stripped; a
    protobuf body to processProtoBuf); every text field must be consumed. The wrapper's *ProtoBuf echoes are left out."""
    wrapper = Recorder()
    size, text, rest = comm.read_msg(msg.encode(message, version))
    assert rest == b""
    decoder = Decoder(wrapper, version)
    if version >= MIN_SERVER_VER_PROTOBUF:
        msg_id, body = int.from_bytes(text[:4], "big"), text[4:]
        if msg_id > PROTOBUF_MSG_ID:
            decoder.processProtoBuf(body, msg_id - PROTOBUF_MSG_ID)
            return [call for call in wrapper.calls if not call[0].endswith("ProtoBuf")]
        fields = comm.read_fields(body)
    else:
        msg_id, *fields = comm.read_fields(text)
    iterator = iter(fields)
    handler = decoder.msgId2handleInfo[int(msg_id)]
    if handler.processMeth is not None:
        handler.processMeth(decoder, iterator)
        assert list(iterator) == [], "fields left over"
    else:
        decoder.interpret(fields, int(msg_id))
    return wrapper.calls


AAPL = {"conId": 265598, "symbol": "AAPL", "secType": "STK", "exchange": "SMART", "primaryExchange": "NASDAQ",
        "currency": "USD", "localSymbol": "AAPL", "tradingClass": "NMS"}


def sim_order(**changes: object) -> SimOrder:
    values = dict(order_id=5, client_id=1, perm_id=99, con_id=265598, action="BUY", quantity=D(10), order_type="MKT",
                  tif="GTC", account="DU123456", order_ref="O-1:5")
    return SimOrder(**{**values, **changes})


# -- server -> client ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("version", VERSIONS)
def test_contract_details_from_the_real_capture_decode_as_captured(version):
    details = read_captures([shared_file("ibkr", "contract_details", "contracts_pkl_2022__AAPL.decoded.json")],
                            strict=True)["AAPL.NASDAQ"]
    [(name, (req_id, decoded))] = decode(msg.contract_details(7, details), version)
    assert (name, req_id) == ("contractDetails", 7)
    assert decoded.contract.conId == 265598 and decoded.contract.primaryExchange == "NASDAQ"
    assert decoded.minTick == details["minTick"] and decoded.longName == details["longName"]
    assert [(t.tag, t.value) for t in decoded.secIdList] == [("ISIN", "US0378331005")]
    assert decoded.sizeIncrement == decoded.minSize == 1


@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize("lmt", [None, 190.25])
def test_open_order_and_order_status_decode_field_for_field(lmt, version):
    order = sim_order(lmt_price=lmt, status="Submitted")
    [(name, (order_id, contract, decoded, state))] = decode(msg.open_order(order, AAPL), version)
    assert (name, order_id, contract.conId, contract.symbol) == ("openOrder", 5, 265598, "AAPL")
    assert (decoded.action, decoded.totalQuantity, decoded.orderType, decoded.tif) == ("BUY", 10, "MKT", "GTC")
    assert (decoded.account, decoded.orderRef, decoded.permId, state.status) == ("DU123456", "O-1:5", 99, "Submitted")
    assert decoded.lmtPrice == (lmt if lmt is not None else 1.7976931348623157e308)
    [(name, args)] = decode(msg.order_status(order), version)
    assert name == "orderStatus" and args[:5] == (5, "Submitted", 0, 10, 0.0)


@pytest.mark.parametrize("version", VERSIONS)
def test_execution_and_commission_carry_the_execution_id(version):
    execution = Execution(exec_id="0000e1.0001.01.01", order_id=5, client_id=1, perm_id=99, con_id=265598,
                          account="DU123456", side="BOT", shares=D(10), price=190.1, cum_qty=D(10), avg_price=190.1,
                          order_ref="O-1:5", time="20261128 09:00:00 UTC", commission=1.0, currency="USD")
    [(_, (req_id, contract, decoded))] = decode(msg.exec_details(-1, execution, AAPL), version)
    assert (req_id, contract.conId, decoded.execId, decoded.shares, decoded.orderRef) == (-1, 265598,
                                                                                        "0000e1.0001.01.01", 10, "O-1:5")
    [(_, (report,))] = decode(msg.commission_report(execution), version)
    assert (report.execId, report.commissionAndFees, report.currency) == ("0000e1.0001.01.01", 1.0, "USD")


@pytest.mark.parametrize("version", VERSIONS)
def test_signature_messages_and_ticks_decode(version):
    assert decode(msg.managed_accounts(["DU1", "DU2"]), version) == [("managedAccounts", ("DU1,DU2",))]
    assert decode(msg.next_valid_id(101), version) == [("nextValidId", (101,))]
    [(name, (req_id, error_time, *error))] = decode(msg.error(-1, 1100, "lost"), version)
    assert (name, req_id, *error) == ("error", -1, 1100, "lost", "")
    assert (error_time == 0) == (version < 194)  # errorTime (epoch ms) from MIN_SERVER_VER_ERROR_TIME
    assert decode(msg.account_summary(3, "DU1", "NetLiquidation", "100.00", "USD"), version) == [
        ("accountSummary", (3, "DU1", "NetLiquidation", "100.00", "USD"))]
    [(price, (req_id, tick_type, value, _)), (size, size_args)] = decode(msg.tick_price(3, 1, 190.1, D(200)), version)
    assert (price, req_id, tick_type, value, size, size_args) == ("tickPrice", 3, 1, 190.1, "tickSize", (3, 0, 200))
    [(name, args)] = decode(msg.tick_by_tick_last(4, 1700000000, 190.1, D(3), "NASDAQ"), version)
    assert name == "tickByTickAllLast" and args[2:5] == (1700000000, 190.1, 3)
    [(name, args)] = decode(msg.position("DU1", AAPL, D(263), 190.0), version)
    assert name == "position" and args[2:] == (263, 190.0)


@pytest.mark.parametrize("version", VERSIONS)
def test_completed_orders_and_account_updates_decode(version):
    order = sim_order(status="Filled", filled=D(10), tif="DAY")
    [(name, (contract, decoded, state))] = decode(msg.completed_order(order, AAPL, "20261128 09:00:01 UTC"), version)
    assert (name, contract.conId, decoded.action, decoded.totalQuantity, decoded.orderRef) == (
        "completedOrder", 265598, "BUY", 10, "O-1:5")
    assert (decoded.permId, decoded.tif, state.status, state.completedTime) == (99, "DAY", "Filled",
                                                                               "20261128 09:00:01 UTC")
    assert decode(msg.completed_orders_end(), version) == [("completedOrdersEnd", ())]
    assert decode(msg.account_value("NetLiquidation", "100.00", "USD", "DU1"), version) == [
        ("updateAccountValue", ("NetLiquidation", "100.00", "USD", "DU1"))]
    [(name, (contract, *values))] = decode(msg.portfolio_value(AAPL, D(3), 190.5, 190.0, "DU1"), version)
    assert (name, contract.conId, contract.primaryExchange, *values) == (
        "updatePortfolio", 265598, "NASDAQ", 3, 190.5, 571.5, 190.0, 1.5, 0.0, "DU1")
    assert decode(msg.account_time("09:00"), version) == [("updateAccountTime", ("09:00",))]
    assert decode(msg.account_download_end("DU1"), version) == [("accountDownloadEnd", ("DU1",))]
    assert decode(msg.account_update_multi(4, "DU1", "NetLiquidation", "100.00", "USD"), version) == [
        ("accountUpdateMulti", (4, "DU1", "", "NetLiquidation", "100.00", "USD"))]
    assert decode(msg.account_update_multi_end(4), version) == [("accountUpdateMultiEnd", (4,))]


# -- client -> server ------------------------------------------------------------------------------------------------


class Capture:
    def __init__(self) -> None:
        self.sent: list[bytes] = []

    def sendMsg(self, message: bytes) -> None:  # noqa: N802 - ibapi's name
        self.sent.append(message)

    def isConnected(self) -> bool:  # noqa: N802
        return True


def written(call, version: int = SERVER_VERSION) -> Incoming:  # noqa: ANN001
    """What the real EClient writes for `call(client)` at `version`, split back into one message."""
    client = EClient(EWrapper())
    client.conn, client.serverVersion_, client.connState = Capture(), version, EClient.CONNECTED
    call(client)
    messages, rest = split_messages(b"".join(client.conn.sent), version)
    assert rest == b"" and len(messages) == 1
    return messages[0]


@pytest.mark.parametrize("version", [176, 178, 200, 203, SERVER_VERSION])
def test_place_order_is_read_as_the_eclient_writes_it(version):
    contract = Contract()
    contract.__dict__.update(AAPL)
    order = Order()
    order.action, order.totalQuantity, order.orderType, order.lmtPrice = "SELL", D(7), "LMT", 190.25
    order.tif, order.account, order.orderRef = "DAY", "DU123456", "O-1:8"
    request = parse(written(lambda client: client.placeOrder(8, contract, order), version), version)
    assert request.protobuf == (version >= 203)  # MIN_SERVER_VER_PROTOBUF_PLACE_ORDER
    placed = request.values["order"]
    assert (request.name, placed.order_id, placed.contract["conId"], placed.contract["primaryExchange"]) == (
        "placeOrder", 8, 265598, "NASDAQ")
    assert (placed.action, placed.quantity, placed.order_type, placed.lmt_price, placed.tif, placed.account,
            placed.order_ref, placed.outside_rth) == ("SELL", 7, "LMT", 190.25, "DAY", "DU123456", "O-1:8", False)


@pytest.mark.parametrize("version", [176, 178, 200, 207, SERVER_VERSION])
def test_requests_nautilus_makes_at_connect_are_read(version):
    contract = Contract()
    contract.__dict__.update(AAPL)

    def read(call):  # noqa: ANN001, ANN202
        return parse(written(call, version), version)

    assert read(lambda c: c.reqContractDetails(11, contract)).contract["localSymbol"] == "AAPL"
    mkt = read(lambda c: c.reqMktData(12, contract, "", False, False, []))
    assert (mkt.name, mkt.req_id, mkt.contract["conId"]) == ("reqMktData", 12, 265598)
    tbt = read(lambda c: c.reqTickByTickData(13, contract, "AllLast", 0, False))
    assert (tbt.req_id, tbt.values["tick_type"]) == (13, "AllLast")
    assert read(lambda c: c.reqAccountSummary(14, "All", "NetLiquidation")).req_id == 14
    assert read(lambda c: c.cancelOrder(15, __import__("ibapi.order_cancel").order_cancel.OrderCancel())).req_id == 15
    assert read(lambda c: c.reqPositions()).name == "reqPositions"
    assert read(lambda c: c.reqAllOpenOrders()).name == "reqAllOpenOrders"
    assert read(lambda c: c.reqCompletedOrders(False)).name == "reqCompletedOrders"
    multi = read(lambda c: c.reqAccountUpdatesMulti(17, "DU123456", "", True))
    assert (multi.name, multi.req_id, multi.values["account"]) == ("reqAccountUpdatesMulti", 17, "DU123456")
    updates = read(lambda c: c.reqAccountUpdates(True, "DU123456"))
    assert (updates.name, updates.values) == ("reqAccountUpdates", {"subscribe": True, "account": "DU123456"})
    executions = read(lambda c: c.reqExecutions(16, __import__("ibapi.execution").execution.ExecutionFilter()))
    assert (executions.name, executions.req_id, executions.protobuf) == ("reqExecutions", 16, version >= 201)


def test_a_request_the_venue_does_not_serve_is_named():
    request = parse(written(lambda c: c.reqScannerParameters(), SERVER_VERSION))
    assert request.name == "unsupported:REQ_SCANNER_PARAMETERS" and request.protobuf
    assert parse(written(lambda c: c.reqScannerParameters(), 176)).name == "unsupported:REQ_SCANNER_PARAMETERS"


def test_handshake_needs_api_prefix_and_negotiates_like_ib_gateway():
    assert parse_handshake(b"API\0" + comm.make_initial_msg("v100..187"))[0] == "v100..187"
    assert parse_handshake(b"API\0") is None
    with pytest.raises(ProtocolError):
        parse_handshake(b"GET / HTTP/1.1\r\n")
    assert negotiate("v100..223", SERVER_VERSION) == SERVER_VERSION == 223
    assert negotiate("v157..178", SERVER_VERSION) == 178  # ib_async 2.1.0
    assert negotiate("v100..223 +PACEAPI", 176) == 176  # an older gateway: its own maximum
    with pytest.raises(Refused):
        negotiate("v100..150", SERVER_VERSION)  # older than any gateway the venue plays
    with pytest.raises(Refused):
        negotiate("v201..223", 176)  # a client that needs protobuf, against a 2023 gateway


# -- the account's rules, through a socket -------------------------------------------------------------------------


class Client:
    """A bare TWS API client on a socket: handshake, START_API, then requests and replies as field tuples."""

    def __init__(self, port: int, client_id: int = 7) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=5)
        self.buffer = b""
        self.sock.sendall(b"API\0" + comm.make_initial_msg("v100..187"))
        assert self.read()[0] == "187"  # min(the venue's 223, the client's 187): text messages
        self.send(71, 2, client_id, "")

    def send(self, *fields: object) -> None:
        self.sock.sendall(comm.make_initial_msg("".join(comm.make_field(f) for f in fields)))

    def read(self) -> tuple[str, ...]:
        while True:
            size, text, rest = comm.read_msg(self.buffer)
            if size and len(self.buffer) - 4 >= size:
                self.buffer = rest
                return tuple(field.decode() for field in comm.read_fields(text))
            self.buffer += self.sock.recv(65536)

    def until(self, msg_id: int, code: int | None = None) -> tuple[str, ...]:
        while True:
            fields = self.read()
            if fields[0] == str(msg_id) and (code is None or fields[3] == str(code)):
                return fields

    def place(self, order_id: int, quantity: str, order_type: str = "MKT", lmt: str = "", tif: str = "DAY") -> None:
        contract = [265598, "AAPL", "STK", "", 0.0, "", "", "SMART", "NASDAQ", "USD", "AAPL", "", "", ""]
        self.send(3, order_id, *contract, "BUY", quantity, order_type, lmt, "", tif, "", "DU123456", "", 0,
                  f"ref-{order_id}", 1, 0, 0, 0, 0, 0, 0, 0)


@pytest.fixture
def tws():
    with start_in_thread(build_tws_simulator(["AAPL.NASDAQ", "SPY.ARCA"], CATALOG, contracts=[]),
                         quote_interval=0.05) as running:
        yield running


def test_connect_sends_accounts_next_id_and_farm_messages(tws):
    client = Client(tws.port)
    assert client.until(15)[2] == "DU123456"
    assert int(client.until(9)[2]) >= 1
    assert client.until(4, 2104)[4].startswith("Market data farm connection is OK")


def test_whole_shares_fill_and_a_fraction_or_off_tick_price_is_rejected_with_201(tws):
    client = Client(tws.port)
    client.place(1, "2.5")
    assert "Fractional-sized order" in client.until(4, 201)[4]
    client.place(2, "3", "LMT", "190.005")
    assert "minimum price variation" in client.until(4, 201)[4]
    client.place(3, "3")
    assert client.until(11)[2] == "3"  # execDetails for order 3
    assert tws.call(lambda: tws.sim.account.position(265598)) == 3


def test_reject_next_and_market_closed_and_cancel(tws):
    client = Client(tws.port)
    tws.call(tws.sim.reject_next, "no reason at all")
    client.place(1, "1")
    assert client.until(4, 201)[4] == "Order rejected - reason:no reason at all"
    tws.call(tws.sim.set_market_open, False)
    client.place(2, "1")
    assert client.until(3)[2] == "PreSubmitted"
    client.send(4, 1, 2, "")
    assert client.until(3)[2] == "Cancelled" and client.until(4, 202)
    client.place(3, "1")
    tws.call(tws.sim.set_market_open, True)
    assert client.until(11)[2] == "3"


def test_drop_sends_1100_and_the_dropped_client_hears_1102_when_it_reconnects(tws):
    client = Client(tws.port)
    client.until(9)
    assert tws.call(tws.sim.drop_connections) == 1
    assert client.until(4, 1100)
    again = Client(tws.port)
    assert again.until(4, 1102)[4].startswith("Connectivity between IB and Trader Workstation has been restored")
    other = Client(tws.port, client_id=8)  # never cut off: it hears no "restored"
    other.send(49, 1)  # reqCurrentTime: everything the venue sent at connect comes before its answer
    heard = []
    while (fields := other.read())[0] != "49":
        heard.append(fields)
    assert [f for f in heard if f[0] == "4" and f[3] == "1102"] == []


def test_a_stalled_venue_does_not_answer_the_handshake(tws):
    tws.call(tws.sim.stall, None)
    sock = socket.create_connection(("127.0.0.1", tws.port), timeout=0.5)
    sock.sendall(b"API\0" + comm.make_initial_msg("v100..187"))
    with pytest.raises(TimeoutError):
        sock.recv(100)
    tws.call(tws.sim.clear_stall)
    assert sock.recv(100)


def test_control_port_state_quote_and_faults(tws):
    def call(method: str, path: str) -> dict:
        request = urllib.request.Request(tws.control_url + path, method=method)
        with urllib.request.urlopen(request, timeout=5) as response:
            return json.loads(response.read())

    assert call("POST", "/__sim/quote?symbol=AAPL&bid=150.00&ask=150.02")["quote"]["bid"] == "150.00"
    assert call("POST", "/__sim/market_closed") == {"market_open": False}
    assert call("POST", "/__sim/reject_next?reason=x") == {"pending_reject": "x"}
    snapshot = call("GET", "/__sim/state")
    assert snapshot["faults"]["held_quotes"] == ["AAPL"] and snapshot["faults"]["market_open"] is False
    assert snapshot["cash"] == {"USD": "100000"} and snapshot["account"] == "DU123456"
    with pytest.raises(urllib.error.HTTPError) as bad:
        call("POST", "/__sim/quote?symbol=AAPL&bid=150.001&ask=150.02")
    assert bad.value.code == 400


def test_every_connection_is_listed_with_its_negotiated_version(tws):
    text_client = Client(tws.port, client_id=7)  # offers v100..187
    text_client.until(9)
    current = socket.create_connection(("127.0.0.1", tws.port), timeout=5)
    current.sendall(b"API\0" + comm.make_initial_msg("v100..223"))
    assert current.recv(100)
    connections = json.loads(urllib.request.urlopen(tws.control_url + "/__sim/state", timeout=5).read())["connections"]
    assert [(c["offered"], c["version"], c["client_id"]) for c in connections] == [
        ("v100..187", 187, 7), ("v100..223", 223, None)]


def test_a_client_range_an_older_gateway_cannot_meet_is_refused():
    sim = build_tws_simulator(["AAPL.NASDAQ"], CATALOG, contracts=[], server_version=176)
    with start_in_thread(sim) as running:
        sock = socket.create_connection(("127.0.0.1", running.port), timeout=5)
        sock.sendall(b"API\0" + comm.make_initial_msg("v201..223"))
        assert sock.recv(100) == b""  # closed, no server version: as IB Gateway refuses a client it cannot serve
        [refused] = running.call(lambda: list(running.sim.connections))
    assert refused["version"] is None and "cannot meet this gateway's 176..176" in refused["refused"]


def test_a_request_the_venue_does_not_serve_is_answered_with_an_error_naming_it(tws, capfd):
    client = Client(tws.port)
    client.send(24, 1)  # reqScannerParameters, version 1
    assert "REQ_SCANNER_PARAMETERS (text) is not served by the loopback TWS venue" in client.until(4, 321)[4]
    assert "TWS simulator: REQ_SCANNER_PARAMETERS (text) is not served" in capfd.readouterr().err


def test_only_the_placing_client_or_the_master_client_cancels_an_order(tws):
    theirs = tws.call(tws.sim.place_working, 3, "AAPL", "BUY", D(1), 150.0, "theirs")
    other = Client(tws.port, client_id=7)
    other.send(4, 1, theirs.order_id, "")  # cancelOrder, as a text client below 192 writes it
    assert "not found" in other.until(4, 10147)[4]
    assert tws.call(lambda: tws.sim.account.orders[theirs.order_id].status) == "Submitted"
    master = Client(tws.port, client_id=0)
    master.send(4, 1, theirs.order_id, "")
    assert master.until(3)[2] == "Cancelled"
