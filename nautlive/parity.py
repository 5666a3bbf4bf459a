"""Parity: the same recorded quotes and target changes through BacktestEngine and a SHADOW TradingNode.

Both runs must send the same orders (instrument, side, quantity, in order). Divergence = sum |notional_shadow -
notional_backtest| / sum notional_backtest over the matched orders' fills.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from pathlib import Path

import msgspec

from nautlive.profile import VenueProfile


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
    targets: str | Path,
    schedule: str | Path | None,
    speed: float,
    tolerance: float,
) -> ParityResult:
    """Run both paths over the same inputs and compare their orders and fills."""
    import tempfile

    from nautlive.backtest import build_backtest_engine, prepare_run
    from nautlive.bars import is_bar_input
    from nautlive.engine import Feed, SessionOptions, session_id
    from nautlive.errors import ConfigError
    from nautlive.session import run_session

    if any(is_bar_input(str(d)) for d in data):
        raise ConfigError("parity: bar files are not supported yet (recorded Binance streams only); "
                          "run `nautlive backtest` on bars")
    run = prepare_run(profile, data, targets, schedule)
    engine, strategy = build_backtest_engine(profile, run, None, session="parity-backtest")
    try:
        engine.run()
        backtest_orders = _orders(strategy.reports)
        backtest_fills = _fills_by_order(strategy.drift.records)
    finally:
        engine.dispose()
    last_quote = {}
    for tick in run.ticks:
        if type(tick).__name__ == "QuoteTick":
            last_quote[str(tick.instrument_id)] = tick.ts_init
    with tempfile.TemporaryDirectory() as tmp:
        options = SessionOptions(
            mode="shadow",
            feed=Feed("replay", paths=[str(p) for p in data], speed=speed),
            targets=str(targets),
            drift_log=str(Path(tmp) / "drift.log"),
            session=session_id("parity"),
            log_level="ERROR",
            schedule=run.schedule,
            data_end_ns=last_quote,
        )
        shadow = run_session(profile, options)
    shadow_orders = _orders_from_dicts(shadow.rebalances)
    shadow_fills = _fills_by_order_dicts(shadow.fills)
    return compare_runs(backtest_orders, backtest_fills, shadow_orders, shadow_fills, tolerance)


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
