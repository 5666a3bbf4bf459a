"""`reconcile.adopt: relaxed`: write the venue's relaxations into the catalog file, safely.

Under a lock on `<catalog>.lock` (fcntl.flock, so two sessions or commands adopting at once take turns) the catalog is
read again, the relaxed rows computed on what it holds now, the previous file kept as `<catalog>.bak` and the new one
renamed into place: a reader sees the old catalog or the new one, never half of one, and no adopter loses another's
change. A BLOCKING row is never adopted (reconcile.relaxed_catalog decides what is).
"""

from __future__ import annotations

import contextlib
import sys
import time
from collections.abc import Iterator, Mapping
from pathlib import Path

from nautlive.catalog.reconcile import Mismatch, Severity, relaxed_catalog
from nautlive.catalog.specs import (
    ExecutionMetadataCatalog,
    InstrumentSpec,
    load_catalog,
    save_catalog,
    write_atomically,
)
from nautlive.errors import ConfigError, SafetyRefusal

LOCK_TIMEOUT = 10.0


def adopt_relaxed(
    path: str | Path,
    venue_specs: Mapping[str, InstrumentSpec],
    overrides: Mapping[str, Severity] | None = None,
    timeout: float = LOCK_TIMEOUT,
) -> tuple[ExecutionMetadataCatalog, list[Mismatch]]:
    """(the catalog as it now is on disk, the rows adopted into it); the file is left alone when nothing relaxed."""
    path = Path(path)
    with catalog_lock(path, timeout):
        current = load_catalog(path)
        updated, taken = relaxed_catalog(current, venue_specs, overrides)
        if taken:
            try:
                write_atomically(backup_path(path), path.read_bytes())
                save_catalog(updated, path)
            except OSError as exc:
                raise ConfigError(f"{path}: cannot write the adopted catalog: {exc.strerror or exc}: nothing "
                                  "adopted") from None
    return updated, taken


def adopt_into_session(path: str, venue_specs: Mapping[str, InstrumentSpec], overrides: Mapping[str, Severity],
                       specs: dict[str, InstrumentSpec], log) -> list[Mismatch]:  # noqa: ANN001 - Nautilus's Logger
    """A session's startup: adopt into the catalog file, trade on the catalog as it now is (`specs`, the session's
    records by instrument id, updated in place), and say each adopted field on stderr and in the session's log."""
    updated, taken = adopt_relaxed(path, venue_specs, overrides)
    now = updated.by_id()
    specs.update({iid: now[iid] for iid in specs if iid in now})
    for row in taken:
        log.info(adopted_line(row, path))
        print(adopted_line(row, path), file=sys.stderr, flush=True)
    return taken


def backup_path(path: Path) -> Path:
    return path.with_name(path.name + ".bak")


def adopted_line(row: Mismatch, path: str | Path) -> str:
    """One line per adopted field, for stderr and the session's log."""
    return f"adopted {row.instrument} {row.field}: {row.catalog} -> {row.venue} into {path}"


@contextlib.contextmanager
def catalog_lock(path: Path, timeout: float) -> Iterator[None]:
    """An exclusive flock on `<catalog>.lock`, waited for up to `timeout` seconds (then exit 4, nothing adopted)."""
    import fcntl

    lock_path = path.with_name(path.name + ".lock")
    try:
        file = lock_path.open("a")
    except OSError as exc:
        raise ConfigError(f"{lock_path}: cannot open the catalog's lock file: {exc.strerror}: nothing adopted") from None
    with file:
        deadline = time.monotonic() + timeout
        while True:
            try:
                fcntl.flock(file.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise SafetyRefusal(f"{path}: another session has been adopting into this catalog for "
                                        f"{timeout:g} s ({lock_path} locked): nothing adopted") from None
                time.sleep(0.05)
        try:
            yield
        finally:
            fcntl.flock(file.fileno(), fcntl.LOCK_UN)
