"""The TWS venue's account: cash, positions, orders, executions, and how an order is checked and filled.

A cash account: an empty time in force is DAY, as IB Gateway takes it; whole shares for stocks, prices on the contract's minTick, no short sale, buys within the available
funds. A MKT order fills at once at the touch (the ask for a buy, the bid for a sell) while the market is open, or
with `outsideRth`; otherwise it waits, PreSubmitted, until the market opens, as IB does. A LMT order fills when it
crosses the touch, at the touch, and rests otherwise. An IOC order (LMT or MKT) takes what the touch shows (its size) at
or better than its limit and the rest is cancelled at once (`expire_rest`: orderStatus Cancelled with the filled part,
as IB Gateway does); with the market closed and no `outsideRth` it cannot wait, so it is cancelled unfilled. Commission: IB's fixed rate, USD 0.005 a share, at least
USD 1.00 and at most 1% of the trade value.
"""

from __future__ import annotations

import datetime as dt
import itertools
from decimal import Decimal

from nautlive.sim.tws.market import Market
from nautlive.sim.tws.records import Execution, SimOrder, ib_time
from nautlive.sim.tws.requests import PlacedOrder

PER_SHARE, MIN_COMMISSION, MAX_COMMISSION_RATE = Decimal("0.005"), Decimal("1.00"), Decimal("0.01")
ORDER_TYPES, TIFS = ("MKT", "LMT"), ("DAY", "GTC", "IOC")
IOC_REST = "IOC: the rest cancelled at once"
CENT = Decimal("0.01")


def commission(shares: Decimal, price: Decimal) -> Decimal:
    fee = max(MIN_COMMISSION, shares * PER_SHARE)
    return min(fee, shares * price * MAX_COMMISSION_RATE).quantize(CENT)


