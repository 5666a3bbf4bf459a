"""What each alert says: one builder per event kind, plain data in, an AlertEvent out (no I/O, no apprise).

A message is a title (one line, what happened) and a body (the figures a person needs to act). The sink prefixes
the title with where it comes from ("nautlive binance live-20261124T221405").
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from decimal import Decimal

import msgspec

# Every kind a profile may list in alerts.events (default: all of them).
EVENT_KINDS = (
    "started",  # a session started
    "ended",  # a session ended with exit 0 (or 130, interrupted)
    "failed",  # a session ended with any other exit code
    "drift",  # a fill strayed from the mid at submit beyond drift_alert_bps
    "rebalance",  # a rebalance finished: orders, fills, residual weights
    "rejected",  # an order rejected, denied or left unfilled
    "refused",  # a risk budget refused a rebalance
    "target_rejected",  # a target file was rejected; the last good target stays in force
    "mismatch",  # the catalog differs from the venue at start
    "kill_switch",  # the kill-switch file appeared
    "venue_down",  # the venue stopped answering
    "venue_up",  # the venue answers again
    "drift_report",  # drift-report --fail-above was exceeded
)
FINAL_KINDS = frozenset({"ended", "failed"})
DIGEST_LINES = 20  # a digest lists this many held-back events, then says how many more
MISMATCH_ROWS = 5


class AlertEvent(msgspec.Struct, frozen=True):
    kind: str
    level: str  # info | success | warning | failure (apprise's notification types)
    title: str
    body: str


def started(mode: str, profile: str, venue: str, session: str, feed: str, targets: str) -> AlertEvent:
    return AlertEvent("started", "info", f"{mode} session started",
                      f"{mode} session {session} on profile {profile} ({venue}), feed {feed}, targets {targets}")


def ended(exit_code: int, reason: str, rebalances: int, orders: int, fills: int, drift_alerts: int,
          fates: str = "") -> AlertEvent:
    """`fates`: what the venue did with the orders ("2 filled, 1 rejected"), shown when not all of them filled."""
    failed = exit_code not in (0, 130)
    level = "failure" if failed else ("warning" if exit_code == 130 else "success")
    by_fate = f" ({fates})" if fates and fates != f"{orders} filled" else ""
    return AlertEvent("failed" if failed else "ended", level,
                      f"session {'failed' if failed else 'ended'} (exit {exit_code})",
                      f"{reason}\n{rebalances} rebalances, {orders} orders{by_fate}, {fills} fills, "
                      f"{drift_alerts} drift alerts")


def refused_start(mode: str, exit_code: int, reason: str) -> AlertEvent:
    """A session that did not start: not armed, the kill switch present, the account locked, a bad target file."""
    return AlertEvent("failed", "failure", f"{mode} session not started (exit {exit_code})", reason)


def drift(record, threshold: Decimal) -> AlertEvent:  # noqa: ANN001 - a DriftRecord
    """A fill beyond the drift threshold: instrument, side, qty, fill, mid, bps, threshold."""
    return AlertEvent(
        "drift", "warning", f"drift alert {record.instrument} {record.drift_bps:+.2f} bps",
        f"{record.side} {record.qty} {record.instrument} filled at {record.fill_px} vs mid {record.mid_at_submit} "
        f"at submit: {record.drift_bps:+.2f} bps (threshold {threshold} bps)\n"
        f"order {record.client_order_id}, targets {record.target_hash}, at {record.ts}")


def rebalance(report, fills: int, residuals: dict[str, tuple[Decimal, Decimal]]) -> AlertEvent:  # noqa: ANN001
    """A finished rebalance; residuals: instrument -> (weight now, target)."""
    clean = not (report.rejected or report.unfilled or report.refused or report.expired)
    rows = "; ".join(f"{iid} {w:.4f} (target {t:.4f}, {w - t:+.4f})" for iid, (w, t) in residuals.items())
    refused = f"\nrefused: {report.refused}" if report.refused else ""
    refused += "".join(f"\n{e['instrument']} {e['side']}: the book filled {e['filled']}, {e['expired']} expired"
                       for e in report.expired)
    return AlertEvent(
        "rebalance", "success" if clean else "warning",
        f"rebalance {report.target_hash} done: {len(report.orders)} orders, {fills} fills",
        f"{len(report.orders)} orders ({len(report.rejected)} rejected, {len(report.unfilled)} unfilled, "
        f"{len(report.skipped)} skipped), {fills} fills{refused}\nresidual weights: {rows or 'none'}")


def rejected(what: str, entry: dict, order: dict | None, target_hash: str) -> AlertEvent:
    """An order `what` ("rejected or denied" / "unfilled"): the reason, and the order when it is known."""
    order_text = f"{order['side']} {order['quantity']} {order['instrument']}" if order else "an order"
    return AlertEvent("rejected", "failure", f"order {what}: {order_text}",
                      f"{entry['client_order_id']} {what}: {entry['reason']}\ntargets {target_hash}")


def refused(reason: str, enforced: bool) -> AlertEvent:
    """A risk budget refused a rebalance (LIVE), or would have (SHADOW only reports it)."""
    title = "rebalance refused by a risk budget" if enforced else "a risk budget would refuse this rebalance in LIVE"
    return AlertEvent("refused", "warning", title, reason)


def target_rejected(reason: str) -> AlertEvent:
    return AlertEvent("target_rejected", "warning", "target file rejected",
                      f"{reason}\nno orders; the last good target stays in force")


def mismatch(mismatches: Sequence) -> AlertEvent:
    """Reconcile mismatches at start: counts and the first rows."""
    blocking = sum(1 for m in mismatches if m.severity == "BLOCKING")
    rows = "\n".join(f"{m.instrument} {m.field}: catalog {m.catalog}, venue {m.venue} ({m.severity})"
                     for m in mismatches[:MISMATCH_ROWS])
    more = f"\nand {len(mismatches) - MISMATCH_ROWS} more" if len(mismatches) > MISMATCH_ROWS else ""
    return AlertEvent("mismatch", "failure" if blocking else "warning",
                      f"catalog mismatch at start: {blocking} blocking, {len(mismatches) - blocking} warnings",
                      rows + more)


def kill_switch(path: str) -> AlertEvent:
    return AlertEvent("kill_switch", "failure", "kill switch appeared",
                      f"{path} appeared: open orders are cancelled and the session stops (exit 4)")


def venue_down(venue: str, since: str, give_up_secs: float) -> AlertEvent:
    return AlertEvent("venue_down", "failure", f"{venue} not answering",
                      f"{venue} has not answered since {since}; the session ends if it stays down "
                      f"{give_up_secs:g} s (live.down_timeout)")


def venue_up(venue: str, down_secs: float) -> AlertEvent:
    return AlertEvent("venue_up", "success", f"{venue} answering again", f"{venue} was down for {down_secs:.0f} s")


def drift_report(message: str, logs: Iterable[str]) -> AlertEvent:
    return AlertEvent("drift_report", "failure", "drift above --fail-above", f"{message}\nlog: {', '.join(logs)}")


def test(origin: str) -> AlertEvent:
    return AlertEvent("test", "info", "test message",
                      f"nautlive alerts test from {origin}: alerts from this profile reach you here.")


def digest(held: Sequence[AlertEvent], interval: float) -> AlertEvent:
    """Events of one kind held back by the per-kind interval, as one message."""
    lines = [f"- {e.title}: {e.body.splitlines()[0] if e.body else ''}" for e in held[:DIGEST_LINES]]
    if len(held) > DIGEST_LINES:
        lines.append(f"and {len(held) - DIGEST_LINES} more")
    worst = max(held, key=lambda e: _LEVELS.index(e.level)).level
    return AlertEvent(held[0].kind, worst, f"{len(held)} more {held[0].kind} event(s)",
                      f"held back by alerts.min_interval_secs ({interval:g} s):\n" + "\n".join(lines))


_LEVELS = ("info", "success", "warning", "failure")
