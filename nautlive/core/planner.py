"""Rebalance planner: holdings, cash, quotes and target weights in; the orders that reach the targets out.

Pure Decimal code with no Nautilus import, so backtest, shadow and live size orders identically and tests run fast.

How a plan is sized:
- NAV = cash + Σ qty × mid over priced holdings. Target qty = weight × NAV / mid; orders are budgeted at the side
  price (ask for buys, bid for sells) plus the taker fee.
- An instrument trades only when its weight gap is at least `band`; quantities are rounded toward zero to the step
  and must reach min_qty and min_notional (at the side price), else it is skipped with the reason.
- Orders above max_order_notional, max_notional, market_max_qty or max_qty are split into valid child orders.
- Sells come first; buys are scaled pro rata to the cash left after sells, fees and the cash buffer, and the
  total traded notional is capped by max_turnover (sells first).
- Idempotence: weights, targets and the band are measured against the NAV the plan itself leaves after its costs
  (spread to mid and fees), found by iterating to a fixed point. Applying the plan at the quoted prices then
  yields exactly that NAV, so planning again sees every instrument on target (within one step or one minimum
  trade), within band, or short of any affordable trade, and plans nothing.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Context, Decimal, DivisionByZero, InvalidOperation, Overflow, localcontext
from operator import attrgetter
from typing import Literal

import msgspec

from nautlive.catalog.specs import InstrumentSpec
from nautlive.core.policy import RebalancePolicy

# Enough digits that sums and products of venue-sized numbers never round, so a re-plan sees the exact projection.
PLAN_CONTEXT = Context(prec=50, traps=[InvalidOperation, DivisionByZero, Overflow])
MAX_PASSES = 30  # each pass shrinks the NAV error by the fraction costs take of a trade: 2 or 3 suffice
MAX_CHILDREN = 50  # one rebalance never sends more child orders than this per instrument
ZERO = Decimal(0)
ONE = Decimal(1)
HALF = Decimal("0.5")
BPS = Decimal(10_000)
WEIGHT_DIGITS = Decimal("1e-8")
BPS_DIGITS = Decimal("0.01")

CASH = attrgetter("cash_per_step")
NOTIONAL = attrgetter("notional_per_step")

TO_TARGET = "to target"
DUST_LEFT = "to target, dust below step_size left"
WITHIN_BAND = "within band"
BELOW_MIN_QTY = "below min_qty"
BELOW_MIN_NOTIONAL = "below min_notional"
BELOW_STEP = "below step_size"
ORDER_CAP_BELOW_MIN = "max order size below min trade"
NO_PRICE = "no price"
NO_SPEC = "no instrument spec"
NO_STEP = "no step_size in spec"
NO_NAV = "nothing to rebalance: NAV is 0"
SCALED_TO_CASH = "scaled to cash"
CAPPED_BY_TURNOVER = "capped by max_turnover"
CAPPED_BY_CHILDREN = f"capped at {MAX_CHILDREN} child orders"
TRADING = (None, "TRADING")  # InstrumentSpec.trading


class Quote(msgspec.Struct, frozen=True):
    """Top of book for one instrument."""

    bid: Decimal
    ask: Decimal

    @property
    def mid(self) -> Decimal:
        return (self.bid + self.ask) * HALF


class OrderIntent(msgspec.Struct, frozen=True):
    """One market order to send; `price` is the quoted side price it was budgeted at (ask to buy, bid to sell)."""

    instrument_id: str
    side: Literal["BUY", "SELL"]
    quantity: Decimal
    price: Decimal
    notional: Decimal
    child: int = 0


class Explanation(msgspec.Struct, frozen=True):
    """Why one instrument trades or not; residual_bps = (weight after the plan − target weight) × 10,000."""

    instrument_id: str
    current_weight: Decimal | None
    target_weight: Decimal
    action: Literal["trade", "skip", "hold"]
    reason: str
    residual_bps: Decimal | None


class Plan(msgspec.Struct, frozen=True):
    """The orders of one rebalance (sells first), one explanation per instrument, and the projected outcome."""

    orders: list[OrderIntent]
    explanations: list[Explanation]
    nav: Decimal
    cash_after: Decimal
    nav_after: Decimal

    def sells(self) -> list[OrderIntent]:
        return [order for order in self.orders if order.side == "SELL"]

    def buys(self) -> list[OrderIntent]:
        return [order for order in self.orders if order.side == "BUY"]


class _Side(msgspec.Struct):
    """What trading one instrument on one side costs per step, and its order limits in steps."""

    price: Decimal
    min_steps: int
    cap_steps: int | None
    notional_per_step: Decimal
    cash_per_step: Decimal  # paid for a buy, received for a sell, fees included
    drag_per_step: Decimal  # NAV lost per step: distance of the side price to mid plus the fee


class _Line(msgspec.Struct):
    """One tradable instrument's fixed inputs, read by every sizing pass; a side is costed the first time it trades."""

    instrument_id: str
    qty: Decimal
    weight: Decimal
    mid: Decimal
    value: Decimal
    qty_steps: Decimal  # holding in steps (not necessarily whole)
    target_steps_per_nav: Decimal  # target holding in steps per unit of NAV: weight / (mid × step)
    step_value: Decimal  # one step at mid: mid × step
    step: Decimal
    spec: InstrumentSpec
    quote: Quote
    fee: Decimal
    buy: _Side | None = None
    sell: _Side | None = None


