"""The target schedule of a backtest or a replay, published at data time."""

from __future__ import annotations

from nautilus_trader.common.actor import Actor
from nautilus_trader.config import ActorConfig
from nautilus_trader.model.data import QuoteTick
from nautilus_trader.model.identifiers import InstrumentId

from nautlive.core.signals import TARGETS_TOPIC, ScheduledTargets


class TargetScheduleConfig(ActorConfig, frozen=True):
    instrument_ids: list[str]


class TargetScheduleActor(Actor):
    """Publishes scheduled target changes when the data time reaches them, so backtest and replay agree exactly.

    Driven by quote timestamps, not the clock: an accelerated replay and a backtest cross each `at` on the same quote.
    """

    def __init__(self, config: TargetScheduleConfig, schedule: list[ScheduledTargets]) -> None:
        super().__init__(config)
        self._queue = list(schedule)

    def on_start(self) -> None:
        for iid in self.config.instrument_ids:
            self.subscribe_quote_ticks(InstrumentId.from_str(iid))

    def on_quote_tick(self, tick: QuoteTick) -> None:
        while self._queue and (self._queue[0].at_ns is None or self._queue[0].at_ns <= tick.ts_init):
            self.msgbus.publish(TARGETS_TOPIC, self._queue.pop(0).targets)
