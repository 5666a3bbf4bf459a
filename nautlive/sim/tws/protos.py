"""Server -> client protobuf bodies, built with ibapi's own generated classes (ibapi/protobuf) and, for contracts and
orders, with the very functions ibapi's client uses to write them (`createContractProto`, `createOrderProto`), so
`ibapi.decoder_utils` reads back exactly what the text messages carry.
"""

from __future__ import annotations

import importlib
from decimal import Decimal

from ibapi.client_utils import createContractProto, createOrderProto
from ibapi.contract import Contract
from ibapi.order import Order

from nautlive.sim.tws.records import CONTRACT_KEYS, Execution, SimOrder


def proto(name: str, **values: object):  # noqa: ANN201 - a generated protobuf message
    """`ibapi.protobuf.<name>_pb2.<name>(**values)`, None values left unset."""
    cls = getattr(importlib.import_module(f"ibapi.protobuf.{name}_pb2"), name)
    return cls(**{k: v for k, v in values.items() if v is not None})


def decimal_text(value: Decimal) -> str:
    return format(value.normalize(), "f")


def ib_contract(contract: dict) -> Contract:
    result = Contract()
    for key in CONTRACT_KEYS:
        value = contract.get(key)
        if value not in (None, ""):
            setattr(result, key, value)
    result.conId = int(contract.get("conId") or 0)
    result.strike = float(contract.get("strike") or 0.0)
    return result


def contract_proto(contract: dict):  # noqa: ANN201
    return createContractProto(ib_contract(contract), Order())


def ib_order(order: SimOrder) -> Order:
    result = Order()
    result.orderId, result.clientId, result.permId = order.order_id, order.client_id, order.perm_id
    result.action, result.totalQuantity, result.orderType = order.action, order.quantity, order.order_type
    if order.lmt_price is not None:
        result.lmtPrice = order.lmt_price
    result.tif, result.account, result.orderRef = order.tif, order.account, order.order_ref
    result.outsideRth = order.outside_rth
    return result


def order_state(status: str, **values: object):  # noqa: ANN201
    return proto("OrderState", status=status, **values)


def open_order(order: SimOrder, contract: dict):  # noqa: ANN201
    return proto("OpenOrder", orderId=order.order_id, contract=contract_proto(contract),
                 order=createOrderProto(ib_order(order)), orderState=order_state(order.status))


def completed_order(order: SimOrder, contract: dict, completed_time: str):  # noqa: ANN201
    return proto("CompletedOrder", contract=contract_proto(contract), order=createOrderProto(ib_order(order)),
                 orderState=order_state(order.status, completedTime=completed_time, completedStatus=order.status))


def order_status(order: SimOrder):  # noqa: ANN201
    return proto("OrderStatus", orderId=order.order_id, status=order.status, filled=decimal_text(order.filled),
                 remaining=decimal_text(order.remaining), avgFillPrice=order.avg_price, permId=order.perm_id,
                 parentId=0, lastFillPrice=order.last_price, clientId=order.client_id, whyHeld=order.why_held,
                 mktCapPrice=0.0)


def execution(req_id: int, fill: Execution, contract: dict, exchange: str):  # noqa: ANN201
    body = proto("Execution", orderId=fill.order_id, execId=fill.exec_id, time=fill.time, acctNumber=fill.account,
                 exchange=exchange, side=fill.side, shares=decimal_text(fill.shares), price=fill.price,
                 permId=fill.perm_id, clientId=fill.client_id, isLiquidation=False,
                 cumQty=decimal_text(fill.cum_qty), avgPrice=fill.avg_price, orderRef=fill.order_ref, lastLiquidity=2,
                 isPriceRevisionPending=False)
    return proto("ExecutionDetails", reqId=req_id, contract=contract_proto(contract), execution=body)


def contract_data(req_id: int, details: dict, pairs: list[tuple[str, str]], sizes: list[Decimal]):  # noqa: ANN201
    c = details["contract"]
    text = {k: details.get(k) or None for k in ("marketName", "orderTypes", "validExchanges", "longName",
                                                 "contractMonth", "industry", "category", "subcategory", "timeZoneId",
                                                 "tradingHours", "liquidHours", "evRule", "underSymbol",
                                                 "underSecType", "marketRuleIds", "realExpirationDate", "stockType")}
    body = proto("ContractDetails", minTick=str(details["minTick"]), priceMagnifier=int(details.get("priceMagnifier")
                                                                                         or 1),
                 underConId=int(details.get("underConId") or 0), aggGroup=int(details.get("aggGroup") or 0),
                 secIdList=dict(pairs), minSize=decimal_text(sizes[0]), sizeIncrement=decimal_text(sizes[1]),
                 suggestedSizeIncrement=decimal_text(sizes[2]), **text)
    return proto("ContractData", reqId=req_id, contract=contract_proto(c), contractDetails=body)


def tick_by_tick_last(req_id: int, epoch_seconds: int, price: float, size: Decimal, exchange: str):  # noqa: ANN201
    tick = proto("HistoricalTickLast", time=epoch_seconds, tickAttribLast=proto("TickAttribLast"), price=price,
                 size=decimal_text(size), exchange=exchange, specialConditions="")
    return proto("TickByTickData", reqId=req_id, tickType=2, historicalTickLast=tick)
