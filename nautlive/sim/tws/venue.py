"""TwsSimulator: the venue behind every connection (one account, one market) and its fault hooks.

Each connected client is a `Peer` (nautlive.sim.tws.session); `handle(peer, request)` answers one parsed request as
TWS does, and every change (an order's status, a fill, a quote) is pushed to the peers that asked for it. Faults,
for tests and rehearsals: `drop_connections` (error 1100 to every client, sockets closed, 1102 to the next ones to
connect), `reject_next` (the next order answered with error 201 and a reason), `stall` (no answer at all, handshake
included), `limit_history` (historical data pacing), `set_quote`/`release_quote`, `set_market_open` (a MKT order
without outsideRth waits for the open; an IOC one is cancelled), `place_working` (an order working as if another
client, or an earlier session, had placed it) and `cancel_at_venue`.
A request it does not serve is answered with error 321 naming it, and said once on stderr.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import sys
from decimal import Decimal

from nautlive.sim.tws import messages as msg
from nautlive.sim.tws.account import Account
from nautlive.sim.tws.history import HistoryRequests, Pacing
from nautlive.sim.tws.market import Market
from nautlive.sim.tws.protocol import SERVER_VERSION, check_venue_version
from nautlive.sim.tws.records import SimOrder
from nautlive.sim.tws.requests import PlacedOrder, Request
from nautlive.sim.tws.trading_hours import with_current_hours
from nautlive.sim.tws.venue_account import AccountRequests, Peer

FARM_OK = ((2104, "Market data farm connection is OK:usfarm"), (2106, "HMDS data farm connection is OK:ushmds"),
           (2158, "Sec-def data farm connection is OK:secdefnj"))
LOST = (1100, "Connectivity between IB and Trader Workstation has been lost.")
RESTORED = (1102, "Connectivity between IB and Trader Workstation has been restored - data maintained.")
NO_DEFINITION = (200, "No security definition has been found for the request")
NOT_SUBSCRIBED = (354, "Requested market data is not subscribed.")
CANCELLED = (202, "Order Canceled - reason:")
CLIENT_ID_IN_USE = (326, "Unable to connect as the client id is already in use. Retry with a unique client id.")
MASTER_CLIENT_ID = 0  # the client that hears about, and may cancel, every API client's orders
NOT_SERVED = 321  # IB's "Error validating request": the loopback venue names the request it does not serve


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class TwsSimulator(AccountRequests, HistoryRequests):
    def __init__(self, account: Account, market: Market, server_version: int = SERVER_VERSION) -> None:
        self.account = account
        self.market = market
        self.server_version = check_venue_version(server_version)
        self.peers: list[Peer] = []
        self.connections: list[dict] = []  # every connection since start: address, offered range, version, client id
        self.not_served: set[str] = set()
        self.connections_opened = 0
        self.requests: list[dict] = []
        self.pending_reject: str | None = None
        self.ack_delay = 0.0  # seconds before an accepted order's openOrder/orderStatus go out (delay_acks)
        self.stalled = False
        self.stall_until: float | None = None
        self.restored_pending: set[int] = set()  # client ids dropped that have not reconnected yet
        self.drops = 0
        self.history_pacing = Pacing()  # reqHistoricalData: 60 requests in 10 minutes (history.py)

    # -- faults -------------------------------------------------------------------------------------------------

    def drop_connections(self) -> int:
        """1100 to every connected client, then close their sockets; each of them hears 1102 when it reconnects
        (once: a client that connects later, or again, was never cut off)."""
        peers = list(self.peers)
        for peer in peers:
            peer.send(msg.error(-1, *LOST))
            peer.close()
        self.peers.clear()
        self.restored_pending.update(peer.client_id for peer in peers)
        self.drops += 1
        return len(peers)

    def reject_next(self, reason: str) -> None:
        self.pending_reject = reason

    def delay_acks(self, seconds: float) -> None:
        """The venue accepts an order at once but tells its client `seconds` later (a slow gateway): until then the
        client knows no order id to cancel by."""
        self.ack_delay = seconds

    def stall(self, seconds: float | None) -> None:
        """No answer to anything (handshake included) for `seconds`, or until cleared."""
        self.stalled = True
        self.stall_until = None if seconds is None else asyncio.get_running_loop().time() + seconds

    def clear_stall(self) -> None:
        self.stalled, self.stall_until = False, None

    def is_stalled(self) -> bool:
        if self.stalled and self.stall_until is not None and asyncio.get_running_loop().time() >= self.stall_until:
            self.clear_stall()
        return self.stalled

    def place_working(self, client_id: int, symbol: str, action: str, quantity: Decimal, lmt_price: float | None,
                      order_ref: str, order_type: str = "LMT") -> SimOrder:
        """An order working at the venue as if `client_id` had placed it (another API client, or an earlier session
        of ours that is gone): checked as any order, and told to its client and the master client if connected."""
        con_id = self._symbol_con_id(symbol)
        placed = PlacedOrder(self.account.last_order_id + 1, self.market.contract(con_id), action, quantity,
                             order_type, lmt_price, None, "DAY", self.account.account_id, order_ref, True, False)
        reason = self.account.refusal(placed, con_id)
        if reason is not None:
            raise ValueError(reason)
        order = self.account.accept(placed, con_id, client_id)
        self._broadcast_order(order)
        self._try_fill(order)
        self._push_account()
        return order

    def cancel_at_venue(self, order_id: int) -> SimOrder | None:
        """The venue cancels a working order (an expiry, a desk cancel): its client hears orderStatus Cancelled."""
        order = self.account.cancel(order_id, "cancelled at the venue")
        if order is not None:
            self._broadcast_order(order)
            self._push_account()
        return order

    def _symbol_con_id(self, symbol: str) -> int:
        for con_id, details in self.market.details.items():
            if symbol in (details["contract"].get("localSymbol"), details["contract"].get("symbol"), str(con_id)):
                return con_id
        raise ValueError(f"symbol: no contract {symbol!r}")

    def set_market_open(self, is_open: bool) -> None:
        self.account.market_open = is_open
        if is_open:
            self._match_all()

    def set_quote(self, con_id: int, bid: Decimal, ask: Decimal, bid_size: Decimal | None = None,
                  ask_size: Decimal | None = None) -> None:
        self.market.pin(con_id, bid, ask, bid_size, ask_size)
        self._publish_quote(con_id)
        self._match_all()

    def release_quote(self, con_id: int) -> None:
        self.market.release(con_id)

    # -- the market's clock ---------------------------------------------------------------------------------------

    def step(self) -> None:
        """One walk step: new quotes out, resting orders matched, account values refreshed."""
        for con_id in self.market.step():
            self._publish_quote(con_id)
        self._match_all()

    def _publish_quote(self, con_id: int) -> None:
        quote = self.market.quotes[con_id]
        epoch = int(_now().timestamp())
        exchange = self.market.contract(con_id).get("primaryExchange") or "SMART"
        for peer in self.peers:
            for req_id in [r for r, c in peer.market_data.items() if c == con_id]:
                peer.send(msg.tick_price(req_id, 1, float(quote.bid), quote.bid_size),
                          msg.tick_price(req_id, 2, float(quote.ask), quote.ask_size),
                          msg.tick_price(req_id, 4, float(quote.last), quote.last_size))
            for req_id in [r for r, c in peer.tick_by_tick.items() if c == con_id]:
                peer.send(msg.tick_by_tick_last(req_id, epoch, float(quote.last), quote.last_size, exchange))

    def _match_all(self) -> None:
        for order in self.account.open_orders():
            self._try_fill(order)

    # -- requests ------------------------------------------------------------------------------------------------------

    def connection_opened(self, peer: Peer, offered: str) -> dict:
        record = {"number": len(self.connections) + 1, "offered": offered, "version": None, "client_id": None,
                  "closed": False}
        self.connections.append(record)
        return record

    def log_request(self, peer: Peer, request: Request) -> None:
        entry = {"client_id": peer.client_id, "name": request.name, "req_id": request.req_id,
                 "protobuf": request.protobuf}
        if request.name == "placeOrder":
            order: PlacedOrder = request.values["order"]
            entry.update(order_ref=order.order_ref, action=order.action, quantity=str(order.quantity),
                         order_type=order.order_type)
        self.requests.append(entry)

    def handle(self, peer: Peer, request: Request) -> None:
        self.log_request(peer, request)
        handler = getattr(self, "_on_" + request.name, None)
        if handler is not None:
            handler(peer, request)
        elif request.name.startswith("unsupported:"):
            self._not_served(peer, request)

    def _not_served(self, peer: Peer, request: Request) -> None:
        """One line naming a request the venue does not serve (once per name), and an error to the client."""
        name = request.name.removeprefix("unsupported:")
        text = f"{name} ({'protobuf' if request.protobuf else 'text'}) is not served by the loopback TWS venue"
        if name not in self.not_served:
            self.not_served.add(name)
            print(f"TWS simulator: {text}", file=sys.stderr, flush=True)
        peer.send(msg.error(request.req_id, NOT_SERVED, text))

    def _on_startApi(self, peer: Peer, request: Request) -> None:  # noqa: N802 - named after the TWS request
        client_id = request.values["client_id"]
        if any(p.client_id == client_id for p in self.peers if p is not peer):
            peer.send(msg.error(-1, *CLIENT_ID_IN_USE))
            peer.close()
            return
        peer.client_id = peer.record["client_id"] = client_id
        self.peers.append(peer)
        self.connections_opened += 1
        peer.send(msg.managed_accounts([self.account.account_id]), msg.next_valid_id(self.account.last_order_id + 1))
        peer.send(*(msg.error(-1, code, text) for code, text in FARM_OK))
        if client_id in self.restored_pending:
            self.restored_pending.discard(client_id)
            peer.send(msg.error(-1, *RESTORED))
        for order in self.account.open_orders(client_id):
            self._send_order(peer, order)

    def _on_reqIds(self, peer: Peer, request: Request) -> None:  # noqa: N802
        peer.send(msg.next_valid_id(self.account.last_order_id + 1))

    def _on_reqCurrentTime(self, peer: Peer, request: Request) -> None:  # noqa: N802
        peer.send(msg.current_time(int(_now().timestamp())))

    def _on_reqContractDetails(self, peer: Peer, request: Request) -> None:  # noqa: N802
        found = self.market.find(request.contract)
        if not found:
            peer.send(msg.error(request.req_id, *NO_DEFINITION))
            return
        now = dt.datetime.now(dt.UTC)
        peer.send(*(msg.contract_details(request.req_id, with_current_hours(d, now)) for d in found),
                  msg.contract_details_end(request.req_id))

    def _on_reqMarketDataType(self, peer: Peer, request: Request) -> None:  # noqa: N802
        peer.market_data_type = request.values["type"]  # type: ignore[attr-defined]

    def _con_id(self, contract: dict) -> int | None:
        found = self.market.find(contract)
        return int(found[0]["contract"]["conId"]) if len(found) == 1 else None

    def _on_reqMktData(self, peer: Peer, request: Request) -> None:  # noqa: N802
        con_id = self._con_id(request.contract)
        if con_id is None:
            peer.send(msg.error(request.req_id, *NO_DEFINITION))
            return
        peer.market_data[request.req_id] = con_id
        data_type = getattr(peer, "market_data_type", 1)
        peer.send(msg.market_data_type(request.req_id, data_type),
                  msg.tick_req_params(request.req_id, float(self.market.tick(con_id))))
        self._publish_quote(con_id)

    def _on_cancelMktData(self, peer: Peer, request: Request) -> None:  # noqa: N802
        peer.market_data.pop(request.req_id, None)

    def _on_reqTickByTickData(self, peer: Peer, request: Request) -> None:  # noqa: N802
        con_id = self._con_id(request.contract)
        if con_id is None:
            peer.send(msg.error(request.req_id, *NO_DEFINITION))
        elif request.values["tick_type"] not in ("Last", "AllLast"):
            peer.send(msg.error(request.req_id, *NOT_SUBSCRIBED))
        else:
            peer.tick_by_tick[request.req_id] = con_id

    def _on_cancelTickByTickData(self, peer: Peer, request: Request) -> None:  # noqa: N802
        peer.tick_by_tick.pop(request.req_id, None)

    def _on_reqOpenOrders(self, peer: Peer, request: Request) -> None:  # noqa: N802
        self._send_open_orders(peer, peer.client_id)

    def _on_reqAllOpenOrders(self, peer: Peer, request: Request) -> None:  # noqa: N802
        self._send_open_orders(peer, None)

    _on_reqAutoOpenOrders = _on_reqOpenOrders

    def _send_open_orders(self, peer: Peer, client_id: int | None) -> None:
        for order in self.account.open_orders(client_id):
            self._send_order(peer, order)
        peer.send(msg.open_order_end())

    def _on_placeOrder(self, peer: Peer, request: Request) -> None:  # noqa: N802
        placed: PlacedOrder = request.values["order"]
        existing = self.account.orders.get(placed.order_id)
        if existing is not None:
            peer.send(msg.error(placed.order_id, 103, "Duplicate order id"))
            return
        con_id = self._con_id(placed.contract)
        reason = self.pending_reject or self.account.refusal(placed, con_id)
        self.pending_reject = None
        if reason is not None:
            self.account.reject(placed, reason, peer.client_id or 0)
            peer.send(msg.error(placed.order_id, 201, f"Order rejected - reason:{reason}"))
            return
        order = self.account.accept(placed, con_id, peer.client_id or 0)
        if self.ack_delay:
            asyncio.get_running_loop().call_later(self.ack_delay, self._send_order, peer, order)
        else:
            self._send_order(peer, order)
        self._try_fill(order)
        self._expire_ioc_rest(order)
        self._push_account()

    def _expire_ioc_rest(self, order: SimOrder) -> None:
        """IOC: what did not fill at once is cancelled at once (orderStatus Cancelled with the filled part)."""
        if self.account.expire_rest(order) is not None:
            self._broadcast_order(order)

    def _on_cancelOrder(self, peer: Peer, request: Request) -> None:  # noqa: N802
        """Order ids belong to their client: another client's order is "not found", unless this is the master client
        (client 0 here), as on IB."""
        known = self.account.orders.get(request.req_id)
        mine = known is not None and peer.client_id in (known.client_id, MASTER_CLIENT_ID)
        order = self.account.cancel(request.req_id, "cancelled by the client") if mine else None
        if order is None:
            peer.send(msg.error(request.req_id, 10147, f"OrderId {request.req_id} that needs to be cancelled is "
                                                       "not found."))
            return
        self._broadcast_order(order)
        self._to_owner(order, msg.error(order.order_id, *CANCELLED))
        self._push_account()

    def _on_reqGlobalCancel(self, peer: Peer, request: Request) -> None:  # noqa: N802
        for order in self.account.open_orders():
            self.account.cancel(order.order_id, "global cancel")
            self._broadcast_order(order)
        self._push_account()

    # -- pushing order and account changes -------------------------------------------------------------------------

    def _send_order(self, peer: Peer, order: SimOrder) -> None:
        peer.send(msg.open_order(order, self.market.contract(order.con_id)), msg.order_status(order))

    def _owners(self, order: SimOrder) -> list[Peer]:
        """The placing client and client 0 (TWS's master client) hear about an order."""
        return [p for p in self.peers if p.client_id in (order.client_id, MASTER_CLIENT_ID)]

    def _to_owner(self, order: SimOrder, *messages: msg.Out) -> None:
        for peer in self._owners(order):
            peer.send(*messages)

    def _broadcast_order(self, order: SimOrder) -> None:
        for peer in self._owners(order):
            if order.is_open:
                self._send_order(peer, order)
            else:
                peer.send(msg.order_status(order))

    def _try_fill(self, order: SimOrder) -> None:
        price = self.account.fill_price(order)
        if price is None or self.account.fill_quantity(order) <= 0:
            return
        execution = self.account.execute(order, price, _now())
        contract = self.market.contract(order.con_id)
        self._to_owner(order, msg.exec_details(-1, execution, contract), msg.order_status(order),
                       msg.open_order(order, contract), msg.commission_report(execution))
        self._push_account()
        self._push_position(order.con_id)

    def disconnected(self, peer: Peer) -> None:
        if peer in self.peers:
            self.peers.remove(peer)
