"""What the commands share: the option types (one definition each) and loading the profile a command runs on."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

_state = {"debug": False, "fast_exit": False}

VenueOpt = Annotated[
    str | None,
    typer.Option(
        "--venue",
        help="Profile name: loads HOME/profiles/NAME.yaml. Default: binance (unless --profile).",
        show_default=False,
    ),
]
ProfileOpt = Annotated[Path | None, typer.Option("--profile", help="Path of a profile YAML file.")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print one JSON object for scripts instead of tables.")]
CatalogOpt = Annotated[Path | None, typer.Option("--catalog", help="Catalog YAML (default: the profile's).")]
TargetsOpt = Annotated[Path | None, typer.Option("--targets", help="Target weights JSON (default: the profile's).")]
ExecutionOpt = Annotated[
    str | None, typer.Option("--execution", metavar="STYLE", help="market | limit_cap | twap | passive_then_market: "
                             "how orders go out (default: the profile's execution.style).", show_default=False),
]


def with_execution(prof, style: str | None):  # noqa: ANN001, ANN201
    """The profile with --execution STYLE in place of its execution.style (None: as it is)."""
    if style is None:
        return prof
    import msgspec

    from nautlive.core.execution import STYLES
    from nautlive.errors import ConfigError

    if style not in STYLES:
        raise ConfigError(f"--execution: expected one of {', '.join(STYLES)}, got {style!r}")
    return msgspec.structs.replace(prof, execution=msgspec.structs.replace(prof.execution, style=style))


def _profile(venue: str | None, profile: Path | None):  # noqa: ANN202
    """The profile a command runs on: --profile PATH, else --venue NAME, else profiles/binance.yaml."""
    return _load_profile(venue, profile)[0]


def _load_profile(venue: str | None, profile: Path | None):  # noqa: ANN202
    """(profile with its paths resolved against the working folder, the file it came from)."""
    from nautlive.config.home import resolve_profile_paths
    from nautlive.config.profile import load_profile, profile_path

    name = venue or ("binance" if profile is None else None)
    return resolve_profile_paths(load_profile(name, profile)), profile_path(name, profile)


def require_ib_extra(profile) -> None:  # noqa: ANN001
    """A command that talks to the venue (the sim, a session on the venue, reconcile) needs the venue's optional
    packages (IB: ibapi): without them, one line saying how to install them."""
    from nautlive.venues import venue_for

    problem = venue_for(profile).missing_extra()
    if problem:
        from nautlive.errors import ConfigError

        raise ConfigError(problem)


def _fast_exit() -> None:
    _state["fast_exit"] = True


def _wrote(message: str, json_out: bool) -> None:
    """Say which file a command wrote: on stdout with the tables, on stderr under --json (stdout is the JSON)."""
    print(message, file=sys.stderr if json_out else sys.stdout, flush=True)
