"""One client connection: the `API\\0` handshake and its negotiated version, then requests in and answers out.

A Connection is the simulator's `Peer`: it keeps the client's subscriptions (market data, tick-by-tick, account
summary, positions, account updates) and encodes whatever the venue sends it at its own negotiated version (text or
protobuf). While the venue is stalled nothing is read or answered, the handshake included, so a client sees a socket
that accepts and then stays silent. A client whose version range cannot meet the venue's is refused as IB refuses it:
the socket closed without an answer (the refusal is kept in the venue's connection log).
"""

from __future__ import annotations

import asyncio
import datetime as dt

from nautlive.sim.tws.messages import Out, encode
from nautlive.sim.tws.protocol import ProtocolError, Refused, negotiate, parse_handshake, server_info, split_messages
from nautlive.sim.tws.requests import parse
from nautlive.sim.tws.venue import TwsSimulator

READ_SIZE = 65536
STALL_POLL = 0.02


class Connection:
    def __init__(self, sim: TwsSimulator, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.sim = sim
        self.reader = reader
        self.writer = writer
        self.client_id: int | None = None
        self.version = 0
        self.market_data: dict[int, int] = {}
        self.tick_by_tick: dict[int, int] = {}
        self.summaries: set[int] = set()
        self.positions = False
        self.account_updates = False
        self.multi_updates: set[int] = set()
        self.closed = False
        self.peer_address = writer.get_extra_info("peername")
        self.record: dict = {}

    def send(self, *messages: Out) -> None:
        if not self.closed:
            self.writer.write(b"".join(encode(message, self.version) for message in messages))

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            self.writer.close()

    async def serve(self) -> None:
        """Handshake, then requests until the client leaves or the venue drops it."""
        try:
            rest = await self._handshake()
            if rest is not None:
                await self._requests(rest)
        except Refused as exc:
            self.record["refused"] = str(exc)
        except (ConnectionError, ProtocolError, asyncio.IncompleteReadError):
            pass
        finally:
            self.record["closed"] = True
            self.sim.disconnected(self)
            self.close()

    async def _read(self) -> bytes:
        data = await self.reader.read(READ_SIZE)
        if not data:
            raise ConnectionError("client closed the connection")
        return data

    async def _until_unstalled(self) -> None:
        while self.sim.is_stalled() and not self.closed:
            await asyncio.sleep(STALL_POLL)

    async def _handshake(self) -> bytes | None:
        buffer = b""
        while (parsed := parse_handshake(buffer)) is None:
            buffer += await self._read()
        await self._until_unstalled()
        if self.closed:
            return None
        offered, rest = parsed
        self.record = self.sim.connection_opened(self, offered.split(" ", 1)[0])
        self.version = negotiate(offered, self.sim.server_version)
        self.record["version"] = self.version
        self.writer.write(server_info(self.version, dt.datetime.now(dt.UTC)))
        return rest

    async def _requests(self, buffer: bytes) -> None:
        while not self.closed:
            messages, buffer = split_messages(buffer, self.version)
            for message in messages:
                await self._until_unstalled()
                if self.closed:
                    return
                if message.msg_id:
                    self.sim.handle(self, parse(message, self.version))
            await self.writer.drain()
            buffer += await self._read()
