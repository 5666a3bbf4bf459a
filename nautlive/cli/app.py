"""The `nautlive` command line: parse options, call one library function, render, map errors to exit codes.

Nothing heavy is imported at module load: `nautlive --help` must not import nautilus_trader. The commands live one
module per room (data, research, sessions, venues); importing them registers them on `app` (apps.py).
"""

from __future__ import annotations

import os
import sys

from nautlive.cli import data, research, sessions, venues  # noqa: F401 - registers the commands
from nautlive.cli.apps import app
from nautlive.cli.options import _load_profile, _state, require_ib_extra  # noqa: F401 - the names tests reach


def main() -> None:
    try:
        app(prog_name="nautlive")
        code = 0
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    if _state["fast_exit"]:
        # Commands that never start a node skip the interpreter's teardown of Nautilus's modules (~0.2 s of a
        # 1.5 s reconcile): everything they write is flushed here and no Nautilus logger is running.
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    sys.exit(code)
