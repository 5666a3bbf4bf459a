"""Checks a loaded profile can mean what it says: every range, URL, instrument id and venue, before any node exists.

`validate_profile` runs at the end of `load_profile`; each failure is a ConfigError (exit 2) naming the file and the
dotted key. `turnover_budget` resolves `risk.max_turnover_per_day` against a NAV.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterator
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import TYPE_CHECKING

from nautlive.core.execution import execution_ranges
from nautlive.errors import ConfigError
from nautlive.venues import all_venues, venue_for

if TYPE_CHECKING:
    from nautlive.config.profile import RiskSettings, VenueProfile

# SYMBOL.VENUE: the symbol may hold dots or slashes (EUR/USD.IDEALPRO, BRK.B.NYSE); the venue is the last part.
_INSTRUMENT_ID = re.compile(r"^(?P<symbol>\S+)\.(?P<venue>[A-Z][A-Z0-9_]*)$")


def validate_profile(profile: VenueProfile, path: str | Path) -> None:
    """Raise a ConfigError "<path>: <key>: <problem>" for the first setting that cannot mean what it says."""
    for key, problem in problems(profile):
        raise ConfigError(f"{path}: {key}: {problem}")


def problems(profile: VenueProfile) -> Iterator[tuple[str, str]]:
    """Every (dotted key, problem) of the profile, in the order the checks run."""
    yield from _ranges(profile)
    yield from _reconcile(profile)
    yield from _live_and_risk(profile)
    for venue in all_venues():  # every section present is checked, whichever venue the profile trades
        yield from venue.profile_problems(profile)
    yield from _instruments(profile)
    yield from _quote_currency(profile)
    yield from _alerts(profile)


def parse_turnover(value: str | int | float) -> tuple[str, Decimal]:
    """`"2x"` -> ("nav", 2); `"250000"` or 250000 -> ("amount", 250000). ValueError when neither or not > 0."""
    text = str(value).strip().replace("_", "")
    kind = "nav" if text[-1:] in ("x", "X") else "amount"
    number = text[:-1].strip() if kind == "nav" else text
    try:
        amount = Decimal(number)
    except InvalidOperation:
        raise ValueError(f'expected a multiple of NAV like "2x" or an amount like "250000", got {value!r}') from None
    if not amount.is_finite() or amount <= 0:
        raise ValueError(f"must be above 0, got {value!r}")
    return kind, amount


def turnover_budget(risk: RiskSettings, nav: Decimal) -> Decimal:
    """The notional a session may trade over a rolling 24 h: the multiple of `nav`, or the absolute amount."""
    kind, amount = parse_turnover(risk.max_turnover_per_day)
    return amount * nav if kind == "nav" else amount


# -- the checks ------------------------------------------------------------------------------------------------------


def _ranges(profile: VenueProfile) -> Iterator[tuple[str, str]]:
    policy = profile.rebalance
    for key, value in (("rebalance.band", policy.band), ("rebalance.cash_buffer", policy.cash_buffer),
                       ("taker_fee", profile.taker_fee)):
        if not _finite(value) or not 0 <= value < 1:
            yield key, f"must be a fraction in [0, 1), got {value}"
    for key, value in (("rebalance.max_order_notional", policy.max_order_notional),
                       ("rebalance.max_turnover", policy.max_turnover)):
        if value is not None and (not _finite(value) or value <= 0):
            yield key, f"must be above 0 when set, got {value}"
    if not 0 <= profile.target_settle_ms <= 60_000:
        yield "targets.settle_ms", f"must be between 0 and 60000, got {profile.target_settle_ms:g}"
    if not 0 <= profile.shadow.latency_ms <= 60_000:
        yield "shadow.latency_ms", f"must be between 0 and 60000, got {profile.shadow.latency_ms:g}"
    for currency, amount in profile.shadow.starting_balances.items():
        if not _finite(amount) or amount < 0:
            yield f"shadow.starting_balances.{currency}", f"must be 0 or more, got {amount}"
    cap = profile.execution.max_slippage_bps
    if not _finite(cap) or not 0 < cap < 10_000:
        yield "execution.max_slippage_bps", f"must be above 0 and below 10000, got {cap}"
    yield from execution_ranges(profile.execution)
    if not _finite(profile.drift_alert_bps) or profile.drift_alert_bps < 0:
        yield "drift_alert_bps", f"must be 0 or more, got {profile.drift_alert_bps}"


def _reconcile(profile: VenueProfile) -> Iterator[tuple[str, str]]:
    from nautlive.catalog.reconcile import FIELDS  # the fields reconcile compares (an override of another does nothing)

    known = (*FIELDS, "instrument")
    for field in profile.reconcile.severity:
        if field not in known:
            yield f"reconcile.severity.{field}", f"not a field reconcile compares (one of {', '.join(known)})"


def _live_and_risk(profile: VenueProfile) -> Iterator[tuple[str, str]]:
    live = profile.live
    for field in ("connect_timeout", "fill_timeout", "stop_timeout", "down_report_secs", "down_timeout",
                  "recover_hours"):
        value = getattr(live, field)
        if not _finite(value) or value <= 0:
            yield f"live.{field}", f"must be above 0, got {value}"
    if profile.risk.max_orders_per_hour <= 0:
        yield "risk.max_orders_per_hour", f"must be above 0, got {profile.risk.max_orders_per_hour}"
    try:
        parse_turnover(profile.risk.max_turnover_per_day)
    except ValueError as exc:
        yield "risk.max_turnover_per_day", str(exc)


def _instruments(profile: VenueProfile) -> Iterator[tuple[str, str]]:
    trading = venue_for(profile)
    expected_venue = trading.name
    if profile.venue != expected_venue:
        yield "venue", f"{profile.venue!r} does not match adapter {profile.adapter} (expected {expected_venue})"
    if not profile.instruments:
        yield "instruments", "the profile lists no instrument"
    seen: set[str] = set()
    for i, iid in enumerate(profile.instruments):
        key = f"instruments[{i}]"
        match = _INSTRUMENT_ID.match(iid)
        if match is None:
            yield key, f"{iid!r} is not an instrument id SYMBOL.VENUE (e.g. BTCUSDT.BINANCE, AAPL.NASDAQ)"
            continue
        if iid in seen:
            yield key, f"{iid} is listed twice"
        seen.add(iid)
        problem = trading.instrument_problem(iid, match["venue"])
        if problem:
            yield key, problem


def _quote_currency(profile: VenueProfile) -> Iterator[tuple[str, str]]:
    """The profile's cash currency must be the quote of every instrument the catalog knows; no catalog, no check."""
    path = Path(profile.catalog)
    if not path.is_file():
        return
    from nautlive.catalog.specs import load_catalog

    specs = load_catalog(path).by_id()
    for iid in profile.instruments:
        spec = specs.get(iid)
        if spec is not None and spec.quote and spec.quote != profile.quote_currency:
            yield "quote_currency", (f"{profile.quote_currency} but the catalog {path} quotes {iid} in {spec.quote} "
                                     f"(set quote_currency: {spec.quote})")
            return


def _alerts(profile: VenueProfile) -> Iterator[tuple[str, str]]:
    """Known event kinds, sane intervals, and URLs apprise can use (apprise is imported only when there are URLs)."""
    from nautlive.alerts.events import EVENT_KINDS

    alerts = profile.alerts
    for i, kind in enumerate(alerts.events):
        if kind not in EVENT_KINDS:
            yield f"alerts.events[{i}]", f"unknown event {kind!r} (expected some of {', '.join(EVENT_KINDS)})"
    if not _finite(alerts.min_interval_secs) or alerts.min_interval_secs < 0:
        yield "alerts.min_interval_secs", f"must be 0 or more, got {alerts.min_interval_secs}"
    if not _finite(alerts.flush_secs) or alerts.flush_secs <= 0:
        yield "alerts.flush_secs", f"must be above 0, got {alerts.flush_secs}"
    if alerts.urls:
        from nautlive.alerts.delivery import url_problem

        for i, url in enumerate(alerts.urls):
            problem = url_problem(url)
            if problem:
                yield f"alerts.urls[{i}]", problem


def _finite(value: Decimal | float) -> bool:
    return value.is_finite() if isinstance(value, Decimal) else math.isfinite(value)
