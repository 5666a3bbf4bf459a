"""Before any node exists: IB Gateway is reachable, answers the API handshake and manages the profile's account.

The probe goes through ibapi's own EClient (the client Nautilus's adapter builds on), so it speaks whatever the
gateway negotiates: text below server version 201, protobuf from there on (START_API from 213, managedAccounts from
207). It connects with the session's client id + PROBE_CLIENT_OFFSET and leaves at once.
"""

from __future__ import annotations

import logging
import socket
import threading
from decimal import Decimal
from typing import TYPE_CHECKING

import msgspec

from nautlive.errors import ConfigError, RuntimeFailure

if TYPE_CHECKING:
    from nautlive.config.profile import VenueProfile

PROBE_CLIENT_OFFSET = 200  # the gateway check connects with client id + 200, never the session's own id
RESTORED = (1101, 1102)  # connectivity restored: information, not a failure


def check_gateway_reachable(host: str, port: int, timeout: float) -> None:
    """A plain TCP connect, so a missing IB Gateway fails fast instead of after Nautilus's reconnect loop."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            pass
    except ConnectionRefusedError:
        raise RuntimeFailure(
            f"IB Gateway not reachable at {host}:{port}: connection refused "
            "(is IB Gateway running, with the API enabled on this port?)"
        ) from None
    except TimeoutError:
        raise RuntimeFailure(
            f"IB Gateway not reachable at {host}:{port}: no answer after {timeout:g} s "
            "(wrong host, a firewall dropping the connection, or a gateway too busy to accept?)"
        ) from None
    except OSError as exc:
        raise RuntimeFailure(f"IB Gateway not reachable at {host}:{port}: {exc.strerror or exc}") from None


def check_gateway(profile: VenueProfile) -> list[str]:
    """The gateway answers the TWS handshake and manages the profile's account.

    A refused or silent socket, or no handshake answer within live.connect_timeout, is a RuntimeFailure (exit 1);
    an account the gateway does not manage is a ConfigError (exit 2). Returns the managed accounts."""
    from nautlive.venues.ibkr.config import account_id, ibkr_settings

    ib = ibkr_settings(profile)
    timeout = profile.live.connect_timeout
    check_gateway_reachable(ib.host, ib.port, timeout)
    accounts = managed_accounts(ib.host, ib.port, ib.client_id + PROBE_CLIENT_OFFSET, timeout)
    account = account_id(profile)
    if account not in accounts:
        raise ConfigError(f"IB Gateway at {ib.host}:{ib.port} manages {', '.join(accounts) or 'no account'}, "
                          f"not {account} (profile {profile.name}: ibkr.account_id): nothing traded")
    return accounts


def managed_accounts(host: str, port: int, client_id: int, timeout: float) -> list[str]:
    """ibapi's EClient connects (handshake, START_API) until managedAccounts arrives, an error ends it, or the
    deadline passes; it is disconnected either way."""
    with GatewayClient(host, port, client_id, timeout) as gateway:
        return gateway.callbacks.accounts


class GatewayClient:
    """ibapi's EClient on a daemon thread, connected as `client_id` until the `with` block ends: entering waits for
    managedAccounts (RuntimeFailure on an error, a hang-up or no answer within `timeout`)."""

    def __init__(self, host: str, port: int, client_id: int, timeout: float, callbacks: Callbacks | None = None) \
            -> None:
        from ibapi.client import EClient

        self.where, self.timeout = f"IB Gateway at {host}:{port}", timeout
        self.callbacks = callbacks if callbacks is not None else _new_callbacks()
        self.client = EClient(self.callbacks)
        self._restore_logging = _quiet_ibapi()
        self._worker = threading.Thread(target=_connect_and_run, args=(self.client, self.callbacks, host, port,
                                                                       client_id), daemon=True, name="ib-gateway")

    def __enter__(self) -> GatewayClient:
        self._worker.start()
        try:
            if not self.callbacks.ready.wait(self.timeout):
                raise RuntimeFailure(f"{self.where}: no answer to the API handshake within {self.timeout:g} s "
                                     "(live.connect_timeout): is the API enabled, the gateway logged in and not busy?")
            self.check()
        except BaseException:
            self.__exit__()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        _hang_up(self.client)
        self._worker.join(1.0)
        self._restore_logging()

    def check(self) -> None:
        if self.callbacks.failure is not None:
            raise RuntimeFailure(f"{self.where}: {self.callbacks.failure}")


def _hang_up(client) -> None:  # noqa: ANN001 - EClient
    """Shut the socket down first: a close alone waits for ibapi's reader thread to leave its blocking recv."""
    sock = getattr(client.conn, "socket", None)
    if sock is not None:
        try:
            sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
    client.disconnect()


