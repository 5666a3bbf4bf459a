"""What the TWS venue keeps: orders and executions, and the contract fields every message repeats.

Contracts and contract details are plain dicts keyed by ibapi's attribute names (`conId`, `localSymbol`, `minTick`,
...), as the real captures in ../shared/data/ibkr/contract_details/ are decoded, so a capture is served as it is.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import msgspec

OPEN_STATUSES = ("PendingSubmit", "PreSubmitted", "Submitted")
IB_TIME = "%Y%m%d %H:%M:%S UTC"


class SimOrder(msgspec.Struct):
    """One order at the venue, in IB's terms (status strings as orderStatus sends them)."""

    order_id: int
    client_id: int
    perm_id: int
    con_id: int
    action: str  # BUY | SELL
    quantity: Decimal
    order_type: str  # MKT | LMT
    tif: str  # DAY | GTC | IOC
    account: str
    order_ref: str
    lmt_price: float | None = None
    outside_rth: bool = False
    status: str = "PreSubmitted"
    filled: Decimal = Decimal(0)
    avg_price: float = 0.0
    last_price: float = 0.0
    why_held: str = ""
    reason: str = ""  # why it was rejected or cancelled
    completed_time: str = ""  # when it was filled or cancelled (IB's time format), for reqCompletedOrders

    @property
    def remaining(self) -> Decimal:
        return self.quantity - self.filled

    @property
    def is_open(self) -> bool:
        return self.status in OPEN_STATUSES


class Execution(msgspec.Struct):
    """One fill: IB's execution id is the trade id Nautilus reports (TradeId(execId))."""

    exec_id: str
    order_id: int
    client_id: int
    perm_id: int
    con_id: int
    account: str
    side: str  # BOT | SLD
    shares: Decimal
    price: float
    cum_qty: Decimal
    avg_price: float
    order_ref: str
    time: str
    commission: float
    currency: str


def ib_time(now: dt.datetime) -> str:
    return now.astimezone(dt.UTC).strftime(IB_TIME)


CONTRACT_KEYS = ("conId", "symbol", "secType", "lastTradeDateOrContractMonth", "strike", "right", "multiplier",
                 "exchange", "primaryExchange", "currency", "localSymbol", "tradingClass")


def contract_value(contract: dict, key: str) -> object:
    """A contract field with TWS's empty defaults (strike 0.0, the rest empty)."""
    value = contract.get(key)
    if key == "strike":
        return float(value or 0.0)
    if key == "conId":
        return int(value or 0)
    return "" if value is None else value
