"""What ends a session besides a signal, and what its result says about the orders.

--once ends when the current targets are applied (or cannot be); a long-running session ends when a budget refuses
the latest target (exit 4, never 0); any session stops new orders and ends with exit 1 when the drift log cannot be
written. Orders are counted by what the venue did with them (filled, rejected, expired, cancelled), not by how many
were sent.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Callable
from decimal import Decimal

from nautlive.core.execution import execution_secs

Finish = Callable[[int, str], None]


# -- what the venue did with the orders ------------------------------------------------------------------------------


def order_fates(strategy, orders: list[dict]) -> Counter:  # noqa: ANN001
    """How many of `orders` (report entries) ended filled, rejected, expired, cancelled... as the engine knows them."""
    from nautilus_trader.model.identifiers import ClientOrderId

    fates: Counter = Counter()
    for entry in orders:
        order = strategy.cache.order(ClientOrderId(entry["client_order_id"]))
        status = order.status_string().lower().replace("canceled", "cancelled") if order is not None else "unknown"
        fates[status] += 1
    return fates


def describe_fates(fates: Counter | dict[str, int]) -> str:
    """"2 filled, 10 rejected": the filled first, then the others by count."""
    ordered = sorted(fates.items(), key=lambda item: (item[0] != "filled", -item[1], item[0]))
    return ", ".join(f"{n} {fate}" for fate, n in ordered if n)


def all_fates(strategy) -> dict[str, int]:  # noqa: ANN001
    """The fates of every order the session sent (the summary's `orders_by_fate`)."""
    return dict(order_fates(strategy, [o for r in strategy.all_reports() for o in r.orders]))


# -- --once ----------------------------------------------------------------------------------------------------------


async def until_rebalanced(strategy, options, finish: Finish) -> None:  # noqa: ANN001
    """--once: the current targets applied and every order terminal, within the price wait plus the fill timeout."""
    config = strategy.config
    by_design = 2 * execution_secs(config.execution_style, config.horizon_secs, config.patience_secs)  # two phases
    limit = config.price_wait_secs + options.fill_timeout + 5.0 + by_design
    loop = asyncio.get_running_loop()
    deadline = loop.time() + limit
    while not strategy.reports or strategy.busy:
        if loop.time() > deadline:
            finish(1, f"rebalance not finished within {limit:.0f} s: orders not done at the venue: "
                      f"{describe_fates(all_fates(strategy)) or 'none sent'}")
            return
        if strategy.watcher is not None and strategy.watcher.last_good is None and strategy.watcher.rejected:
            finish(2, strategy.watcher.rejected[-1])
            return
        await asyncio.sleep(0.05)
    finish(*once_outcome(strategy, strategy.reports[-1]))


def once_outcome(strategy, report) -> tuple[int, str]:  # noqa: ANN001
    """The exit code and reason of --once from its last rebalance, counting what the venue did."""
    if report.refused:
        return 4, f"refused: {report.refused}"
    unpriced = [s["instrument_id"] for s in report.skipped if s["reason"] == "no price"]
    fates = order_fates(strategy, report.orders)
    sent = "" if fates["filled"] == len(report.orders) else f" (of {len(report.orders)} sent: {describe_fates(fates)})"
    # An order the watchdog gave up on that filled after all is a filled order, never "unfilled".
    still_unfilled = [o for o in report.unfilled if order_fates(strategy, [o])["filled"] == 0]
    if report.rejected or still_unfilled:
        first = (report.rejected or still_unfilled)[0]["reason"]
        unfilled = ", ".join(o["client_order_id"] for o in still_unfilled)
        waiting = f"; unfilled {unfilled}" if unfilled else ""
        return 1, (f"{len(report.rejected)} order(s) rejected, {len(still_unfilled)} unfilled (first: {first})"
                   f"{waiting}{sent}")
    if report.expired:
        parts = ", ".join(f"{e['instrument']} {e['side']} filled {e['filled']} of "
                          f"{Decimal(e['filled']) + Decimal(e['expired'])}" for e in report.expired)
        return 1, (f"{len(report.expired)} order(s) filled in part, the rest expired: the book was too thin "
                   f"({parts})")
    if report.capped:
        parts = ", ".join(f"{c['instrument']} {c['side']} filled {c['filled']}, left {c['unfilled']} beyond "
                          f"{c['limit_px']}" for c in report.capped)
        return 1, (f"{len(report.capped)} order(s) left in part by the price cap (execution limit_cap): the next "
                   f"rebalance plans the rest again ({parts})")
    if report.undone:
        return 1, left_undone(report.undone)
    if unpriced:
        return 1, (f"no price for {', '.join(unpriced)} within {strategy.config.price_wait_secs:g} s: not traded "
                   f"({fates['filled']} other orders filled)")
    return 0, f"targets {report.target_hash} applied: {fates['filled']} orders filled{sent}"


def left_undone(undone: list[dict]) -> str:
    """What parent orders (twap, passive_then_market) never sent, and why: "left undone: ETHUSDT.BINANCE BUY 3.2 of
    10 (twap, session stopped)"."""
    parts = ", ".join(f"{u['instrument']} {u['side']} {u['left']} of {u['quantity']} ({u['style']}, {u['reason']})"
                      for u in undone)
    return f"{len(undone)} parent order(s) left undone: {parts}; the next rebalance plans the rest again"


def account_for_undone(strategy, outcome) -> None:  # noqa: ANN001
    """At a stop: the result says what the parent orders left unsent (the exit code stays the stop's)."""
    undone = [u for r in strategy.all_reports() for u in r.undone]
    if undone and "left undone" not in outcome.reason:
        outcome.reason = f"{outcome.reason}; {left_undone(undone)}"


# -- a long-running session ------------------------------------------------------------------------------------------


async def until_refused(strategy, finish: Finish) -> None:  # noqa: ANN001
    """Ends the session (exit 4) when a budget refused the latest target: nothing newer waits, so it will never be
    reached; the reason names the budget."""
    while True:
        await asyncio.sleep(0.1)
        report = strategy.reports[-1] if strategy.reports else None
        settling = strategy.watcher is not None and strategy.watcher.settling
        if report is not None and report.refused and not strategy.busy and not strategy.queued and not settling:
            finish(4, f"refused: {report.refused}")
            return


# -- the drift log failing -------------------------------------------------------------------------------------------


def stop_when_the_log_fails(strategy, finish: Finish) -> None:  # noqa: ANN001
    """A fill the drift log cannot take stops new orders at once and ends the session with exit 1."""
    if strategy.drift is None:
        return

    def failed(reason: str) -> None:
        if strategy.halted is None:
            strategy.halted = reason
            strategy.log.error(f"No new orders: {reason}")
        finish(1, reason)

    strategy.drift.on_write_error = failed


def account_for_the_log(drift, outcome) -> None:  # noqa: ANN001
    """At the end: the log tried once more; the result names the file and says what it is missing (exit 1, or the
    stop's own code when that was a safety refusal)."""
    if drift is None or drift.write_error is None:
        return
    drift.retry()
    named = f"drift log {drift.write_error}"
    if named not in outcome.reason:
        outcome.reason = f"{outcome.reason}; {named}"
    outcome.reason = f"{outcome.reason}; {drift.missing()}"
    if outcome.exit_code in (0, 130):
        outcome.exit_code = 1
