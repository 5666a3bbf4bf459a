"""Client -> server requests as protobuf, read with ibapi's own generated classes and decoders.

ibapi 10.45 sends a request as protobuf once the negotiated server version reaches its group's version
(`ibapi.common.PROTOBUF_MSG_IDS`: executions 201, orders 203, open/completed orders 204, contract data 205, market data
206, accounts and positions 207, historical data (reqHistoricalData) and tick-by-tick 208, ids/current time/start API 213). Each one maps
to the same Request the text parser makes, marked `protobuf=True`.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from decimal import Decimal

from ibapi.const import UNSET_DECIMAL, UNSET_DOUBLE
from ibapi.decoder_utils import decodeContract, decodeOrder
from ibapi.message import OUT

from nautlive.sim.tws.request_types import REQUEST_CONTRACT, Parsed, PlacedOrder, Request, out_name

Reader = Callable[[object], Parsed]


def _proto(name: str) -> type:
    return getattr(importlib.import_module(f"ibapi.protobuf.{name}_pb2"), name)


def contract_dict(proto) -> dict:  # noqa: ANN001 - a ContractProto
    contract = decodeContract(proto)
    values = {key: getattr(contract, key, "") for key in REQUEST_CONTRACT}
    values["conId"] = int(values["conId"] or 0)
    return values


def _price(value: float) -> float | None:
    return None if value == UNSET_DOUBLE else value


def placed_order(request) -> PlacedOrder:  # noqa: ANN001 - a PlaceOrderRequestProto
    order = decodeOrder(request.orderId, request.contract, request.order)
    quantity = None if order.totalQuantity == UNSET_DECIMAL else Decimal(str(order.totalQuantity))
    return PlacedOrder(request.orderId, contract_dict(request.contract), order.action, quantity, order.orderType,
                       _price(order.lmtPrice), _price(order.auxPrice), order.tif, order.account, order.orderRef,
                       order.transmit, order.outsideRth)


def _with_req_id(p) -> Parsed:  # noqa: ANN001
    return p.reqId, {}, {}


def _with_contract(p) -> Parsed:  # noqa: ANN001
    return p.reqId, contract_dict(p.contract), {}


def _nothing(p) -> Parsed:  # noqa: ANN001
    return -1, {}, {}


def _place_order(p) -> Parsed:  # noqa: ANN001
    order = placed_order(p)
    return order.order_id, order.contract, {"order": order}


def _executions(p) -> Parsed:  # noqa: ANN001
    f = p.executionFilter
    return p.reqId, {}, {"client_id": str(f.clientId) if f.HasField("clientId") else "", "account": f.acctCode,
                         "time": f.time, "symbol": f.symbol, "sec_type": f.secType, "exchange": f.exchange,
                         "side": f.side}


def _historical_data(p) -> Parsed:  # noqa: ANN001 - a HistoricalDataRequestProto
    return p.reqId, contract_dict(p.contract), {"end": p.endDateTime, "bar_size": p.barSizeSetting,
                                                "duration": p.duration, "use_rth": p.useRTH, "what": p.whatToShow,
                                                "format_date": p.formatDate if p.HasField("formatDate") else 1,
                                                "keep_up_to_date": p.keepUpToDate}


PROTO_PARSERS: dict[int, tuple[str, str, Reader]] = {
    OUT.START_API: ("startApi", "StartApiRequest",
                    lambda p: (-1, {}, {"client_id": p.clientId, "capabilities": [p.optionalCapabilities]})),
    OUT.REQ_IDS: ("reqIds", "IdsRequest", lambda p: (-1, {}, {"count": p.numIds})),
    OUT.REQ_CURRENT_TIME: ("reqCurrentTime", "CurrentTimeRequest", _nothing),
    OUT.REQ_CONTRACT_DATA: ("reqContractDetails", "ContractDataRequest", _with_contract),
    OUT.REQ_MKT_DATA: ("reqMktData", "MarketDataRequest",
                       lambda p: (p.reqId, contract_dict(p.contract), {"generic_ticks": p.genericTickList,
                                                                        "snapshot": p.snapshot})),
    OUT.CANCEL_MKT_DATA: ("cancelMktData", "CancelMarketData", _with_req_id),
    OUT.REQ_MARKET_DATA_TYPE: ("reqMarketDataType", "MarketDataTypeRequest",
                               lambda p: (-1, {}, {"type": p.marketDataType})),
    OUT.REQ_TICK_BY_TICK_DATA: ("reqTickByTickData", "TickByTickRequest",
                                lambda p: (p.reqId, contract_dict(p.contract), {"tick_type": p.tickType})),
    OUT.CANCEL_TICK_BY_TICK_DATA: ("cancelTickByTickData", "CancelTickByTick", _with_req_id),
    OUT.REQ_ACCOUNT_SUMMARY: ("reqAccountSummary", "AccountSummaryRequest",
                              lambda p: (p.reqId, {}, {"group": p.group, "tags": p.tags})),
    OUT.CANCEL_ACCOUNT_SUMMARY: ("cancelAccountSummary", "CancelAccountSummary", _with_req_id),
    OUT.REQ_POSITIONS: ("reqPositions", "PositionsRequest", _nothing),
    OUT.CANCEL_POSITIONS: ("cancelPositions", "CancelPositions", _nothing),
    OUT.REQ_OPEN_ORDERS: ("reqOpenOrders", "OpenOrdersRequest", _nothing),
    OUT.REQ_ALL_OPEN_ORDERS: ("reqAllOpenOrders", "AllOpenOrdersRequest", _nothing),
    OUT.REQ_AUTO_OPEN_ORDERS: ("reqAutoOpenOrders", "AutoOpenOrdersRequest", _nothing),
    OUT.REQ_COMPLETED_ORDERS: ("reqCompletedOrders", "CompletedOrdersRequest",
                               lambda p: (-1, {}, {"api_only": p.apiOnly})),
    OUT.REQ_ACCT_DATA: ("reqAccountUpdates", "AccountDataRequest",
                        lambda p: (-1, {}, {"subscribe": p.subscribe, "account": p.acctCode})),
    OUT.REQ_MANAGED_ACCTS: ("reqManagedAccts", "ManagedAccountsRequest", _nothing),
    OUT.REQ_ACCOUNT_UPDATES_MULTI: ("reqAccountUpdatesMulti", "AccountUpdatesMultiRequest",
                                    lambda p: (p.reqId, {}, {"account": p.account, "model_code": p.modelCode})),
    OUT.CANCEL_ACCOUNT_UPDATES_MULTI: ("cancelAccountUpdatesMulti", "CancelAccountUpdatesMulti", _with_req_id),
    OUT.REQ_EXECUTIONS: ("reqExecutions", "ExecutionRequest", _executions),
    OUT.PLACE_ORDER: ("placeOrder", "PlaceOrderRequest", _place_order),
    OUT.CANCEL_ORDER: ("cancelOrder", "CancelOrderRequest", lambda p: (p.orderId, {}, {})),
    OUT.REQ_GLOBAL_CANCEL: ("reqGlobalCancel", "GlobalCancelRequest", _nothing),
    OUT.REQ_HISTORICAL_DATA: ("reqHistoricalData", "HistoricalDataRequest", _historical_data),
    OUT.CANCEL_HISTORICAL_DATA: ("cancelHistoricalData", "CancelHistoricalData", _with_req_id),
}


def parse_proto(msg_id: int, body: bytes) -> Request:
    """One protobuf request -> Request (protobuf=True); an id the venue does not serve is `unsupported:<OUT name>`."""
    entry = PROTO_PARSERS.get(msg_id)
    if entry is None:
        return Request(msg_id, f"unsupported:{out_name(msg_id)}", protobuf=True)
    name, class_name, reader = entry
    message = _proto(class_name)()
    message.ParseFromString(body)
    req_id, contract, values = reader(message)
    return Request(msg_id, name, req_id, contract, values, protobuf=True)