class _Sizing(msgspec.Struct):
    """One sizing pass: signed steps per line (+buy, −sell), the signed want in steps before minimums (None: within
    band), the lines a budget cut short, and the NAV the orders cost (spread to mid and fees)."""

    steps: list[int]
    wanted: list[int | None]
    limited: dict[int, str]
    drag: Decimal


def plan_rebalance(
    holdings: Mapping[str, Decimal],
    cash: Decimal,
    quotes: Mapping[str, Quote],
    targets: Mapping[str, Decimal],
    specs: Mapping[str, InstrumentSpec],
    fees: Mapping[str, Decimal] | Decimal,
    policy: RebalancePolicy,
    blocked: Mapping[str, str] | None = None,
    reserved: Decimal = ZERO,
) -> Plan:
    """Plan the orders that move `holdings` toward `targets` (fractions of NAV); raises ValueError on bad input.

    Held instruments absent from `targets` go to 0. `fees` is the taker fee fraction, per instrument or one for all.
    Holdings without a quote are left out of NAV (and reported "no price"). `blocked` instruments (id -> reason) are
    valued but not traded. `reserved` is value the plan must not touch (funds locked in others' open orders): it
    counts in NAV only.
    """
    _check_inputs(holdings, cash, targets, fees, policy)
    with localcontext(PLAN_CONTEXT):
        universe = sorted(targets.keys() | {iid for iid, qty in holdings.items() if qty > ZERO})
        lines, skipped = _lines(universe, holdings, quotes, targets, specs, fees, blocked or {})
        nav = reserved + cash + sum([line.value for line in lines], ZERO) + sum([v for _, v in skipped.values() if v], ZERO)
        if nav <= ZERO:
            lines, skipped = [], dict.fromkeys(universe, (NO_NAV, None))
        nav_after, sizing = _converge(lines, nav, cash, policy)
        orders = _orders(lines, sizing.steps)
        cash_after = cash + sum([_cash_flow(line, k) for line, k in zip(lines, sizing.steps, strict=True) if k], ZERO)
        explanations = _explain(universe, lines, sizing, skipped, targets, nav, nav_after)
        return Plan(orders=orders, explanations=explanations, nav=nav, cash_after=cash_after, nav_after=nav_after)


def _lines(
    universe, holdings, quotes, targets, specs, fees, blocked
) -> tuple[list[_Line], dict[str, tuple[str, Decimal | None]]]:
    """The tradable instruments as lines, and for each other one the reason it is skipped and its value at mid."""
    lines, skipped = [], {}
    for iid in universe:
        quote, spec, qty = quotes.get(iid), specs.get(iid), holdings.get(iid, ZERO)
        if quote is None or (bid := quote.bid) <= ZERO or (ask := quote.ask) <= ZERO:
            skipped[iid] = (NO_PRICE, None)
            continue
        mid = (bid + ask) * HALF  # Quote.mid, inline
        # _untradable_reason's checks inline, in its order (the common case: a TRADING spec with a step)
        if blocked.get(iid) or spec is None or spec.status not in TRADING or (step := spec.step_size) is None \
                or step <= ZERO:
            skipped[iid] = (blocked.get(iid) or _untradable_reason(spec), qty * mid)
            continue
        weight = targets.get(iid, ZERO)
        lines.append(
            _Line(
                iid,
                qty,
                weight,
                mid,
                qty * mid,
                qty / step,
                weight / (step_value := mid * step),
                step_value,
                step,
                spec,
                quote,
                fees if isinstance(fees, Decimal) else _fee_of(fees, iid),
            )
        )
    return lines, skipped


