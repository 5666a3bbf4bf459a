"""Output for people and for scripts: rich tables on a terminal, plain tab-separated lines under cron, JSON on request."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable, Sequence
from decimal import Decimal
from typing import Any


def is_terminal() -> bool:
    return sys.stdout.isatty()


def table(title: str, columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> None:
    """A rich table on a terminal; otherwise one header line and one tab-separated line per row."""
    rows = [[_text(cell) for cell in row] for row in rows]
    if is_terminal():
        from rich.console import Console
        from rich.table import Table

        t = Table(title=title, title_justify="left")
        for column in columns:
            t.add_column(column)
        for row in rows:
            t.add_row(*row)
        Console().print(t)
        return
    print(f"# {title}")
    print("\t".join(columns))
    for row in rows:
        print("\t".join(row))


def line(text: str) -> None:
    print(text, flush=True)


def warn(text: str) -> None:
    print(f"warning: {text}", file=sys.stderr, flush=True)


def emit_json(obj: Any) -> None:
    print(json.dumps(obj, default=_json_default, indent=None))


def _json_default(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value)
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def _text(cell: Any) -> str:
    if cell is None:
        return "-"
    if isinstance(cell, Decimal):
        return format(cell.normalize(), "f")
    return str(cell)
