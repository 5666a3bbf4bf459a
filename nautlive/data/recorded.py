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

Speed: most of a recording is depth, so the quotes and trades are found and cut out of the unzipped text without
splitting it into lines (the book needs them all), and msgspec decodes them in one call per stream.
"""

from __future__ import annotations

import gc
import heapq
import zlib
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from decimal import Decimal
from functools import partial
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
# A line starts with 1-19 digits (the receive time), a space and the JSON's "{": its first 21 bytes tell.
_HEAD = np.arange(21)
# gzip's last 4 bytes are the unzipped size (mod 2**32); believed up to this ratio, as a cut file ends in anything.
_MAX_GZIP_RATIO = 64
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
# *_LINES decode the lines as they stand, `<ns> <json>` each: a stream ns, message, ns, ... (see _decode_lines);
# *_ROWS decode one line as [[ns, message]] to name a bad one.
_QUOTE_LINES = msgspec.json.Decoder(int | _QuoteMsg, strict=False)
_QUOTE_ROWS = msgspec.json.Decoder(list[tuple[int, _QuoteMsg]], strict=False)
_TRADE_LINES = msgspec.json.Decoder(int | _TradeMsg, strict=False)
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
        text = _Text(path)
        parts = []
        quotes = quote_ticks(path, text, text.rows(_QUOTE_MARKER), instruments) if (
            "quotes" in kinds or "book" in kinds) else ([], [])
        if "book" in kinds:  # before the quotes: a strategy reacting to a quote meets the book that quote set
            lines = text.lines()
            gaps = [i for i, line in enumerate(lines) if line.find(GAP_MARKER, 0, 30) > 0]
            parts.append(recorded_book(quotes, *read_depth(path, lines), instruments, gaps))
        if "quotes" in kinds:
            parts.append(quotes)
        if "trades" in kinds:
            parts.append(trade_ticks(path, text, text.rows(_TRADE_MARKER), instruments))
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
    return _Text(path).lines()


class _Text:
    """A recording's unzipped bytes and where each line starts and ends, every line checked to be `<ns> <json>`."""

    def __init__(self, path: Path) -> None:
        self.data = data = _read_bytes(path)
        self.text = text = np.frombuffer(data, np.uint8)
        newlines = np.flatnonzero(text == ord("\n"))
        starts, ends = np.append(0, newlines + 1), np.append(newlines, len(data))
        if starts[-1] == len(data):  # the last line's newline (or an empty file): no line starts there
            starts, ends = starts[:-1], ends[:-1]
        self.starts, self.ends = starts, ends
        # Past the end np.take repeats the last byte, which cannot complete a "<digits> {" that is not there.
        head = np.take(text, starts[:, None] + _HEAD, mode="clip")
        digits = (head >= ord("0")) & (head <= ord("9"))
        leading = digits.argmin(axis=1)  # the digits a line starts with (0 also when all 21 are)
        at, each = np.minimum(leading, 19), np.arange(len(starts))
        good = (leading >= 1) & (leading <= 19) & (head[each, at] == ord(" ")) & (head[each, at + 1] == ord("{"))
        if not good.all():
            raise ConfigError(f"{path}: line {int(good.argmin()) + 1}: expected '<ns> <json>'")

    def lines(self) -> list[bytes]:
        """Every line."""
        return self.data.split(b"\n")[: len(self.starts)]

    def rows(self, marker: bytes) -> list[int]:
        """stream_rows(self.lines(), marker) without the lines: where `marker` (no newline in it) starts at 1..96."""
        at = np.flatnonzero(self.text == marker[0])
        at = at[at <= len(self.data) - len(marker)]
        row = np.searchsorted(self.starts, at, side="right") - 1
        offset = at - self.starts[row]
        keep = (offset >= 1) & (offset <= _STREAM_NAME_END - len(marker))
        at, row = at[keep], row[keep]
        for i in range(1, len(marker)):
            keep = self.text[at + i] == marker[i]
            at, row = at[keep], row[keep]
        return row[np.diff(row, prepend=-1) != 0].tolist()  # ascending already: a row once

    def cut(self, rows: Sequence[int]) -> list[bytes]:
        """The lines at `rows`."""
        return [self.data[s:e] for s, e in zip(self.starts[rows].tolist(), self.ends[rows].tolist(), strict=True)]

    def joined(self, rows: list[int]) -> bytes:
        """The lines at `rows` (ascending, some) joined by newlines: each run of consecutive lines is one slice."""
        at = np.array(rows, dtype=np.int64)
        first = np.flatnonzero(np.diff(at, prepend=-2) != 1)
        last = np.append(first[1:], len(at)) - 1
        runs = zip(self.starts[at[first]].tolist(), self.ends[at[last]].tolist(), strict=True)
        return b"\n".join([self.data[s:e] for s, e in runs])