def _check_inputs(holdings, cash, targets, fees, policy: RebalancePolicy) -> None:
    for iid, weight in targets.items():
        if not weight.is_finite() or weight < ZERO:
            raise ValueError(f"target weight of {iid} must be a finite number >= 0, got {weight}")
    total = sum(targets.values(), ZERO)
    if total > 1:
        raise ValueError(f"target weights sum to {total}, above 1")
    for iid, qty in holdings.items():
        if not qty.is_finite() or qty < ZERO:
            raise ValueError(f"holding of {iid} must be a finite quantity >= 0 (long only), got {qty}")
    if not cash.is_finite() or cash < 0:
        raise ValueError(f"cash must be a finite amount >= 0, got {cash}")
    for iid, fee in ({"all instruments": fees} if isinstance(fees, Decimal) else fees).items():
        if not fee.is_finite() or not 0 <= fee < 1:
            raise ValueError(f"taker fee of {iid} must be a fraction in [0, 1), got {fee}")
    if policy.band < 0 or not 0 <= policy.cash_buffer < 1:
        raise ValueError(
            f"policy: band must be >= 0 and cash_buffer in [0, 1), got {policy.band}, {policy.cash_buffer}"
        )
    if policy.max_order_notional is not None and policy.max_order_notional <= 0:
        raise ValueError(f"policy: max_order_notional must be > 0, got {policy.max_order_notional}")
    if policy.max_turnover is not None and policy.max_turnover < 0:
        raise ValueError(f"policy: max_turnover must be >= 0, got {policy.max_turnover}")


def _fee_of(fees: Mapping[str, Decimal], iid: str) -> Decimal:
    try:
        return fees[iid]
    except KeyError:
        raise ValueError(f"no taker fee given for {iid}") from None


def _untradable_reason(spec: InstrumentSpec | None) -> str | None:
    if spec is None:
        return NO_SPEC
    if not spec.trading:
        return f"status {spec.status}, not TRADING"
    if spec.step_size is None or spec.step_size <= ZERO:
        return NO_STEP
    return None


def _buy_side(line: _Line, policy: RebalancePolicy) -> _Side:
    line.buy = _side(line, policy, line.quote.ask, buying=True)
    return line.buy


def _sell_side(line: _Line, policy: RebalancePolicy) -> _Side:
    line.sell = _side(line, policy, line.quote.bid, buying=False)
    return line.sell


