"""The session commands: shadow and live (both run nautlive.session.runner.run_from_cli).

Thin: each command parses options, calls one library function and renders; nothing heavy is imported at
module load.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from nautlive.cli.apps import app
from nautlive.cli.options import (
    ExecutionOpt,
    JsonOpt,
    ProfileOpt,
    TargetsOpt,
    VenueOpt,
    _load_profile,
    _wrote,
    require_ib_extra,
    with_execution,
)

FeedOpt = Annotated[
    str | None,
    typer.Option("--feed", help="venue | synthetic | replay:PATH[,PATH] (default: venue; without keys, its public "
                                "market data: no signed call)."),
]
DriftLogOpt = Annotated[Path | None, typer.Option("--drift-log", help="Drift log (default: the profile's).")]
OnceOpt = Annotated[bool, typer.Option("--once", help="Apply the current targets, wait for fills, print, exit.")]
DurationOpt = Annotated[float | None, typer.Option("--duration", min=0, help="Stop cleanly after SECONDS.")]
SummaryOpt = Annotated[Path | None, typer.Option("--summary", help="Also write the session summary JSON here.")]
LogLevelOpt = Annotated[str, typer.Option("--log-level", help="Nautilus log level on the console.")]


@app.command()
def shadow(
    venue: VenueOpt = None,
    profile: ProfileOpt = None,
    feed: FeedOpt = None,
    speed: Annotated[float, typer.Option("--speed", min=0, help="Replay speed: 1 real time, 0 as fast as possible.")] = 1.0,
    seed: Annotated[int, typer.Option("--seed", help="Seed of the synthetic walk.")] = 42,
    targets: TargetsOpt = None,
    drift_log: DriftLogOpt = None,
    once: OnceOpt = False,
    duration: DurationOpt = None,
    summary: SummaryOpt = None,
    execution: ExecutionOpt = None,
    json_out: JsonOpt = False,
    log_level: LogLevelOpt = "WARNING",
) -> None:
    """Paper-trade: the real TradingNode and strategy on venue, recorded or synthetic data, fills simulated locally.

    Watches the target file and rebalances on each new valid version. Ctrl-C stops (exit 130), SIGTERM and SIGHUP
    too (exit 0).

    Examples: nautlive shadow --venue binance --feed synthetic --once · (from the repository) nautlive shadow
    --venue binance --feed replay:examples/data/btcusdt_20240808.gz,examples/data/ethusdt_20240808.gz --speed 10 --duration 60
    """
    _session("shadow", venue, profile, feed, speed, seed, targets, drift_log, once, duration, summary, json_out,
             log_level, execution=execution)


def _session(mode, venue, profile, feed, speed, seed, targets, drift_log, once, duration, summary, json_out,
             log_level, arm: bool = False, execution: str | None = None) -> None:  # noqa: ANN001
    from nautlive.report.console import is_terminal
    from nautlive.session.engine import is_keyless, parse_feed
    from nautlive.session.runner import run_from_cli

    prof, source = _load_profile(venue, profile)
    prof = with_execution(prof, execution)
    if mode == "live" or feed in (None, "venue"):  # the IB adapter; a synthetic or replay feed runs without it
        require_ib_extra(prof)
    print(f"profile {prof.name} ({source})", file=sys.stderr, flush=True)
    if is_keyless(prof, mode, parse_feed(feed, prof, speed, seed)):
        print("no API keys: shadow on the venue's public market data (no signed call, no key sent)",
              file=sys.stderr, flush=True)
    target_file = Path(targets or prof.targets)
    if not once and not target_file.exists():
        print(f"waiting for the target file {target_file}: nothing trades until it appears", file=sys.stderr,
              flush=True)
    result = run_from_cli(prof, mode, feed, speed, seed, targets, drift_log, once, duration, log_level, arm,
                          panel=is_terminal() and not json_out and not once, summary=summary)
    _render_session(result, json_out, summary)
    if result.exit_code in (0, 130) and result.reason.startswith("summary "):
        result.exit_code = 1  # the session went fine, but its summary is missing
    if result.exit_code == 130:
        print("interrupted", file=sys.stderr, flush=True)  # Ctrl-C is the user's choice, not an error
        raise typer.Exit(130)
    if result.exit_code:
        if result.reason:
            from nautlive.errors import scrub

            print(f"error: {scrub(result.reason)}", file=sys.stderr)
        raise typer.Exit(result.exit_code)


def _render_session(result, json_out: bool, summary: Path | None) -> None:  # noqa: ANN001
    import msgspec

    from nautlive.report.console import emit_json, line, table

    if summary is not None:
        _write_summary(result, summary)
    if json_out:
        emit_json(msgspec.to_builtins(result))
        return
    from nautlive.report.fill_orders import by_order

    table(  # one row per order; its levels are in the summary's fills and the drift log
        f"{result.mode} {result.session}: fills",
        ["instrument", "side", "qty", "vwap", "levels", "mid at submit", "drift bps"],
        [[o.instrument, o.side, o.qty, o.vwap, o.levels, o.mid_at_submit, o.drift_bps] for o in by_order(result.fills)],
    )
    table(
        f"{result.mode} {result.session}: weights",
        ["instrument", "weight", "target"],
        [[k, v["weight"], v["target"]] for k, v in result.final_weights.items()],
    )
    from nautlive.session.end import describe_fates

    orders = sum(len(r["orders"]) for r in result.rebalances)
    fates = describe_fates(result.orders_by_fate)
    by_fate = f" ({fates})" if fates and fates != f"{orders} filled" else ""
    line(f"{len(result.rebalances)} rebalances, {orders} orders{by_fate}, {len(result.fills)} fills, "
         f"{result.drift_alerts} drift alerts{_session_notes(result)}; {result.reason}")


def _write_summary(result, path: Path) -> None:  # noqa: ANN001
    """The summary JSON; a file that cannot be written is said in the result's reason (and exits 1), not a
    traceback."""
    import msgspec

    from nautlive.core.writable import os_problem

    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(msgspec.json.format(msgspec.json.encode(result)))
    except OSError as exc:
        problem = f"summary {path} not written: {os_problem(exc)}"
        result.reason = f"{result.reason}; {problem}" if result.exit_code not in (0, 130) else problem
        return
    _wrote(f"wrote {path}: the session summary (JSON)", json_out=True)  # on stderr: stdout's last line is the result


def _session_notes(result) -> str:  # noqa: ANN001
    """What else a session's summary line must say: coalesced targets, budgets, recovered fills, stream repairs,
    catalog fields adopted."""
    recovered = sum(1 for f in result.fills if f.get("recovered"))
    notes = [f"{result.superseded} target versions superseded" if result.superseded else "",
             f"{len(result.budget_refusals)} refused by a budget" if result.budget_refusals else "",
             f"{recovered} fills recovered from the venue" if recovered else "",
             f"user stream re-established {result.stream_reestablished}x" if result.stream_reestablished else "",
             f"{len(result.adopted)} catalog fields adopted from the venue" if result.adopted else ""]
    return "".join(f", {n}" for n in notes if n)


@app.command()
def live(
    venue: VenueOpt = None,
    profile: ProfileOpt = None,
    arm: Annotated[bool, typer.Option("--arm", help="Really send orders (or NAUTLIVE_ARM=1). Without it: exit 4.")] = False,
    targets: TargetsOpt = None,
    drift_log: DriftLogOpt = None,
    once: OnceOpt = False,
    duration: DurationOpt = None,
    summary: SummaryOpt = None,
    execution: ExecutionOpt = None,
    json_out: JsonOpt = False,
    log_level: LogLevelOpt = "WARNING",
) -> None:
    """Trade real orders on the venue with the same strategy as shadow and backtest.

    Refuses (exit 4) without --arm, when the kill switch file exists, or when another session holds the profile's
    venue account's lock; a blocking catalog mismatch exits 3, at startup or before any rebalance. The kill switch appearing mid-run cancels open orders and
    stops (exit 4); SIGTERM or SIGHUP stop cleanly (exit 0); a drift log or summary it cannot write refuses the start
    (exit 2). For cron: NAUTLIVE_ARM=1 nautlive live --venue binance --once --summary artifacts/logs/live/last.json

    Rehearsal: nautlive sim (one terminal) · nautlive live --venue binance-sim --arm --once (another)
    """
    _session("live", venue, profile, "venue", 1.0, 42, targets, drift_log, once, duration, summary, json_out,
             log_level, arm=arm, execution=execution)