class Account:
    """One IB account at the venue (a DU paper account by default)."""

    def __init__(self, account_id: str, cash: dict[str, Decimal], market: Market) -> None:
        self.account_id = account_id
        self.cash = dict(cash)
        self.market = market
        self.positions: dict[int, tuple[Decimal, Decimal]] = {}  # conId -> (quantity, average cost)
        self.orders: dict[int, SimOrder] = {}
        self.executions: list[Execution] = []
        self.market_open = True
        self._perm_ids = itertools.count(1_351_823_000)
        self._exec_seq = itertools.count(1)
        self.last_order_id = 0

    # -- checks ------------------------------------------------------------------------------------------------

    def refusal(self, placed: PlacedOrder, con_id: int | None) -> str | None:
        """Why IB would reject this order (201's reason), or None."""
        if placed.account and placed.account != self.account_id:
            return f"Account {placed.account} is not among the accounts of this login"
        if con_id is None:
            return "No security definition has been found for the request"
        if placed.order_type not in ORDER_TYPES or (placed.tif or "DAY") not in TIFS:
            return f"order type {placed.order_type}/{placed.tif} is not supported by this venue (MKT or LMT, DAY, GTC or IOC)"
        quantity = placed.quantity
        if quantity is None or quantity <= 0:
            return "Order quantity must be positive"
        if quantity != quantity.to_integral_value():
            return f"Fractional-sized order ({quantity}) cannot be placed for this account: whole shares only"
        if placed.order_type == "LMT" and not self._on_tick(con_id, placed.lmt_price):
            return "The price does not conform to the minimum price variation for this contract"
        if placed.action == "SELL" and quantity > self.position(con_id):
            return "Short sale is not allowed in a cash account"
        if placed.action == "BUY" and self._price_for(con_id, placed) * quantity > self.available_funds():
            return "Insufficient funds for this purchase (cash account)"
        return None if placed.action in ("BUY", "SELL") else f"action {placed.action!r}: expected BUY or SELL"

    def _on_tick(self, con_id: int, price: float | None) -> bool:
        return price is not None and self.market.on_tick(con_id, Decimal(str(price)))

    def _price_for(self, con_id: int, placed: PlacedOrder | SimOrder) -> Decimal:
        quote = self.market.quotes[con_id]
        limit = getattr(placed, "lmt_price", None)
        return Decimal(str(limit)) if limit is not None else quote.ask

    # -- state -----------------------------------------------------------------------------------------------------

    def position(self, con_id: int) -> Decimal:
        return self.positions.get(con_id, (Decimal(0), Decimal(0)))[0]

    def currency(self) -> str:
        return next(iter(self.cash), "USD")

    def reserved(self) -> Decimal:
        """Cash held by open buy orders (at their limit, or the ask for a MKT)."""
        return sum((self._price_for(o.con_id, o) * o.remaining for o in self.orders.values()
                    if o.is_open and o.action == "BUY"), Decimal(0))

    def available_funds(self) -> Decimal:
        return self.cash.get(self.currency(), Decimal(0)) - self.reserved()

    def position_value(self) -> Decimal:
        return sum((qty * self.market.quotes[c].mid for c, (qty, _) in self.positions.items()), Decimal(0))

    def summary(self) -> list[tuple[str, str, str]]:
        """reqAccountSummary rows (tag, value, currency): the funds first, so a partial update never shows more."""
        currency = self.currency()
        cash, held = self.cash.get(currency, Decimal(0)), self.position_value()
        money = {
            "FullAvailableFunds": self.available_funds(), "AvailableFunds": self.available_funds(),
            "NetLiquidation": cash + held, "TotalCashValue": cash, "GrossPositionValue": held,
            "FullInitMarginReq": held, "InitMarginReq": held, "FullMaintMarginReq": held, "MaintMarginReq": held,
            "BuyingPower": self.available_funds(), "EquityWithLoanValue": cash + held,
        }
        rows = [("AccountType", "INDIVIDUAL", "")]
        return rows + [(tag, str(value.quantize(CENT)), currency) for tag, value in money.items()]

    # -- orders -----------------------------------------------------------------------------------------------------

    def accept(self, placed: PlacedOrder, con_id: int, client_id: int) -> SimOrder:
        order = SimOrder(order_id=placed.order_id, client_id=client_id, perm_id=next(self._perm_ids), con_id=con_id,
                         action=placed.action, quantity=placed.quantity or Decimal(0), order_type=placed.order_type,
                         tif=placed.tif or "DAY", account=self.account_id, order_ref=placed.order_ref,
                         lmt_price=placed.lmt_price, outside_rth=placed.outside_rth)
        self.orders[order.order_id] = order
        self.last_order_id = max(self.last_order_id, order.order_id)
        order.status = "Submitted" if self._can_trade(order) else "PreSubmitted"
        return order

    def reject(self, placed: PlacedOrder, reason: str, client_id: int) -> None:
        """A rejected order is remembered (Cancelled, with its reason) so /__sim/state shows it."""
        self.orders[placed.order_id] = SimOrder(
            order_id=placed.order_id, client_id=client_id, perm_id=0, con_id=0, action=placed.action,
            quantity=placed.quantity or Decimal(0), order_type=placed.order_type, tif=placed.tif,
            account=placed.account, order_ref=placed.order_ref, status="Cancelled", reason=reason)
        self.last_order_id = max(self.last_order_id, placed.order_id)

    def _can_trade(self, order: SimOrder) -> bool:
        return self.market_open or order.outside_rth

    def fill_price(self, order: SimOrder) -> Decimal | None:
        """The touch price this order would fill at now, or None (market closed, limit not crossing)."""
        if not order.is_open or not self._can_trade(order):
            return None
        quote = self.market.quotes[order.con_id]
        touch = quote.ask if order.action == "BUY" else quote.bid
        if order.lmt_price is None:
            return touch
        limit = Decimal(str(order.lmt_price))
        crosses = touch <= limit if order.action == "BUY" else touch >= limit
        return touch if crosses else None

    def fill_quantity(self, order: SimOrder) -> Decimal:
        """How much fills now: all that is left, but an IOC order only what the touch shows."""
        if order.tif != "IOC":
            return order.remaining
        quote = self.market.quotes[order.con_id]
        return min(order.remaining, quote.ask_size if order.action == "BUY" else quote.bid_size)

    def execute(self, order: SimOrder, price: Decimal, now: dt.datetime) -> Execution:
        """Fill `fill_quantity` at `price`: cash, position, order status (Filled once nothing is left) and one
        execution."""
        shares = self.fill_quantity(order)
        fee = commission(shares, price)
        signed = shares if order.action == "BUY" else -shares
        currency = self.currency()
        self.cash[currency] = self.cash.get(currency, Decimal(0)) - signed * price - fee
        self._move_position(order.con_id, signed, price)
        order.avg_price = float((Decimal(str(order.avg_price)) * order.filled + price * shares) / (order.filled + shares))
        order.filled += shares
        order.last_price = float(price)
        if order.remaining == 0:
            order.status, order.completed_time = "Filled", ib_time(now)
        execution = Execution(
            exec_id=f"0000e{order.perm_id:x}.{next(self._exec_seq):04d}.01.01", order_id=order.order_id,
            client_id=order.client_id, perm_id=order.perm_id, con_id=order.con_id, account=self.account_id,
            side="BOT" if order.action == "BUY" else "SLD", shares=shares, price=float(price), cum_qty=order.filled,
            avg_price=order.avg_price, order_ref=order.order_ref, time=ib_time(now), commission=float(fee),
            currency=currency)
        self.executions.append(execution)
        return execution

    def _move_position(self, con_id: int, signed: Decimal, price: Decimal) -> None:
        quantity, cost = self.positions.get(con_id, (Decimal(0), Decimal(0)))
        new = quantity + signed
        if new == 0:
            self.positions.pop(con_id, None)
            return
        average = (quantity * cost + signed * price) / new if signed > 0 else cost
        self.positions[con_id] = (new, average)

    def cancel(self, order_id: int, reason: str = "") -> SimOrder | None:
        """Cancel an open order; None when unknown or already done."""
        order = self.orders.get(order_id)
        if order is None or not order.is_open:
            return None
        order.status, order.reason = "Cancelled", reason
        order.completed_time = ib_time(dt.datetime.now(dt.UTC))
        return order

    def expire_rest(self, order: SimOrder) -> SimOrder | None:
        """An IOC order's unfilled rest cancelled at once; None when it is not IOC or nothing is left."""
        return self.cancel(order.order_id, IOC_REST) if order.tif == "IOC" else None

    def open_orders(self, client_id: int | None = None) -> list[SimOrder]:
        return [o for o in self.orders.values() if o.is_open and (client_id is None or o.client_id == client_id)]
