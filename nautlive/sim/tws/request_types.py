"""What the venue reads out of a client request, whether it came as text (requests.py) or protobuf (proto_requests.py)."""

from __future__ import annotations

from decimal import Decimal

import msgspec
from ibapi.message import OUT

REQUEST_CONTRACT = ("conId", "symbol", "secType", "lastTradeDateOrContractMonth", "strike", "right", "multiplier",
                    "exchange", "primaryExchange", "currency", "localSymbol", "tradingClass")


class Request(msgspec.Struct):
    msg_id: int
    name: str
    req_id: int = -1
    contract: dict = {}
    values: dict = {}
    protobuf: bool = False


class PlacedOrder(msgspec.Struct):
    order_id: int
    contract: dict
    action: str
    quantity: Decimal | None
    order_type: str
    lmt_price: float | None
    aux_price: float | None
    tif: str
    account: str
    order_ref: str
    transmit: bool
    outside_rth: bool


Parsed = tuple[int, dict, dict]  # req_id, contract, values


def out_name(msg_id: int) -> str:
    """ibapi's own name for an OUT id (REQ_COMPLETED_ORDERS), or the number."""
    return OUT_NAMES.get(msg_id, str(msg_id))


OUT_NAMES = {value: name for name, value in vars(OUT).items() if isinstance(value, int) and not name.startswith("_")}
