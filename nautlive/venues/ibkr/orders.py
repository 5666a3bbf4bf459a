"""LIVE on Interactive Brokers, before the node connects: every open order of the account, and what to do with it.

nautlive connects through ibapi's EClient as the session's own client id (the account lock is held, so no other
session of ours is connected) and asks `reqAllOpenOrders`, which shows every API client's working orders with the
client id that placed each one:

* an order of ours left by an earlier session (our client id, a Nautilus client order id of ours as its orderRef) is
  cancelled, and the session waits for IB's confirmation before planning, so a restart never doubles an order; its
  fills, if any, reach the drift log through the adapter's fill reports (venues/ibkr/live.py);
* another client's order is handled by `live.open_orders`: `fail` (default) stops with exit 3 naming them; `cancel`
  is refused the same way, because on IB an API client cancels only its own orders unless it connects as the master
  API client (IB Gateway's setting); `keep` trades on, counting the cash its buy orders hold in the NAV, untraded.
"""

from __future__ import annotations

import time
from decimal import Decimal
from typing import TYPE_CHECKING

import msgspec

from nautlive.core.identity import is_own_order
from nautlive.errors import ReconcileBlocked, RuntimeFailure
from nautlive.venues.ibkr.gateway import GatewayClient, WorkingOrder

if TYPE_CHECKING:
    from nautlive.config.profile import VenueProfile

DONE = ("Cancelled", "ApiCancelled", "Filled", "Inactive")


class IbStart(msgspec.Struct):
    """What the gateway showed at start: our earlier orders cancelled, other clients' orders kept."""

    cancelled_own: list[str] = []
    foreign_kept: list[str] = []
    kept_value: Decimal = Decimal(0)  # cash held by the kept buy orders (limit x remaining)


def prepare_ib_account(profile: VenueProfile, say) -> IbStart:  # noqa: ANN001 - say: Callable[[str], None]
    """Read all open orders of the account; cancel ours, apply live.open_orders to the others (see the module)."""
    from nautlive.venues.ibkr.config import account_id, ibkr_settings

    ib, account = ibkr_settings(profile), account_id(profile)
    timeout = profile.live.connect_timeout
    with GatewayClient(ib.host, ib.port, ib.client_id, timeout) as gateway:
        working = [o for o in _all_open_orders(gateway, timeout) if o.account in ("", account)]
        own = [o for o in working if o.client_id == ib.client_id and is_own_order(client_order_id(o.ref))]
        foreign = [o for o in working if o not in own]
        start = IbStart()
        for order in own:
            gateway.client.cancelOrder(order.order_id, _order_cancel())
        _until_done(gateway, own, timeout)
        for order in own:
            start.cancelled_own.append(client_order_id(order.ref))
            say(f"cancelled {order.describe()}, left open by an earlier session (IB confirmed)")
    _apply_policy(foreign, profile.live.open_orders, start, say)
    return start


def client_order_id(order_ref: str) -> str:
    """Nautilus's IB adapter writes orderRef as `<client order id>:<IB order id>`."""
    return order_ref.rsplit(":", 1)[0]


def _all_open_orders(gateway: GatewayClient, timeout: float) -> list[WorkingOrder]:
    gateway.client.reqAllOpenOrders()
    if not gateway.callbacks.orders_end.wait(timeout):
        raise RuntimeFailure(f"{gateway.where}: no answer to reqAllOpenOrders within {timeout:g} s: nothing traded")
    gateway.check()
    return [o for o in gateway.callbacks.orders.values() if o.status not in DONE]


def _until_done(gateway: GatewayClient, orders: list[WorkingOrder], timeout: float) -> None:
    """Wait for IB to confirm that each order is done (cancelled, or filled meanwhile)."""
    deadline = time.monotonic() + timeout
    callbacks = gateway.callbacks
    with callbacks.changed:
        while (left := [o for o in orders if o.status not in DONE]) and callbacks.failure is None:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                names = "; ".join(o.describe() for o in left)
                raise RuntimeFailure(f"{gateway.where}: no cancel confirmation within {timeout:g} s for our orders "
                                     f"left by an earlier session: {names}: nothing traded")
            callbacks.changed.wait(remaining)
    gateway.check()


def _apply_policy(foreign: list[WorkingOrder], policy: str, start: IbStart, say) -> None:  # noqa: ANN001
    if not foreign:
        return
    names = "; ".join(o.describe() for o in foreign)
    if policy == "fail":
        raise ReconcileBlocked(f"open orders of other IB clients in the account: {names}; cancel them where they "
                               "were placed, or set live.open_orders: keep in the profile: nothing traded")
    if policy == "cancel":
        raise ReconcileBlocked(f"live.open_orders: cancel cannot cancel {names}: on IB an API client cancels only its "
                               "own orders unless it connects as the master API client (IB Gateway's Master API "
                               "client ID); cancel them where they were placed, or set live.open_orders: keep: "
                               "nothing traded")
    for order in foreign:
        held = _cash_held(order)
        start.foreign_kept.append(order.ref or str(order.perm_id))
        start.kept_value += held
        say(f"keeping {order.describe()}: the {held} it holds counts in NAV and is not traded")


def _cash_held(order: WorkingOrder) -> Decimal:
    """The cash a working buy order holds: its limit times what it still asks (a MKT order: none known, 0)."""
    if order.action != "BUY" or order.lmt_price is None:
        return Decimal(0)
    remaining = order.remaining if order.remaining is not None else order.quantity
    return (Decimal(str(order.lmt_price)) * remaining).quantize(Decimal("0.01"))


def _order_cancel():  # noqa: ANN202
    from ibapi.order_cancel import OrderCancel

    return OrderCancel()
