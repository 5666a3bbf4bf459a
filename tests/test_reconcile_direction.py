"""Severity by direction, field by field and both ways: BLOCKING when the venue got stricter in a way that can reject
an order the catalog allows, INFO when it only relaxed, WARNING for what changes what is sent without a reject."""

from __future__ import annotations

from decimal import Decimal

import pytest

from nautlive.catalog.reconcile import FIELDS, INCREMENTS, MAXIMUMS, MINIMUMS, blocked_instruments, compare, enforce
from nautlive.catalog.specs import ExecutionMetadataCatalog, InstrumentSpec
from nautlive.config.profile import ReconcileSettings
from nautlive.errors import ReconcileBlocked
from nautlive.session.engine import reconcile_policy

D = Decimal
CATALOG = dict(instrument_id="BTCUSDT.BINANCE", status="TRADING", tick_size=D("0.01"), step_size=D("0.00001"),
               min_qty=D("0.0001"), max_qty=D("9000"), market_max_qty=D("168.82682004"), min_notional=D("5"),
               max_notional=D("9000000"), price_precision=8, size_precision=8, base="BTC", quote="USDT")


def spec(**changes) -> InstrumentSpec:
    return InstrumentSpec(**{**CATALOG, **changes})


def rows(venue: InstrumentSpec, overrides=None) -> list[tuple[str, str]]:  # noqa: ANN001
    result = compare(ExecutionMetadataCatalog(venue="BINANCE", instruments=[spec()]), {"BTCUSDT": venue},
                     overrides=overrides)
    return [(m.field, m.severity) for m in result.mismatches]


# (field, venue value, severity, why): every compared field, stricter and relaxed, and a filter dropped (None).
CASES = [
    ("min_qty", D("0.001"), "BLOCKING", "higher minimum"),
    ("min_qty", D("0.00005"), "INFO", "lower minimum, on the step grid"),
    ("min_qty", None, "INFO", "minimum dropped"),
    ("min_notional", D("10"), "BLOCKING", "higher minimum"),
    ("min_notional", D("1"), "INFO", "lower minimum"),
    ("min_notional", None, "INFO", "NOTIONAL filter dropped"),
    ("max_qty", D("100"), "BLOCKING", "lower maximum"),
    ("max_qty", D("90000"), "INFO", "higher maximum"),
    ("max_qty", None, "INFO", "maximum dropped"),
    ("market_max_qty", D("100"), "BLOCKING", "lower maximum"),
    ("market_max_qty", D("180.64469744"), "INFO", "higher maximum (Binance moves it with volume)"),
    ("market_max_qty", None, "INFO", "MARKET_LOT_SIZE dropped"),
    ("max_notional", D("1000"), "BLOCKING", "lower maximum"),
    ("max_notional", D("90000000"), "INFO", "higher maximum"),
    ("max_notional", None, "INFO", "maximum dropped"),
    ("step_size", D("0.001"), "BLOCKING", "coarser: the catalog's quantities fall between steps"),
    ("step_size", D("0.00003"), "BLOCKING", "not a divisor of the catalog's step"),
    ("step_size", D("0.000001"), "INFO", "finer: every catalog quantity still on the grid"),
    ("step_size", None, "INFO", "step dropped"),
    ("tick_size", D("0.1"), "BLOCKING", "coarser: the catalog's prices fall between ticks"),
    ("tick_size", D("0.001"), "INFO", "finer: every catalog price still on the grid"),
    ("tick_size", None, "INFO", "tick dropped"),
    ("status", "HALT", "BLOCKING", "halted"),
    ("status", "BREAK", "BLOCKING", "in a break"),
    ("price_precision", 2, "WARNING", "fewer decimals: Nautilus rounds prices to them"),
    ("price_precision", 10, "WARNING", "more decimals"),
    ("size_precision", 5, "WARNING", "fewer decimals: Nautilus rounds quantities to them"),
    ("size_precision", 10, "WARNING", "more decimals"),
    ("base", "WBTC", "BLOCKING", "another asset"),
    ("quote", "FDUSD", "BLOCKING", "another asset"),
]


@pytest.mark.parametrize(("field", "value", "severity", "why"), CASES, ids=lambda c: str(c))
def test_each_field_each_direction(field, value, severity, why):
    assert rows(spec(**{field: value})) == [(field, severity)], why


def test_the_table_covers_every_compared_field_and_both_directions_of_each_limit():
    assert {field for field, *_ in CASES} == set(FIELDS)
    for field in (*MINIMUMS, *MAXIMUMS, *INCREMENTS):
        assert {severity for f, _, severity, _ in CASES if f == field} == {"BLOCKING", "INFO"}, field