def _connect_and_run(client, callbacks: Callbacks, host: str, port: int, client_id: int) -> None:  # noqa: ANN001
    try:
        client.connect(host, port, client_id)
        if client.isConnected():
            client.run()
    except OSError as exc:
        callbacks.fail(f"connection lost during the API handshake ({exc})")
    except Exception:  # noqa: BLE001 - given up and disconnected under a connect still waiting: nothing to say
        pass
    callbacks.fail("connection lost during the API handshake (closed by the gateway)")


def _new_callbacks() -> Callbacks:
    """An EWrapper with the callbacks nautlive reads (the rest are EWrapper's own, which only log); made on first
    use, so importing this module needs no ibapi."""
    from ibapi.wrapper import EWrapper

    class GatewayCallbacks(Callbacks, EWrapper):
        pass

    return GatewayCallbacks()


class WorkingOrder(msgspec.Struct):
    """An open order as reqAllOpenOrders shows it: which client placed it, its reference, what it still asks."""

    perm_id: int
    order_id: int
    client_id: int
    account: str
    ref: str
    action: str
    quantity: Decimal
    order_type: str
    lmt_price: float | None
    symbol: str
    status: str
    remaining: Decimal | None = None

    def describe(self) -> str:
        price = f" {self.order_type} {self.lmt_price:g}" if self.lmt_price is not None else f" {self.order_type}"
        return (f"{self.action} {self.remaining if self.remaining is not None else self.quantity} {self.symbol}{price} "
                f"(client {self.client_id}, order {self.order_id}, ref {self.ref or '-'}, {self.status})")


class Callbacks:
    """What the gateway said: managed accounts, open orders by permId and their latest status, the end of a list."""

    def __init__(self) -> None:
        self.accounts: list[str] = []
        self.failure: str | None = None
        self.ready = threading.Event()
        self.orders: dict[int, WorkingOrder] = {}
        self.orders_end = threading.Event()
        self.changed = threading.Condition()

    def fail(self, reason: str) -> None:
        if self.failure is None and not (self.ready.is_set() and self.orders_end.is_set()):
            self.failure = reason
        for event in (self.ready, self.orders_end):
            event.set()
        with self.changed:
            self.changed.notify_all()

    def managedAccounts(self, accountsList: str) -> None:  # noqa: N802, N803 - ibapi's names
        self.accounts = [a for a in accountsList.split(",") if a]
        self.ready.set()

    def error(self, reqId, errorTime, errorCode, errorString, advancedOrderRejectJson="") -> None:  # noqa: ANN001, N802, N803
        if reqId == -1 and errorCode < 2100 and errorCode not in RESTORED and not self.ready.is_set():
            self.fail(f"error {errorCode}: {errorString}")

    def connectionClosed(self) -> None:  # noqa: N802
        self.fail("connection lost during the API handshake (closed by the gateway)")

    def openOrder(self, orderId, contract, order, orderState) -> None:  # noqa: ANN001, N802, N803
        from ibapi.const import UNSET_DOUBLE

        lmt = None if order.lmtPrice in (UNSET_DOUBLE, None) or order.orderType == "MKT" else float(order.lmtPrice)
        known = self.orders.get(order.permId)
        self.orders[order.permId] = WorkingOrder(
            order.permId, orderId, order.clientId, order.account, order.orderRef, order.action,
            Decimal(str(order.totalQuantity)), order.orderType, lmt, contract.localSymbol or contract.symbol,
            orderState.status, known.remaining if known is not None else None)
        self._notify()

    def orderStatus(self, orderId, status, filled, remaining, avgFillPrice, permId, *rest) -> None:  # noqa: ANN001, ANN002, N802, N803
        order = self.orders.get(permId)
        if order is not None:
            order.status, order.remaining = status, Decimal(str(remaining))
        self._notify()

    def openOrderEnd(self) -> None:  # noqa: N802
        self.orders_end.set()

    def _notify(self) -> None:
        with self.changed:
            self.changed.notify_all()


def _quiet_ibapi():  # noqa: ANN202
    """ibapi logs a dropped socket as a warning on stderr: nautlive reports it in its own one line instead."""
    logger = logging.getLogger("ibapi")
    level = logger.level
    logger.setLevel(logging.CRITICAL)
    return lambda: logger.setLevel(level)
