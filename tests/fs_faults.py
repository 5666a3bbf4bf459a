"""Real file-system faults for a session subprocess: a read-only folder (enforced even for root) and a disk that fills
up mid-session (a file size limit), both done by the kernel, not by a mock.
"""

from __future__ import annotations

import ctypes
import os
import resource
from collections.abc import Callable

PR_CAPBSET_DROP = 24
# CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH, CAP_FOWNER: what lets root write where the mode bits say no.
ROOT_OVERRIDES = (1, 2, 3)


def without_root_override() -> None:
    """preexec_fn: the child (and what it runs) obeys file modes even as root, as any other user does."""
    if os.geteuid() != 0:
        return
    libc = ctypes.CDLL(None, use_errno=True)
    for cap in ROOT_OVERRIDES:
        if libc.prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) != 0:
            raise OSError(ctypes.get_errno(), "prctl(PR_CAPBSET_DROP)")


def file_size_limit(max_bytes: int) -> Callable[[], None]:
    """preexec_fn: no file the child writes grows past `max_bytes` (a write beyond fails with EFBIG, as on a full
    disk; Python ignores SIGXFSZ). Pipes are not files: give the child pipes for stdout and stderr."""

    def limit() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (max_bytes, max_bytes))

    return limit