@pytest.mark.parametrize(("field", "catalog_value", "venue_value", "severity"), [
    ("min_notional", None, D("5"), "BLOCKING"),  # the venue adds a minimum the catalog never had
    ("max_qty", None, D("9000"), "BLOCKING"),  # ... or a maximum
    ("step_size", None, D("0.00001"), "BLOCKING"),
    ("status", "BREAK", "TRADING", "INFO"),  # trading again: a relaxation
    ("status", "HALT", "BREAK", "BLOCKING"),  # still not trading
])
def test_a_filter_the_catalog_lacks_or_a_status_coming_back(field, catalog_value, venue_value, severity):
    catalog = ExecutionMetadataCatalog(venue="BINANCE", instruments=[spec(**{field: catalog_value})])
    result = compare(catalog, {"BTCUSDT": spec(**{field: venue_value})})
    assert [(m.field, m.severity) for m in result.mismatches] == [(field, severity)]


def test_a_lower_minimum_off_the_step_grid_is_blocking():
    """Binance's LOT_SIZE wants (qty - minQty) to be a whole number of steps: 0.000015 would reject every quantity."""
    assert rows(spec(min_qty=D("0.000015"))) == [("min_qty", "BLOCKING")]
    assert rows(spec(min_qty=D("0.00002"))) == [("min_qty", "INFO")]


def test_halt_and_break_block_that_symbol_only():
    catalog = ExecutionMetadataCatalog(venue="BINANCE", instruments=[
        spec(), spec(instrument_id="ETHUSDT.BINANCE", base="ETH")])
    result = compare(catalog, {"BTCUSDT": spec(status="HALT"), "ETHUSDT": spec(instrument_id="ETHUSDT.BINANCE",
                                                                               base="ETH")})
    assert blocked_instruments(result) == {
        "BTCUSDT.BINANCE": "blocking catalog mismatch status: catalog TRADING vs venue HALT"}


def test_a_profile_override_wins_including_info():
    venue = spec(min_notional=D("10"), size_precision=5, max_qty=D("90000"))
    assert sorted(rows(venue, {"size_precision": "INFO", "max_qty": "WARNING"})) == [
        ("max_qty", "WARNING"), ("min_notional", "BLOCKING"), ("size_precision", "INFO")]
    assert ReconcileSettings(severity={"market_max_qty": "INFO"}).severity == {"market_max_qty": "INFO"}


# -- what refuses ------------------------------------------------------------------------------------------------


def result_with(*severities: str):
    venue = {"BLOCKING": dict(min_notional=D("10")), "WARNING": dict(size_precision=5),
             "INFO": dict(market_max_qty=D("180.64469744"))}
    changes = {k: v for s in severities for k, v in venue[s].items()}
    return compare(ExecutionMetadataCatalog(venue="BINANCE", instruments=[spec()]), {"BTCUSDT": spec(**changes)})


@pytest.mark.parametrize("policy", ["warn", "fail", "strict", "skip"])
def test_info_never_refuses(policy):
    enforce(result_with("INFO"), policy)


def test_on_mismatch_fail_still_refuses_warning_rows_in_live():
    fail = _profile(on_mismatch="fail")
    assert reconcile_policy(fail, "live", "venue") == "strict"
    with pytest.raises(ReconcileBlocked, match=r"BTCUSDT.BINANCE size_precision: catalog 8 vs venue 5 \(WARNING\)"):
        enforce(result_with("WARNING", "INFO"), reconcile_policy(fail, "live", "venue"))


def test_live_without_on_mismatch_refuses_blocking_only():
    default = _profile()
    policy = reconcile_policy(default, "live", "venue")
    assert policy == "fail"
    enforce(result_with("WARNING", "INFO"), policy)
    with pytest.raises(ReconcileBlocked, match=r"min_notional: catalog 5 vs venue 10 \(BLOCKING\)"):
        enforce(result_with("BLOCKING", "WARNING", "INFO"), policy)


def _profile(**reconcile):  # noqa: ANN202
    from types import SimpleNamespace

    return SimpleNamespace(reconcile=ReconcileSettings(**reconcile))


@pytest.mark.parametrize(("on_mismatch", "live", "shadow"), [
    (None, "fail", "fail"),  # the shipped profiles: BLOCKING refuses in both modes
    ("fail", "strict", "strict"),  # opt-in: WARNING rows refuse too
    ("warn", "fail", "warn"),  # LIVE refuses BLOCKING whatever the profile says
])
def test_what_refuses_per_mode(on_mismatch, live, shadow):
    profile = _profile(on_mismatch=on_mismatch)
    assert (reconcile_policy(profile, "live", "venue"), reconcile_policy(profile, "shadow", "venue")) == (live, shadow)
    assert reconcile_policy(profile, "shadow", "synthetic") == "skip"
