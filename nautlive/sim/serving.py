"""What the Binance and TWS simulators' servers share: JSON answers of the control endpoints, the listen error,
serving in the foreground until a signal, and serving on a daemon thread for tests and benchmarks.

A server here is `serve(stop, on_ready)`: it serves until the asyncio.Event `stop` is set and calls
`on_ready(*ports)` once it listens.
"""

from __future__ import annotations

import asyncio
import os
import signal
import threading
from collections.abc import Awaitable, Callable
from typing import Any, Self

import msgspec
from aiohttp import web

from nautlive.errors import RuntimeFailure

Server = Callable[[asyncio.Event, Callable[..., None]], Awaitable[None]]
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def json_response(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
    return web.Response(body=msgspec.json.encode(body), status=status, content_type="application/json",
                        headers=headers)


def listen_error(host: str, port: int, exc: OSError) -> RuntimeFailure:
    reason = os.strerror(exc.errno) if exc.errno else str(exc)
    return RuntimeFailure(f"{host}:{port}: cannot listen: {reason}")


def run_until_signal(server: Server, on_ready: Callable[..., None]) -> int | None:
    """Serve in the foreground until SIGINT or SIGTERM; returns the signal that stopped it."""
    received: list[int] = []

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, lambda sig=sig: (received.append(sig), stop.set()))
        await server(stop, on_ready)

    asyncio.run(main())
    return received[0] if received else None


class ServingThread:
    """A server on a daemon thread's own event loop: the bound `ports`, `call` to run code on its loop, and `stop`."""

    def __init__(self, server: Server, name: str, timeout: float, too_slow: str) -> None:
        """Start `server` and return once it listens; raise what it raised first, or RuntimeFailure(`too_slow`)."""
        ready = threading.Event()
        box: dict[str, Any] = {}

        def bound(*ports: int) -> None:
            self.ports = ports
            ready.set()

        async def run() -> None:
            self._loop, self._stop_event = asyncio.get_running_loop(), asyncio.Event()
            await server(self._stop_event, bound)

        def main() -> None:
            try:
                asyncio.run(run())
            except BaseException as exc:  # noqa: BLE001 - handed to the starting thread
                box["error"] = exc
            finally:
                ready.set()

        self._thread = threading.Thread(target=main, name=name, daemon=True)
        self._thread.start()
        if not ready.wait(timeout):
            raise RuntimeFailure(f"{too_slow} within {timeout:.0f} s")
        if "error" in box:
            raise box["error"]

    def call(self, fn: Callable[..., Any], *args: Any, timeout: float = 5.0, **kwargs: Any) -> Any:
        """Run `fn(*args, **kwargs)` on the server's loop (the simulators are not thread-safe); return the result."""

        async def run() -> Any:
            return fn(*args, **kwargs)

        return asyncio.run_coroutine_threadsafe(run(), self._loop).result(timeout)

    def stop(self, timeout: float = 5.0) -> None:
        if self._thread.is_alive():
            self._loop.call_soon_threadsafe(self._stop_event.set)
            self._thread.join(timeout)

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.stop()
