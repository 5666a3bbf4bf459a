"""The aiohttp server around a BinanceSimulator: REST, combined WebSocket streams, the user stream, /__sim/ controls.

One port serves everything, as the Nautilus adapter expects of `base_url_http` and `base_url_ws`:
`/api/v3/...` and `/sapi/...` (REST), `/stream?streams=a/b` (market streams, or a listenKey for the user stream),
and `/__sim/...` (fault controls for tests: drop, reject_next, stall, quote, state).
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import threading
from collections.abc import Callable, Sequence
from decimal import Decimal, InvalidOperation
from typing import Any

import msgspec
from aiohttp import WSCloseCode, WSMsgType, web

from nautlive.errors import RuntimeFailure
from nautlive.render import line
from nautlive.sim.binance import BinanceReject, BinanceSimulator, wrap_stream
from nautlive.sim.feed import Recorded
from nautlive.sim.rest import answer

USER_EVENT_DELAY = 0.01  # Binance pushes user-stream events just after the REST answer
SHUTDOWN_TIMEOUT = 1.0


class Connection:
    """One WebSocket client: its streams, and an outbox drained by one sender task so writes never interleave."""

    def __init__(self, ws: web.WebSocketResponse) -> None:
        self.ws = ws
        self.streams: set[str] = set()
        self.outbox: asyncio.Queue[str] = asyncio.Queue()

    async def send_forever(self) -> None:
        try:
            while True:
                await self.ws.send_str(await self.outbox.get())
        except (ConnectionError, RuntimeError):
            return


class Hub:
    """Routes market messages to the connections subscribed to them, and user events to the listenKey connections.

    The simulator calls `publish_*` from any thread; delivery always happens on the server's loop.
    """

    def __init__(self, sim: BinanceSimulator, event_delay: float = USER_EVENT_DELAY) -> None:
        self.sim = sim
        self.event_delay = event_delay
        self.connections: set[Connection] = set()
        self.opened = 0
        self.loop: asyncio.AbstractEventLoop | None = None
        self._user_events: asyncio.Queue[tuple[float, dict[str, Any]]] = asyncio.Queue()
        sim.on_market = self.publish_market
        sim.on_user_event = self.publish_user_event
        sim.on_drop = self.drop_all

    def publish_market(self, stream: str, text: str) -> None:
        self._soon(self._fan_out, stream, text)

    def publish_user_event(self, event: dict[str, Any]) -> None:
        if self.loop is not None:
            self._soon(self._user_events.put_nowait, (self.loop.time() + self.event_delay, event))

    def drop_all(self) -> int:
        self._soon(lambda: asyncio.ensure_future(self.close_all()))
        return len(self.connections)

    async def close_all(self, _app: web.Application | None = None) -> None:
        closing = [c.ws.close(code=WSCloseCode.GOING_AWAY) for c in list(self.connections)]
        await asyncio.gather(*closing, return_exceptions=True)

    async def push_user_events(self) -> None:
        assert self.loop is not None
        while True:
            due, event = await self._user_events.get()
            await asyncio.sleep(max(0.0, due - self.loop.time()))
            for conn in self.connections:
                for key in conn.streams & self.sim.listen_keys:
                    conn.outbox.put_nowait(wrap_stream(key, event))

    def subscribe(self, conn: Connection, streams: Sequence[str]) -> None:
        """Add streams to a connection; a market stream of a known symbol starts quoting that symbol."""
        conn.streams.update(streams)
        for stream in streams:
            symbol = stream.split("@", 1)[0].upper()
            if "@" in stream and symbol in self.sim.rules:
                self.sim.ensure_book(symbol)

    def control(self, conn: Connection, text: str) -> str:
        """Answer a SUBSCRIBE / UNSUBSCRIBE / LIST_SUBSCRIPTIONS message as Binance does."""
        try:
            request = json.loads(text)
            method, params, request_id = request["method"], request.get("params", []), request.get("id")
        except (json.JSONDecodeError, KeyError, TypeError):
            return json.dumps({"error": {"code": 3, "msg": "Invalid JSON: expected {method, params, id}"}})
        if method == "SUBSCRIBE":
            self.subscribe(conn, params)
            return json.dumps({"result": None, "id": request_id})
        if method == "UNSUBSCRIBE":
            conn.streams.difference_update(params)
            return json.dumps({"result": None, "id": request_id})
        if method == "LIST_SUBSCRIPTIONS":
            return json.dumps({"result": sorted(conn.streams), "id": request_id})
        error = {"code": 2, "msg": f"Invalid request: unknown method {method!r}"}
        return json.dumps({"error": error, "id": request_id})

    def _fan_out(self, stream: str, text: str) -> None:
        for conn in self.connections:
            if stream in conn.streams:
                conn.outbox.put_nowait(text)

    def _soon(self, fn: Callable[..., Any], *args: Any) -> None:
        if self.loop is None:
            return
        try:
            self.loop.call_soon_threadsafe(fn, *args)
        except RuntimeError:  # the loop has closed: nobody is left to deliver to
            pass


SIM_KEY = web.AppKey("sim", BinanceSimulator)
HUB_KEY = web.AppKey("hub", Hub)


def make_app(
    sim: BinanceSimulator, recordings: Sequence[list[Recorded]] = (), quote_interval: float = 0.1
) -> web.Application:
    """The aiohttp application serving `sim`; its feeds (walk, replays) run while the app runs."""
    for recording in recordings:
        sim.attach_recording(recording)
    app = web.Application()
    app[SIM_KEY] = sim
    app[HUB_KEY] = Hub(sim)
    app.router.add_get("/stream", _stream)
    app.router.add_post("/__sim/drop", _drop)
    app.router.add_post("/__sim/reject_next", _reject_next)
    app.router.add_post("/__sim/stall", _stall)
    app.router.add_delete("/__sim/stall", _clear_stall)
    app.router.add_post("/__sim/quote", _set_quote)
    app.router.add_delete("/__sim/quote", _release_quote)
    app.router.add_get("/__sim/state", _state)
    app.router.add_route("*", "/{tail:.*}", _rest)
    app.cleanup_ctx.append(_feeds(recordings, quote_interval))
    app.on_shutdown.append(app[HUB_KEY].close_all)
    return app


def _feeds(recordings: Sequence[list[Recorded]], quote_interval: float):  # noqa: ANN202 - aiohttp cleanup context
    async def context(app: web.Application):  # noqa: ANN202
        sim, hub = app[SIM_KEY], app[HUB_KEY]
        hub.loop = asyncio.get_running_loop()
        tasks = [asyncio.create_task(hub.push_user_events()), asyncio.create_task(_walk(sim, quote_interval))]
        tasks += [asyncio.create_task(_replay(sim, recording)) for recording in recordings]
        yield
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    return context


async def _walk(sim: BinanceSimulator, interval: float) -> None:
    while True:
        sim.step_walks()
        await asyncio.sleep(interval)


async def _replay(sim: BinanceSimulator, recording: list[Recorded]) -> None:
    """Send the recorded messages paced by their receive times, from the start again at the end."""
    loop = asyncio.get_running_loop()
    while True:
        start_wall, start_ns = loop.time(), recording[0].ts_ns
        for item in recording:
            await asyncio.sleep(max(0.0, start_wall + (item.ts_ns - start_ns) / 1e9 - loop.time()))
            sim.apply_recorded(item)


async def _rest(request: web.Request) -> web.Response:
    sim = request.app[SIM_KEY]
    params = dict(request.query)
    sim.log_request(request.method, request.path, params)
    while sim.stalled:
        await asyncio.sleep(0.02)
    if sim.stall_seconds > 0:
        await asyncio.sleep(sim.stall_seconds)
    result = answer(sim, request.method, request.path, params)
    if isinstance(result, BinanceReject):
        return _json(result.body(), result.status)
    return _json(result)


async def _stream(request: web.Request) -> web.WebSocketResponse:
    hub = request.app[HUB_KEY]
    ws = web.WebSocketResponse()
    await ws.prepare(request)
    conn = Connection(ws)
    hub.subscribe(conn, [s for s in request.query.get("streams", "").split("/") if s])
    hub.connections.add(conn)
    hub.opened += 1
    sender = asyncio.create_task(conn.send_forever())
    try:
        async for message in ws:
            if message.type == WSMsgType.TEXT:
                conn.outbox.put_nowait(hub.control(conn, message.data))
    finally:
        hub.connections.discard(conn)
        sender.cancel()
    return ws


async def _drop(request: web.Request) -> web.Response:
    return _json({"dropped": request.app[SIM_KEY].drop_connections()})


async def _reject_next(request: web.Request) -> web.Response:
    sim, query = request.app[SIM_KEY], request.query
    try:
        code = int(query.get("code", "-2010"))
    except ValueError:
        return _json({"error": "code: expected an integer Binance error code like -2010"}, 400)
    sim.reject_next(code, query.get("msg", "Account has insufficient balance for requested action."))
    return _json({"pending_reject": sim.pending_reject.body() if sim.pending_reject else None})


async def _stall(request: web.Request) -> web.Response:
    seconds = request.query.get("seconds")
    try:
        request.app[SIM_KEY].stall(None if seconds is None else float(seconds))
    except ValueError:
        return _json({"error": "seconds: expected a number (or none, to stall until cleared)"}, 400)
    return _json({"stalled": True})


async def _clear_stall(request: web.Request) -> web.Response:
    request.app[SIM_KEY].clear_stall()
    return _json({"stalled": False})


async def _set_quote(request: web.Request) -> web.Response:
    query = request.query
    try:
        prices = {k: Decimal(query[k]) for k in ("bid", "ask")}
        sizes = {k: Decimal(query[k]) for k in ("bid_qty", "ask_qty") if k in query}
    except (KeyError, InvalidOperation):
        return _json({"error": "expected symbol, bid, ask (and optional bid_qty, ask_qty) as decimals"}, 400)
    quote = request.app[SIM_KEY].set_quote(query.get("symbol", ""), **prices, **sizes)
    if isinstance(quote, BinanceReject):
        return _json(quote.body(), quote.status)
    return _json({"symbol": query["symbol"], "quote": msgspec.to_builtins(quote)})


async def _release_quote(request: web.Request) -> web.Response:
    request.app[SIM_KEY].release_quote(request.query.get("symbol", ""))
    return _json({"held": sorted(request.app[SIM_KEY].held)})


async def _state(request: web.Request) -> web.Response:
    hub = request.app[HUB_KEY]
    counts = {"connections": len(hub.connections), "connections_opened": hub.opened}
    return _json({**request.app[SIM_KEY].state(), **counts})


def _json(body: Any, status: int = 200) -> web.Response:
    return web.Response(body=msgspec.json.encode(body), status=status, content_type="application/json")


async def serve(
    sim: BinanceSimulator,
    host: str,
    port: int,
    stop: asyncio.Event,
    on_ready: Callable[[int], None],
    recordings: Sequence[list[Recorded]] = (),
    quote_interval: float = 0.1,
) -> None:
    """Serve until `stop` is set; `on_ready` gets the bound port (useful with port 0)."""
    runner = web.AppRunner(
        make_app(sim, recordings, quote_interval), access_log=None, shutdown_timeout=SHUTDOWN_TIMEOUT
    )
    await runner.setup()
    try:
        try:
            await web.TCPSite(runner, host, port).start()
        except OSError as exc:
            reason = os.strerror(exc.errno) if exc.errno else str(exc)
            raise RuntimeFailure(f"{host}:{port}: cannot listen: {reason}") from None
        on_ready(runner.addresses[0][1])
        await stop.wait()
    finally:
        await runner.cleanup()


def run_simulator(
    sim: BinanceSimulator,
    host: str = "127.0.0.1",
    port: int = 8765,
    recordings: Sequence[list[Recorded]] = (),
    quote_interval: float = 0.1,
) -> None:
    """Serve in the foreground until SIGINT or SIGTERM (then return normally: exit 0)."""

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        ready = lambda bound: line(f"simulator listening on http://{host}:{bound}")  # noqa: E731
        await serve(sim, host, port, stop, ready, recordings, quote_interval)

    asyncio.run(main())


class RunningSimulator:
    """A simulator serving on a background thread: its URLs, `call` to run code on its loop, and `stop`."""

    def __init__(
        self, sim: BinanceSimulator, host: str, port: int, loop: asyncio.AbstractEventLoop, stop_event: asyncio.Event,
        thread: threading.Thread,
    ) -> None:
        self.sim = sim
        self.port = port
        self.http_url = f"http://{host}:{port}"
        self.ws_url = f"ws://{host}:{port}"
        self._loop = loop
        self._stop_event = stop_event
        self._thread = thread

    def call(self, fn: Callable[..., Any], *args: Any, timeout: float = 5.0, **kwargs: Any) -> Any:
        """Run `fn(*args, **kwargs)` on the simulator's loop (the simulator is not thread-safe); return the result."""

        async def run() -> Any:
            return fn(*args, **kwargs)

        return asyncio.run_coroutine_threadsafe(run(), self._loop).result(timeout)

    def stop(self, timeout: float = 5.0) -> None:
        if self._thread.is_alive():
            self._loop.call_soon_threadsafe(self._stop_event.set)
            self._thread.join(timeout)

    def __enter__(self) -> RunningSimulator:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.stop()


def start_in_thread(
    sim: BinanceSimulator,
    host: str = "127.0.0.1",
    port: int = 0,
    recordings: Sequence[list[Recorded]] = (),
    quote_interval: float = 0.1,
    timeout: float = 10.0,
) -> RunningSimulator:
    """Serve `sim` on a daemon thread (port 0 = a free port) and return once it listens."""
    ready = threading.Event()
    box: dict[str, Any] = {}

    async def run() -> None:
        box["loop"], box["stop"] = asyncio.get_running_loop(), asyncio.Event()
        await serve(sim, host, port, box["stop"], lambda bound: (box.update(port=bound), ready.set()),
                    recordings, quote_interval)

    def main() -> None:
        try:
            asyncio.run(run())
        except BaseException as exc:  # noqa: BLE001 - handed to the starting thread
            box["error"] = exc
        finally:
            ready.set()

    thread = threading.Thread(target=main, name="binance-sim", daemon=True)
    thread.start()
    if not ready.wait(timeout):
        raise RuntimeFailure(f"simulator did not start listening on {host}:{port} within {timeout:.0f} s")
    if "error" in box:
        raise box["error"]
    return RunningSimulator(sim, host, box["port"], box["loop"], box["stop"], thread)
