"""Client -> server requests as text, read as `ibapi/client.py` writes them below the protobuf versions.

`parse(message)` turns one message into a Request (its OUT id, name and the values the venue uses); a protobuf body
goes to `proto_requests`. Text fields the venue does not need are skipped in order. placeOrder is read up to
`outsideRth`, which covers every field a MKT or LMT order on a stock carries; the rest of its (long) message is ignored.
A request the venue does not serve is named `unsupported:<Name>`, so the venue can say so in one line.
"""

from __future__ import annotations

from ibapi.message import OUT
from ibapi.server_versions import MIN_SERVER_VER_CME_TAGGING_FIELDS

from nautlive.sim.tws.protocol import SERVER_VERSION, Fields, Incoming, ProtocolError
from nautlive.sim.tws.request_types import (  # noqa: F401 - the venue's modules import them from here
    OUT_NAMES,
    REQUEST_CONTRACT,
    Parsed,
    PlacedOrder,
    Request,
    out_name,
)


def _contract(f: Fields, keys: tuple[str, ...] = REQUEST_CONTRACT) -> dict:
    contract = {key: f.text() for key in keys}
    contract["conId"] = int(contract["conId"] or 0)
    return contract


def _float_or_none(text: str) -> float | None:
    return None if text in ("", "1.7976931348623157E308", "1.7976931348623157e+308") else float(text)




def _start_api(f: Fields) -> Parsed:
    f.skip(1)
    return -1, {}, {"client_id": f.int(), "capabilities": f.rest()[:1]}


def _req_ids(f: Fields) -> Parsed:
    f.skip(1)
    return -1, {}, {"count": f.int()}


def _contract_data(f: Fields) -> Parsed:
    f.skip(1)
    req_id = f.int()
    return req_id, _contract(f), {}


def _mkt_data(f: Fields) -> Parsed:
    f.skip(1)
    req_id = f.int()
    contract = _contract(f)
    if contract["secType"] == "BAG":
        raise ProtocolError("combo (BAG) market data is not simulated")
    if f.bool():  # a delta-neutral contract follows
        f.skip(3)
    return req_id, contract, {"generic_ticks": f.text(), "snapshot": f.bool()}


def _tick_by_tick(f: Fields) -> Parsed:
    req_id = f.int()
    contract = _contract(f)
    return req_id, contract, {"tick_type": f.text()}


def _market_data_type(f: Fields) -> Parsed:
    f.skip(1)
    return -1, {}, {"type": f.int()}


def _versioned_req_id(f: Fields) -> Parsed:
    f.skip(1)
    return f.int(), {}, {}


def _cancel_order(f: Fields) -> Parsed:
    if f.version < MIN_SERVER_VER_CME_TAGGING_FIELDS:
        f.skip(1)  # version
    return f.int(), {}, {}


def _req_id(f: Fields) -> Parsed:
    return f.int(), {}, {}


def _account_summary(f: Fields) -> Parsed:
    f.skip(1)
    req_id = f.int()
    return req_id, {}, {"group": f.text(), "tags": f.text()}


def _executions(f: Fields) -> Parsed:
    f.skip(1)
    req_id = f.int()
    keys = ("client_id", "account", "time", "symbol", "sec_type", "exchange", "side")
    return req_id, {}, {key: f.text() for key in keys}


def _place_order(f: Fields) -> Parsed:
    order = place_order(f)
    return order.order_id, order.contract, {"order": order}


def _historical_data(f: Fields) -> Parsed:
    """reqHistoricalData from server version 124 on (no version field); combo legs are not served."""
    req_id = f.int()
    contract = _contract(f)
    f.skip(1)  # includeExpired
    end, bar_size, duration, use_rth, what, format_date = f.text(), f.text(), f.text(), f.bool(), f.text(), f.int(1)
    if contract["secType"] == "BAG":
        raise ProtocolError("combo (BAG) historical data is not simulated")
    return req_id, contract, {"end": end, "bar_size": bar_size, "duration": duration, "use_rth": use_rth,
                              "what": what, "format_date": format_date, "keep_up_to_date": f.bool()}


def _nothing(f: Fields) -> Parsed:
    return -1, {}, {}


def _versioned_nothing(f: Fields) -> Parsed:
    f.skip(1)
    return -1, {}, {}


