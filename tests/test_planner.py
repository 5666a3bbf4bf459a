"""plan_rebalance: one example per rule and reason, then hypothesis properties of every plan."""

from decimal import Decimal, localcontext

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from nautlive.catalog.specs import InstrumentSpec, load_catalog
from nautlive.config.profile import RebalancePolicy
from nautlive.core.planner import Plan, Quote, plan_rebalance

from .conftest import REPO

D = Decimal
BTC, ETH = "BTCUSDT.BINANCE", "ETHUSDT.BINANCE"
FEE = D("0.001")
BINANCE_QUOTES = {BTC: Quote(D("61800.00"), D("61800.01")), ETH: Quote(D("2600.10"), D("2600.11"))}
NO_LIMITS = RebalancePolicy(band=D("0.01"), cash_buffer=D("0"))
LIMIT_REASONS = {
    "scaled to cash",
    "capped by max_turnover",
    "capped at 50 child orders",
    "max order size below min trade",
}
EXPLAINED = LIMIT_REASONS | {"no price", "no instrument spec", "nothing to rebalance: NAV is 0"}


@pytest.fixture(scope="module")
def binance_specs() -> dict[str, InstrumentSpec]:
    return load_catalog(REPO / "artifacts" / "catalog" / "binance.yaml").by_id()


def spec(iid: str = "X.SIM", step="0.001", min_qty=None, min_notional=None, **more) -> InstrumentSpec:
    dec = lambda v: None if v is None else D(v)  # noqa: E731
    return InstrumentSpec(
        instrument_id=iid,
        step_size=D(step),
        min_qty=dec(min_qty),
        min_notional=dec(min_notional),
        **{k: (dec(v) if k != "status" else v) for k, v in more.items()},
    )


def apply(holdings, cash, plan: Plan, fees):
    """The account after every order fills at its quoted side price, the taker fee paid in cash."""
    holdings = dict(holdings)
    with localcontext() as ctx:
        ctx.prec = 60
        for order in plan.orders:
            fee = fees if isinstance(fees, Decimal) else fees[order.instrument_id]
            notional = order.quantity * order.price
            if order.side == "BUY":
                cash -= notional + notional * fee
                holdings[order.instrument_id] = holdings.get(order.instrument_id, D(0)) + order.quantity
            else:
                cash += notional - notional * fee
                holdings[order.instrument_id] -= order.quantity
    return holdings, cash


def explanation(plan: Plan, iid: str):
    return next(e for e in plan.explanations if e.instrument_id == iid)


# --- examples, one per rule -------------------------------------------------------------------------------------


def test_real_binance_specs_buy_from_cash_to_targets(binance_specs):
    policy = RebalancePolicy(band=D("0.01"), cash_buffer=D("0.002"), max_order_notional=D("50000"))
    plan = plan_rebalance({}, D("100000"), BINANCE_QUOTES, {BTC: D("0.3"), ETH: D("0.2")}, binance_specs, FEE, policy)
    assert [o.side for o in plan.orders] == ["BUY", "BUY"]
    btc, eth = plan.orders
    assert btc.price == D("61800.01") and eth.price == D("2600.11")
    assert btc.quantity % D("0.00001") == 0 and eth.quantity % D("0.0001") == 0
    assert abs(btc.quantity * D("61800.005") - D("30000")) < 100  # 0.3 of NAV, net of this plan's own costs
    assert abs(eth.quantity * D("2600.105") - D("20000")) < 100
    assert plan.nav == D("100000") and plan.cash_after > 0
    assert {e.reason for e in plan.explanations} == {"to target"}
    assert all(abs(e.residual_bps) < 1 for e in plan.explanations)


