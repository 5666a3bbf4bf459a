"""Commands about venues and the working folder: profiles, alerts test, reconcile, catalog snapshot, sim, init, demo.

Thin: each command parses options, calls one library function and renders; nothing heavy is imported at
module load.
"""

from __future__ import annotations

import sys
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from nautlive.cli.apps import alerts_app, app, catalog_app, profiles_app
from nautlive.cli.options import (
    CatalogOpt,
    JsonOpt,
    ProfileOpt,
    VenueOpt,
    _fast_exit,
    _profile,
    _wrote,
    require_ib_extra,
)
from nautlive.errors import NautliveError


@profiles_app.command("list")
def profiles_list(json_out: JsonOpt = False) -> None:
    """List the profiles in HOME/profiles with their venue, adapter and the file each came from."""
    from nautlive.config.home import no_profiles_error
    from nautlive.config.profile import load_profile, profiles_dir
    from nautlive.report.console import emit_json, table

    folder = profiles_dir()
    if not folder.is_dir():
        raise no_profiles_error(folder)
    rows = []
    for path in sorted(folder.glob("*.yaml")):
        try:
            p = load_profile(profile=path)
            rows.append({"name": path.stem, "venue": p.venue, "adapter": p.adapter, "instruments": p.instruments,
                         "file": str(path)})
        except NautliveError as exc:
            rows.append({"name": path.stem, "error": str(exc), "file": str(path)})
    if json_out:
        emit_json(rows)
        return
    table(
        f"profiles in {folder.absolute()}",
        ["name", "venue", "adapter", "instruments", "file"],
        [[r["name"], r.get("venue"), r.get("adapter"), ", ".join(r.get("instruments", [])) or r.get("error"),
          r["file"]] for r in rows],
    )


@profiles_app.command("show")
def profiles_show(
    name: Annotated[str | None, typer.Argument(help="Profile name (HOME/profiles/NAME.yaml).")] = None,
    venue: Annotated[
        str | None, typer.Option("--venue", help="Profile name, as NAME (loads HOME/profiles/NAME.yaml).",
                                 show_default=False)
    ] = None,
    profile: ProfileOpt = None,
) -> None:
    """Print the resolved profile (environment interpolated) with every secret shown as ****."""
    if name is not None and venue is not None and name != venue:
        from nautlive.errors import ConfigError

        raise ConfigError(f"profiles show: two profile names given ({name} and --venue {venue}): pass one")
    name = name or venue
    import yaml

    from nautlive.config.home import resolve_profile_paths
    from nautlive.config.profile import load_profile, redacted

    print(yaml.safe_dump(redacted(resolve_profile_paths(load_profile(name, profile))), sort_keys=False), end="")


@alerts_app.command("test")
def alerts_test(venue: VenueOpt = None, profile: ProfileOpt = None) -> None:
    """Send one test message to each of the profile's alerts.urls; print ok or the error per target (URLs shown
    with their credentials masked). Exit 1 if any failed, 2 if the profile has no alerts.urls."""
    _fast_exit()
    from nautlive.alerts import events
    from nautlive.alerts.delivery import send_each
    from nautlive.errors import ConfigError
    from nautlive.report.console import line

    prof = _profile(venue, profile)
    if not prof.alerts.urls:
        raise ConfigError(f"{prof.source}: alerts.urls: no alert URL to test (see README, Alerts)")
    origin = f"nautlive {prof.name}"
    results = send_each(prof.alerts.urls, events.test(origin), origin)
    for label, error in results:
        line(f"ok\t{label}" if error is None else f"failed\t{label}: {error}")
    if any(error is not None for _, error in results):
        raise typer.Exit(1)


class Adopt(StrEnum):
    relaxed = "relaxed"
    none = "none"


