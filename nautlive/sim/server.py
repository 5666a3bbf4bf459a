"""The aiohttp server around a BinanceSimulator: REST, combined WebSocket streams, the user stream, /__sim/ controls.

One port serves everything a profile points at (`base_url_http`, `base_url_ws`, `base_url_ws_api`):
`/api/v3/...` and `/sapi/...` (REST, nautlive.sim.rest), `/stream?streams=a/b` (market streams; nautlive.sim.hub),
`/ws-api/v3` (the WebSocket API and the user data stream on it; nautlive.sim.ws_api), and `/__sim/...` (fault
controls for tests, listed in nautlive.sim.controls). A market stream named like a listen key (no "@") is refused at
the handshake with HTTP 400 and Binance's -1125 body: the REST listen key was retired on 2026-02-20.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence

from aiohttp import web

from nautlive.report.console import line
from nautlive.sim.controls import HUB_KEY, SIM_KEY, add_controls
from nautlive.sim.feed import Recorded
from nautlive.sim.hub import Connection, Hub
from nautlive.sim.rest import Gone, answer
from nautlive.sim.serving import ServingThread, json_response, listen_error, run_until_signal
from nautlive.sim.venue import BinanceSimulator
from nautlive.sim.wire import INVALID_LISTEN_KEY, BinanceReject
from nautlive.sim.ws_api import PATH as WS_API_PATH
from nautlive.sim.ws_api import serve_ws_api

SHUTDOWN_TIMEOUT = 1.0
ORDER_ROUTE = ("POST", "/api/v3/order")


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
    app.router.add_get(WS_API_PATH, _ws_api)
    add_controls(app)
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
    """Send the recorded messages paced by their receive times, from the start again (a fresh book) at the end."""
    loop = asyncio.get_running_loop()
    symbols = {item.symbol for item in recording}
    while True:
        sim.rewind_recording(symbols)
        start_wall, start_ns = loop.time(), recording[0].ts_ns
        for item in recording:
            await asyncio.sleep(max(0.0, start_wall + (item.ts_ns - start_ns) / 1e9 - loop.time()))
            sim.apply_recorded(item)


async def _rest(request: web.Request) -> web.Response:
    sim = request.app[SIM_KEY]
    body = await request.post() if request.content_type == "application/x-www-form-urlencoded" else {}
    params = {**{k: str(v) for k, v in body.items()}, **request.query}  # Binance: the query string wins
    sim.log_call(request.method, request.path, params, api_key="X-MBX-APIKEY" in request.headers)
    while sim.stalled:
        await asyncio.sleep(0.02)
    if sim.stall_seconds > 0:
        await asyncio.sleep(sim.stall_seconds)
    refused = sim.limits.check(request.method, request.path, params)  # 429/418: Retry-After, nothing executed
    if refused is not None:
        sim.request_log[-1]["refused"] = refused.status
        return json_response(refused.body, refused.status, headers=refused.headers)
    result = answer(sim, request.method, request.path, params)
    if sim.ack_delay_seconds > 0 and (request.method, "/" + request.path.lstrip("/")) == ORDER_ROUTE:
        await asyncio.sleep(sim.ack_delay_seconds)  # executed (and pushed on the user stream) already
    if isinstance(result, BinanceReject):
        return json_response(result.body(), result.status, headers=sim.limits.headers())
    if isinstance(result, Gone):
        return web.Response(status=result.status, text=result.html, content_type="text/html")
    return json_response(result, headers=sim.limits.headers())


async def _ws_api(request: web.Request) -> web.StreamResponse:
    return await serve_ws_api(request, request.app[HUB_KEY])


async def _stream(request: web.Request) -> web.StreamResponse:
    hub = request.app[HUB_KEY]
    streams = [s for s in request.query.get("streams", "").split("/") if s]
    if any(map(hub.sim.refuses_stream, streams)):
        return json_response(INVALID_LISTEN_KEY.body(), INVALID_LISTEN_KEY.status)
    ws = web.WebSocketResponse()
    await ws.prepare(request)
    conn = Connection(ws)
    hub.subscribe(conn, streams)
    await hub.serve(conn, lambda text: [hub.control(conn, text)])
    return ws


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
            raise listen_error(host, port, exc) from None
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
) -> int | None:
    """Serve in the foreground until SIGINT or SIGTERM; returns the signal that stopped it."""
    return run_until_signal(
        lambda stop, on_ready: serve(sim, host, port, stop, on_ready, recordings, quote_interval),
        lambda bound: line(f"simulator listening on http://{host}:{bound}"),
    )


class RunningSimulator(ServingThread):
    """A simulator serving on a background thread: its URLs, `call` to run code on its loop, and `stop`."""

    def __init__(
        self, sim: BinanceSimulator, host: str, port: int, recordings: Sequence[list[Recorded]], quote_interval: float,
        timeout: float,
    ) -> None:
        super().__init__(
            lambda stop, on_ready: serve(sim, host, port, stop, on_ready, recordings, quote_interval),
            "binance-sim", timeout, f"simulator did not start listening on {host}:{port}",
        )
        self.sim = sim
        self.port = self.ports[0]
        self.http_url = f"http://{host}:{self.port}"
        self.ws_url = f"ws://{host}:{self.port}"


def start_in_thread(
    sim: BinanceSimulator,
    host: str = "127.0.0.1",
    port: int = 0,
    recordings: Sequence[list[Recorded]] = (),
    quote_interval: float = 0.1,
    timeout: float = 10.0,
) -> RunningSimulator:
    """Serve `sim` on a daemon thread (port 0 = a free port) and return once it listens."""
    return RunningSimulator(sim, host, port, recordings, quote_interval, timeout)