def test_real_binance_specs_plan_is_idempotent(binance_specs):
    policy = RebalancePolicy(band=D("0.005"), cash_buffer=D("0.002"), max_order_notional=D("20000"))
    holdings, cash = {BTC: D("0.73102"), ETH: D("3.1"), "DOGEUSDT.BINANCE": D("0")}, D("12345.67")
    targets = {BTC: D("0.25"), ETH: D("0.7")}
    plan = plan_rebalance(holdings, cash, BINANCE_QUOTES, targets, binance_specs, FEE, policy)
    assert [o.side for o in plan.orders[:1]] == ["SELL"] and plan.buys()
    assert all(o.notional <= D("20000") for o in plan.orders)
    assert len(plan.buys()) == 2  # ETH split in two children of at most 20,000 USDT
    assert [o.child for o in plan.buys()] == [0, 1]
    after, cash_after = apply(holdings, cash, plan, FEE)
    assert cash_after == plan.cash_after >= D("0.002") * plan.nav_after
    again = plan_rebalance(after, cash_after, BINANCE_QUOTES, targets, binance_specs, FEE, policy)
    assert again.orders == [] and again.nav == plan.nav_after


def test_quote_mid_and_plan_side_helpers():
    assert Quote(D("99"), D("101")).mid == D("100")
    plan = plan_rebalance(
        {"A.SIM": D("10")},
        D("1000"),
        {"A.SIM": Quote(D("10"), D("10")), "B.SIM": Quote(D("5"), D("5"))},
        {"B.SIM": D("0.5")},
        {"A.SIM": spec("A.SIM"), "B.SIM": spec("B.SIM")},
        D(0),
        NO_LIMITS,
    )
    assert [o.side for o in plan.sells()] == ["SELL"] and [o.side for o in plan.buys()] == ["BUY"]
    assert plan.orders == plan.sells() + plan.buys()


def test_within_band_holds():
    quotes, specs = {"A.SIM": Quote(D("100"), D("100"))}, {"A.SIM": spec("A.SIM")}
    plan = plan_rebalance({"A.SIM": D("5")}, D("500"), quotes, {"A.SIM": D("0.505")}, specs, D(0), NO_LIMITS)
    assert plan.orders == []
    e = explanation(plan, "A.SIM")
    assert (e.action, e.reason, e.current_weight, e.residual_bps) == ("hold", "within band", D("0.5"), D("-50"))


def test_a_target_of_whole_steps_is_reached_exactly_even_when_steps_per_nav_never_terminates():
    """1 / 3 steps per USDT of NAV: 300 × 0.333…3 is 99.99…9 at 50 digits; 300 / 3 is 100. Buying 99 left the account
    1% short for good (a re-plan said "below min_qty")."""
    quotes, specs = {"A.SIM": Quote(D("3"), D("3"))}, {"A.SIM": spec("A.SIM", step="1", min_qty="1")}
    policy = RebalancePolicy(band=D("0"), cash_buffer=D("0"))
    plan = plan_rebalance({}, D("300"), quotes, {"A.SIM": D("1")}, specs, D(0), policy)
    assert [(o.side, o.quantity) for o in plan.orders] == [("BUY", D("100"))]
    assert explanation(plan, "A.SIM").residual_bps == 0
    sells = plan_rebalance({"A.SIM": D("150")}, D("0"), quotes, {"A.SIM": D("0.2")}, specs, D(0), policy)
    assert [(o.side, o.quantity) for o in sells.orders] == [("SELL", D("120"))]  # to 30 steps, not 30.000…02


def test_target_zero_sells_whole_holding_rounded_down_and_reports_dust():
    quotes, specs = {"A.SIM": Quote(D("100"), D("100.2"))}, {"A.SIM": spec("A.SIM", step="0.01")}
    plan = plan_rebalance({"A.SIM": D("3.4567")}, D("0"), quotes, {"A.SIM": D("0")}, specs, FEE, NO_LIMITS)
    assert [(o.side, o.quantity, o.price) for o in plan.orders] == [("SELL", D("3.45"), D("100"))]
    e = explanation(plan, "A.SIM")
    assert e.action == "trade" and "dust" in e.reason and e.residual_bps > 0