@app.command()
def reconcile(
    venue: VenueOpt = None,
    profile: ProfileOpt = None,
    from_file: Annotated[
        Path | None, typer.Option("--from-file", help="Venue specs from a captured file instead of the venue.")
    ] = None,
    catalog: CatalogOpt = None,
    json_out: JsonOpt = False,
    write_patch: Annotated[
        Path | None, typer.Option("--write-patch", help="Write the catalog with the venue's values to PATH.")
    ] = None,
    adopt: Annotated[
        Adopt | None,
        typer.Option("--adopt", help="relaxed: write the venue's relaxations (INFO rows) into the catalog, keeping "
                                     "<catalog>.bak; none: only check. Default: the profile's reconcile.adopt.",
                     show_default=False),
    ] = None,
) -> None:
    """Check the catalog against the venue's live specs: exit 0 when nothing blocks trading, 3 when something does.

    Example (from the repository): nautlive reconcile --venue binance --from-file
    examples/data/binance_spot_exchange_info_2022-11-28.json
    """
    _fast_exit()
    from nautlive.catalog import reconcile as rec
    from nautlive.report.console import emit_json, line, table
    from nautlive.venues import reconcile_profile
    prof = _profile(venue, profile)
    if from_file is None:
        require_ib_extra(prof)
    cat, specs, result = reconcile_profile(prof, from_file, catalog)
    if write_patch is not None:
        from nautlive.catalog.specs import save_catalog

        patched = rec.patched_catalog(cat, specs.specs)
        save_catalog(patched, write_patch)
        _wrote(f"wrote {write_patch}: the catalog with the venue's values ({len(patched.instruments)} instruments)",
               json_out)
    path = catalog or prof.catalog
    adopted = []
    if (adopt or Adopt(prof.reconcile.adopt or "none")) == Adopt.relaxed:
        adopted = _adopt_relaxed(path, specs.specs, prof.reconcile.severity)
    if json_out:
        emit_json({**result.to_json(), "adopted": [{"instrument": m.instrument, "field": m.field, "catalog": m.catalog,
                                                    "venue": m.venue} for m in adopted]})
    else:
        table(
            f"reconcile {prof.name}: catalog vs venue",
            ["instrument", "field", "catalog", "venue", "severity"],
            [[m.instrument, m.field, m.catalog, m.venue, m.severity] for m in result.mismatches],
        )
        adopted_note = f"; {len(adopted)} field(s) adopted into {path} (previous kept as {path}.bak)"
        line(result.summary() + (adopted_note if adopted else ""))
    if result.blocking:
        raise typer.Exit(3)


def _adopt_relaxed(path, venue_specs, overrides) -> list:  # noqa: ANN001
    """Adopt the venue's relaxations into the catalog at `path`, one line on stderr per field."""
    from nautlive.catalog.adopt import adopt_relaxed, adopted_line

    _, adopted = adopt_relaxed(path, venue_specs, overrides)
    for row in adopted:
        print(adopted_line(row, path), file=sys.stderr, flush=True)
    return adopted


@catalog_app.command("snapshot")
def catalog_snapshot(
    out: Annotated[Path, typer.Option("--out", help="Catalog YAML to write.")],
    venue: VenueOpt = None,
    profile: ProfileOpt = None,
    from_file: Annotated[
        Path | None, typer.Option("--from-file", help="Venue specs from a captured file instead of the venue.")
    ] = None,
    symbols: Annotated[
        str | None, typer.Option("--symbols", help="Comma-separated symbols (default: the profile's instruments).")
    ] = None,
    all_symbols: Annotated[bool, typer.Option("--all", help="Every symbol the venue lists, TRADING or not.")] = False,
) -> None:
    """Write a catalog from the venue's specs (or a captured file)."""
    _fast_exit()
    from nautlive.report.console import line
    from nautlive.venues import snapshot_catalog

    written = snapshot_catalog(_profile(venue, profile), from_file, symbols, all_symbols, out)
    line(f"wrote {out}: {len(written.instruments)} instruments")


