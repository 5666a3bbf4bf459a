"""The report's cache of decoded logs, so that a re-run decodes only the bytes appended since.

One folder per log file under the per-user cache folder ($XDG_CACHE_HOME or ~/.cache, then nautlive/drift-report), named
by the file's device and inode: a log renamed by logrotate (drift.log -> drift.log.1) keeps its cache. It holds one raw
column file per numeric column (PIECE_DTYPES), appended to in place, and meta.json: the rows and kinds, whether a line
names a parent order, the byte offset up to which lines were decoded (`end`, always just after a newline: a line still
being written is read again next time) and a fingerprint of the file that notices a replaced, truncated or rewritten log
(size, mtime, hashes of the first KB and of the KB before `end`). A gzip file (a rotated log) is cached whole and must
be unchanged to be used. Anything unexpected (unreadable, unwritable, locked by another run) means no cache: the report
reads the log itself, so the cache can only make it faster.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import mmap
import os
import shutil
import time
import uuid
from pathlib import Path

import msgspec
import numpy as np

from nautlive.report.columns import PIECE_DTYPES, Codes, Piece

VERSION = 2  # 2: meta.json says whether a line names a parent order
MIN_BYTES = 1 << 20  # a smaller log decodes faster than a cache is written: not cached
PROBE_BYTES = 1024
UNUSED_DAYS = 30  # an entry not read for this long belongs to a log deleted by rotation: removed


class Meta(msgspec.Struct):
    version: int
    generation: str  # new on each rebuild: a reader that loaded columns during a rebuild notices
    gz: bool
    end: int  # bytes decoded (for gzip: the file's size)
    size: int
    mtime_ns: int
    head: str
    tail: str
    rows: int
    malformed: int
    kinds: list[tuple[str, ...]]
    names_parents: bool  # a line decoded so far names a parent order


def root() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "nautlive" / "drift-report"


def folder(stat: os.stat_result) -> Path:
    return root() / f"{stat.st_dev}-{stat.st_ino}"


def load(path: Path, stat: os.stat_result, gz: bool) -> Meta | None:
    """The cache's description of a log when it still fits the file (None: decode the log from its start)."""
    meta = _read_meta(folder(stat))
    return meta if meta is not None and meta.gz == gz and _still_valid(path, stat, meta) else None


def columns(stat: os.stat_result, meta: Meta, source: int) -> Piece | None:
    """The cached fills described by `meta` (None if the cache changed under us: decode the log instead)."""
    where = folder(stat)
    arrays = {name: _load_column(where / name, dtype, meta.rows) for name, dtype in PIECE_DTYPES.items()}
    again = _read_meta(where)
    if any(a is None for a in arrays.values()) or again is None or again.generation != meta.generation:
        return None  # rebuilt or removed while we read: the columns may be mixed
    with contextlib.suppress(OSError):
        os.utime(where / "meta.json")  # used: not pruned
    return Piece(source, meta.kinds, malformed=meta.malformed, names_parents=meta.names_parents, **arrays)


def save(path: Path, stat: os.stat_result, gz: bool, meta: Meta | None, new: list[Piece], end: int) -> Meta | None:
    """Append the `new` pieces' fills (decoded up to `end`) to the cache `meta` describes (None: build it afresh);
    the cache's new description, or None when the cache folder cannot be written or another run holds it."""
    where = folder(stat)
    try:
        where.mkdir(parents=True, exist_ok=True)
        with open(where / "lock", "wb") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            saved = _write(where, path, stat, gz, meta, new, end)
        _prune(where)
    except OSError:
        return None
    return saved