def test_held_instrument_absent_from_targets_goes_to_zero():
    quotes = {"A.SIM": Quote(D("10"), D("10")), "B.SIM": Quote(D("20"), D("20"))}
    specs = {"A.SIM": spec("A.SIM"), "B.SIM": spec("B.SIM")}
    plan = plan_rebalance(
        {"A.SIM": D("50"), "B.SIM": D("1")}, D("0"), quotes, {"B.SIM": D("0.04")}, specs, D(0), NO_LIMITS
    )
    assert [(o.instrument_id, o.side, o.quantity) for o in plan.orders] == [("A.SIM", "SELL", D("50"))]
    assert explanation(plan, "A.SIM").target_weight == 0


def test_never_sells_more_than_held():
    quotes, specs = {"A.SIM": Quote(D("10"), D("10"))}, {"A.SIM": spec("A.SIM", step="1")}
    plan = plan_rebalance({"A.SIM": D("7.9")}, D("0"), quotes, {}, specs, FEE, NO_LIMITS)
    assert [o.quantity for o in plan.orders] == [D("7")]


def test_below_min_notional_is_skipped_with_the_residual():
    quotes, specs = {"A.SIM": Quote(D("100"), D("100"))}, {"A.SIM": spec("A.SIM", min_notional="50")}
    plan = plan_rebalance({}, D("1000"), quotes, {"A.SIM": D("0.04")}, specs, D(0), NO_LIMITS)
    assert plan.orders == []
    e = explanation(plan, "A.SIM")
    assert (e.action, e.reason, e.residual_bps) == ("skip", "below min_notional", D("-400"))


def test_min_notional_is_checked_at_the_side_price():
    quotes = {"A.SIM": Quote(D("9.99"), D("10.01"))}
    specs = {"A.SIM": spec("A.SIM", step="1", min_notional="50")}
    # 5 units: 50.05 at the ask passes, but as a sell 49.95 at the bid does not
    buy = plan_rebalance({}, D("100"), quotes, {"A.SIM": D("0.55")}, specs, D(0), NO_LIMITS)
    assert [o.quantity for o in buy.orders] == [D("5")]
    sell = plan_rebalance({"A.SIM": D("5")}, D("50"), quotes, {}, specs, D(0), NO_LIMITS)
    assert sell.orders == [] and explanation(sell, "A.SIM").reason == "below min_notional"


def test_below_min_qty_is_skipped():
    quotes, specs = {"A.SIM": Quote(D("100"), D("100"))}, {"A.SIM": spec("A.SIM", step="0.01", min_qty="1")}
    plan = plan_rebalance({}, D("1000"), quotes, {"A.SIM": D("0.05")}, specs, D(0), NO_LIMITS)
    assert plan.orders == [] and explanation(plan, "A.SIM").reason == "below min_qty"


def test_gap_below_one_step_is_skipped():
    quotes, specs = {"A.SIM": Quote(D("100"), D("100"))}, {"A.SIM": spec("A.SIM", step="1")}
    plan = plan_rebalance({}, D("1000"), quotes, {"A.SIM": D("0.05")}, specs, D(0), NO_LIMITS)
    assert plan.orders == [] and explanation(plan, "A.SIM").reason == "below step_size"


def test_missing_quote_is_skipped_and_left_out_of_nav():
    specs = {"A.SIM": spec("A.SIM"), "B.SIM": spec("B.SIM")}
    plan = plan_rebalance(
        {"A.SIM": D("3")},
        D("1000"),
        {"B.SIM": Quote(D("10"), D("10"))},
        {"A.SIM": D("0.2"), "B.SIM": D("0.5")},
        specs,
        D(0),
        NO_LIMITS,
    )
    a = explanation(plan, "A.SIM")
    assert (a.action, a.reason, a.current_weight, a.residual_bps) == ("skip", "no price", None, None)
    assert plan.nav == D("1000") and [o.instrument_id for o in plan.orders] == ["B.SIM"]


