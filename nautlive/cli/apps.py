"""The Typer apps of `nautlive` and its groups, the order of `nautlive --help`, and the root options."""

from __future__ import annotations

import sys
import traceback
from pathlib import Path
from typing import Annotated

import typer
from typer.core import TyperGroup

from nautlive import __version__
from nautlive.cli.options import _state
from nautlive.errors import NautliveError

PLACEHOLDERS = {
    "venue": "NAME", "name": "NAME", "home": "DIR", "folder": "DIR", "data_catalog": "DIR",
    "since": "ISO", "until": "ISO", "duration": "SECONDS", "speed": "X", "tolerance": "X", "seed": "N",
    "port": "PORT", "control_port": "PORT", "bar": "INTERVAL", "feed": "FEED", "symbols": "LIST",
    "balances": "LIST", "host": "HOST", "account": "ID", "instrument": "ID", "session": "ID", "venue_id": "VENUE",
    "mode": "MODE", "log_level": "LEVEL", "fail_above": "BPS",
}


def placeholder(param) -> str | None:  # noqa: ANN001 - a click Parameter
    """The metavar a parameter shows: its PLACEHOLDERS word, PATH for a path, else its name in capitals."""
    if param.metavar is not None or getattr(param, "is_flag", False) or param.name is None:
        return param.metavar
    word = PLACEHOLDERS.get(param.name) or ("PATH" if param.type.name == "path" else param.name.upper())
    return f"[{word}]" if param.param_type_name == "argument" and not param.required else word


def _set_placeholders(command) -> None:  # noqa: ANN001 - a click Command
    for param in command.params:
        param.metavar = placeholder(param)
    for sub in getattr(command, "commands", {}).values():
        _set_placeholders(sub)


class _Group(TyperGroup):
    """Turns a NautliveError into one line on stderr and its exit code; Ctrl-C into 130."""

    def invoke(self, ctx):  # noqa: ANN001 - click's signature
        _set_placeholders(self)  # before a sub-command parses its --help
        try:
            return super().invoke(ctx)
        except NautliveError as exc:
            from nautlive.errors import scrub  # no secret a profile interpolated is ever echoed

            if _state["debug"]:
                print(scrub(traceback.format_exc()), file=sys.stderr, end="")
            print(f"error: {scrub(str(exc))}", file=sys.stderr, flush=True)
            raise typer.Exit(exc.exit_code) from None
        except KeyboardInterrupt:
            print("interrupted", file=sys.stderr, flush=True)
            raise typer.Exit(130) from None


def _typer(help_text: str) -> typer.Typer:
    # Rich help on a terminal; plain help in a pipe, which also spares scripts the 0.15 s rich import.
    return typer.Typer(
        cls=_Group,
        help=help_text,
        no_args_is_help=True,
        add_completion=False,
        pretty_exceptions_enable=False,
        rich_markup_mode="rich" if sys.stdout.isatty() else None,
    )


app = _typer(
    "Run one target-weight rebalancing strategy on NautilusTrader: backtest, shadow (paper) and live, "
    "with the same logic.\n\n"
    "Paths: the working folder HOME is --home DIR, else $NAUTLIVE_HOME, else the current folder; profiles are in "
    "HOME/profiles; paths inside a profile resolve against the home; paths on the command line against the "
    "current folder. `nautlive init DIR` creates a working folder.\n\n"
    "Exit codes: 0 ok · 1 runtime failure · 2 usage/config error · 3 blocking reconciliation mismatch · "
    "4 safety refusal · 130 interrupted."
)
profiles_app = _typer("List and inspect venue profiles (HOME/profiles/*.yaml).")
catalog_app = _typer("Build the execution metadata catalog from venue specs.")
app.add_typer(profiles_app, name="profiles")
app.add_typer(catalog_app, name="catalog")
alerts_app = _typer("Alerts that reach a person: the profile's alerts section (apprise URLs).")
app.add_typer(alerts_app, name="alerts")

# `nautlive --help` lists the commands in the order of the workflow (a new user's first two first), each with a summary that fits on its line.
COMMANDS = {
    "init": "Create a working folder: profiles, catalogs, targets.",
    "demo": "Offline demo: shadow session, target change, report.",
    "reconcile": "Check the catalog against the venue's live specs.",
    "catalog": "Write the execution metadata catalog from venue specs.",
    "data": "Download OHLCV bars from the venue (archive + REST).",
    "record": "Record the venue's public streams for replays.",
    "backtest": "Run the strategy on bars or recorded quotes (BacktestEngine).",
    "parity": "Compare a backtest and a shadow run on the same data.",
    "shadow": "Paper-trade: the real node and strategy, local fills.",
    "live": "Trade real orders (needs --arm or NAUTLIVE_ARM=1).",
    "drift-report": "Execution quality from the drift log.",
    "sim": "Serve a loopback Binance or IB venue for rehearsals.",
    "profiles": "List and inspect venue profiles.",
    "alerts": "Send a test alert to each of a profile's URLs.",
}


def _workflow_order(self, ctx) -> list[str]:  # noqa: ANN001 - click's signature
    names = list(TyperGroup.list_commands(self, ctx))
    if ctx.parent is not None:  # a sub-group (profiles, catalog): its own order
        return names
    for name in names:
        command = self.commands[name]
        if name in COMMANDS and not command.short_help:
            command.short_help = COMMANDS[name]
    order = list(COMMANDS)
    return sorted(names, key=lambda n: order.index(n) if n in order else len(order))


_Group.list_commands = _workflow_order

def _version(value: bool) -> None:
    if value:
        print(f"nautlive {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version and exit.")
    ] = False,
    debug: Annotated[bool, typer.Option("--debug", help="Show tracebacks on errors, and debug lines.")] = False,
    home: Annotated[
        Path | None,
        typer.Option("--home", metavar="DIR", help="Working folder HOME (default: $NAUTLIVE_HOME, else the current "
                     "folder).", show_default=False),
    ] = None,
) -> None:
    from nautlive.config.home import set_home

    _state["debug"] = debug
    _debug_lines_on_stderr(debug)
    set_home(home)


def _debug_lines_on_stderr(on: bool) -> None:
    """--debug: nautlive's own debug lines (e.g. an exchangeInfo filter type ignored) on stderr as "debug: ..."."""
    import logging

    class StderrHandler(logging.Handler):  # the stderr of the moment (a test runner swaps it between commands)
        def emit(self, record: logging.LogRecord) -> None:
            print(f"debug: {record.getMessage()}", file=sys.stderr, flush=True)

    logger = logging.getLogger("nautlive")
    for handler in [h for h in logger.handlers if type(h).__name__ == "StderrHandler"]:
        logger.removeHandler(handler)
    logger.setLevel(logging.DEBUG if on else logging.NOTSET)
    if on:
        logger.addHandler(StderrHandler())
