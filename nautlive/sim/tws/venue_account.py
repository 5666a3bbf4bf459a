"""The TWS venue's account requests, as IB Gateway answers them: account summary, positions, account updates
(reqAccountUpdates: account values, portfolio, update time, accountDownloadEnd; reqAccountUpdatesMulti: values, then
accountUpdateMultiEnd), executions and completed orders; and
the pushes that follow a fill or an order change.

`AccountRequests` is a part of TwsSimulator (it uses its account, market and peers).
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import TYPE_CHECKING, Protocol

from nautlive.sim.tws import messages as msg
from nautlive.sim.tws.records import ib_time
from nautlive.sim.tws.requests import Request

if TYPE_CHECKING:
    from nautlive.sim.tws.account import Account
    from nautlive.sim.tws.market import Market


class Peer(Protocol):
    client_id: int | None
    version: int  # the negotiated server version
    record: dict  # this connection's entry in TwsSimulator.connections
    market_data: dict[int, int]  # reqId -> conId (reqMktData)
    tick_by_tick: dict[int, int]  # reqId -> conId (reqTickByTickData, AllLast)
    summaries: set[int]  # reqAccountSummary reqIds
    positions: bool  # reqPositions subscription
    account_updates: bool  # reqAccountUpdates subscription
    multi_updates: set[int]  # reqAccountUpdatesMulti reqIds

    def send(self, *messages: msg.Out) -> None: ...

    def close(self) -> None: ...


class AccountRequests:
    account: Account
    market: Market
    peers: list[Peer]

    def _on_reqAccountSummary(self, peer: Peer, request: Request) -> None:  # noqa: N802 - named after the request
        peer.summaries.add(request.req_id)
        self._send_summary(peer, request.req_id)
        peer.send(msg.account_summary_end(request.req_id))

    def _on_cancelAccountSummary(self, peer: Peer, request: Request) -> None:  # noqa: N802
        peer.summaries.discard(request.req_id)

    def _send_summary(self, peer: Peer, req_id: int) -> None:
        account = self.account.account_id
        peer.send(*(msg.account_summary(req_id, account, t, v, c) for t, v, c in self.account.summary()))

    def _on_reqPositions(self, peer: Peer, request: Request) -> None:  # noqa: N802
        peer.positions = True
        for con_id, (quantity, cost) in self.account.positions.items():
            peer.send(msg.position(self.account.account_id, self.market.contract(con_id), quantity, float(cost)))
        peer.send(msg.position_end())

    def _on_cancelPositions(self, peer: Peer, request: Request) -> None:  # noqa: N802
        peer.positions = False

    def _on_reqAccountUpdates(self, peer: Peer, request: Request) -> None:  # noqa: N802
        """Subscribe: every account value, the portfolio, the update time, then accountDownloadEnd; changes follow."""
        peer.account_updates = bool(request.values.get("subscribe"))
        if peer.account_updates:
            self._send_account_updates(peer)
            peer.send(msg.account_download_end(self.account.account_id))

    def _send_account_updates(self, peer: Peer) -> None:
        account = self.account.account_id
        peer.send(*(msg.account_value(tag, value, currency, account) for tag, value, currency in self.account.summary()))
        for con_id, (quantity, cost) in self.account.positions.items():
            price = float(self.market.quotes[con_id].mid)
            peer.send(msg.portfolio_value(self.market.contract(con_id), quantity, price, float(cost), account))
        peer.send(msg.account_time(dt.datetime.now(dt.UTC).strftime("%H:%M")))

    def _on_reqAccountUpdatesMulti(self, peer: Peer, request: Request) -> None:  # noqa: N802
        """The account's values for one account (or all), then accountUpdateMultiEnd; changes follow."""
        account = request.values.get("account")
        if account not in (None, "", "All", self.account.account_id):
            peer.send(msg.account_update_multi_end(request.req_id))
            return
        peer.multi_updates.add(request.req_id)
        self._send_multi(peer, request.req_id)
        peer.send(msg.account_update_multi_end(request.req_id))

    def _on_cancelAccountUpdatesMulti(self, peer: Peer, request: Request) -> None:  # noqa: N802
        peer.multi_updates.discard(request.req_id)

    def _send_multi(self, peer: Peer, req_id: int) -> None:
        account = self.account.account_id
        peer.send(*(msg.account_update_multi(req_id, account, tag, value, currency)
                    for tag, value, currency in self.account.summary()))

    def _on_reqExecutions(self, peer: Peer, request: Request) -> None:  # noqa: N802
        wanted = request.values
        for execution in self.account.executions:
            if wanted.get("account") and wanted["account"] != execution.account:
                continue
            contract = self.market.contract(execution.con_id)
            if wanted.get("symbol") and wanted["symbol"] != contract.get("symbol"):
                continue
            peer.send(msg.exec_details(request.req_id, execution, contract), msg.commission_report(execution))
        peer.send(msg.exec_details_end(request.req_id))

    def _on_reqCompletedOrders(self, peer: Peer, request: Request) -> None:  # noqa: N802
        """Every order of the account that is done (filled, cancelled, rejected), with its completion time."""
        for order in self.account.orders.values():
            if not order.is_open and order.con_id in self.market.details:
                completed = order.completed_time or ib_time(dt.datetime.now(dt.UTC))
                peer.send(msg.completed_order(order, self.market.contract(order.con_id), completed))
        peer.send(msg.completed_orders_end())

    # -- pushes after a change -----------------------------------------------------------------------------------------

    def _push_account(self) -> None:
        for peer in self.peers:
            for req_id in peer.summaries:
                self._send_summary(peer, req_id)
            if peer.account_updates:
                self._send_account_updates(peer)
            for req_id in peer.multi_updates:
                self._send_multi(peer, req_id)

    def _push_position(self, con_id: int) -> None:
        quantity, cost = self.account.positions.get(con_id, (Decimal(0), Decimal(0)))
        for peer in [p for p in self.peers if p.positions]:
            peer.send(msg.position(self.account.account_id, self.market.contract(con_id), quantity, float(cost)))