def test_zero_or_negative_prices_count_as_no_price():
    specs = {"A.SIM": spec("A.SIM")}
    plan = plan_rebalance({}, D("100"), {"A.SIM": Quote(D("0"), D("1"))}, {"A.SIM": D("0.5")}, specs, D(0), NO_LIMITS)
    assert plan.orders == [] and explanation(plan, "A.SIM").reason == "no price"


def test_instrument_not_trading_is_skipped():
    quotes = {"A.SIM": Quote(D("10"), D("10"))}
    plan = plan_rebalance(
        {"A.SIM": D("10")}, D("0"), quotes, {}, {"A.SIM": spec("A.SIM", status="BREAK")}, D(0), NO_LIMITS
    )
    e = explanation(plan, "A.SIM")
    assert plan.orders == [] and e.action == "skip" and "BREAK" in e.reason and e.current_weight == 1


def test_instrument_without_spec_or_step_is_skipped():
    quotes = {"A.SIM": Quote(D("10"), D("10")), "B.SIM": Quote(D("10"), D("10"))}
    no_step = InstrumentSpec(instrument_id="B.SIM")
    plan = plan_rebalance(
        {}, D("100"), quotes, {"A.SIM": D("0.4"), "B.SIM": D("0.4")}, {"B.SIM": no_step}, D(0), NO_LIMITS
    )
    assert plan.orders == []
    assert [e.reason for e in plan.explanations] == ["no instrument spec", "no step_size in spec"]


def test_order_above_max_order_notional_splits_into_full_children_plus_valid_remainder():
    quotes, specs = {"A.SIM": Quote(D("10"), D("10"))}, {"A.SIM": spec("A.SIM", step="1", min_notional="50")}
    policy = RebalancePolicy(band=D("0.01"), cash_buffer=D("0"), max_order_notional=D("400"))
    plan = plan_rebalance({}, D("1000"), quotes, {"A.SIM": D("1")}, specs, D(0), policy)
    assert [o.quantity for o in plan.orders] == [D("40"), D("40"), D("20")]
    assert [o.child for o in plan.orders] == [0, 1, 2]


def test_split_goes_equal_when_the_remainder_would_be_below_minimum():
    quotes, specs = {"A.SIM": Quote(D("10"), D("10"))}, {"A.SIM": spec("A.SIM", step="1", min_notional="50")}
    policy = RebalancePolicy(band=D("0.01"), cash_buffer=D("0"), max_order_notional=D("400"))
    plan = plan_rebalance({}, D("830"), quotes, {"A.SIM": D("1")}, specs, D(0), policy)
    assert [o.quantity for o in plan.orders] == [D("28"), D("28"), D("27")]  # not 40 + 40 + 3


def test_split_trades_what_can_be_split_validly_and_reports_the_rest():
    quotes, specs = {"A.SIM": Quote(D("1"), D("1"))}, {"A.SIM": spec("A.SIM", step="1", min_notional="8")}
    policy = RebalancePolicy(band=D("0.01"), cash_buffer=D("0"), max_order_notional=D("10"))
    plan = plan_rebalance({}, D("15"), quotes, {"A.SIM": D("1")}, specs, D(0), policy)
    assert [o.quantity for o in plan.orders] == [D("10")]  # 15 splits into no two orders of 8..10
    assert explanation(plan, "A.SIM").residual_bps == D("-3333.33")


def test_order_above_market_max_qty_splits():
    quotes = {"A.SIM": Quote(D("10"), D("10"))}
    specs = {"A.SIM": spec("A.SIM", step="1", market_max_qty="30", max_qty="1000")}
    plan = plan_rebalance({"A.SIM": D("100")}, D("0"), quotes, {}, specs, D(0), NO_LIMITS)
    assert [o.quantity for o in plan.orders] == [D("30"), D("30"), D("30"), D("10")]


