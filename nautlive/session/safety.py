"""Safety rails of a live session: arming, the kill switch, and one session per venue account."""

from __future__ import annotations

import fcntl
import hashlib
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import IO, TYPE_CHECKING

from nautlive.config.home import ARM_ENV
from nautlive.core.writable import ensure_folder, lock_dir, os_problem, state_lock_dir  # noqa: F401 - where the locks live
from nautlive.errors import ConfigError, SafetyRefusal
from nautlive.venues import venue_for

if TYPE_CHECKING:
    from nautlive.config.profile import VenueProfile

ARM_VALUES = ("1", "true", "yes")


def require_armed(arm: bool) -> None:
    """Live trading needs --arm (or NAUTLIVE_ARM=1 for cron): a forgotten flag never sends real orders."""
    if not (arm or arm_from_env()):
        raise SafetyRefusal(f"live trading is not armed: pass --arm (or set {ARM_ENV}=1, true or yes) to send real "
                            "orders")


def arm_from_env() -> bool:
    """NAUTLIVE_ARM: 1/true/yes (any case) arms; empty or unset does not; anything else is refused, not ignored."""
    value = os.environ.get(ARM_ENV, "").strip()
    if not value:
        return False
    if value.lower() in ARM_VALUES:
        return True
    raise SafetyRefusal(f"{ARM_ENV}={value!r} is not understood: set it to 1, true or yes to arm live trading, "
                        "or leave it unset")




def refuse_if_killed(kill_switch: str | Path) -> None:
    if Path(kill_switch).exists():
        raise SafetyRefusal(f"kill switch {kill_switch} is present: remove it to trade")


def account_key(profile: VenueProfile) -> str:
    """What identifies the account a profile trades; it holds secrets, so only its hash is ever written anywhere.

    binance: `binance|<REST endpoint>|<sha256 of the API key, first 16 hex>`; ibkr: `ibkr|host|port|account_id`.
    """
    return venue_for(profile).account_key(profile)


class AccountLock:
    """One session per venue account, whatever profile file or folder it starts from.

    An exclusive flock on `<lock dir>/account-<hash of account_key>.lock` (released by the OS when the holder dies),
    the file holding the holder's pid and profile path while it runs (emptied on a clean exit, so a pid found there
    by the next session is a stale lock: taken over, and said so). The lock dir is `live.lock_dir` when set (relative
    to the current directory), else the per-user state folder (`state_lock_dir`); a folder that cannot be written is a
    ConfigError (exit 2) naming it. Neither the file name nor a message holds the key, the account id or any other
    secret.
    """

    def __init__(self, profile: VenueProfile, say: Callable[[str], None] | None = None) -> None:
        digest = hashlib.sha256(account_key(profile).encode()).hexdigest()[:32]
        self.path = lock_dir(profile) / f"account-{digest}.lock"
        self.profile_path = profile.source or profile.name
        self.adapter = profile.adapter
        self._say = say or _stderr
        self._file: IO[str] | None = None

    def __enter__(self) -> AccountLock:
        handle = self._open()
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = _describe_holder(handle.read())
            handle.close()
            raise SafetyRefusal(
                f"another session ({holder}) trades this {self.adapter} account, lock {self.path}: "
                "one session per account"
            ) from None
        except BaseException:
            handle.close()
            raise
        handle.seek(0)
        stale = _stale_holder(handle.read())
        if stale:
            self._say(f"taking over the stale lock {self.path}: its holder ({stale}) ended without releasing it")
        handle.seek(0)
        handle.truncate(0)
        handle.write(f"pid {os.getpid()}\nprofile {self.profile_path}\n")
        handle.flush()
        self._file = handle
        return self

    def _open(self) -> IO[str]:
        """The lock file, opened for reading and writing; its folder blocked or read-only is a ConfigError."""
        ensure_folder(self.path.parent, "state folder")
        try:
            return self.path.open("a+")
        except OSError as exc:
            raise ConfigError(f"lock {self.path}: {os_problem(exc)}") from None

    def __exit__(self, *exc: object) -> None:
        if self._file is not None:
            self._file.truncate(0)  # a clean end: the next session finds no holder to report
            self._file.flush()
            fcntl.flock(self._file, fcntl.LOCK_UN)
            self._file.close()
            self._file = None


def _stderr(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def _fields(text: str) -> dict[str, str]:
    return dict(line.split(" ", 1) for line in text.splitlines() if " " in line)


def _describe_holder(text: str) -> str:
    """"pid 123, profile /x/binance.yaml" from the lock file's lines (or "pid unknown" if it was not written yet)."""
    fields = _fields(text)
    described = f"pid {fields.get('pid', 'unknown')}"
    return f"{described}, profile {fields['profile']}" if "profile" in fields else described


def _stale_holder(text: str) -> str:
    """The holder a lock file still names although its flock is free ("pid 123 (no longer running), profile ..."),
    or "" when it names none (a first start, or the last session ended cleanly)."""
    fields = _fields(text)
    pid = fields.get("pid", "")
    if not pid.isdigit():
        return ""
    state = "still running, not holding it" if int(pid) != os.getpid() and _alive(int(pid)) else "no longer running"
    return f"pid {pid} ({state})" + (f", profile {fields['profile']}" if "profile" in fields else "")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
