"""Recorded Binance streams for BACKTEST and SHADOW replays: one file of combined-stream messages -> Nautilus data.

Recorded files (`<symbol>_<yyyymmdd>.gz`) hold one Binance combined-stream message per line,
`<local receive time, ns> <JSON as Binance sent it>`. `@bookTicker` lines become QuoteTicks, `@trade` lines
TradeTicks, and `@depth@100ms` lines with the bookTicker touches (and the REST snapshot the recorder took) keep an L2
book whose changes become OrderBookDeltas (depth.py): the book the shadow exchange and the backtest venue fill
market orders against.

Timestamps: ts_event = ts_init = the local receive time, for quotes and trades alike. bookTicker carries no event
time, and the recording host's clock is about a second off Binance's, so stamping trades with Binance's trade time
would put them out of order against the quotes. The receive time is monotonic within a file, so ticks come out
sorted by ts_init. `replay_ticks(paths, ...)` is exactly what feeds.ReplayDataClient emits.
"""

from __future__ import annotations

import gc
import heapq
import re
import zlib
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from decimal import Decimal
from pathlib import Path

import msgspec
import numpy as np
from nautilus_trader.core.data import Data
from nautilus_trader.model.data import QuoteTick, TradeTick
from nautilus_trader.model.enums import AggressorSide
from nautilus_trader.model.identifiers import TradeId
from nautilus_trader.model.instruments import Instrument
from nautilus_trader.model.objects import FIXED_PRECISION

from nautlive.data.depth import DEPTH_MARKER, DEPTH_ROWS, GAP_MARKER, SNAPSHOT_MARKER, SNAPSHOT_ROWS, recorded_book
from nautlive.errors import ConfigError

KINDS = ("quotes", "trades", "book")
# Where the stream name ends at the latest: 19-digit ns, ` {"stream":"`, a symbol, `@bookTicker"`.
_STREAM_NAME_END = 96
_QUOTE_MARKER = b'@bookTicker"'
_TRADE_MARKER = b'@trade"'
_BAD_LINE = re.compile(rb"\n(?![0-9]{1,19} \{|\Z)")
# A float holds every integer below 2**53; below 2**51 a decimal string rounds to the right integer when scaled.
_EXACT_FLOAT_LIMIT = 2**51



class _QuoteData(msgspec.Struct, gc=False):
    s: str
    b: float
    B: float
    a: float
    A: float


class _QuoteMsg(msgspec.Struct, gc=False):
    data: _QuoteData


class _TradeData(msgspec.Struct, gc=False):
    s: str
    t: int
    p: float
    q: float
    m: bool


class _TradeMsg(msgspec.Struct, gc=False):
    data: _TradeData


# strict=False reads Binance's decimal strings ("61837.63000000") as floats; _raw_column checks they stay exact.
_QUOTE_ROWS = msgspec.json.Decoder(list[tuple[int, _QuoteMsg]], strict=False)
_TRADE_ROWS = msgspec.json.Decoder(list[tuple[int, _TradeMsg]], strict=False)


def read_recorded(
    path: str | Path,
    instruments: Mapping[str, Instrument],
    kinds: Sequence[str] = KINDS,
) -> list[Data]:
    """The quotes and/or trades of one recorded file, in file order, built at each instrument's precision.

    `instruments` maps the Binance symbol ("BTCUSDT") to its instrument; lines for other symbols are skipped.
    """
    path = Path(path)
    unknown = set(kinds) - set(KINDS)
    if unknown:
        raise ConfigError(f"read_recorded: kinds: expected some of {KINDS}, got {sorted(unknown)}")
    with _gc_paused():
        lines = read_lines(path)
        parts = []
        quotes = quote_ticks(path, lines, stream_rows(lines, _QUOTE_MARKER), instruments) if (
            "quotes" in kinds or "book" in kinds) else ([], [])
        if "book" in kinds:  # before the quotes: a strategy reacting to a quote meets the book that quote set
            gaps = [i for i, line in enumerate(lines) if line.find(GAP_MARKER, 0, 30) > 0]
            parts.append(recorded_book(quotes, *read_depth(path, lines), instruments, gaps))
        if "quotes" in kinds:
            parts.append(quotes)
        if "trades" in kinds:
            parts.append(trade_ticks(path, lines, stream_rows(lines, _TRADE_MARKER), instruments))
        return _in_file_order(parts)