def test_max_order_below_min_trade_is_skipped():
    quotes, specs = {"A.SIM": Quote(D("10"), D("10"))}, {"A.SIM": spec("A.SIM", step="1", min_notional="100")}
    policy = RebalancePolicy(band=D("0.01"), cash_buffer=D("0"), max_order_notional=D("50"))
    plan = plan_rebalance({}, D("1000"), quotes, {"A.SIM": D("1")}, specs, D(0), policy)
    assert plan.orders == [] and explanation(plan, "A.SIM").reason == "max order size below min trade"


def test_child_orders_are_capped_per_instrument():
    quotes, specs = {"A.SIM": Quote(D("1"), D("1"))}, {"A.SIM": spec("A.SIM", step="1", market_max_qty="10")}
    plan = plan_rebalance({}, D("10000"), quotes, {"A.SIM": D("1")}, specs, D(0), NO_LIMITS)
    assert len(plan.orders) == 50 and explanation(plan, "A.SIM").reason == "capped at 50 child orders"


def test_sells_first_and_buys_scaled_pro_rata_to_cash_after_fees_and_buffer():
    quotes = {k: Quote(D("10"), D("10")) for k in ("A.SIM", "B.SIM", "C.SIM")}
    specs = {k: spec(k, step="0.01") for k in quotes}
    policy = RebalancePolicy(band=D("0.01"), cash_buffer=D("0.05"))
    plan = plan_rebalance(
        {"A.SIM": D("100")}, D("0"), quotes, {"B.SIM": D("0.6"), "C.SIM": D("0.4")}, specs, FEE, policy
    )
    assert [o.side for o in plan.orders] == ["SELL", "BUY", "BUY"]
    assert plan.cash_after >= D("0.05") * plan.nav_after
    assert plan.cash_after - D("0.05") * plan.nav_after < D("0.2")  # the leftover is below one more step
    b, c = plan.buys()
    assert abs(b.quantity / c.quantity - D("1.5")) < D("0.01")
    assert {explanation(plan, k).reason for k in ("B.SIM", "C.SIM")} == {"scaled to cash"}


def test_no_cash_means_no_buys():
    quotes, specs = {"A.SIM": Quote(D("10"), D("10"))}, {"A.SIM": spec("A.SIM")}
    policy = RebalancePolicy(band=D("0.01"), cash_buffer=D("0.1"))
    plan = plan_rebalance({"A.SIM": D("1")}, D("0"), quotes, {"A.SIM": D("1")}, specs, D(0), policy)
    assert plan.orders == []


def test_max_turnover_caps_sells_first_then_buys():
    quotes = {"A.SIM": Quote(D("10"), D("10")), "B.SIM": Quote(D("10"), D("10"))}
    specs = {k: spec(k, step="1") for k in quotes}
    policy = RebalancePolicy(band=D("0.01"), cash_buffer=D("0"), max_turnover=D("600"))
    plan = plan_rebalance({"A.SIM": D("50")}, D("500"), quotes, {"B.SIM": D("0.9")}, specs, D(0), policy)
    assert sum(o.notional for o in plan.orders) <= D("600")
    assert [(o.side, o.quantity) for o in plan.orders] == [("SELL", D("50")), ("BUY", D("10"))]
    assert explanation(plan, "B.SIM").reason == "capped by max_turnover"
    capped_sells = plan_rebalance({"A.SIM": D("100")}, D("0"), quotes, {"B.SIM": D("1")}, specs, D(0), policy)
    assert [(o.side, o.quantity) for o in capped_sells.orders] == [("SELL", D("60"))]
    assert explanation(capped_sells, "A.SIM").reason == "capped by max_turnover"


