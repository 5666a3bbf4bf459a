"""The signals that stop a session, and the exit code each leaves.

Every signal whose default action would end the process and that can be caught runs the same stop procedure (open
orders cancelled and confirmed, fills logged, a summary): SIGINT exits 130 (interrupted), SIGTERM and SIGHUP (a closed
terminal, a service manager's reload) exit 0 like a requested stop, any other (SIGQUIT, SIGUSR1, SIGUSR2, SIGALRM,
SIGXCPU, ...) exits 1, naming it. A signal the process ignores (nohup's SIGHUP) or that someone else handles (a test
runner's SIGALRM) is left alone; SIGKILL and SIGSTOP cannot be caught, and faults (SIGSEGV, SIGBUS, SIGFPE, SIGILL,
SIGABRT) are not signals to trade on.
"""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Callable

# (signal name, exit code, reason); names absent on this platform are skipped.
REQUESTED = (("SIGINT", 130, "interrupted"), ("SIGTERM", 0, "SIGTERM received"),
             ("SIGHUP", 0, "SIGHUP received (terminal closed or reload asked): stopped like SIGTERM"))
OTHER_FATAL = ("SIGQUIT", "SIGUSR1", "SIGUSR2", "SIGALRM", "SIGVTALRM", "SIGPROF", "SIGXCPU", "SIGPOLL", "SIGPWR",
               "SIGSTKFLT")
ALWAYS = ("SIGINT", "SIGTERM")  # handled even when something else set a handler first, as before


def stop_signals() -> list[tuple[signal.Signals, int, str]]:
    """(signal, exit code, reason) of each signal a session handles on this platform."""
    table = list(REQUESTED) + [(name, 1, f"{name} received: stopped") for name in OTHER_FATAL]
    return [(getattr(signal, name), code, reason) for name, code, reason in table if hasattr(signal, name)]


def install(loop: asyncio.AbstractEventLoop, finish: Callable[[int, str], None]) -> list[signal.Signals]:
    """Route each stop signal to `finish(code, reason)` on `loop`; returns those installed (closing the loop puts
    their default action back)."""
    installed = []
    for sig, code, reason in stop_signals():
        if sig.name not in ALWAYS and signal.getsignal(sig) is not signal.SIG_DFL:
            continue
        loop.add_signal_handler(sig, finish, code, reason)
        installed.append(sig)
    return installed

