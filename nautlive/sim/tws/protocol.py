"""TWS socket framing: the `API\\0` handshake, length-prefixed NUL-terminated fields, and a field reader.

Framing uses `ibapi.comm` (make_initial_msg, make_field, read_msg, read_fields) on both sides, as the brief of the protocol
asks; nothing here knows what a message means. The server version announced decides every later field layout: it is
SERVER_VERSION, within the vendored ibapi's client range (MIN_CLIENT_VER..MAX_CLIENT_VER).
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Iterable, Iterator
from decimal import Decimal

from ibapi import comm
from ibapi.server_versions import MAX_CLIENT_VER, MIN_CLIENT_VER

SERVER_VERSION = 176  # MIN_SERVER_VER_BOND_ISSUERID: size rules, advanced order rejects, no protobuf, no RFQ fields
HANDSHAKE_PREFIX = b"API\0"
UNSET_INT = 2**31 - 1  # ibapi's UNSET_INTEGER, as TWS writes an unset integer


class ProtocolError(Exception):
    """A client sent something that is not the TWS API (bad handshake, a version range without ours)."""


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
    """A length-prefixed message of NUL-terminated fields."""
    return comm.make_initial_msg("".join(comm.make_field(field_text(value)) for value in fields))


def split_messages(buffer: bytes) -> tuple[list[tuple[str, ...]], bytes]:
    """Every complete message in `buffer` as a tuple of text fields, and the incomplete rest."""
    messages = []
    while len(buffer) >= 4:
        size, text, rest = comm.read_msg(buffer)
        if len(buffer) - 4 < size:
            break
        messages.append(tuple(field.decode("latin-1") for field in comm.read_fields(text)))
        buffer = rest
    return messages, buffer


def parse_handshake(buffer: bytes) -> tuple[str, bytes] | None:
    """`API\\0` + one framed `v100..187[ options]` -> (the version text, the rest); None while incomplete."""
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
    version = text.decode("latin-1").rstrip("\0")  # sent with make_msg alone: no field terminator
    check_version_range(version)
    return version, rest


def check_version_range(text: str) -> None:
    """`v100..187` must include SERVER_VERSION (and stay within ibapi's own range)."""
    versions = text.split(" ", 1)[0].removeprefix("v")
    low, _, high = versions.partition("..")
    try:
        low_v, high_v = int(low), int(high or low)
    except ValueError:
        raise ProtocolError(f"bad client version range {text!r}") from None
    if not (low_v <= SERVER_VERSION <= high_v) or low_v < MIN_CLIENT_VER or high_v > MAX_CLIENT_VER + 50:
        raise ProtocolError(f"client versions {low_v}..{high_v} do not include server version {SERVER_VERSION}")


def server_info(now: dt.datetime) -> bytes:
    """The handshake answer: exactly two fields, the server version and the connection time."""
    return frame(SERVER_VERSION, now.strftime("%Y%m%d %H:%M:%S UTC"))


class Fields:
    """Reads one client message field by field, typed as `ibapi/client.py` wrote it."""

    def __init__(self, fields: Iterable[str]) -> None:
        self._it: Iterator[str] = iter(fields)

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