def test_fees_per_instrument():
    quotes = {"A.SIM": Quote(D("10"), D("10")), "B.SIM": Quote(D("10"), D("10"))}
    specs = {k: spec(k, step="1") for k in quotes}
    fees = {"A.SIM": D("0.01"), "B.SIM": D("0")}
    plan = plan_rebalance({}, D("1000"), quotes, {"A.SIM": D("0.5"), "B.SIM": D("0.5")}, specs, fees, NO_LIMITS)
    after, cash = apply({}, D("1000"), plan, fees)
    assert cash == plan.cash_after >= 0
    assert (
        plan_rebalance(after, cash, quotes, {"A.SIM": D("0.5"), "B.SIM": D("0.5")}, specs, fees, NO_LIMITS).orders == []
    )


def test_empty_account_plans_nothing():
    plan = plan_rebalance({}, D("0"), {}, {"A.SIM": D("0.5")}, {}, D(0), NO_LIMITS)
    assert plan.orders == [] and plan.explanations[0].reason == "nothing to rebalance: NAV is 0"


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"targets": {"A.SIM": D("-0.1")}}, "target weight of A.SIM must be a finite number >= 0"),
        ({"targets": {"A.SIM": D("NaN")}}, "target weight of A.SIM must be a finite number >= 0"),
        ({"targets": {"A.SIM": D("0.6"), "B.SIM": D("0.5")}}, "target weights sum to 1.1, above 1"),
        ({"holdings": {"A.SIM": D("-1")}}, "holding of A.SIM must be a finite quantity >= 0"),
        ({"cash": D("-5")}, "cash must be a finite amount >= 0"),
        ({"fees": D("1.5")}, "taker fee of all instruments must be a fraction in [0, 1)"),
        ({"fees": {}}, "no taker fee given for A.SIM"),
        ({"policy": RebalancePolicy(band=D("-0.1"))}, "policy: band must be >= 0"),
        ({"policy": RebalancePolicy(max_order_notional=D("0"))}, "policy: max_order_notional must be > 0"),
        ({"policy": RebalancePolicy(max_turnover=D("-1"))}, "policy: max_turnover must be >= 0"),
    ],
)
def test_invalid_inputs_raise_value_error(change, message):
    args = {
        "holdings": {},
        "cash": D("100"),
        "quotes": {"A.SIM": Quote(D("1"), D("1"))},
        "targets": {"A.SIM": D("0.5")},
        "specs": {"A.SIM": spec("A.SIM")},
        "fees": D(0),
        "policy": NO_LIMITS,
    }
    with pytest.raises(ValueError, match=message.replace("[", r"\[").replace("(", r"\(").replace(")", r"\)")):
        plan_rebalance(**(args | change))


# --- properties -------------------------------------------------------------------------------------------------


@st.composite
def accounts(draw):
    """A random account: 1-6 instruments with Binance-like specs, holdings, targets summing to at most 1, a policy."""
    n = draw(st.integers(1, 6))
    quotes, specs, holdings, targets = {}, {}, {}, {}
    for i in range(n):
        iid = f"I{i}.SIM"
        bid = D(draw(st.integers(1, 10**7))) / 100
        spread = (bid * draw(st.integers(0, 20)) / 1000).quantize(D("0.0001"))  # up to 2%, as on a thin book
        quotes[iid] = Quote(bid, bid + spread)
        step = D(1).scaleb(-draw(st.integers(0, 6)))
        specs[iid] = InstrumentSpec(
            instrument_id=iid,
            status=draw(st.sampled_from(["TRADING"] * 9 + ["BREAK"])),
            step_size=step,
            min_qty=step * draw(st.sampled_from([1, 1, 5])),
            min_notional=D(draw(st.sampled_from([0, 1, 5, 10]))),
            market_max_qty=draw(st.one_of(st.none(), st.integers(20, 10**6).map(lambda k, s=step: k * s))),
            max_qty=D(10**7),
        )
        if draw(st.booleans()):
            holdings[iid] = step * draw(st.integers(0, 10**6)) + draw(st.sampled_from([D(0), step / 4]))
    for i in range(n):
        if draw(st.integers(0, 4)):
            targets[f"I{i}.SIM"] = D(draw(st.integers(0, 10_000))) / 10_000
    total = sum(targets.values(), D(0))
    if total > 1:
        targets = {k: (v / total).quantize(D("0.0001"), rounding="ROUND_DOWN") for k, v in targets.items()}
    if draw(st.booleans()):
        del quotes[draw(st.sampled_from(sorted(quotes)))]
    policy = RebalancePolicy(
        band=draw(st.sampled_from([D("0"), D("0.001"), D("0.01"), D("0.05")])),
        cash_buffer=draw(st.sampled_from([D("0"), D("0.002"), D("0.05")])),
        max_order_notional=draw(st.sampled_from([None, D("1000"), D("50000")])),
        max_turnover=draw(st.sampled_from([None] * 3 + [D("5000")])),
    )
    cash = D(draw(st.integers(0, 10**6)))
    fee = draw(st.sampled_from([D("0"), D("0.001"), D("0.0075")]))
    return holdings, cash, quotes, targets, specs, fee, policy


