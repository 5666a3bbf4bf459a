"""Execution styles (issue #31): how a planned rebalance order goes out. Pure functions over Decimals, no Nautilus.

- `market`: a MARKET order (IOC on a book) that walks the book; what the visible book cannot fill expires.
- `limit_cap`: a marketable LIMIT IOC at the mid at submit plus (BUY) or minus (SELL) `max_slippage_bps`, the price
  rounded inward to the tick so no fill is ever beyond the cap; what the cap leaves unfilled is canceled at once,
  reported (the rebalance report's `capped`), and planned again by the next rebalance from the account.
- `twap`: each planned order becomes child orders every `interval_secs` over `horizon_secs` (nautlive.core.execution_twap),
  each child a market or a limit_cap order (`child`).
- `passive_then_market`: a post-only LIMIT at the touch, moved when the touch moves, the rest crossing as a market
  order once `patience_secs` ran out (nautlive.core.execution_passive).
Both run as parent orders of the strategy (nautlive.core.execution_parents).
"""

from __future__ import annotations

from collections.abc import Iterator
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal
from typing import Any

STYLES = ("market", "limit_cap", "twap", "passive_then_market")
PARENT_STYLES = ("twap", "passive_then_market")  # styles whose planned orders go out as several child orders
BPS = Decimal(10_000)


def cap_price(side: str, mid: Decimal, max_slippage_bps: Decimal, tick: Decimal) -> Decimal:
    """The limit price of a limit_cap order: mid x (1 +/- cap), on the tick grid and never beyond the cap (BUY rounds
    down, SELL up); at least one tick."""
    if side == "BUY":
        raw = mid * (1 + max_slippage_bps / BPS)
        return (raw / tick).to_integral_value(ROUND_FLOOR) * tick
    raw = mid * (1 - max_slippage_bps / BPS)
    return max((raw / tick).to_integral_value(ROUND_CEILING) * tick, tick)


def slippage_bps(side: str, price: Decimal, mid: Decimal) -> Decimal:
    """Signed so that positive is a cost (the drift log's convention): BUY (price - mid)/mid, SELL (mid - price)/mid."""
    sign = 1 if side == "BUY" else -1
    return sign * (price - mid) / mid * BPS


def execution_ranges(settings: Any) -> Iterator[tuple[str, str]]:  # noqa: ANN401 - profile.ExecutionSettings
    """(key, problem) for each timing of the execution section out of range (validate's form)."""
    if not 0 < settings.horizon_secs < 86_400:
        yield "execution.horizon_secs", f"must be above 0 and below 86400, got {settings.horizon_secs}"
    if not 0 < settings.interval_secs <= settings.horizon_secs:
        yield "execution.interval_secs", (f"must be above 0 and at most horizon_secs ({settings.horizon_secs}), "
                                          f"got {settings.interval_secs}")
    if not 0 < settings.patience_secs < 86_400:
        yield "execution.patience_secs", f"must be above 0 and below 86400, got {settings.patience_secs}"


def strategy_settings(settings: Any) -> dict[str, Any]:  # noqa: ANN401 - profile.ExecutionSettings
    """The execution section as RebalanceConfig fields (the same in backtest, shadow and live)."""
    return {"execution_style": settings.style, "max_slippage_bps": settings.max_slippage_bps,
            "horizon_secs": settings.horizon_secs, "interval_secs": settings.interval_secs,
            "child_style": settings.child, "patience_secs": settings.patience_secs}


def execution_secs(style: str, horizon_secs: float, patience_secs: float) -> float:
    """How long one phase (the sells, or the buys) of a rebalance may take by design beyond the fills themselves."""
    return {"twap": horizon_secs, "passive_then_market": patience_secs}.get(style, 0.0)


def needs_quotes(style: str, where: str) -> None:
    """twap and passive_then_market move with the quotes (children due by data time, an order resting at the touch):
    a run that has none (bars: one quote at each target's close) refuses them, naming the style (exit 2)."""
    from nautlive.errors import ConfigError

    if style in PARENT_STYLES:
        raise ConfigError(f"execution.style {style} needs quotes over time (a backtest on ticks or L2, shadow, live); "
                          f"{where} has a quote only when a target applies: use market or limit_cap there")
