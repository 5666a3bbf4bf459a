"""Decoding drift-log lines: the fields the report needs, as msgspec Structs, and their ISO-8601 times as numpy.

Lines of every writer version decode with the same Struct: fields the report does not need (qty, fill_px, trade_id,
fee_currency, the fee in its own currency, recovered, ...) are skipped without being built, and fields added by newer
writers have defaults for older lines.
"""

from __future__ import annotations

import functools
import re
import warnings
from operator import attrgetter
from typing import Any, Literal

import msgspec
import numpy as np


class Fill(msgspec.Struct, gc=False):
    """The fields of a drift-log line the report needs; the decoder skips the others without building them."""

    ts: str
    session: str
    mode: str
    venue: str
    instrument: str
    side: str
    notional: float
    drift_bps: float | None  # null when there was no mid at submit
    alert: bool
    # the fee converted to the quote currency at the fill price; absent from lines of writers before fee currencies
    # (whose `fee` has no currency and is therefore not used), null when the writer did not know the fee
    fee_quote: float | None = None
    # the quote's touch at submit; absent from lines of writers before the spread/impact breakdown
    bid_at_submit: float | None = None
    ask_at_submit: float | None = None
    # the parent order of writers since the execution styles: only whether a line has one is used, and any value is
    # taken (an odd one does not make the line malformed)
    parent_order_id: Any = None


# strict=False: quantities and prices may be logged as decimal strings or as numbers.
DECODER = msgspec.json.Decoder(Fill, strict=False)

LABELS = ("venue", "mode", "instrument", "side")  # few distinct values per log (a session id is new each run)
known_labels: dict[str, set[str]] = {name: set() for name in LABELS}  # seen by this process so far


def decode_lines(body: bytes) -> list[Fill]:
    """DECODER.decode_lines, first with a decoder that takes only the labels seen so far: it hands out one str object
    per label instead of a new one per line, which makes both the decode and grouping rows by kind faster. A line with
    a new label (or a bad line) fails it; the chunk is then decoded in general, and its labels are learnt."""
    decoder = known_labels_decoder(tuple(tuple(sorted(known_labels[name])) for name in LABELS))
    if decoder is not None:
        try:
            return decoder.decode_lines(body)
        except msgspec.DecodeError:
            pass
    fills = DECODER.decode_lines(body)
    for name in LABELS:
        known_labels[name].update(map(attrgetter(name), fills))
    return fills


@functools.lru_cache(maxsize=4)
def known_labels_decoder(labels: tuple[tuple[str, ...], ...]) -> msgspec.json.Decoder | None:
    """DECODER with each of LABELS restricted to the given values; None until every one has a value."""
    if not all(labels):
        return None
    types = {name: Literal[values] for name, values in zip(LABELS, labels, strict=True)}
    fields = [
        (f.name, types.get(f.name, f.type)) + (() if f.default is msgspec.NODEFAULT else (f.default,))
        for f in msgspec.structs.fields(Fill)
    ]
    return msgspec.json.Decoder(msgspec.defstruct("_KnownFill", fields, gc=False), strict=False)


# ---------------------------------------------------------------- timestamps


def utc_times(texts: list[str]) -> np.ndarray:
    """ISO-8601 texts as datetime64[us] in UTC; NaT where a text is not a time."""
    uniform = uniform_utc_times(texts)
    if uniform is not None:
        return uniform
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # numpy warns about zone designators but converts them to UTC correctly
        try:
            return np.array(texts, dtype="datetime64[us]")
        except ValueError:
            return np.array([_utc_time(t) for t in texts], dtype="datetime64[us]")


def _utc_time(text: str) -> np.datetime64:
    try:
        return np.datetime64(text, "us")
    except ValueError:
        return np.datetime64("NaT", "us")


_UTC_LAYOUT = re.compile(r"\d{4}-\d\d-\d\d[T ]\d\d:\d\d:\d\d(?:\.(\d{1,9}))?(?:Z|\+00:00)?")


def uniform_utc_times(texts: list[str]) -> np.ndarray | None:
    """Fast path when every text has the first one's layout, YYYY-MM-DDTHH:MM:SS[.fraction][Z|+00:00]: the digits
    are read as a numpy matrix (numpy's own parser costs microseconds per text). None when the texts do not fit."""
    layout = _UTC_LAYOUT.fullmatch(texts[0]) if texts else None
    joined = "".join(texts)
    if layout is None or len(joined) != len(texts[0]) * len(texts) or not joined.isascii():
        return None
    chars = np.frombuffer(joined.encode("ascii"), np.uint8).reshape(len(texts), -1)
    template = chars[0]
    digit = (template >= ord("0")) & (template <= ord("9"))
    digit[layout.end(1) if layout.group(1) else 19 :] = False  # the zone must match exactly: +00:00, not +01:00
    if ((chars[:, digit] - ord("0")) > 9).any() or (chars[:, ~digit] != template[~digit]).any():
        return None

    def number(start: int, stop: int) -> np.ndarray:
        return (chars[:, start:stop] - ord("0")).astype(np.int64) @ 10 ** np.arange(stop - start - 1, -1, -1)

    year, month, day = number(0, 4), number(5, 7), number(8, 10)
    hour, minute, second = number(11, 13), number(14, 16), number(17, 19)
    places = len(layout.group(1) or "")
    micros = number(20, 20 + places) * 10**6 // 10**places
    months = (year - 1970) * 12 + month - 1
    month_start, next_month = (
        m.astype("datetime64[M]").astype("datetime64[D]").astype(np.int64) for m in (months, months + 1)
    )
    valid = (month >= 1) & (month <= 12) & (day >= 1) & (day <= next_month - month_start)
    valid &= (hour < 24) & (minute < 60) & (second < 60)
    if not valid.all():
        return None
    seconds = (month_start + day - 1) * 86400 + hour * 3600 + minute * 60 + second
    return (seconds * 10**6 + micros).astype("datetime64[us]")