def _completed_orders(f: Fields) -> Parsed:
    return -1, {}, {"api_only": f.bool()}


def _account_updates_multi(f: Fields) -> Parsed:
    f.skip(1)
    req_id = f.int()
    return req_id, {}, {"account": f.text(), "model_code": f.text()}


def _account_updates(f: Fields) -> Parsed:
    f.skip(1)
    return -1, {}, {"subscribe": f.bool(), "account": f.text()}


def place_order(f: Fields) -> PlacedOrder:
    order_id = f.int()
    contract = _contract(f)
    f.skip(2)  # secIdType, secId
    action, quantity, order_type = f.text(), f.decimal(), f.text()
    lmt, aux = _float_or_none(f.text()), _float_or_none(f.text())
    tif, _oca, account, _open_close, _origin, order_ref = (f.text() for _ in range(6))
    transmit = f.bool()
    f.skip(5)  # parentId, blockOrder, sweepToFill, displaySize, triggerMethod
    outside_rth = f.bool()
    return PlacedOrder(order_id, contract, action, quantity, order_type, lmt, aux, tif, account, order_ref, transmit,
                       outside_rth)


PARSERS = {
    OUT.START_API: ("startApi", _start_api),
    OUT.REQ_IDS: ("reqIds", _req_ids),
    OUT.REQ_CONTRACT_DATA: ("reqContractDetails", _contract_data),
    OUT.REQ_MKT_DATA: ("reqMktData", _mkt_data),
    OUT.CANCEL_MKT_DATA: ("cancelMktData", _versioned_req_id),
    OUT.REQ_MARKET_DATA_TYPE: ("reqMarketDataType", _market_data_type),
    OUT.REQ_TICK_BY_TICK_DATA: ("reqTickByTickData", _tick_by_tick),
    OUT.CANCEL_TICK_BY_TICK_DATA: ("cancelTickByTickData", _req_id),
    OUT.REQ_ACCOUNT_SUMMARY: ("reqAccountSummary", _account_summary),
    OUT.CANCEL_ACCOUNT_SUMMARY: ("cancelAccountSummary", _versioned_req_id),
    OUT.REQ_POSITIONS: ("reqPositions", _nothing),
    OUT.CANCEL_POSITIONS: ("cancelPositions", _nothing),
    OUT.REQ_OPEN_ORDERS: ("reqOpenOrders", _nothing),
    OUT.REQ_ALL_OPEN_ORDERS: ("reqAllOpenOrders", _nothing),
    OUT.REQ_AUTO_OPEN_ORDERS: ("reqAutoOpenOrders", _nothing),
    OUT.REQ_EXECUTIONS: ("reqExecutions", _executions),
    OUT.PLACE_ORDER: ("placeOrder", _place_order),
    OUT.CANCEL_ORDER: ("cancelOrder", _cancel_order),
    OUT.REQ_GLOBAL_CANCEL: ("reqGlobalCancel", _nothing),
    OUT.REQ_CURRENT_TIME: ("reqCurrentTime", _nothing),
    OUT.REQ_COMPLETED_ORDERS: ("reqCompletedOrders", _completed_orders),
    OUT.REQ_ACCT_DATA: ("reqAccountUpdates", _account_updates),
    OUT.REQ_MANAGED_ACCTS: ("reqManagedAccts", _versioned_nothing),
    OUT.REQ_ACCOUNT_UPDATES_MULTI: ("reqAccountUpdatesMulti", _account_updates_multi),
    OUT.CANCEL_ACCOUNT_UPDATES_MULTI: ("cancelAccountUpdatesMulti", _versioned_req_id),
    OUT.REQ_HISTORICAL_DATA: ("reqHistoricalData", _historical_data),
    OUT.CANCEL_HISTORICAL_DATA: ("cancelHistoricalData", _versioned_req_id),
}


def parse(message: Incoming, version: int = SERVER_VERSION) -> Request:
    """One client message -> Request; an id the venue does not serve is named `unsupported:<OUT name>`."""
    if message.proto is not None:
        from nautlive.sim.tws.proto_requests import parse_proto

        return parse_proto(message.msg_id, message.proto)
    name, parser = PARSERS.get(message.msg_id, (f"unsupported:{out_name(message.msg_id)}", _nothing))
    req_id, contract, values = parser(Fields(message.fields, version))
    return Request(message.msg_id, name, req_id, contract, values)
