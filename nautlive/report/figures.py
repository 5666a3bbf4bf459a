"""The drift report's figures: plain msgspec Structs (what --json prints), computed by stats.summarise."""

from __future__ import annotations

import msgspec

from nautlive.errors import RuntimeFailure


class DriftStats(msgspec.Struct, frozen=True):
    """A set of fills: drift in basis points (positive = cost), notional and fees in the quote currency.

    Drift figures cover the fills that logged a drift (a fill without a mid at submit logs null); they are None when
    no fill did. The weighted mean weighs each fill's drift by its notional. `fees` sums the fills' fee_quote (the fee
    converted to the quote currency) and is None when no fill has one; `fees_bps` is that over the notional of the
    fills that have one; `fills_unknown_fee` counts the fills without one (lines of older writers, whose fee has no
    currency), whose fees are not in `fees`.
    """

    fills: int
    fills_without_drift: int
    notional: float
    mean_bps: float | None
    weighted_mean_bps: float | None
    median_bps: float | None
    p90_bps: float | None
    p99_bps: float | None
    worst_bps: float | None
    alerts: int
    fees: float | None
    fees_bps: float | None
    fills_unknown_fee: int


class ModeStats(msgspec.Struct, frozen=True):
    mode: str
    stats: DriftStats


class GroupStats(msgspec.Struct, frozen=True):
    instrument: str
    side: str
    mode: str
    stats: DriftStats


class SessionStats(msgspec.Struct, frozen=True):
    session: str
    modes: list[str]
    first_ts: str
    last_ts: str
    stats: DriftStats


class ShadowVsLive(msgspec.Struct, frozen=True):
    """One instrument traded in both modes: shadow's simulated fills beside live's real ones."""

    instrument: str
    shadow: DriftStats
    live: DriftStats
    live_minus_shadow_bps: float | None  # difference of the notional-weighted means


class CostBreakdown(msgspec.Struct, frozen=True):
    """Where a mode's cost went, over the fills that logged the touch at submit (bid_at_submit, ask_at_submit) and a
    drift: spread is mid -> touch (half the quoted spread), impact is touch -> fill (the drift less the spread), fees
    the fee_quote of those fills that have one. Notional-weighted bps, and the same in the quote currency."""

    mode: str
    fills: int
    notional: float
    spread_bps: float | None
    impact_bps: float | None
    fees_bps: float | None
    total_bps: float | None
    spread: float
    impact: float
    fees: float


class WorstFill(msgspec.Struct, frozen=True):
    """One order: its total qty, `fill_px` the VWAP over its `levels` fills (one per book level, each a line of the
    log), `drift_bps` the VWAP's drift from the mid at submit, `notional` the sum of its levels'."""

    ts: str
    session: str
    mode: str
    instrument: str
    side: str
    qty: str
    fill_px: str
    mid_at_submit: str
    drift_bps: float
    notional: float
    client_order_id: str
    levels: int = 1


class VenueReport(msgspec.Struct, frozen=True):
    venue: str
    first_ts: str
    last_ts: str
    overall: DriftStats
    by_mode: list[ModeStats]
    by_instrument_side: list[GroupStats]
    by_session: list[SessionStats]
    shadow_vs_live: list[ShadowVsLive]
    costs: list[CostBreakdown]
    worst: list[WorstFill]


class DriftReport(msgspec.Struct, frozen=True):
    """The report: one section per venue found in the logs (a venue's notional is in its own quote currency).

    `fills` and `fills_unknown_fee` total the venues' (0 and an empty `venues` when no fill matched); money is not
    totalled across venues, whose quote currencies may differ.
    """

    logs: list[str]
    malformed_lines: int
    fills: int
    fills_unknown_fee: int
    venues: list[VenueReport]


def check_fail_above(report: DriftReport, bps: float) -> None:
    """RuntimeFailure naming each venue whose notional-weighted mean drift exceeds `bps` (no fills: none does)."""
    over = [
        f"{v.venue} {v.overall.weighted_mean_bps:.2f} bps"
        for v in report.venues
        if v.overall.weighted_mean_bps is not None and v.overall.weighted_mean_bps > bps
    ]
    if over:
        raise RuntimeFailure(f"notional-weighted mean drift above --fail-above {bps:g} bps: {', '.join(over)}")
