"""How the reader's worker processes hand their decoded columns back: written into memory shared with the parent
(one slot per byte range, mapped before the fork), not pickled through a pipe, which copies every column four times
(pickle, pipe out, pipe in, unpickle) and costs the parent about a tenth of a second per million fills.

A slot holds at most the rows its range can hold: one per MIN_LINE_BYTES bytes, as no line that decodes to a fill is
that short (the shortest is about 100 bytes). The mapping reserves no memory (pages exist once written). A piece that
does not fit (a gzip range, whose decompressed size is not known in advance) is returned whole, pickled, as before,
and so is every piece when the mapping cannot be made.
"""

from __future__ import annotations

import mmap
from collections.abc import Callable, Sequence
from itertools import accumulate

import numpy as np

from nautlive.report.columns import PIECE_DTYPES, Piece

MIN_LINE_BYTES = 64
ROW_BYTES = sum(dtype.itemsize for dtype in PIECE_DTYPES.values())


class Stored(tuple):
    """What a worker returns for a piece written into its slot: (rows, source, kinds, malformed, names_parents)."""


class Slots:
    """One slot per byte range in an anonymous shared mapping: each column's values one after another."""

    def __init__(self, sizes: Sequence[int | None]) -> None:
        """`sizes`: each range's bytes (None: no slot, the piece comes back pickled)."""
        self.capacity = [0 if size is None else -(-(size // MIN_LINE_BYTES + 1) // 8) * 8 for size in sizes]
        self.start = list(accumulate((c * ROW_BYTES for c in self.capacity), initial=0))
        # shared: the forked workers write into it; no reserve: only the pages written count
        flags = mmap.MAP_SHARED | mmap.MAP_ANONYMOUS | getattr(mmap, "MAP_NORESERVE", 0)
        self.buffer = mmap.mmap(-1, max(1, self.start[-1]), flags=flags)

    def column(self, slot: int, name: str, rows: int) -> np.ndarray:
        offset = self.start[slot]
        for other, dtype in PIECE_DTYPES.items():  # 8-row capacities keep every column 8-byte aligned
            if other == name:
                return np.frombuffer(self.buffer, dtype, rows, offset)
            offset += self.capacity[slot] * dtype.itemsize
        raise KeyError(name)

    def store(self, slot: int, piece: Piece) -> Piece | Stored:
        """In a worker: the piece's columns into its slot, and what the parent needs besides (or the piece)."""
        rows = len(piece)
        if rows > self.capacity[slot]:
            return piece
        for name in PIECE_DTYPES:
            self.column(slot, name, rows)[:] = getattr(piece, name)
        return Stored((rows, piece.source, piece.kinds, piece.malformed, piece.names_parents))

    def piece(self, slot: int, result: Piece | Stored) -> Piece:
        """In the parent: the piece a worker returned, its columns read in place from the slot."""
        if not isinstance(result, Stored):
            return result
        rows, source, kinds, malformed, names_parents = result
        columns = {name: self.column(slot, name, rows) for name in PIECE_DTYPES}
        return Piece(source, kinds, malformed=malformed, names_parents=names_parents, **columns)


_slots: Slots | None = None  # the parent's, inherited by the forked workers
_decode: Callable | None = None


def _work(job: tuple[int, object]) -> Piece | Stored:
    slot, task = job
    assert _slots is not None and _decode is not None
    return _slots.store(slot, _decode(task))


def map_into_slots(pool_map: Callable, decode: Callable, tasks: Sequence, sizes: Sequence[int | None]) -> list[Piece]:
    """`decode` of every task in the workers `pool_map` reaches (created by the caller after this has set up the
    shared slots, hence a callable that forks), each piece's columns back through its slot."""
    global _slots, _decode
    try:
        _slots = Slots(sizes)
    except (OSError, OverflowError):  # no room for the mapping (a huge log): every piece comes back pickled
        _slots = Slots([None] * len(sizes))
    _decode = decode
    try:
        results = pool_map(_work, list(enumerate(tasks)))
        return [_slots.piece(slot, result) for slot, result in enumerate(results)]
    finally:
        _slots = _decode = None
