"""What a running session shows: a rich panel on a terminal, plain progress lines otherwise."""

from __future__ import annotations

import asyncio
import sys
from typing import TYPE_CHECKING

from nautlive.report.console import warn

if TYPE_CHECKING:
    from nautlive.config.profile import VenueProfile


def session_display(profile, strategy, options):  # noqa: ANN001, ANN201
    """What a running session shows: a rich panel on a terminal, plain progress lines otherwise."""
    if options.panel:
        return Panel(profile, strategy, options.feed.kind, options.duration)
    return PlainProgress(strategy)


class PlainProgress:
    """Without a terminal (cron, a pipe): one plain line on stderr per fill and per finished rebalance."""

    def __init__(self, strategy) -> None:  # noqa: ANN001
        self._strategy = strategy
        self._fills = self._rebalances = self._rejected = 0

    async def run(self, finished: asyncio.Event) -> None:
        while not finished.is_set():
            self.emit()
            await asyncio.sleep(0.25)

    def close(self) -> None:
        self.emit()

    def emit(self) -> None:
        records = self._strategy.drift.records if self._strategy.drift else []
        for r in records[self._fills:]:
            drift = f"{r.drift_bps:+.2f} bps" if r.drift_bps is not None else "no mid"
            print(f"{r.ts} fill {r.side} {r.qty} {r.instrument} @ {r.fill_px} ({drift}{', ALERT' if r.alert else ''})",
                  file=sys.stderr, flush=True)
        for report in self._strategy.reports[self._rebalances:]:
            refused = f", REFUSED ({report.refused})" if report.refused else ""
            retried = f", {report.attempts} attempts" if report.attempts > 1 else ""
            retried += f", {len(report.expired)} expired in part (book too thin)" if report.expired else ""
            retried += f", {len(report.capped)} left in part by the price cap" if report.capped else ""
            retried += f", {len(report.undone)} parent order(s) left undone" if report.undone else ""
            print(f"rebalance {report.target_hash}: {len(report.orders)} orders, {len(report.rejected)} rejected, "
                  f"{len(report.unfilled)} unfilled, {len(report.skipped)} skipped{retried}{refused}",
                  file=sys.stderr, flush=True)
        rejected = self._strategy.watcher.rejected if getattr(self._strategy, "watcher", None) else []
        for reason in rejected[self._rejected:]:  # nautlive's own line, as a bad file at start is told
            warn(f"target file rejected (the last good target stays in force): {reason}")
        self._fills, self._rebalances, self._rejected = len(records), len(self._strategy.reports), len(rejected)


class Panel:
    """A rich live panel on a terminal: holdings against target with prices, cash, the feed, the clock, the last
    rebalance and the last rejected target file (so a rejection is not redrawn away), drift so far."""

    def __init__(self, profile: VenueProfile, strategy, feed: str = "", duration: float | None = None) -> None:  # noqa: ANN001
        import time

        from rich.live import Live

        self._profile, self._strategy = profile, strategy
        self._feed, self._duration, self._started = feed, duration, time.monotonic()
        self._live = Live(self._render(), refresh_per_second=4, transient=False)
        self._live.start()

    async def run(self, finished: asyncio.Event) -> None:
        while not finished.is_set():
            self._live.update(self._render())
            await asyncio.sleep(0.25)

    def close(self) -> None:
        self._live.update(self._render())
        self._live.stop()

    def _render(self):  # noqa: ANN202
        from rich.console import Group
        from rich.table import Table
        from rich.text import Text

        s = self._strategy
        table = Table(title=f"nautlive {self._profile.name}: {s.startup or 'starting'}", title_justify="left")
        for column in ("instrument", "price", "weight", "target"):
            table.add_column(column)
        lines = [self._clock_line()]
        if s.startup != "ready":
            return Group(table, *(Text(line) for line in lines))
        from nautlive.core.holdings import final_weights

        watcher = s.watcher
        targets = watcher.last_good.weights if watcher and watcher.last_good else {}
        weights = final_weights(s, targets)
        nav = weights.pop("_nav")
        for iid, w in weights.items():
            table.add_row(iid, _price(s, iid), f"{w:.4f}", f"{targets.get(iid, 0):.4f}" if targets else "-")
        if watcher is not None and watcher.last_good is None:
            lines.append(f"waiting for the target file {watcher.path}: nothing trades until it appears")
        if watcher is not None and watcher.rejected:
            lines.append(f"last target file rejected (the last good target stays in force): {watcher.rejected[-1]}")
        status = (f"NAV {nav:,.2f} {self._profile.quote_currency} · cash {s.cash():,.2f} · "
                  f"rebalances {len(s.reports)}")
        last = s.reports[-1] if s.reports else None
        if last:
            status += f" (last {last.target_hash}: {len(last.orders)} orders{', REFUSED' if last.refused else ''})"
        drift = [r.drift_bps for r in s.drift.records if r.drift_bps is not None] if s.drift else []
        if drift:
            status += f" · fills {len(drift)}, mean drift {sum(drift) / len(drift):+.2f} bps, alerts {s.drift.alerts}"
        lines.append(status)
        return Group(table, *(Text(line) for line in lines))

    def _clock_line(self) -> str:
        import time

        elapsed = time.monotonic() - self._started
        left = f", {max(0.0, self._duration - elapsed):.0f} s left" if self._duration is not None else ""
        return f"feed {self._feed} · {elapsed:.0f} s elapsed{left}"


def _price(strategy, iid: str) -> str:  # noqa: ANN001
    from nautilus_trader.model.identifiers import InstrumentId

    quote = strategy.cache.quote_tick(InstrumentId.from_str(iid))
    return f"{(quote.bid_price.as_double() + quote.ask_price.as_double()) / 2:,.2f}" if quote else "-"
