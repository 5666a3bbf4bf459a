"""What a SHADOW or LIVE session did, as the CLI prints it and `--json` writes it."""

from __future__ import annotations

from decimal import Decimal

import msgspec

from nautlive.config.profile import VenueProfile
from nautlive.session.end import all_fates
from nautlive.session.engine import SessionOptions


class SessionResult(msgspec.Struct):
    """What a session did; exit_code follows the CLI contract."""

    exit_code: int
    reason: str
    session: str
    mode: str
    venue: str
    rebalances: list[dict]
    fills: list[dict]
    drift_alerts: int
    final_weights: dict[str, dict[str, str]]
    rejected_targets: list[str]
    mismatches: list[dict]
    adopted: list[dict] = []  # catalog fields adopted from the venue at startup (reconcile.adopt: relaxed)
    superseded: int = 0  # target versions a newer one replaced before they started
    budget_refusals: list[str] = []
    stopped_orders: dict[str, str] = {}  # client order id -> its fate at the venue when the session stopped
    account_start: dict = {}  # LIVE: orders cancelled or kept and fills recovered at start
    stream_reestablished: int = 0
    orders_by_fate: dict[str, int] = {}  # what the venue did with the orders sent: filled, rejected, expired, ...
    undone: list[dict] = []  # what twap / passive parents never sent (a stop, a new target, below the minimum)


class Stop(msgspec.Struct):
    """Why a session stopped, with its exit code."""

    exit_code: int = 0
    reason: str = ""


def session_result(profile: VenueProfile, options: SessionOptions, outcome: Stop, strategy, holder: dict) -> SessionResult:  # noqa: ANN001
    from nautlive.core.holdings import final_weights

    targets = strategy.watcher.last_good.weights if strategy.watcher and strategy.watcher.last_good else (
        options.schedule[-1].targets.weights if options.schedule else {})
    weights = final_weights(strategy, targets) if strategy.startup == "ready" else {"_nav": Decimal(0)}
    weights.pop("_nav")
    return SessionResult(
        exit_code=outcome.exit_code,
        reason=outcome.reason,
        session=options.session,
        mode=options.mode,
        venue=profile.venue,
        rebalances=[msgspec.to_builtins(r) for r in strategy.reports],
        fills=[msgspec.to_builtins(r) for r in (strategy.drift.records if strategy.drift else [])],
        drift_alerts=strategy.drift.alerts if strategy.drift else 0,
        final_weights={k: {"weight": _text(w), "target": _text(targets.get(k, Decimal(0)))} for k, w in weights.items()},
        rejected_targets=list(strategy.watcher.rejected) if strategy.watcher else [],
        mismatches=[msgspec.to_builtins(m) for m in strategy.mismatches],
        adopted=[msgspec.to_builtins(m) for m in strategy.adopted],
        superseded=strategy.superseded + (strategy.watcher.superseded if strategy.watcher else 0),
        orders_by_fate=all_fates(strategy) if strategy.startup == "ready" else {},
        budget_refusals=list(strategy.budget_refusals),
        stopped_orders=holder.get("stopped_orders", {}),
        account_start=holder.get("account_start", {}),
        stream_reestablished=getattr(holder.get("venue"), "stream_reestablished", 0),
        undone=[u for r in strategy.all_reports() for u in r.undone] if strategy.startup == "ready" else [],
    )


def _text(value: Decimal) -> str:
    return format(Decimal(value).quantize(Decimal("0.00000001")).normalize(), "f")