def _read_bytes(path: Path) -> bytes:
    """The file's bytes, gunzipped when it is gzip (the magic, or a name that promises it)."""
    try:
        data = path.read_bytes()
        if data[:2] == b"\x1f\x8b" or path.suffix == ".gz":
            size = int.from_bytes(data[-4:], "little")  # told the size, zlib fills one buffer and copies nothing
            if 0 < size <= _MAX_GZIP_RATIO * len(data):
                try:
                    return zlib.decompress(data, wbits=31, bufsize=size)
                except MemoryError:  # a cut file's last 4 bytes: no size after all
                    pass
            data = zlib.decompress(data, wbits=31)
    except FileNotFoundError:
        raise ConfigError(f"{path}: recording not found") from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read recording: {exc.strerror}") from None
    except zlib.error as exc:
        raise ConfigError(f"{path}: not a complete gzip file ({exc})") from None
    return data


def stream_rows(lines: list[bytes], marker: bytes) -> list[int]:
    """Indexes of the lines whose stream name ends with `marker` (`@bookTicker"`, `@trade"`)."""
    return [i for i, line in enumerate(lines) if line.find(marker, 0, _STREAM_NAME_END) > 0]


def quote_ticks(
    path: Path, text: _Text, rows: list[int], instruments: Mapping[str, Instrument]
) -> tuple[list[int], list[QuoteTick]]:
    """QuoteTicks of the bookTicker `rows` whose symbol has an instrument, with the rows they came from."""
    stamps, msgs = _decode_lines(path, text, rows, _QUOTE_LINES, _QUOTE_ROWS, "a bookTicker message {s, b, B, a, A}")
    out_rows: list[int] = []
    out_ticks: list[QuoteTick] = []
    for inst, picked_rows, ns, data, lines_of in _per_instrument(stamps, msgs, rows, text, instruments):
        iid, pp, sp = inst.id, inst.price_precision, inst.size_precision
        bid = _raw_column(lines_of, "b", [d.b for d in data], pp)
        ask = _raw_column(lines_of, "a", [d.a for d in data], pp)
        bid_size = _raw_column(lines_of, "B", [d.B for d in data], sp)
        ask_size = _raw_column(lines_of, "A", [d.A for d in data], sp)
        out_rows += picked_rows
        out_ticks += [
            QuoteTick.from_raw(iid, b, a, pp, pp, bs, as_, sp, sp, t, t)
            for b, a, bs, as_, t in zip(bid, ask, bid_size, ask_size, ns, strict=True)
        ]
    return out_rows, out_ticks


def trade_ticks(
    path: Path, text: _Text, rows: list[int], instruments: Mapping[str, Instrument]
) -> tuple[list[int], list[TradeTick]]:
    """TradeTicks of the trade `rows` whose symbol has an instrument (m=true: buyer is maker, so SELLER hit)."""
    stamps, msgs = _decode_lines(path, text, rows, _TRADE_LINES, _TRADE_ROWS, "a trade message {s, t, p, q, m}")
    out_rows: list[int] = []
    out_ticks: list[TradeTick] = []
    for inst, picked_rows, ns, data, lines_of in _per_instrument(stamps, msgs, rows, text, instruments):
        iid, pp, sp = inst.id, inst.price_precision, inst.size_precision
        prices = _raw_column(lines_of, "p", [d.p for d in data], pp)
        sizes = _raw_column(lines_of, "q", [d.q for d in data], sp)
        out_rows += picked_rows
        out_ticks += [
            TradeTick.from_raw(
                iid, price, pp, size, sp, AggressorSide.SELLER if d.m else AggressorSide.BUYER, TradeId(str(d.t)), t, t
            )
            for t, d, price, size in zip(ns, data, prices, sizes, strict=True)
        ]
    return out_rows, out_ticks


