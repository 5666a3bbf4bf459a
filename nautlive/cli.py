"""The `nautlive` command line: parse options, call one library function, render, map errors to exit codes.

Nothing heavy is imported at module load: `nautlive --help` must not import nautilus_trader.
"""

from __future__ import annotations

import sys
import traceback
from pathlib import Path
from typing import Annotated, Optional

import typer
from typer.core import TyperGroup

from nautlive import __version__
from nautlive.errors import NautliveError

_state = {"debug": False}


class _Group(TyperGroup):
    """Turns a NautliveError into one line on stderr and its exit code; Ctrl-C into 130."""

    def invoke(self, ctx):  # noqa: ANN001 - click's signature
        try:
            return super().invoke(ctx)
        except NautliveError as exc:
            if _state["debug"]:
                traceback.print_exc()
            print(f"error: {exc}", file=sys.stderr, flush=True)
            raise typer.Exit(exc.exit_code) from None
        except KeyboardInterrupt:
            print("interrupted", file=sys.stderr, flush=True)
            raise typer.Exit(130) from None


def _typer(help_text: str) -> typer.Typer:
    return typer.Typer(
        cls=_Group, help=help_text, no_args_is_help=True, add_completion=False, rich_markup_mode="rich"
    )


app = _typer(
    "Run one target-weight rebalancing strategy on NautilusTrader: backtest, shadow (paper) and live, "
    "with the same logic.\n\n"
    "Exit codes: 0 ok · 1 runtime failure · 2 usage/config error · 3 blocking reconciliation mismatch · "
    "4 safety refusal · 130 interrupted."
)
profiles_app = _typer("List and inspect venue profiles (profiles/*.yaml).")
catalog_app = _typer("Build the execution metadata catalog from venue specs.")
app.add_typer(profiles_app, name="profiles")
app.add_typer(catalog_app, name="catalog")

VenueOpt = Annotated[
    Optional[str], typer.Option("--venue", "-v", help="Profile name: loads profiles/NAME.yaml.", show_default=False)
]
ProfileOpt = Annotated[Optional[Path], typer.Option("--profile", help="Path of a profile YAML file.")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print one JSON object for scripts instead of tables.")]
CatalogOpt = Annotated[Optional[Path], typer.Option("--catalog", help="Catalog YAML (default: the profile's).")]


def _version(value: bool) -> None:
    if value:
        print(f"nautlive {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version and exit.")
    ] = False,
    debug: Annotated[bool, typer.Option("--debug", help="Show tracebacks on errors.")] = False,
) -> None:
    _state["debug"] = debug


def main() -> None:
    app(prog_name="nautlive")


@profiles_app.command("list")
def profiles_list(json_out: JsonOpt = False) -> None:
    """List the profiles in profiles/ with their venue and adapter."""
    from nautlive.profile import load_profile, profiles_dir
    from nautlive.render import emit_json, table

    rows = []
    for path in sorted(profiles_dir().glob("*.yaml")):
        try:
            p = load_profile(profile=path)
            rows.append({"name": path.stem, "venue": p.venue, "adapter": p.adapter, "instruments": p.instruments})
        except NautliveError as exc:
            rows.append({"name": path.stem, "error": str(exc)})
    if json_out:
        emit_json(rows)
        return
    table(
        "profiles",
        ["name", "venue", "adapter", "instruments"],
        [[r["name"], r.get("venue"), r.get("adapter"), ", ".join(r.get("instruments", [])) or r.get("error")]
         for r in rows],
    )


@profiles_app.command("show")
def profiles_show(
    name: Annotated[Optional[str], typer.Argument(help="Profile name (profiles/NAME.yaml).")] = None,
    profile: ProfileOpt = None,
) -> None:
    """Print the resolved profile (environment interpolated) with every secret shown as ****."""
    import yaml

    from nautlive.profile import load_profile, redacted

    print(yaml.safe_dump(redacted(load_profile(name, profile)), sort_keys=False), end="")


@app.command()
def reconcile(
    venue: VenueOpt = None,
    profile: ProfileOpt = None,
    from_file: Annotated[
        Optional[Path], typer.Option("--from-file", help="Venue specs from a captured file instead of the venue.")
    ] = None,
    catalog: CatalogOpt = None,
    json_out: JsonOpt = False,
    write_patch: Annotated[
        Optional[Path], typer.Option("--write-patch", help="Write the catalog with the venue's values to PATH.")
    ] = None,
) -> None:
    """Check the catalog against the venue's live specs: exit 0 when nothing blocks trading, 3 when something does.

    [b]Example:[/b] nautlive reconcile --venue binance --from-file exchange_info.json
    """
    from nautlive import reconcile as rec
    from nautlive.render import emit_json, line, table
    prof, cat, specs, result = rec.reconcile_profile(venue, profile, from_file, catalog)
    if write_patch is not None:
        from nautlive.catalog import save_catalog

        save_catalog(rec.patched_catalog(cat, specs.specs), write_patch)
    if json_out:
        emit_json(result.to_json())
    else:
        table(
            f"reconcile {prof.name}: catalog vs venue",
            ["instrument", "field", "catalog", "venue", "severity"],
            [[m.instrument, m.field, m.catalog, m.venue, m.severity] for m in result.mismatches],
        )
        line(f"{result.checked} instruments checked: {result.blocking} blocking, {result.warnings} warnings")
    if result.blocking:
        raise typer.Exit(3)


@catalog_app.command("snapshot")
def catalog_snapshot(
    out: Annotated[Path, typer.Option("--out", help="Catalog YAML to write.")],
    venue: VenueOpt = None,
    profile: ProfileOpt = None,
    from_file: Annotated[
        Optional[Path], typer.Option("--from-file", help="Venue specs from a captured file instead of the venue.")
    ] = None,
    symbols: Annotated[
        Optional[str], typer.Option("--symbols", help="Comma-separated symbols (default: the profile's instruments).")
    ] = None,
    all_symbols: Annotated[bool, typer.Option("--all", help="Every symbol the venue lists, TRADING or not.")] = False,
) -> None:
    """Write a catalog from the venue's specs (or a captured file)."""
    from nautlive.render import line
    from nautlive.catalog import snapshot_catalog

    written = snapshot_catalog(venue, profile, from_file, symbols, all_symbols, out)
    line(f"wrote {out}: {len(written.instruments)} instruments")