PROPERTY = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@PROPERTY
@given(accounts())
def test_every_order_respects_its_specs_and_the_policy_and_cash_stays_positive(account):
    holdings, cash, quotes, targets, specs, fee, policy = account
    plan = plan_rebalance(*account)
    for order in plan.orders:
        s, q = specs[order.instrument_id], quotes[order.instrument_id]
        assert order.price == (q.ask if order.side == "BUY" else q.bid)
        assert order.quantity > 0 and order.quantity % s.step_size == 0
        assert order.quantity >= s.min_qty and order.notional >= s.min_notional
        assert order.notional == order.quantity * order.price
        assert order.quantity <= s.max_qty and (s.market_max_qty is None or order.quantity <= s.market_max_qty)
        assert policy.max_order_notional is None or order.notional <= policy.max_order_notional
        assert s.status == "TRADING"
    sides = [o.side for o in plan.orders]
    assert sides == sorted(sides, reverse=True)  # every SELL before any BUY
    for iid in holdings:
        sold = sum((o.quantity for o in plan.sells() if o.instrument_id == iid), D(0))
        assert sold <= holdings[iid]
    if policy.max_turnover is not None:
        assert sum((o.notional for o in plan.orders), D(0)) <= policy.max_turnover
    _, cash_after = apply(holdings, cash, plan, fee)
    assert cash_after == plan.cash_after >= 0
    if plan.buys():
        assert cash_after >= policy.cash_buffer * plan.nav_after


@PROPERTY
@given(accounts())
def test_after_the_plan_each_weight_is_on_target_or_explained_and_replanning_gives_no_orders(account):
    holdings, cash, quotes, targets, specs, fee, policy = account
    plan = plan_rebalance(*account)
    after, cash_after = apply(holdings, cash, plan, fee)
    with localcontext() as ctx:
        ctx.prec = 50
        nav = cash_after + sum((q * quotes[i].mid for i, q in after.items() if i in quotes), D(0))
        assert nav == plan.nav_after
        for e in plan.explanations:
            if e.reason in EXPLAINED or e.reason.startswith("status"):
                continue
            s, q = specs[e.instrument_id], quotes[e.instrument_id]
            value = after.get(e.instrument_id, D(0)) * q.mid
            if abs(value / nav - e.target_weight) < policy.band:
                continue
            gap = e.target_weight * nav / q.mid - after.get(e.instrument_id, D(0))
            price = q.ask if gap > 0 else q.bid
            one_min_trade = max(s.step_size, s.min_qty, s.min_notional / price)
            assert abs(gap) < one_min_trade + s.step_size, e
    again = plan_rebalance(after, cash_after, quotes, targets, specs, fee, policy)
    if any(e.reason.startswith("capped") for e in plan.explanations):
        return  # a capped plan is meant to trade the rest next time
    assert again.orders == [], [e for e in again.explanations if e.action == "trade"]
    assert again.nav == plan.nav_after