def _write(where: Path, path: Path, stat: os.stat_result, gz: bool, meta: Meta | None, new: list[Piece],
           end: int) -> Meta | None:
    old = _read_meta(where) if meta is not None else None
    if meta is not None and (old is None or old.generation != meta.generation or old.rows != meta.rows):
        return None  # another run changed it since we read it
    if old is None:
        (where / "meta.json").unlink(missing_ok=True)  # no reader takes half-written columns for a cache
    kinds = Codes()
    kinds.update({k: i for i, k in enumerate(old.kinds if old is not None else [])})
    codes = [kinds.of(p) for p in new]
    rows = old.rows if old is not None else 0
    for name, dtype in PIECE_DTYPES.items():
        values = codes if name == "kind" else [getattr(p, name) for p in new]
        # a rebuild writes new files, so that a run still mapping the old ones keeps reading them
        target = where / name if old is not None else where / f"{name}.{os.getpid()}"
        with open(target, "r+b" if old is not None else "wb") as f:
            f.truncate(rows * dtype.itemsize)  # a run that died between columns and meta left rows past `rows`
            f.seek(0, os.SEEK_END)
            for v in values:
                f.write(np.ascontiguousarray(v, dtype).view(np.uint8))  # its bytes: cheaper than tofile's stdio
        if old is None:
            os.replace(target, where / name)
    head, tail = _probes(path, end)
    saved = Meta(
        version=VERSION,
        generation=old.generation if old is not None else uuid.uuid4().hex,
        gz=gz, end=end, size=stat.st_size, mtime_ns=stat.st_mtime_ns, head=head, tail=tail,
        rows=rows + sum(len(p) for p in new),
        malformed=(old.malformed if old is not None else 0) + sum(p.malformed for p in new),
        kinds=list(kinds),
        names_parents=(old is not None and old.names_parents) or any(p.names_parents for p in new),
    )
    temporary = where / f"meta.{os.getpid()}.json"
    temporary.write_bytes(msgspec.json.encode(saved))
    os.replace(temporary, where / "meta.json")
    return saved


def _read_meta(where: Path) -> Meta | None:
    try:
        meta = msgspec.json.decode((where / "meta.json").read_bytes(), type=Meta)
    except (OSError, msgspec.DecodeError):
        return None
    meta.kinds = [tuple(k) for k in meta.kinds]
    return meta if meta.version == VERSION else None


def _still_valid(path: Path, stat: os.stat_result, meta: Meta) -> bool:
    """The file still starts with the bytes the cache was built from: for gzip unchanged, else at most appended to."""
    if meta.gz and (stat.st_size, stat.st_mtime_ns) != (meta.size, meta.mtime_ns):
        return False
    if stat.st_size < meta.end:  # truncated (copytruncate rotation, or rewritten shorter)
        return False
    return _probes(path, meta.end) == (meta.head, meta.tail)


def _probes(path: Path, end: int) -> tuple[str, str]:
    """Hashes of the first KB and of the KB before `end` of the file (its compressed bytes for gzip)."""
    with open(path, "rb") as f:
        head = f.read(min(PROBE_BYTES, end))
        f.seek(max(0, end - PROBE_BYTES))
        tail = f.read(min(PROBE_BYTES, end))
    return hashlib.sha1(head).hexdigest(), hashlib.sha1(tail).hexdigest()


def _load_column(path: Path, dtype: np.dtype, rows: int) -> np.ndarray | None:
    """The first `rows` values of a column file, mapped read-only (not copied); None when the file is shorter."""
    if rows == 0:
        return np.empty(0, dtype)
    try:
        with open(path, "rb") as f:
            mapped = mmap.mmap(f.fileno(), rows * dtype.itemsize, access=mmap.ACCESS_READ)
    except (OSError, ValueError):  # ValueError: the file is shorter than the mapping asked for
        return None
    return np.frombuffer(mapped, dtype)


def _prune(keep: Path) -> None:
    """Remove the entries of logs not reported on for UNUSED_DAYS (rotated away and deleted, most likely)."""
    limit = time.time() - UNUSED_DAYS * 86400
    for entry in keep.parent.iterdir():
        with contextlib.suppress(OSError):
            if entry != keep and (entry / "meta.json").stat().st_mtime < limit:
                shutil.rmtree(entry)
