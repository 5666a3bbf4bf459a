"""The bar replay of a SHADOW session (parity on bars): the bars a backtest sees, emitted in lockstep with the node.

The client emits the same Nautilus Bars as the backtest (`merged_chunks` of the same `BarRun`), one time step at a
time, and waits until the node's queues are empty before the next step. Where the backtest's schedule actor fires a
time alert at a bar close, the replay applies the same target version through the same `apply_at_close` once every
bar of that close has been processed, and waits until the rebalance is done. The sandbox moves its market on the bars
(trades at open, high, low, close), so orders fill as in the backtest. When everything is played, the cache holds
`REPLAY_DONE` (the session's end condition).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator

from nautlive.data.bar_run import CHUNK_NS, BarRun, apply_at_close
from nautlive.data.bars import merged_chunks
from nautlive.data.feeds import _REPLAY_START_DELAY_SECS, ReplayFeedConfig, _OfflineDataClient

REPLAY_DONE = "nautlive.bar-replay-done"  # cache key set once every bar and target version is through


def time_steps(run: BarRun) -> Iterator[tuple[list, object]]:
    """(the bars closing at one instant, the target version applying at that close or None), in time order."""
    targets = {a.at_ns: a.targets for a in run.applied}
    step: list = []
    for chunk in merged_chunks(run.series, run.instruments, CHUNK_NS):
        for bar in chunk:
            if step and bar.ts_init != step[0].ts_init:
                yield step, targets.get(step[0].ts_init)
                step = []
            step.append(bar)
    if step:
        yield step, targets.get(step[0].ts_init)


class BarReplayDataClient(_OfflineDataClient):
    """Emits a BarRun's bars in time order and applies its targets at their bar closes, in lockstep with the node."""

    def __init__(self, loop, name, config: ReplayFeedConfig, msgbus, cache, clock, run: BarRun) -> None:  # noqa: ANN001
        super().__init__(loop, name, config, msgbus, cache, clock)
        self._run = run
        # Whether the node has processed everything so far (queues empty, no rebalance in flight); set by the builder.
        self.settled: Callable[[], bool] = lambda: True

    async def _connect(self) -> None:
        self._log.info(f"Bar replay for {self.venue}: {self._run.bars} bars, {len(self._run.applied)} target versions")

    async def _emit(self) -> None:
        await asyncio.sleep(_REPLAY_START_DELAY_SECS)
        steps = 0
        for bars, targets in time_steps(self._run):
            for bar in bars:
                self._handle_data(bar)
            await self._settle()
            if targets is not None:
                apply_at_close(self._cache, self._msgbus, self._run, targets)
                await self._settle()
            steps += 1
        self._cache.add(REPLAY_DONE, b"1")
        self._log.info(f"Bar replay ended: {steps} time steps")
