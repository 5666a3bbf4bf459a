"""How long plan_rebalance takes for 500 instruments (goal: 10 ms), beside a naive float planner in the same run.

The portfolio is seeded and Binance-like: prices from 0.001 to 60,000 USDT, step sizes worth 0.01–1 USDT, min_notional
5, market_max_qty and max_order_notional that split the larger orders, random holdings and targets summing to 0.98.
The baseline applies the same band, step, minimum and cash-scaling rules with floats in one straightforward loop
(no fixed point, no greedy fill, no explanations): what a first attempt looks like.
"""

import json
import math
import random
import statistics
import time
from decimal import Decimal

from nautlive.catalog.specs import InstrumentSpec
from nautlive.config.profile import RebalancePolicy
from nautlive.core.planner import Quote, plan_rebalance

INSTRUMENTS = 500
RUNS = 50
GOAL_MS = 10.0
FEE = Decimal("0.001")
POLICY = RebalancePolicy(band=Decimal("0.001"), cash_buffer=Decimal("0.002"), max_order_notional=Decimal("5000"))


def synthetic_portfolio(seed: int = 42):
    """Holdings, cash, quotes, targets and specs of a seeded 500-instrument Binance-like account worth ~1M USDT."""
    rng = random.Random(seed)
    holdings, quotes, targets, specs = {}, {}, {}, {}
    raw_weights = [rng.random() for _ in range(INSTRUMENTS)]
    scale = 0.98 / sum(raw_weights)
    for n in range(INSTRUMENTS):
        iid = f"C{n:03d}USDT.BINANCE"
        price = 10 ** rng.uniform(-3, math.log10(60_000))
        tick = Decimal(1).scaleb(math.floor(math.log10(price)) - 4)
        bid = Decimal(str(price)).quantize(tick)
        ask = bid + tick * rng.randint(1, 5)
        step = Decimal(1).scaleb(-max(0, math.floor(math.log10(price)) + 2))
        specs[iid] = InstrumentSpec(
            instrument_id=iid,
            status="TRADING",
            tick_size=tick,
            step_size=step,
            min_qty=step,
            max_qty=step * 10**9,
            market_max_qty=(Decimal(20_000) / bid).quantize(step),
            min_notional=Decimal(5),
            max_notional=Decimal(9_000_000),
        )
        quotes[iid] = Quote(bid, ask)
        if rng.random() < 0.8:
            holdings[iid] = (Decimal(rng.uniform(0, 4000)) / bid).quantize(step)
        targets[iid] = Decimal(str(round(raw_weights[n] * scale, 6)))
    return holdings, Decimal(200_000), quotes, targets, specs


def naive_float_plan(holdings, cash, quotes, targets, specs, fee, policy):
    """The same rules with floats in one loop: the baseline."""
    mids = {iid: (float(q.bid) + float(q.ask)) / 2 for iid, q in quotes.items()}
    nav = float(cash) + sum(float(qty) * mids[iid] for iid, qty in holdings.items())
    band, fee, cap = float(policy.band), float(fee), float(policy.max_order_notional)
    sells, buys = [], []
    for iid in sorted(set(targets) | set(holdings)):
        spec, quote = specs[iid], quotes[iid]
        qty, weight = float(holdings.get(iid, 0)), float(targets.get(iid, 0))
        if abs(qty * mids[iid] / nav - weight) < band:
            continue
        step, delta = float(spec.step_size), weight * nav / mids[iid] - qty
        price = float(quote.ask if delta > 0 else quote.bid)
        size = math.floor(abs(delta) / step) * step
        if size < float(spec.min_qty) or size * price < float(spec.min_notional):
            continue
        (buys if delta > 0 else sells).append((iid, size, price))
    cash_left = float(cash) + sum(s * p * (1 - fee) for _, s, p in sells) - float(policy.cash_buffer) * nav
    need = sum(s * p * (1 + fee) for _, s, p in buys)
    ratio = min(1.0, cash_left / need) if need else 1.0
    orders = []
    for iid, size, price in sells + [(i, s * ratio, p) for i, s, p in buys]:
        step = float(specs[iid].step_size)
        children = max(1, math.ceil(size * price / cap), math.ceil(size / float(specs[iid].market_max_qty)))
        child = math.floor(size / children / step) * step
        orders += [(iid, child, price)] * children
    return orders


def median_ms(fn, *args) -> float:
    fn(*args)
    samples = []
    for _ in range(RUNS):
        start = time.perf_counter()
        fn(*args)
        samples.append((time.perf_counter() - start) * 1000)
    return statistics.median(samples)


def main() -> None:
    portfolio = synthetic_portfolio()
    plan = plan_rebalance(*portfolio, FEE, POLICY)
    planner_ms = median_ms(plan_rebalance, *portfolio, FEE, POLICY)
    naive_ms = median_ms(naive_float_plan, *portfolio, FEE, POLICY)
    reasons = {}
    for explanation in plan.explanations:
        reasons[explanation.reason] = reasons.get(explanation.reason, 0) + 1
    print(
        f"plan_rebalance, {INSTRUMENTS} instruments: {len(plan.orders)} orders ({len(plan.sells())} sells), "
        f"reasons {reasons}"
    )
    print(f"planner (Decimal, fixed point, explanations): median {planner_ms:.2f} ms of {RUNS} runs")
    print(f"baseline naive float loop:                    median {naive_ms:.2f} ms of {RUNS} runs")
    print(
        f"ratio to the {GOAL_MS:g} ms goal: {planner_ms / GOAL_MS:.2f}; ratio to the float loop: "
        f"{planner_ms / naive_ms:.2f}"
    )
    print(
        json.dumps(
            {
                "name": "planner_500_instruments",
                "value": round(planner_ms, 3),
                "unit": "ms",
                "baseline": "naive float loop, same run",
                "baseline_value": round(naive_ms, 3),
                "ratio": round(planner_ms / naive_ms, 2),
                "goal": f"<= {GOAL_MS:g} ms",
                "met": planner_ms <= GOAL_MS,
            }
        )
    )


if __name__ == "__main__":
    main()