def _per_instrument(stamps: list[int], msgs: list, rows: list[int], text: _Text, instruments: Mapping[str, Instrument]):  # noqa: ANN202
    """For each known symbol: its instrument, its rows, their ns and message data, and how to get their lines."""
    data = [m.data for m in msgs]
    for symbol, picks in _rows_by_symbol([d.s for d in data], instruments).items():
        picked_rows = _pick(rows, picks)
        yield instruments[symbol], picked_rows, _pick(stamps, picks), _pick(data, picks), partial(text.cut, picked_rows)


def _decode_lines(
    path: Path, text: _Text, rows: list[int], lines: msgspec.json.Decoder, one: msgspec.json.Decoder, what: str
) -> tuple[list[int], list]:
    """(ns, message) of the chosen lines, decoded in one call; the first bad line named on failure.

    A good line is exactly two JSON values, its ns and its message (one cannot run on into the next line, which
    starts "<digits> {"), so 2 values per row means every row was [ns, message].
    """
    if not rows:
        return [], []
    try:
        values = lines.decode_lines(text.joined(rows))
        if len(values) == 2 * len(rows):
            return values[0::2], values[1::2]
    except msgspec.DecodeError:
        pass
    raise _bad_line(path, text.cut(rows), rows, one, what) from None


def decode_rows(path: Path, lines: list[bytes], rows: list[int], decoder: msgspec.json.Decoder, what: str) -> list:
    """Decode the chosen lines in one call as a JSON array of [ns, message]; name the first bad line on failure."""
    if not rows:
        return []
    body = b"[[" + b"],[".join(lines[i].replace(b" ", b",", 1) for i in rows) + b"]]"
    try:
        return decoder.decode(body)
    except msgspec.DecodeError:
        raise _bad_line(path, [lines[i] for i in rows], rows, decoder, what) from None


def _bad_line(path: Path, lines: list[bytes], rows: list[int], decoder: msgspec.json.Decoder, what: str) -> Exception:
    """The error naming the first of `lines` (at `rows`) that `decoder` refuses as [[ns, message]]."""
    for i, line in zip(rows, lines, strict=True):
        try:
            decoder.decode(b"[[" + line.replace(b" ", b",", 1) + b"]]")
        except msgspec.DecodeError as exc:
            return ConfigError(f"{path}: line {i + 1}: expected {what}: {exc}")
    return AssertionError(f"{path}: msgspec refused these lines together but accepts each alone")


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


def _raw_column(lines: Callable[[], list[bytes]], field: str, values: list[float], precision: int) -> list[int]:
    """Values -> Nautilus raw fixed-point ints at `precision`; re-read exactly from `lines()` when floats could err."""
    scale = 10 ** (FIXED_PRECISION - precision)
    scaled = np.rint(np.array(values, dtype=np.float64) * 10.0**precision)
    if not len(scaled) or np.abs(scaled).max() < _EXACT_FLOAT_LIMIT:
        return [n * scale for n in scaled.astype(np.int64).tolist()]
    step = Decimal(1).scaleb(-precision)
    texts = [msgspec.json.decode(line.partition(b" ")[2])["data"][field] for line in lines()]
    return [int(Decimal(t).quantize(step).scaleb(precision)) * scale for t in texts]


def read_depth(path: Path, lines: list[bytes]) -> tuple[tuple[list[int], list], tuple[list[int], list]]:
    """(rows, decoded) of the recording's depth diffs, and of its REST snapshots."""
    diff_rows = stream_rows(lines, DEPTH_MARKER)
    snap_rows = [i for i, line in enumerate(lines) if line.find(SNAPSHOT_MARKER, 0, 40) > 0]
    return ((diff_rows, decode_rows(path, lines, diff_rows, DEPTH_ROWS, "a depthUpdate message {s, U, u, b, a}")),
            (snap_rows, decode_rows(path, lines, snap_rows, SNAPSHOT_ROWS, "a depth snapshot {lastUpdateId, bids, asks}")))
