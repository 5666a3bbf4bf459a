"""Safety rails of a live session: arming, the kill switch, and one session per profile."""

from __future__ import annotations

import fcntl
import os
from pathlib import Path
from typing import IO

from nautlive.errors import SafetyRefusal

ARM_ENV = "NAUTLIVE_ARM"


def require_armed(arm: bool) -> None:
    """Live trading needs --arm (or NAUTLIVE_ARM=1 for cron): a forgotten flag never sends real orders."""
    if not (arm or os.environ.get(ARM_ENV) == "1"):
        raise SafetyRefusal(f"live trading is not armed: pass --arm (or set {ARM_ENV}=1) to send real orders")


def refuse_if_killed(kill_switch: str | Path) -> None:
    if Path(kill_switch).exists():
        raise SafetyRefusal(f"kill switch {kill_switch} is present: remove it to trade")


class ProfileLock:
    """An exclusive lock per profile (flock: released by the OS if the process dies)."""

    def __init__(self, lock_dir: str | Path, profile_name: str) -> None:
        self.path = Path(lock_dir) / f"{profile_name}.lock"
        self._file: IO[str] | None = None

    def __enter__(self) -> ProfileLock:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        handle = self.path.open("a+")
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip() or "another process"
            handle.close()
            raise SafetyRefusal(f"another session holds {self.path} ({holder}): one session per profile") from None
        handle.truncate(0)
        handle.write(f"pid {os.getpid()}\n")
        handle.flush()
        self._file = handle
        return self

    def __exit__(self, *exc: object) -> None:
        if self._file is not None:
            fcntl.flock(self._file, fcntl.LOCK_UN)
            self._file.close()
            self._file = None