def replay_ticks(
    paths: Iterable[str | Path],
    instruments: Mapping[str, Instrument],
    kinds: Sequence[str] = KINDS,
) -> list[Data]:
    """The ticks of several files merged in time order (ts_init; file order breaks ties): what a replay emits."""
    per_file = [read_recorded(p, instruments, kinds) for p in paths]
    return list(heapq.merge(*per_file, key=lambda tick: tick.ts_init))


def read_lines(path: Path) -> list[bytes]:
    """The lines of a recording, gzip or plain (sniffed), each checked to be `<ns> <json>` (a trailing newline is fine)."""
    try:
        data = path.read_bytes()
        if data[:2] == b"\x1f\x8b" or path.suffix == ".gz":  # the gzip magic, or a name that promises it
            data = zlib.decompress(data, wbits=31)
    except FileNotFoundError:
        raise ConfigError(f"{path}: recording not found") from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read recording: {exc.strerror}") from None
    except zlib.error as exc:
        raise ConfigError(f"{path}: not a complete gzip file ({exc})") from None
    bad = _BAD_LINE.search(b"\n" + data)
    if bad is not None:
        line_no = data.count(b"\n", 0, bad.start()) + 1
        raise ConfigError(f"{path}: line {line_no}: expected '<ns> <json>'")
    lines = data.split(b"\n")
    return lines[:-1] if not lines[-1] else lines


def stream_rows(lines: list[bytes], marker: bytes) -> list[int]:
    """Indexes of the lines whose stream name ends with `marker` (`@bookTicker"`, `@trade"`)."""
    return [i for i, line in enumerate(lines) if line.find(marker, 0, _STREAM_NAME_END) > 0]


def quote_ticks(
    path: Path, lines: list[bytes], rows: list[int], instruments: Mapping[str, Instrument]
) -> tuple[list[int], list[QuoteTick]]:
    """QuoteTicks of the bookTicker `rows` whose symbol has an instrument, with the rows they came from."""
    msgs = decode_rows(path, lines, rows, _QUOTE_ROWS, "a bookTicker message {s, b, B, a, A}")
    out_rows: list[int] = []
    out_ticks: list[QuoteTick] = []
    for inst, picked_rows, picked, data, lines_of in _per_instrument(msgs, rows, lines, instruments):
        iid, pp, sp = inst.id, inst.price_precision, inst.size_precision
        bid = _raw_column(lines_of, "b", [d.b for d in data], pp)
        ask = _raw_column(lines_of, "a", [d.a for d in data], pp)
        bid_size = _raw_column(lines_of, "B", [d.B for d in data], sp)
        ask_size = _raw_column(lines_of, "A", [d.A for d in data], sp)
        out_rows += picked_rows
        out_ticks += [
            QuoteTick.from_raw(iid, b, a, pp, pp, bs, as_, sp, sp, t, t)
            for b, a, bs, as_, (t, _) in zip(bid, ask, bid_size, ask_size, picked, strict=True)
        ]
    return out_rows, out_ticks


def trade_ticks(
    path: Path, lines: list[bytes], rows: list[int], instruments: Mapping[str, Instrument]
) -> tuple[list[int], list[TradeTick]]:
    """TradeTicks of the trade `rows` whose symbol has an instrument (m=true: buyer is maker, so SELLER hit)."""
    msgs = decode_rows(path, lines, rows, _TRADE_ROWS, "a trade message {s, t, p, q, m}")
    out_rows: list[int] = []
    out_ticks: list[TradeTick] = []
    for inst, picked_rows, picked, data, lines_of in _per_instrument(msgs, rows, lines, instruments):
        iid, pp, sp = inst.id, inst.price_precision, inst.size_precision
        prices = _raw_column(lines_of, "p", [d.p for d in data], pp)
        sizes = _raw_column(lines_of, "q", [d.q for d in data], sp)
        out_rows += picked_rows
        out_ticks += [
            TradeTick.from_raw(
                iid, price, pp, size, sp, AggressorSide.SELLER if d.m else AggressorSide.BUYER, TradeId(str(d.t)), t, t
            )
            for (t, _), d, price, size in zip(picked, data, prices, sizes, strict=True)
        ]
    return out_rows, out_ticks