@app.command()
def sim(
    venue: Annotated[
        str,
        typer.Option("--venue", help="Profile name: loads HOME/profiles/NAME.yaml. Default: binance-sim; "
                     "ibkr (or any IB profile) serves a loopback TWS venue (profile ibkr-sim).", show_default=False),
    ] = "binance-sim",
    profile: ProfileOpt = None,
    catalog: CatalogOpt = None,
    host: Annotated[str, typer.Option("--host", help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[
        int | None,
        typer.Option("--port", min=0, max=65535, help="Port to listen on (0: any free port). Default 8765; IB 4002.",
                     show_default=False),
    ] = None,
    control_port: Annotated[
        int, typer.Option("--control-port", min=0, max=65535, help="IB: the HTTP control port (/__sim/state, faults).")
    ] = 4003,
    account: Annotated[
        str | None, typer.Option("--account", help="IB: the account the venue manages (default: the profile's, else "
                                                   "DU123456).")
    ] = None,
    contracts: Annotated[
        list[Path] | None,
        typer.Option("--contracts", help="IB: captured contract details JSON (repeat). Default: ../shared/data's "
                                         "captures if present, else the catalog."),
    ] = None,
    exchange_info: Annotated[
        Path | None,
        typer.Option("--exchange-info", help="Serve this exchangeInfo capture instead of one generated from the catalog."),
    ] = None,
    replay: Annotated[
        list[Path] | None,
        typer.Option("--replay", help="Recorded stream file to replay, looped (repeat per symbol). Default: random walk."),
    ] = None,
    balances: Annotated[
        str | None, typer.Option("--balances", help="Starting balances like USDT=100000,BTC=0 or USD=100000 "
                                                    "(default: the profile's).")
    ] = None,
    seed: Annotated[int, typer.Option("--seed", help="Seed of the random-walk quotes.")] = 0,
    server_version: Annotated[
        int | None,
        typer.Option("--server-version", help="IB: the highest TWS API server version the venue negotiates, to play an "
                                              "older IB Gateway (176..223; default 223, a current gateway: protobuf "
                                              "from 201).", show_default=False),
    ] = None,
) -> None:
    """Serve a loopback venue for the real Nautilus adapter, until Ctrl-C: Binance Spot (REST + WebSocket), or with
    --venue ibkr the TWS API socket that Nautilus's IB adapter cannot tell from IB Gateway.

    Example (from the repository): nautlive sim --replay examples/data/btcusdt_20240808.gz
    --replay examples/data/ethusdt_20240808.gz --balances USDT=100000,BTC=0
    · nautlive sim --venue ibkr --port 4002 --account DU123456 --balances USD=100000
    · nautlive sim --venue ibkr --server-version 176   (an IB Gateway of 2023: text messages only)
    """
    import signal

    prof = _profile("ibkr-sim" if venue == "ibkr" and profile is None else venue, profile)
    require_ib_extra(prof)
    from nautlive.sim.run import SimOptions, serve_profile

    received = serve_profile(prof, SimOptions(host=host, port=port, control_port=control_port, catalog=catalog,
                                              account=account, contracts=contracts, exchange_info=exchange_info,
                                              replay=replay, balances=balances, seed=seed,
                                              server_version=server_version))
    if received == signal.SIGINT:  # exit 130, as the exit-code table says; SIGTERM: exit 0
        print("interrupted", file=sys.stderr, flush=True)
        raise typer.Exit(130)


@app.command()
def init(
    folder: Annotated[
        Path, typer.Argument(help="Folder to set up (created if missing; default: the current folder).")
    ] = Path("."),
    force: Annotated[bool, typer.Option("--force", help="Overwrite files that exist with other content.")] = False,
) -> None:
    """Create a working folder: the shipped profiles, catalogs and example targets, a .env.example, next steps.

    Writes FOLDER/profiles/*.yaml, FOLDER/artifacts/catalog/*.yaml, FOLDER/artifacts/orders/*.json,
    FOLDER/.env.example (the environment variables each profile reads) and FOLDER/NEXT-STEPS.txt. Refuses to overwrite
    a file with other content unless --force (exit 2, nothing written); a file already identical is left alone.

    Example: nautlive init ws && cd ws && nautlive shadow --venue binance --feed synthetic --once
    """
    _fast_exit()
    from nautlive.config.home import init_home
    from nautlive.report.console import line

    done = init_home(folder, force)
    for path, action in done:
        line(f"{action} {path}")
    written = sum(action != "unchanged" for _, action in done)
    line(f"working folder {folder.absolute()}: {written} files written, {len(done) - written} unchanged")
    line("")
    line((folder / "NEXT-STEPS.txt").read_text().rstrip())


@app.command()
def demo() -> None:
    """Offline demo: a shadow session on the synthetic feed with a target change mid-run, then the drift report.

    Runs in the working folder when it has profiles/binance.yaml, else writes one (./nautlive-demo) from the shipped
    data first. Needs no network and no keys. `make demo` runs this.
    """
    from nautlive.cli.demo import main as run_demo

    code = run_demo()
    if code:
        raise typer.Exit(code)
