"""A bar run: validated bar series and the target versions applied at bar closes (the bar backtest and SHADOW's
bar replay both step through it)."""

from __future__ import annotations

from dataclasses import dataclass

from nautlive.catalog.specs import ExecutionMetadataCatalog
from nautlive.data.bars import NS, BarSeries
from nautlive.data.schedule import AppliedTargets

CHUNK_NS = 7 * 86_400 * NS  # bars are made a week of data at a time


@dataclass
class BarRun:
    """Validated inputs: bar series (profile order), instruments, applied targets, catalog and warnings."""

    series: list[BarSeries]
    instruments: dict
    applied: list[AppliedTargets]
    catalog: ExecutionMetadataCatalog
    warnings: list[str]

    @property
    def bars(self) -> int:
        return sum(len(s) for s in self.series)


def apply_at_close(cache, msgbus, run: BarRun, targets) -> None:  # noqa: ANN001
    """Publish a target version at a bar close: first a deep quote at each instrument's last close into the cache
    (bars carry no quotes and the strategy prices from quotes). The backtest's actor and the shadow's bar replay
    both apply targets through here, so the strategy sees the same prices in both."""
    from nautilus_trader.model.data import QuoteTick
    from nautilus_trader.model.objects import Quantity

    from nautlive.core.signals import TARGETS_TOPIC
    from nautlive.data.bars import bar_type
    from nautlive.data.book import DEEP_SIZE

    for s in run.series:
        last = cache.bar(bar_type(s.instrument_id, s.step_ns))
        if last is not None:
            size = Quantity(DEEP_SIZE, run.instruments[s.instrument_id].size_precision)
            cache.add_quote_tick(QuoteTick(last.bar_type.instrument_id, last.close, last.close, size, size,
                                           last.ts_init, last.ts_init))
    msgbus.publish(TARGETS_TOPIC, targets)
