"""Before any node exists: IB Gateway is reachable, answers the API handshake and manages the profile's account.

The probe goes through ibapi's own EClient (the client Nautilus's adapter builds on), so it speaks whatever the
gateway negotiates: text below server version 201, protobuf from there on (START_API from 213, managedAccounts from
207). It connects with the session's client id + PROBE_CLIENT_OFFSET and leaves at once.
"""

from __future__ import annotations

import logging
import socket
import threading

from nautlive.errors import ConfigError, RuntimeFailure
from nautlive.profile import VenueProfile

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
    from nautlive.venues.ibkr import account_id, ibkr_settings

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
    from ibapi.client import EClient

    where = f"IB Gateway at {host}:{port}"
    probe = _new_probe()
    client = EClient(probe)
    quiet = _quiet_ibapi()
    worker = threading.Thread(target=_connect_and_run, args=(client, probe, host, port, client_id), daemon=True,
                              name="ib-gateway-probe")
    try:
        worker.start()
        if not probe.done.wait(timeout):
            raise RuntimeFailure(f"{where}: no answer to the API handshake within {timeout:g} s "
                                 "(live.connect_timeout): is the API enabled, the gateway logged in and not busy?")
    finally:
        _hang_up(client)
        worker.join(1.0)
        quiet()
    if probe.failure is not None:
        raise RuntimeFailure(f"{where}: {probe.failure}")
    return probe.accounts


def _hang_up(client) -> None:  # noqa: ANN001 - EClient
    """Shut the socket down first: a close alone waits for ibapi's reader thread to leave its blocking recv."""
    sock = getattr(client.conn, "socket", None)
    if sock is not None:
        try:
            sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
    client.disconnect()


def _connect_and_run(client, probe: _ProbeCallbacks, host: str, port: int, client_id: int) -> None:  # noqa: ANN001 - EClient
    try:
        client.connect(host, port, client_id)
        if not client.isConnected():
            probe.fail("connection lost during the API handshake (closed by the gateway)")
            return
        client.run()
    except OSError as exc:
        probe.fail(f"connection lost during the API handshake ({exc})")
    except Exception:  # noqa: BLE001 - the probe gave up and disconnected under a connect still waiting: nothing to say
        pass
    probe.fail("connection lost during the API handshake (closed by the gateway)")


def _new_probe() -> _ProbeCallbacks:
    """An EWrapper with the callbacks the probe needs (the rest are EWrapper's own, which only log); made on first
    use, so importing this module needs no ibapi."""
    from ibapi.wrapper import EWrapper

    class GatewayProbe(_ProbeCallbacks, EWrapper):
        pass

    return GatewayProbe()


class _ProbeCallbacks:
    def __init__(self) -> None:
        self.accounts: list[str] = []
        self.failure: str | None = None
        self.done = threading.Event()

    def fail(self, reason: str) -> None:
        if not self.done.is_set():
            self.failure = reason
            self.done.set()

    def managedAccounts(self, accountsList: str) -> None:  # noqa: N802, N803 - ibapi's names
        self.accounts = [a for a in accountsList.split(",") if a]
        self.done.set()

    def error(self, reqId, errorTime, errorCode, errorString, advancedOrderRejectJson="") -> None:  # noqa: ANN001, N802, N803
        if reqId == -1 and errorCode < 2100 and errorCode not in RESTORED:
            self.fail(f"error {errorCode}: {errorString}")

    def connectionClosed(self) -> None:  # noqa: N802
        self.fail("connection lost during the API handshake (closed by the gateway)")


def _quiet_ibapi():  # noqa: ANN202
    """ibapi logs a dropped socket as a warning on stderr: the probe reports it in its own one line instead."""
    logger = logging.getLogger("ibapi")
    level = logger.level
    logger.setLevel(logging.CRITICAL)
    return lambda: logger.setLevel(level)
