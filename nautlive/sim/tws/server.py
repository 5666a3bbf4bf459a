"""Serving a TwsSimulator: the TWS API socket and the HTTP control port on one event loop, with the quote walk.

`serve` runs until its stop event is set; `start_in_thread` serves on a daemon thread (port 0: a free port) and
returns a RunningTws handle for tests and benchmarks.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from aiohttp import web

from nautlive.sim.serving import ServingThread, listen_error, run_until_signal
from nautlive.sim.tws.controls import control_app
from nautlive.sim.tws.session import Connection
from nautlive.sim.tws.venue import TwsSimulator

SHUTDOWN_TIMEOUT = 1.0


async def _walk(sim: TwsSimulator, interval: float) -> None:
    while True:
        await asyncio.sleep(interval)
        sim.step()


async def serve(sim: TwsSimulator, host: str, port: int, control_port: int, stop: asyncio.Event,
                on_ready: Callable[[int, int], None], quote_interval: float = 0.25) -> None:
    """Serve until `stop` is set; `on_ready(api_port, control_port)` gets the bound ports."""
    connections: set[Connection] = set()

    async def accept(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        connection = Connection(sim, reader, writer)
        connections.add(connection)
        try:
            await connection.serve()
        finally:
            connections.discard(connection)

    try:
        server = await asyncio.start_server(accept, host, port)
    except OSError as exc:
        raise listen_error(host, port, exc) from None
    runner = web.AppRunner(control_app(sim), access_log=None, shutdown_timeout=SHUTDOWN_TIMEOUT)
    await runner.setup()
    walk = asyncio.create_task(_walk(sim, quote_interval))
    try:
        try:
            await web.TCPSite(runner, host, control_port).start()
        except OSError as exc:
            raise listen_error(host, control_port, exc) from None
        on_ready(server.sockets[0].getsockname()[1], runner.addresses[0][1])
        await stop.wait()
    finally:
        walk.cancel()
        server.close()
        for connection in list(connections):
            connection.close()
        await runner.cleanup()


class RunningTws(ServingThread):
    """A TWS simulator serving on a background thread: its ports, `call` to run code on its loop, and `stop`."""

    def __init__(self, sim: TwsSimulator, host: str, port: int, control_port: int, quote_interval: float,
                 timeout: float) -> None:
        super().__init__(
            lambda stop, on_ready: serve(sim, host, port, control_port, stop, on_ready, quote_interval),
            "tws-sim", timeout, f"TWS simulator did not start listening on {host}:{port}",
        )
        self.sim = sim
        self.host = host
        self.port, self.control_port = self.ports
        self.control_url = f"http://{host}:{self.control_port}"


def start_in_thread(sim: TwsSimulator, host: str = "127.0.0.1", port: int = 0, control_port: int = 0,
                    quote_interval: float = 0.25, timeout: float = 10.0) -> RunningTws:
    """Serve `sim` on a daemon thread and return once both ports listen."""
    return RunningTws(sim, host, port, control_port, quote_interval, timeout)


def _protocol(version: int) -> str:
    from ibapi.server_versions import MIN_SERVER_VER_PROTOBUF

    return "protobuf from 201 on" if version >= MIN_SERVER_VER_PROTOBUF else "text messages only"


def run_tws(sim: TwsSimulator, host: str, port: int, control_port: int, quote_interval: float = 0.25) -> int | None:
    """Serve in the foreground until SIGINT or SIGTERM; returns the signal that stopped it."""
    from nautlive.report.console import line

    def ready(api_port: int, http_port: int) -> None:
        line(f"TWS simulator listening on {host}:{api_port} (account {sim.account.account_id}; plays an IB Gateway of "
             f"server version {sim.server_version}, {_protocol(sim.server_version)}); "
             f"controls on http://{host}:{http_port}/__sim/state")

    return run_until_signal(
        lambda stop, on_ready: serve(sim, host, port, control_port, stop, on_ready, quote_interval), ready
    )
