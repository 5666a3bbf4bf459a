"""Parity: the same recorded quotes (or bars) and target changes through BacktestEngine and a SHADOW TradingNode.

Both runs must send the same orders (instrument, side, quantity, in order). Divergence = sum |notional_shadow -
notional_backtest| / sum notional_backtest over the matched orders' fills.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from pathlib import Path

import msgspec

from nautlive.config.profile import VenueProfile


class MatchedOrder(msgspec.Struct):
    instrument: str
    side: str
    quantity: str
    backtest_px: str | None
    shadow_px: str | None
    backtest_notional: str
    shadow_notional: str


class ParityResult(msgspec.Struct):
    orders_match: bool
    divergence: float
    tolerance: float
    matched: list[MatchedOrder]
    only_backtest: list[dict]
    only_shadow: list[dict]
    backtest_orders: int
    shadow_orders: int

    @property
    def ok(self) -> bool:
        return self.orders_match and self.divergence <= self.tolerance


def run_parity(
    profile: VenueProfile,
    data: Sequence[str | Path],
    targets: str | Path | None,
    schedule: str | Path | None,
    speed: float,
    tolerance: float,
    bar_ns: int | None = None,
    data_catalog: str | Path | None = None,
) -> ParityResult:
    """Run both paths over the same inputs (recorded streams, or bars as `backtest` takes them) and compare their
    orders and fills. On bars the shadow node replays the backtest's bars in lockstep (data/bar_feed.py)."""
    import tempfile

    from nautlive.data.bars import is_bar_input
    from nautlive.session.engine import SessionOptions, session_id
    from nautlive.session.runner import run_session

    on_bars = data_catalog is not None or any(is_bar_input(str(d)) for d in data)
    halves = _bar_halves if on_bars else _tick_halves
    backtest_orders, backtest_fills, shadow_options = halves(profile, data, targets, schedule, speed, bar_ns,
                                                             data_catalog)
    with tempfile.TemporaryDirectory() as tmp:
        options = SessionOptions(mode="shadow", drift_log=str(Path(tmp) / "drift.log"), session=session_id("parity"),
                                 log_level="ERROR", **shadow_options)
        shadow = run_session(profile, options)
    shadow_orders = _orders_from_dicts(shadow.rebalances)
    shadow_fills = _fills_by_order_dicts(shadow.fills)
    return compare_runs(backtest_orders, backtest_fills, shadow_orders, shadow_fills, tolerance)


def _tick_halves(profile: VenueProfile, data, targets, schedule, speed: float, bar_ns, data_catalog):  # noqa: ANN001, ANN202, ARG001
    """The backtest on recorded ticks; the shadow options that replay the same files and schedule."""
    from nautlive.research.backtest import build_backtest_engine, prepare_run
    from nautlive.session.engine import Feed

    targets = targets or profile.targets
    run = prepare_run(profile, data, targets, schedule)
    engine, strategy = build_backtest_engine(profile, run, None, session="parity-backtest")
    orders, fills = _run_backtest(engine, strategy)
    last_quote = {}
    for tick in run.ticks:
        if type(tick).__name__ == "QuoteTick":
            last_quote[str(tick.instrument_id)] = tick.ts_init
    feed = Feed("replay", paths=[str(p) for p in data], speed=speed)
    return orders, fills, {"feed": feed, "targets": str(targets), "schedule": run.schedule, "data_end_ns": last_quote}


def _bar_halves(profile: VenueProfile, data, targets, schedule, speed: float, bar_ns, data_catalog):  # noqa: ANN001, ANN202, ARG001
    """The backtest on bars; the shadow options that replay the same bars and apply the same targets at the same
    bar closes."""
    from nautlive.core.signals import ScheduledTargets
    from nautlive.research.bar_backtest import build_bar_engine, prepare_bars
    from nautlive.session.engine import Feed

    run = prepare_bars(profile, [str(d) for d in data], targets, schedule, None, bar_ns,
                       data_catalog and str(data_catalog))
    engine, strategy = build_bar_engine(profile, run, None, "parity-backtest")
    orders, fills = _run_backtest(engine, strategy)
    applied = [ScheduledTargets(a.at_ns, a.targets) for a in run.applied]
    return orders, fills, {"feed": Feed("bars"), "targets": str(targets or profile.targets), "schedule": applied,
                           "bar_run": run}


def _run_backtest(engine, strategy):  # noqa: ANN001, ANN202
    try:
        engine.run()
        return _orders(strategy.reports), _fills_by_order(strategy.drift.records)
    finally:
        engine.dispose()


def compare_runs(backtest_orders, backtest_fills, shadow_orders, shadow_fills, tolerance: float) -> ParityResult:  # noqa: ANN001
    """Match the two order lists in sequence; divergence over the matched orders' fill notionals."""
    matched: list[MatchedOrder] = []
    n = min(len(backtest_orders), len(shadow_orders))
    mismatch_at = next((i for i in range(n) if backtest_orders[i][1:] != shadow_orders[i][1:]), n)
    total, diff = Decimal(0), Decimal(0)
    for i in range(mismatch_at):
        b_id, instrument, side, qty = backtest_orders[i]
        s_id = shadow_orders[i][0]
        b_notional, b_px = backtest_fills.get(b_id, (Decimal(0), None))
        s_notional, s_px = shadow_fills.get(s_id, (Decimal(0), None))
        total += b_notional
        diff += abs(s_notional - b_notional)
        matched.append(MatchedOrder(instrument, side, qty, _s(b_px), _s(s_px), _s(b_notional), _s(s_notional)))
    as_dict = lambda o: {"instrument": o[1], "side": o[2], "quantity": o[3]}  # noqa: E731
    return ParityResult(
        orders_match=mismatch_at == len(backtest_orders) == len(shadow_orders),
        divergence=float(diff / total) if total else 0.0,
        tolerance=tolerance,
        matched=matched,
        only_backtest=[as_dict(o) for o in backtest_orders[mismatch_at:]],
        only_shadow=[as_dict(o) for o in shadow_orders[mismatch_at:]],
        backtest_orders=len(backtest_orders),
        shadow_orders=len(shadow_orders),
    )


def _orders(reports) -> list[tuple[str, str, str, str]]:  # noqa: ANN001
    return _orders_from_dicts([msgspec.to_builtins(r) for r in reports])


def _orders_from_dicts(reports: list[dict]) -> list[tuple[str, str, str, str]]:
    return [(o["client_order_id"], o["instrument"], o["side"], o["quantity"]) for r in reports for o in r["orders"]]


def _fills_by_order(records) -> dict[str, tuple[Decimal, Decimal]]:  # noqa: ANN001
    return _fills_by_order_dicts([msgspec.to_builtins(r) for r in records])


def _fills_by_order_dicts(fills: list[dict]) -> dict[str, tuple[Decimal, Decimal]]:
    """client_order_id -> (filled notional, average fill price)."""
    notional: dict[str, Decimal] = {}
    qty: dict[str, Decimal] = {}
    for f in fills:
        coid = f["client_order_id"]
        notional[coid] = notional.get(coid, Decimal(0)) + Decimal(f["notional"])
        qty[coid] = qty.get(coid, Decimal(0)) + Decimal(f["qty"])
    return {k: (v, v / qty[k] if qty[k] else Decimal(0)) for k, v in notional.items()}


def _s(value: Decimal | None) -> str | None:
    return None if value is None else format(value.quantize(Decimal("0.00000001")).normalize(), "f")
