"""What a LIVE session writes must be writable before it calls the venue: the drift log, the summary, the lock's folder.

Each problem is one ConfigError (exit 2) naming the path and what is wrong with it (a read-only or blocked folder,
something that is not a regular file, a full disk), raised before any venue call, so nothing is traded that could not
be logged.
"""

from __future__ import annotations

import errno
import os
from pathlib import Path
from typing import TYPE_CHECKING

from nautlive.errors import ConfigError

if TYPE_CHECKING:
    from nautlive.config.profile import VenueProfile

MIN_FREE_BYTES = 1 << 20  # a disk with less than this free fails the first fills: refused at start


def os_problem(exc: OSError) -> str:
    """What an OSError of mkdir or open means to a person, in a few words."""
    if isinstance(exc, FileExistsError | NotADirectoryError):
        blocker = _in_the_way(Path(exc.filename)) if exc.filename else None
        return f"a file is in the way ({blocker} is not a folder)" if blocker else "a file is in the way"
    if exc.errno == errno.EROFS:
        return "read-only file system"
    if isinstance(exc, PermissionError):
        return "not writable (permission denied)"
    if exc.errno == errno.ENOSPC:
        return "no space left on the disk"
    return exc.strerror or type(exc).__name__


def _in_the_way(path: Path) -> Path | None:
    """The first of `path` and its parents that exists and is not a folder."""
    return next((p for p in (path, *path.parents) if p.exists() and not p.is_dir()), None)


def ensure_folder(folder: Path, what: str) -> None:
    """Create `folder` (and its parents) or raise a ConfigError naming it."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(f"{what} {folder}: {os_problem(exc)}") from None
    if not os.access(folder, os.W_OK | os.X_OK):
        raise ConfigError(f"{what} {folder}: not writable (permission denied)")


def check_appendable(path: str | Path, what: str) -> None:
    """The file can be appended to: its folder exists or can be made, it is a regular file (or absent), it opens for
    appending, and its disk has room. A file this check creates is removed again."""
    path = Path(path)
    ensure_folder(path.parent, f"{what} folder")
    if path.exists() and not path.is_file():
        raise ConfigError(f"{what} {path}: not a regular file (the session writes it and reads it back)")
    existed = path.exists()
    try:
        with path.open("ab"):
            pass
    except OSError as exc:
        raise ConfigError(f"{what} {path}: {os_problem(exc)}") from None
    if not existed:
        path.unlink(missing_ok=True)
    stats = os.statvfs(path.parent)
    free = stats.f_bavail * stats.f_frsize
    if free < MIN_FREE_BYTES:
        raise ConfigError(f"{what} {path}: only {free} bytes free on its disk")


def check_session_outputs(drift_log: str | Path, summary: str | Path | None) -> None:
    """LIVE, before any venue call: the drift log and the summary can be written (ConfigError, exit 2, else)."""
    check_appendable(drift_log, "drift log")
    if summary is not None:
        check_appendable(summary, "summary")


def state_lock_dir() -> Path:
    """$XDG_STATE_HOME/nautlive/locks when XDG_STATE_HOME is an absolute path, else ~/.local/state/nautlive/locks."""
    state = os.environ.get("XDG_STATE_HOME", "")
    base = Path(state) if state and Path(state).is_absolute() else Path.home() / ".local" / "state"
    return base / "nautlive" / "locks"


def lock_dir(profile: VenueProfile) -> Path:
    """`live.lock_dir` when set (relative to the current directory), else the per-user state folder."""
    return Path(profile.live.lock_dir) if profile.live.lock_dir else state_lock_dir()
