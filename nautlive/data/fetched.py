"""What a download has fetched: per bar file, the ranges [start_ms, end_ms) the venue answered (with bars or with none),
kept in a sidecar beside the file, `.AAPL-1m.parquet.fetched` (JSON; hidden, so neither `--data 'folder/*'` nor
freqtrade takes it for bars). A gap inside a fetched range is the venue having had no bars then (a market closed, an
outage), not asked again; a range never fetched (a killed download, a later end) is.

The sidecar names the bars it was written with by a digest of their open times, so a file changed since (edited,
replaced, deleted) makes it stale. A stale, missing, unreadable or older-format sidecar is ignored: everything the file
lacks is asked again, as if it had never been written. It is written after the file, atomically (a temporary file
renamed over it), so it never claims more than the file holds.
"""

from __future__ import annotations

import hashlib
import os
from array import array
from pathlib import Path

import msgspec

from nautlive.data.klines import Row

FORMAT = 1
Ranges = list[tuple[int, int]]


class _Sidecar(msgspec.Struct):
    format: int
    bars: str  # digest of the file's open times
    fetched: Ranges


def sidecar_path(path: Path) -> Path:
    return path.with_name(f".{path.name}.fetched")


def bars_digest(rows: list[Row]) -> str:
    return hashlib.sha256(array("q", (r[0] for r in rows)).tobytes()).hexdigest()


def merged(ranges: Ranges) -> Ranges:
    """The same ranges sorted, overlapping or touching ones joined."""
    out: Ranges = []
    for start, end in sorted(ranges):
        if out and start <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], end))
        else:
            out.append((start, end))
    return out


def without(ranges: Ranges, fetched: Ranges) -> Ranges:
    """The parts of `ranges` outside every range of `fetched` (merged)."""
    out: Ranges = []
    for start, end in ranges:
        cursor = start
        for done_start, done_end in fetched:
            if done_end <= cursor or done_start >= end:
                continue
            if done_start > cursor:
                out.append((cursor, done_start))
            cursor = max(cursor, done_end)
        if cursor < end:
            out.append((cursor, end))
    return out


def read_fetched(path: Path, rows: list[Row]) -> Ranges:
    """The ranges fetched into the file at `path` holding `rows`; none when the sidecar is absent or not for them."""
    try:
        sidecar = msgspec.json.decode(sidecar_path(path).read_bytes(), type=_Sidecar)
    except (OSError, msgspec.MsgspecError):
        return []
    if sidecar.format != FORMAT or sidecar.bars != bars_digest(rows):
        return []
    return merged(sidecar.fetched)


def write_fetched(path: Path, rows: list[Row], fetched: Ranges) -> None:
    """Record `fetched` for the file at `path`, just written with `rows`."""
    sidecar = sidecar_path(path)
    temp = sidecar.with_name(f"{sidecar.name}.part")
    temp.write_bytes(msgspec.json.encode(_Sidecar(FORMAT, bars_digest(rows), merged(fetched))))
    os.replace(temp, sidecar)