def _side(line: _Line, policy: RebalancePolicy, price: Decimal, buying: bool) -> _Side:
    spec, step = line.spec, line.step
    notional_per_step = step * price
    fee = notional_per_step * line.fee
    if buying:
        cash_per_step, drag_per_step = notional_per_step + fee, step * (price - line.mid) + fee
    else:
        cash_per_step, drag_per_step = notional_per_step - fee, step * (line.mid - price) + fee
    min_qty, min_notional = spec.min_qty, spec.min_notional
    min_steps = _ceil_div(min_qty, step) if min_qty is not None and min_qty > step else 1
    if min_notional is not None and min_notional > (notional_per_step if min_steps == 1 else
                                                    min_steps * notional_per_step):
        min_steps = _ceil_div(min_notional, notional_per_step)
    qty_cap = _least(spec.max_qty, spec.market_max_qty)
    notional_cap = _least(policy.max_order_notional, spec.max_notional)
    cap_steps = None if qty_cap is None else int(qty_cap // step)
    if notional_cap is not None:
        notional_steps = int(notional_cap // notional_per_step)
        if cap_steps is None or notional_steps < cap_steps:
            cap_steps = notional_steps
    return _Side(price, min_steps, cap_steps, notional_per_step, cash_per_step, drag_per_step)


def _least(a: Decimal | None, b: Decimal | None) -> Decimal | None:
    return b if a is None else a if b is None or a <= b else b


def _ceil_div(value: Decimal, unit: Decimal) -> int:
    whole, rest = divmod(value, unit)  # one exact operation, faster than a division and a product
    return int(whole) + 1 if rest else int(whole)


def _converge(lines: list[_Line], nav: Decimal, cash: Decimal, policy: RebalancePolicy) -> tuple[Decimal, _Sizing]:
    """Size against the NAV the plan leaves after its own costs, iterating until that NAV reproduces itself.

    Returns the projected NAV and the sizing. A buy one step either side of its target can make the passes
    alternate (one more step costs enough NAV to want one step less); then the pass that trades more is taken,
    so the flipping line ends less than one step past its target and a re-plan rounds that to no order.
    """
    passes: list[tuple[Decimal, Decimal, _Sizing]] = []  # (NAV sized at, NAV projected, sizing)
    nav_after = _estimated_nav_after(lines, nav, cash, policy)
    for _ in range(MAX_PASSES):
        sizing = _size(lines, nav_after, cash, policy)
        projected = nav - sizing.drag
        if projected == nav_after:
            return projected, sizing
        passes.append((nav_after, projected, sizing))
        cycle = [p for p in passes if p[0] == projected]
        if cycle:
            _, projected, sizing = min(passes[passes.index(cycle[0]) :], key=lambda p: p[1])
            return projected, sizing
        nav_after = projected
    return projected, sizing


def _estimated_nav_after(lines: list[_Line], nav: Decimal, cash: Decimal, policy: RebalancePolicy) -> Decimal:
    """A first guess of the fixed point, so that one sizing pass lands close to it and a second usually confirms it.

    Each gap outside the band is traded less the half step that rounding leaves on average, buys scaled to the
    cash: drag(N) is then linear in N, and the NAV it leaves solves N = NAV − drag(N).
    """
    band_value = policy.band * nav
    proceeds = sell_drag = sell_slope = buy_cost = buy_drag = buy_slope = ZERO
    for line in lines:
        gap = line.value - line.weight * nav
        if not gap or abs(gap) < band_value:
            continue
        steps = nav * line.target_steps_per_nav - line.qty_steps
        if gap > ZERO:
            side = line.sell or _sell_side(line, policy)
            steps = -steps - HALF
            proceeds += steps * side.cash_per_step
            sell_drag += steps * side.drag_per_step
            sell_slope += line.target_steps_per_nav * side.drag_per_step
        else:
            side = line.buy or _buy_side(line, policy)
            steps -= HALF
            buy_cost += steps * side.cash_per_step
            buy_drag += steps * side.drag_per_step
            buy_slope += line.target_steps_per_nav * side.drag_per_step
    budget = max(ZERO, cash + proceeds - policy.cash_buffer * nav)
    scale = ONE if buy_cost <= budget else budget / buy_cost
    return nav - (sell_drag + buy_drag * scale) / (1 + buy_slope * scale - sell_slope)


def _cash_flow(line: _Line, steps: int) -> Decimal:
    return -steps * line.buy.cash_per_step if steps > 0 else -steps * line.sell.cash_per_step


def _size(lines: list[_Line], nav_after: Decimal, cash: Decimal, policy: RebalancePolicy) -> _Sizing:
    """One pass: each line's wanted steps at `nav_after`, then sells fitted to the turnover cap, buys to cash too."""
    band_value = policy.band * nav_after
    wanted: list[int | None] = [None] * len(lines)
    sells: list[tuple[int, int, _Side]] = []
    buys: list[tuple[int, int, _Side]] = []
    for i, line in enumerate(lines):
        target_value = line.weight * nav_after
        gap = line.value - target_value
        if not gap or abs(gap) < band_value:
            continue
        # divided, not NAV × the rounded steps per NAV: a target of exactly N steps must not come out N − 1e-49
        target_steps = target_value / line.step_value
        if gap > ZERO:
            raw = int(line.qty_steps - target_steps)
            side = line.sell or _sell_side(line, policy)
            wanted[i] = -raw
            queue = sells
        else:
            raw = int(target_steps - line.qty_steps)
            side = line.buy or _buy_side(line, policy)
            wanted[i] = raw
            queue = buys
        if raw >= side.min_steps and (side.cap_steps is None or raw <= side.cap_steps):
            queue.append((i, raw, side))  # the common case inline: one valid order
        elif want := _tradable(raw, side.min_steps, side.cap_steps):
            queue.append((i, want, side))
    steps = [0] * len(lines)
    limited: dict[int, str] = {}
    turnover = policy.max_turnover
    proceeds = drag = ZERO
    for i, k, side in _fit(sells, [] if turnover is None else [(turnover, NOTIONAL)], lines, limited):
        steps[i] = -k
        proceeds += k * side.cash_per_step
        drag += k * side.drag_per_step
        if turnover is not None:
            turnover -= k * side.notional_per_step
    budgets = [(cash + proceeds - policy.cash_buffer * nav_after, CASH)]
    if turnover is not None:
        budgets.append((turnover, NOTIONAL))
    for i, k, side in _fit(buys, budgets, lines, limited):
        steps[i] = k
        drag += k * side.drag_per_step
    return _Sizing(steps=steps, wanted=wanted, limited=limited, drag=drag)


def _fit(
    wants: list[tuple[int, int, _Side]],
    budgets: list[tuple[Decimal, attrgetter]],
    lines: list[_Line],
    limited: dict[int, str],
) -> list[tuple[int, int, _Side]]:
    """Scale wanted steps pro rata to the tightest budget, then give what rounding left to the largest wants.

    Each budget is (amount, cost per step of a side). Lines cut short are recorded in `limited` with the reason of
    the binding budget. The result leaves no budget for one more valid step on any line, which is what keeps a
    re-plan from trading the crumbs.
    """
    scale, binding = ONE, None
    for amount, cost in budgets:
        total = sum([want * cost(side) for _, want, side in wants], ZERO)
        if total > amount:
            fraction = amount / total if amount > 0 else ZERO
            if fraction < scale:
                scale, binding = fraction, cost
    if binding is None:
        return wants
    got = [_tradable(int(want * scale), side.min_steps, side.cap_steps) for _, want, side in wants]
    left = [
        amount - sum([k * cost(side) for k, (_, _, side) in zip(got, wants, strict=True)], ZERO)
        for amount, cost in budgets
    ]
    largest_first = sorted(
        range(len(wants)),
        key=lambda j: (-wants[j][1] * wants[j][2].notional_per_step, lines[wants[j][0]].instrument_id),
    )
    for j in largest_first:
        _, want, side = wants[j]
        costs = [cost(side) for _, cost in budgets]
        room = min(int(max(ZERO, left_b) // cost_b) for left_b, cost_b in zip(left, costs, strict=True))
        more = _tradable(min(want, got[j] + room), side.min_steps, side.cap_steps) - got[j]
        if more > 0:
            got[j] += more
            left = [left_b - more * cost_b for left_b, cost_b in zip(left, costs, strict=True)]
    reason = SCALED_TO_CASH if binding is CASH else CAPPED_BY_TURNOVER
    for (i, want, _), k in zip(wants, got, strict=True):
        if k < want:
            limited[i] = reason
    return [(i, k, side) for (i, _, side), k in zip(wants, got, strict=True) if k]


def _tradable(steps: int, min_steps: int, cap_steps: int | None) -> int:
    """The largest step count ≤ `steps` that splits into orders of min_steps..cap_steps each (0 if none)."""
    if steps < min_steps:
        return 0
    if cap_steps is None or steps <= cap_steps:
        return steps
    if cap_steps < min_steps:
        return 0
    children = -(-steps // cap_steps)
    if children > MAX_CHILDREN:
        return MAX_CHILDREN * cap_steps
    if steps - (children - 1) * cap_steps >= min_steps or steps // children >= min_steps:
        return steps
    return (children - 1) * cap_steps


def _split(steps: int, min_steps: int, cap_steps: int) -> list[int]:
    """Child order sizes above `cap_steps`: full orders plus the remainder when it is valid on its own, else
    equal-ish orders."""
    children = -(-steps // cap_steps)
    remainder = steps - (children - 1) * cap_steps
    if remainder >= min_steps:
        return [cap_steps] * (children - 1) + [remainder]
    base, extra = divmod(steps, children)
    return [base + 1] * extra + [base] * (children - extra)


def _orders(lines: list[_Line], steps: list[int]) -> list[OrderIntent]:
    sells, buys = [], []
    for line, k in zip(lines, steps, strict=True):
        if not k:
            continue
        if k > 0:
            side, orders, name, size = line.buy, buys, "BUY", k
        else:
            side, orders, name, size = line.sell, sells, "SELL", -k
        iid, step, price, notional_per_step = line.instrument_id, line.step, side.price, side.notional_per_step
        if side.cap_steps is None or size <= side.cap_steps:  # the common case inline: one order
            orders.append(OrderIntent(iid, name, size * step, price, size * notional_per_step))
            continue
        for child, child_size in enumerate(_split(size, side.min_steps, side.cap_steps)):
            orders.append(OrderIntent(iid, name, child_size * step, price, child_size * notional_per_step, child))
    return sells + buys


def _explain(universe, lines, sizing: _Sizing, skipped, targets, nav, nav_after) -> list[Explanation]:
    """One explanation per instrument, in `universe` order; weights after the plan are taken at the projected NAV."""
    bps_after = BPS / nav_after if nav_after > ZERO else ZERO
    per_nav = 1 / nav if nav > ZERO else ZERO  # one division, then products: weights are quantized to 1e-8 anyway
    explained = _explain_lines(lines, sizing, per_nav, bps_after)
    if not skipped:
        return explained
    of_lines = iter(explained)  # lines follow `universe` too
    return [
        _explain_skipped(iid, *skip, targets.get(iid, ZERO), per_nav, bps_after) if (skip := skipped.get(iid))
        else next(of_lines)
        for iid in universe
    ]


def _explain_lines(lines: list[_Line], sizing: _Sizing, per_nav: Decimal, bps_after: Decimal) -> list[Explanation]:
    out = []
    limited = sizing.limited
    for i, (line, k, wanted) in enumerate(zip(lines, sizing.steps, sizing.wanted, strict=True)):
        if k:
            qty_after = line.qty + k * line.step
            value_after = qty_after * line.mid
        else:  # line.value is qty * mid already
            qty_after, value_after = line.qty, line.value
        if wanted is None:
            action, reason = "hold", WITHIN_BAND
        else:
            action, reason = _outcome(line, k, wanted, limited.get(i), qty_after)
        weight = line.weight
        out.append(
            Explanation(
                line.instrument_id,
                (line.value * per_nav).quantize(WEIGHT_DIGITS) or ZERO,
                weight,
                action,
                reason,
                (value_after * bps_after - weight * BPS).quantize(BPS_DIGITS) or ZERO,
            )
        )
    return out


def _explain_skipped(iid, reason, value, weight, per_nav, bps_after) -> Explanation:
    if value is None or not per_nav:  # per_nav is 0 when NAV is not positive
        return Explanation(iid, None, weight, "skip", reason, None)
    weight_now = (value * per_nav).quantize(WEIGHT_DIGITS) or ZERO
    return Explanation(iid, weight_now, weight, "skip", reason, (value * bps_after - weight * BPS).quantize(BPS_DIGITS) or ZERO)


def _outcome(line: _Line, steps: int, wanted: int, limited: str | None, qty_after: Decimal) -> tuple[str, str]:
    if steps:
        if limited:
            return "trade", limited
        side = line.buy if steps > 0 else line.sell
        if side.cap_steps is not None and abs(steps) == MAX_CHILDREN * side.cap_steps < abs(wanted):
            return "trade", CAPPED_BY_CHILDREN
        return "trade", DUST_LEFT if not line.weight and qty_after else TO_TARGET
    if limited:
        return "skip", limited
    return "skip", _minimum_reason(line, line.buy if wanted > 0 else line.sell, abs(wanted))


def _minimum_reason(line: _Line, side: _Side, wanted: int) -> str:
    qty = wanted * line.step
    if line.spec.min_qty is not None and qty < line.spec.min_qty:
        return BELOW_MIN_QTY
    if not wanted:
        return BELOW_STEP
    if line.spec.min_notional is not None and wanted * side.notional_per_step < line.spec.min_notional:
        return BELOW_MIN_NOTIONAL
    return ORDER_CAP_BELOW_MIN
