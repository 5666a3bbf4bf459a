"""TWAP slicing (execution style `twap`): one planned order cut into child orders spread over the horizon.

Pure Decimal code, no Nautilus. A planned order already obeys the venue's rules (nautlive.planner: lot step, min qty,
min notional, max qty and max notional split into several orders); slicing keeps them for every child: each child is a
whole number of lot steps, a child below the minimum (min qty, or min notional at the planned price) merges into the
next (the last into the one before), and no child is larger than its parent.

The schedule: slice k is due `k x interval_secs` after the parent starts, k = 0 .. n-1 with n = horizon / interval
(at least 1): the first child goes out at once, the last at horizon - interval. A slice that goes out a whole
interval late (held while the venue was down) pushes the rest back by as much: the horizon stretches, the spacing holds.
"""

from __future__ import annotations

from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal

NS = 1_000_000_000


def slice_count(horizon_secs: float, interval_secs: float) -> int:
    """How many slices a horizon holds: one every interval, the first at once (at least one)."""
    return max(1, int(horizon_secs // interval_secs))


def min_child_steps(step: Decimal, price: Decimal, min_qty: Decimal | None, min_notional: Decimal | None) -> int:
    """The fewest lot steps a child may hold: one, or enough for min qty and min notional at `price`."""
    steps = 1
    if min_qty is not None and min_qty > step:
        steps = int((min_qty / step).to_integral_value(ROUND_CEILING))
    if min_notional is not None and price > 0 and steps * step * price < min_notional:
        steps = int((min_notional / (step * price)).to_integral_value(ROUND_CEILING))
    return steps


def even_steps(total: int, slices: int) -> list[int]:
    """`total` lot steps over `slices` as evenly as whole steps go (the larger ones first)."""
    base, extra = divmod(total, slices)
    return [base + 1] * extra + [base] * (slices - extra)


def merge_small(sizes: list[int], minimum: int) -> list[tuple[int, int]]:
    """(slice index, steps) of the children: a slice below `minimum` merges into the next, a short last one into the
    child before it. Empty when the whole is below the minimum (the planner never sends such an order)."""
    children: list[tuple[int, int]] = []
    carry = 0
    for index, size in enumerate(sizes):
        carry += size
        if carry >= minimum:
            children.append((index, carry))
            carry = 0
    if carry and children:
        index, size = children[-1]
        children[-1] = (index, size + carry)
    elif carry:
        children.append((len(sizes) - 1, carry))
    return children


def twap_children(quantity: Decimal, slices: int, step: Decimal, price: Decimal, min_qty: Decimal | None = None,
                  min_notional: Decimal | None = None) -> list[tuple[int, Decimal]]:
    """(slice index, quantity) of each child of a parent of `quantity` (a whole number of `step`s)."""
    total = int((quantity / step).to_integral_value(ROUND_FLOOR))
    minimum = min_child_steps(step, price, min_qty, min_notional)
    return [(index, steps * step) for index, steps in merge_small(even_steps(total, slices), minimum)]


def due_ns(start_ns: int, index: int, interval_secs: float) -> int:
    """When slice `index` of a parent started at `start_ns` is due."""
    return start_ns + int(index * interval_secs * NS)


def slipped_start(start_ns: int, due: int, sent: int, interval_secs: float) -> int:
    """The schedule's start after a slice due at `due` went out at `sent`: pushed back by its lateness when it came a
    whole interval or more late (children held while the venue was down, no data), so the slices behind it keep
    their spacing instead of going out in a burst; unchanged otherwise (a quote's few ms never move the grid, so a
    backtest and a replay still cross each slice on the same quote)."""
    late = sent - due
    return start_ns + late if late >= interval_secs * NS else start_ns
