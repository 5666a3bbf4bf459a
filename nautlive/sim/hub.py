"""WebSocket side of the simulator's server: connections, and the Hub that routes market and user-stream messages.

Market messages go to the connections subscribed to their stream; user events go to every user-stream subscription
of the WebSocket API connections (nautlive.sim.ws_api) as `{"subscriptionId": N, "event": ...}`, about 10 ms after
the change (as Binance pushes them just after the REST answer). A market stream name without "@" (a retired listen
key) is refused, at connect time and in SUBSCRIBE.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Sequence
from typing import Any

from aiohttp import WSCloseCode, WSMsgType, web

from nautlive.sim.venue import BinanceSimulator

USER_EVENT_DELAY = 0.01  # Binance pushes user-stream events just after the REST answer
CLOCK_SLACK = 0.05  # the loop's clock and the simulator's (wall) clock may disagree by this much


class Connection:
    """One WebSocket client: its streams, and an outbox drained by one sender task so writes never interleave."""

    def __init__(self, ws: web.WebSocketResponse) -> None:
        self.ws = ws
        self.streams: set[str] = set()  # market streams
        self.subscriptions: set[int] = set()  # user-stream subscriptions (WebSocket API connections only)
        self.outbox: asyncio.Queue[str] = asyncio.Queue()

    async def send_forever(self) -> None:
        try:
            while True:
                await self.ws.send_str(await self.outbox.get())
        except (ConnectionError, RuntimeError):
            return


class Hub:
    """Routes market messages to the connections subscribed to them, and user events to the user-stream subscriptions.

    The simulator calls `publish_*` from any thread; delivery always happens on the server's loop.
    """

    def __init__(self, sim: BinanceSimulator, event_delay: float = USER_EVENT_DELAY) -> None:
        self.sim = sim
        self.event_delay = event_delay
        self.connections: set[Connection] = set()
        self.opened = 0
        self.opened_kinds: dict[str, int] = {}
        self.loop: asyncio.AbstractEventLoop | None = None
        self._user_events: asyncio.Queue[tuple[float, int, dict[str, Any]]] = asyncio.Queue()
        self._in_flight = 0  # user events in the queue or waiting out their delay in push_user_events
        sim.on_market = self.publish_market
        sim.on_user_event = self.publish_user_event
        sim.on_drop = self.drop_all
        sim.on_deferred = self.flush_later

    def publish_market(self, stream: str, text: str) -> None:
        self._soon(self._fan_out, stream, text)

    def publish_user_event(self, event: dict[str, Any]) -> None:
        if self.loop is not None:
            due = self.loop.time() + self.event_delay
            self._soon(self._queue_user_event, (due, self.sim.restarts, event))

    def _queue_user_event(self, item: tuple[float, int, dict[str, Any]]) -> None:
        """On the loop: an event already due with none in flight goes to the subscriptions now (event_delay 0: no
        hops through the push task); any other waits its turn in the queue, so events always go out in order."""
        assert self.loop is not None
        if self._in_flight == 0 and item[0] <= self.loop.time():
            self._deliver_user_event(item[1], item[2])
            return
        self._in_flight += 1
        self._user_events.put_nowait(item)

    def flush_later(self, seconds: float) -> None:
        """Have the simulator send its delayed user events once `seconds` have passed (each delayed event asks for
        its own flush; one found a hair early, by the wall clock, is flushed again just after)."""
        self._soon(lambda: self._call_later(seconds))

    def _call_later(self, seconds: float) -> None:
        assert self.loop is not None
        self.loop.call_later(max(0.0, seconds), self._flush)

    def _flush(self) -> None:
        remaining = self.sim.flush_deferred()
        if remaining is not None and remaining < CLOCK_SLACK:
            self._call_later(remaining + 0.001)

    def add(self, conn: Connection) -> None:
        self.connections.add(conn)
        self.opened += 1
        self.opened_kinds[type(conn).__name__] = self.opened_kinds.get(type(conn).__name__, 0) + 1

    async def serve(self, conn: Connection, answer: Callable[[str], list[str]]) -> None:
        """Serve one prepared WebSocket until it closes: each text frame's replies, and whatever is routed to it."""
        self.add(conn)
        sender = asyncio.create_task(conn.send_forever())
        try:
            async for message in conn.ws:
                if message.type == WSMsgType.TEXT:
                    for reply in answer(message.data):
                        conn.outbox.put_nowait(reply)
        finally:
            self.connections.discard(conn)
            sender.cancel()

    def drop_all(self) -> int:
        self._soon(lambda: asyncio.ensure_future(self.close_all()))
        return len(self.connections)

    async def close_all(self, _app: web.Application | None = None, only: type | None = None) -> int:
        chosen = [c for c in list(self.connections) if only is None or isinstance(c, only)]
        await asyncio.gather(*(c.ws.close(code=WSCloseCode.GOING_AWAY) for c in chosen), return_exceptions=True)
        return len(chosen)

    def end_user_streams(self, message: Callable[[int], str]) -> int:
        """End every user-stream subscription, telling each with `message(subscription_id)` (eventStreamTerminated)."""
        ended = 0
        for conn in self.connections:
            for subscription in sorted(conn.subscriptions):
                conn.outbox.put_nowait(message(subscription))
                ended += 1
            conn.subscriptions.clear()
        return ended

    async def push_user_events(self) -> None:
        assert self.loop is not None
        while True:
            due, restarts, event = await self._user_events.get()
            await asyncio.sleep(max(0.0, due - self.loop.time()))
            self._in_flight -= 1
            self._deliver_user_event(restarts, event)

    def _deliver_user_event(self, restarts: int, event: dict[str, Any]) -> None:
        if restarts != self.sim.restarts:  # in flight when the venue restarted: lost with it
            return
        for conn in self.connections:
            for subscription in sorted(conn.subscriptions):
                conn.outbox.put_nowait(json.dumps({"subscriptionId": subscription, "event": event}))

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
            refused = [stream for stream in params if self.sim.refuses_stream(stream)]
            if refused:
                error = {"code": 2, "msg": f"Invalid request: unknown stream {refused[0]!r}"}
                return json.dumps({"error": error, "id": request_id})
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

