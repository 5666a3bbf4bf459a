"""Serving a TwsSimulator: the TWS API socket and the HTTP control port on one event loop, with the quote walk.

`serve` runs until its stop event is set; `start_in_thread` serves on a daemon thread (port 0: a free port) and
returns a RunningTws handle for tests and benchmarks.
"""

from __future__ import annotations

import asyncio
import os
import threading
from collections.abc import Callable
from typing import Any

from aiohttp import web

from nautlive.errors import RuntimeFailure
from nautlive.sim.tws.controls import control_app
from nautlive.sim.tws.session import Connection
from nautlive.sim.tws.venue import TwsSimulator

SHUTDOWN_TIMEOUT = 1.0


async def _walk(sim: TwsSimulator, interval: float) -> None:
    while True:
        await asyncio.sleep(interval)
        sim.step()


def _listen_error(host: str, port: int, exc: OSError) -> RuntimeFailure:
    reason = os.strerror(exc.errno) if exc.errno else str(exc)
    return RuntimeFailure(f"{host}:{port}: cannot listen: {reason}")


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
        raise _listen_error(host, port, exc) from None
    runner = web.AppRunner(control_app(sim), access_log=None, shutdown_timeout=SHUTDOWN_TIMEOUT)
    await runner.setup()
    walk = asyncio.create_task(_walk(sim, quote_interval))
    try:
        try:
            await web.TCPSite(runner, host, control_port).start()
        except OSError as exc:
            raise _listen_error(host, control_port, exc) from None
        on_ready(server.sockets[0].getsockname()[1], runner.addresses[0][1])
        await stop.wait()
    finally:
        walk.cancel()
        server.close()
        for connection in list(connections):
            connection.close()
        await runner.cleanup()


class RunningTws:
    """A TWS simulator serving on a background thread: its ports, `call` to run code on its loop, and `stop`."""

    def __init__(self, sim: TwsSimulator, host: str, box: dict[str, Any], thread: threading.Thread) -> None:
        self.sim = sim
        self.host = host
        self.port: int = box["port"]
        self.control_port: int = box["control_port"]
        self.control_url = f"http://{host}:{self.control_port}"
        self._loop: asyncio.AbstractEventLoop = box["loop"]
        self._stop_event: asyncio.Event = box["stop"]
        self._thread = thread

    def call(self, fn: Callable[..., Any], *args: Any, timeout: float = 5.0, **kwargs: Any) -> Any:
        """Run `fn(*args, **kwargs)` on the simulator's loop (it is not thread-safe) and return its result."""

        async def run() -> Any:
            return fn(*args, **kwargs)

        return asyncio.run_coroutine_threadsafe(run(), self._loop).result(timeout)

    def stop(self, timeout: float = 5.0) -> None:
        if self._thread.is_alive():
            self._loop.call_soon_threadsafe(self._stop_event.set)
            self._thread.join(timeout)

    def __enter__(self) -> RunningTws:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.stop()


def start_in_thread(sim: TwsSimulator, host: str = "127.0.0.1", port: int = 0, control_port: int = 0,
                    quote_interval: float = 0.25, timeout: float = 10.0) -> RunningTws:
    """Serve `sim` on a daemon thread and return once both ports listen."""
    ready = threading.Event()
    box: dict[str, Any] = {}

    def bound(api_port: int, http_port: int) -> None:
        box.update(port=api_port, control_port=http_port)
        ready.set()

    async def run() -> None:
        box["loop"], box["stop"] = asyncio.get_running_loop(), asyncio.Event()
        await serve(sim, host, port, control_port, box["stop"], bound, quote_interval)

    def main() -> None:
        try:
            asyncio.run(run())
        except BaseException as exc:  # noqa: BLE001 - handed to the starting thread
            box["error"] = exc
        finally:
            ready.set()

    thread = threading.Thread(target=main, name="tws-sim", daemon=True)
    thread.start()
    if not ready.wait(timeout):
        raise RuntimeFailure(f"TWS simulator did not start listening on {host}:{port} within {timeout:.0f} s")
    if "error" in box:
        raise box["error"]
    return RunningTws(sim, host, box, thread)


def run_tws(sim: TwsSimulator, host: str, port: int, control_port: int, quote_interval: float = 0.25) -> int | None:
    """Serve in the foreground until SIGINT or SIGTERM; returns the signal that stopped it."""
    import signal

    from nautlive.render import line

    received: list[int] = []

    def ready(api_port: int, http_port: int) -> None:
        line(f"TWS simulator listening on {host}:{api_port} (account {sim.account.account_id}); "
             f"controls on http://{host}:{http_port}/__sim/state")

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, lambda sig=sig: (received.append(sig), stop.set()))
        await serve(sim, host, port, control_port, stop, ready, quote_interval)

    asyncio.run(main())
    return received[0] if received else None
