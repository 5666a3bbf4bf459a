"""TWS socket framing: the `API\\0` handshake and its version negotiation, text and protobuf frames, a field reader.

Framing uses `ibapi.comm` (make_initial_msg, make_msg_proto, make_field, read_msg, read_fields) on both sides;
nothing here knows what a message means. As IB Gateway does, the venue answers each connection with the lower of its
own maximum server version (a current gateway's, MAX_CLIENT_VER of the installed ibapi, by default) and the client's
maximum; a client whose range cannot meet the venue's is refused. From MIN_SERVER_VER_PROTOBUF (201) on, every
message carries its id as a 4-byte integer, and id + 200 marks a protobuf body; below it the id is a text field.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Iterable, Iterator
from decimal import Decimal

import msgspec
from ibapi import comm
from ibapi.common import PROTOBUF_MSG_ID
from ibapi.server_versions import MAX_CLIENT_VER, MIN_CLIENT_VER, MIN_SERVER_VER_PROTOBUF

SERVER_VERSION = MAX_CLIENT_VER  # a current IB Gateway, as ibapi 10.45 knows it (223)
OLDEST_VERSION = 176  # MIN_SERVER_VER_BOND_ISSUERID: the oldest gateway the venue can play (size rules, no protobuf)
HANDSHAKE_PREFIX = b"API\0"
UNSET_INT = 2**31 - 1  # ibapi's UNSET_INTEGER, as TWS writes an unset integer


class ProtocolError(Exception):
    """A client sent something that is not the TWS API (bad handshake, a message the venue cannot read)."""


class Refused(ProtocolError):
    """The client's version range cannot meet the venue's: refused as IB refuses it (the socket closed, no answer)."""


class Incoming(msgspec.Struct, frozen=True):
    """One client message: its id, and its text fields or its protobuf body."""

    msg_id: int
    fields: tuple[str, ...] = ()
    proto: bytes | None = None


def field_text(value: object) -> str:
    """One field as TWS writes it: bools as 0/1, decimals plain, None as empty, floats without exponent noise."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return str(int(value))
    if isinstance(value, Decimal):
        return format(value.normalize(), "f")
    if isinstance(value, float):
        if math.isinf(value):
            return "Infinity"
        return repr(value)
    return str(value)


def frame(*fields: object) -> bytes:
    """A length-prefixed message of NUL-terminated fields (the handshake answer; any message below version 201)."""
    return comm.make_initial_msg("".join(comm.make_field(field_text(value)) for value in fields))


def text_message(version: int, msg_id: int, fields: Iterable[object]) -> bytes:
    """A text message at `version`: the id as a text field below 201, as a 4-byte integer from 201 on."""
    text = "".join(comm.make_field(field_text(value)) for value in fields)
    return comm.make_msg(msg_id, version >= MIN_SERVER_VER_PROTOBUF, text)


def proto_message(msg_id: int, body: bytes) -> bytes:
    """A protobuf message: the id + 200 as a 4-byte integer, then the serialized message."""
    return comm.make_msg_proto(msg_id + PROTOBUF_MSG_ID, body)


def split_messages(buffer: bytes, version: int) -> tuple[list[Incoming], bytes]:
    """Every complete client message in `buffer` at the negotiated `version`, and the incomplete rest."""
    messages = []
    while len(buffer) >= 4:
        size, body, rest = comm.read_msg(buffer)
        if len(buffer) - 4 < size:
            break
        messages.append(read_message(body, version))
        buffer = rest
    return messages, buffer


def read_message(body: bytes, version: int) -> Incoming:
    if version >= MIN_SERVER_VER_PROTOBUF:
        msg_id, body = int.from_bytes(body[:4], "big"), body[4:]
        if msg_id > PROTOBUF_MSG_ID:
            return Incoming(msg_id - PROTOBUF_MSG_ID, proto=body)
        return Incoming(msg_id, _texts(comm.read_fields(body)))
    fields = _texts(comm.read_fields(body))
    if not fields:
        return Incoming(0)
    try:
        return Incoming(int(fields[0]), fields[1:])
    except ValueError:
        raise ProtocolError(f"bad message id {fields[0]!r}") from None


def _texts(fields: Iterable[bytes]) -> tuple[str, ...]:
    return tuple(field.decode("latin-1") for field in fields)


def parse_handshake(buffer: bytes) -> tuple[str, bytes] | None:
    """`API\\0` + one framed `v100..223[ options]` -> (the version text, the rest); None while incomplete."""
    if len(buffer) < len(HANDSHAKE_PREFIX):
        return None
    if not buffer.startswith(HANDSHAKE_PREFIX):
        raise ProtocolError(f"expected the API\\0 handshake, got {buffer[:8]!r}")
    body = buffer[len(HANDSHAKE_PREFIX):]
    if len(body) < 4:
        return None
    size, text, rest = comm.read_msg(body)
    if len(body) - 4 < size:
        return None
    return text.decode("latin-1").rstrip("\0"), rest  # sent with make_initial_msg alone: no field terminator


def client_range(text: str) -> tuple[int, int]:
    """`v100..223[ options]` -> (100, 223); `v100` alone is one version."""
    versions = text.split(" ", 1)[0].removeprefix("v")
    low, _, high = versions.partition("..")
    try:
        return int(low), int(high or low)
    except ValueError:
        raise ProtocolError(f"bad client version range {text!r}") from None


def negotiate(text: str, venue_max: int) -> int:
    """The server version of this connection: min(venue maximum, client maximum), or Refused."""
    low, high = client_range(text)
    if low < MIN_CLIENT_VER:
        raise Refused(f"client versions {low}..{high}: below the API's v{MIN_CLIENT_VER} handshake")
    version = min(venue_max, high)
    if version < max(low, OLDEST_VERSION):
        raise Refused(f"client versions {low}..{high} cannot meet this gateway's {OLDEST_VERSION}..{venue_max}")
    return version


def check_venue_version(version: int) -> int:
    """A `--server-version` the venue can play: OLDEST_VERSION..SERVER_VERSION."""
    if not OLDEST_VERSION <= version <= SERVER_VERSION:
        raise ValueError(f"server version {version}: the venue plays {OLDEST_VERSION}..{SERVER_VERSION}")
    return version


def server_info(version: int, now: dt.datetime) -> bytes:
    """The handshake answer: exactly two fields, the server version and the connection time."""
    return frame(version, now.strftime("%Y%m%d %H:%M:%S UTC"))


class Fields:
    """Reads one client text message field by field (after its id), typed as `ibapi/client.py` wrote it."""

    def __init__(self, fields: Iterable[str], version: int = SERVER_VERSION) -> None:
        self._it: Iterator[str] = iter(fields)
        self.version = version

    def text(self) -> str:
        try:
            return next(self._it)
        except StopIteration:
            raise ProtocolError("message ended early") from None

    def int(self, default: int = 0) -> int:
        value = self.text()
        return int(value) if value not in ("", str(UNSET_INT)) else default

    def decimal(self) -> Decimal | None:
        value = self.text()
        return None if value == "" or value.startswith("1.7976931348623157") else Decimal(value)

    def bool(self) -> bool:
        value = self.text()
        return value not in ("", "0", "false", "False")

    def skip(self, count: int) -> None:
        for _ in range(count):
            self.text()

    def rest(self) -> list[str]:
        return list(self._it)