def _per_instrument(msgs: list, rows: list[int], lines: list[bytes], instruments: Mapping[str, Instrument]):  # noqa: ANN202
    """For each known symbol: its instrument, its rows, its [ns, message] pairs, their data and their lines."""
    for symbol, picks in _rows_by_symbol([m[1].data.s for m in msgs], instruments).items():
        picked_rows = _pick(rows, picks)
        picked = _pick(msgs, picks)
        yield instruments[symbol], picked_rows, picked, [m[1].data for m in picked], [lines[r] for r in picked_rows]


def decode_rows(path: Path, lines: list[bytes], rows: list[int], decoder: msgspec.json.Decoder, what: str) -> list:
    """Decode the chosen lines in one call as a JSON array of [ns, message]; name the first bad line on failure."""
    if not rows:
        return []
    body = b"[[" + b"],[".join(lines[i].replace(b" ", b",", 1) for i in rows) + b"]]"
    try:
        return decoder.decode(body)
    except msgspec.DecodeError:
        for i in rows:
            try:
                decoder.decode(b"[[" + lines[i].replace(b" ", b",", 1) + b"]]")
            except msgspec.DecodeError as exc:
                raise ConfigError(f"{path}: line {i + 1}: expected {what}: {exc}") from None
        raise  # unreachable unless msgspec disagrees with itself


def _rows_by_symbol(symbols: list[str], instruments: Mapping[str, Instrument]) -> dict[str, range | list[int]]:
    """Positions of each known symbol; a file of one symbol (the usual case) gives one range."""
    distinct = set(symbols)
    if len(distinct) == 1:
        return {s: range(len(symbols)) for s in distinct if s in instruments}
    return {s: [i for i, x in enumerate(symbols) if x == s] for s in distinct if s in instruments}


def _pick(items: list, picks: range | list[int]) -> list:
    return items if picks == range(len(items)) else [items[i] for i in picks]


def _in_file_order(parts: list[tuple[list[int], list[Data]]]) -> list[Data]:
    """Ticks of several (rows, ticks) parts in row order."""
    if len(parts) == 1 and parts[0][0] == sorted(parts[0][0]):
        return parts[0][1]
    by_row = sorted(
        ((row, tick) for rows, ticks in parts for row, tick in zip(rows, ticks, strict=True)), key=lambda pair: pair[0]
    )
    return [tick for _, tick in by_row]


@contextmanager
def _gc_paused() -> Iterator[None]:
    """Pause the cyclic GC: reading allocates ~10 objects per line, none cyclic, and each GC pass rescans them all."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def _raw_column(lines: list[bytes], field: str, values: list[float], precision: int) -> list[int]:
    """Values -> Nautilus raw fixed-point ints at `precision`; re-read exactly from `lines` when floats could err."""
    scale = 10 ** (FIXED_PRECISION - precision)
    scaled = np.rint(np.array(values, dtype=np.float64) * 10.0**precision)
    if not len(scaled) or np.abs(scaled).max() < _EXACT_FLOAT_LIMIT:
        return [n * scale for n in scaled.astype(np.int64).tolist()]
    step = Decimal(1).scaleb(-precision)
    texts = [msgspec.json.decode(line.partition(b" ")[2])["data"][field] for line in lines]
    return [int(Decimal(t).quantize(step).scaleb(precision)) * scale for t in texts]


def read_depth(path: Path, lines: list[bytes]) -> tuple[tuple[list[int], list], tuple[list[int], list]]:
    """(rows, decoded) of the recording's depth diffs, and of its REST snapshots."""
    diff_rows = stream_rows(lines, DEPTH_MARKER)
    snap_rows = [i for i, line in enumerate(lines) if line.find(SNAPSHOT_MARKER, 0, 40) > 0]
    return ((diff_rows, decode_rows(path, lines, diff_rows, DEPTH_ROWS, "a depthUpdate message {s, U, u, b, a}")),
            (snap_rows, decode_rows(path, lines, snap_rows, SNAPSHOT_ROWS, "a depth snapshot {lastUpdateId, bids, asks}")))
