"""Statistics of the drift report: summarise(columns) -> DriftReport.

Every table row is a set of kinds (venue, mode, instrument, side, session), so the fills are reduced once per kind:
sums by bincount, and each kind's drifts sorted. A row's sums are then the sums of its kinds, and its percentiles are
read from its kinds' sorted drifts (merged when it has several). That keeps a million fills at a few passes over
the columns, whatever the number of tables.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable

import msgspec
import numpy as np

from nautlive.report.columns import DriftColumns
from nautlive.report.figures import (
    CostBreakdown,
    DriftReport,
    DriftStats,
    GroupStats,
    ModeStats,
    SessionStats,
    ShadowVsLive,
    VenueReport,
)
from nautlive.report.worst import worst_orders

SUMS = ("fills", "known", "notional", "drift", "weighted", "known_notional", "alerts", "fee", "fee_fills",
        "fee_notional", "touch_fills", "touch_notional", "spread", "touch_weighted", "touch_fee", "touch_fee_notional")


class _PerKind(msgspec.Struct, frozen=True):
    """The fills reduced per kind: sums (one row per kind, one column per SUMS), each kind's drifts sorted ascending
    (known ones first: span [start, start + known)), and its first and last time."""

    sums: np.ndarray
    drift: np.ndarray
    start: np.ndarray
    first: np.ndarray
    last: np.ndarray

    def total(self, ids: list[int]) -> dict[str, float]:
        return dict(zip(SUMS, self.sums[ids].sum(axis=0).tolist(), strict=True))

    def sorted_drift(self, ids: list[int]) -> np.ndarray:
        known = self.sums[:, 1].astype(np.int64)
        parts = [self.drift[self.start[i] : self.start[i] + known[i]] for i in ids]
        return parts[0] if len(parts) == 1 else np.sort(np.concatenate(parts))


def summarise(columns: DriftColumns) -> DriftReport:
    """Statistics per venue: overall, by mode, by instrument x side x mode, by session, shadow versus live, the cost
    breakdown and the worst fills."""
    per_kind = _per_kind(columns)
    present = np.flatnonzero(per_kind.sums[:, 0]).tolist()
    # a row's kinds in name order: its sums and merged drifts do not depend on the order fills were read in
    present.sort(key=lambda i: msgspec.structs.astuple(columns.kinds[i]))
    memo: dict[tuple[int, ...], DriftStats] = {}

    def stats(ids: list[int]) -> DriftStats:
        if tuple(ids) not in memo:  # e.g. a venue with one mode: its by-mode figures are its overall figures
            memo[tuple(ids)] = _stats(per_kind, ids)
        return memo[tuple(ids)]

    venues = sorted({columns.kinds[i].venue for i in present})
    reports = [
        _venue_report(columns, per_kind, [i for i in present if columns.kinds[i].venue == v], stats) for v in venues
    ]
    return DriftReport(
        logs=columns.paths,
        malformed_lines=columns.malformed,
        fills=sum(v.overall.fills for v in reports),
        fills_unknown_fee=sum(v.overall.fills_unknown_fee for v in reports),
        venues=reports,
    )


def _per_kind(c: DriftColumns) -> _PerKind:
    count = len(c.kinds)
    no_drift, no_fee = np.isnan(c.drift_bps), np.isnan(c.fee_quote)

    def total(weights: np.ndarray | None = None) -> np.ndarray:
        return np.bincount(c.kind, weights, count)

    def counted(mask: np.ndarray) -> np.ndarray:  # cheaper than weights of 0 and 1 when few rows are True
        return np.bincount(c.kind[mask], minlength=count).astype(np.float64)

    def zeroed(values: np.ndarray, where: np.ndarray) -> np.ndarray:
        return np.where(where, 0.0, values) if where.any() else values

    fills = total()
    drift, fee = zeroed(c.drift_bps, no_drift), zeroed(c.fee_quote, no_fee)
    weighted = drift * c.notional
    sums = [fills, fills - counted(no_drift), total(c.notional), total(drift), total(weighted),
            total(zeroed(c.notional, no_drift)), counted(c.alert), total(fee), fills - counted(no_fee),
            total(zeroed(c.notional, no_fee))]
    touch = ~np.isnan(c.bid) & ~np.isnan(c.ask) & ~no_drift
    if touch.any():
        spread = (c.ask - c.bid) / (c.ask + c.bid) * 1e4  # mid -> touch in bps of the mid
        untouched = ~touch
        sums += [fills - counted(untouched)] + [
            total(zeroed(values, untouched))
            for values in (c.notional, spread * c.notional, weighted, fee, zeroed(c.notional, no_fee))
        ]
    else:  # lines of writers before bid_at_submit: nothing to break down
        sums += [np.zeros(count)] * 6
    code = c.kind.astype(np.uint16) if count < 2**16 else c.kind  # numpy radix-sorts 16-bit keys
    order = np.argsort(code, kind="stable")
    ends = np.cumsum(sums[0].astype(np.int64))
    starts = ends - sums[0].astype(np.int64)
    sorted_drift = c.drift_bps[order]
    for s, e in zip(starts.tolist(), ends.tolist(), strict=True):
        sorted_drift[s:e].sort()  # NaN (no drift logged) sorts last
    ticks = c.ts.view(np.int64)[order]
    nonempty = starts[ends > starts]
    first, last = np.zeros(count, np.int64), np.zeros(count, np.int64)
    if len(nonempty):
        first[ends > starts] = np.minimum.reduceat(ticks, nonempty)
        last[ends > starts] = np.maximum.reduceat(ticks, nonempty)
    return _PerKind(np.column_stack(sums), sorted_drift, starts, first, last)


def _venue_report(columns: DriftColumns, per_kind: _PerKind, ids: list[int],
                  stats: Callable[[list[int]], DriftStats]) -> VenueReport:
    kinds = columns.kinds

    def by(*fields: str) -> dict[tuple[str, ...], list[int]]:
        groups: dict[tuple[str, ...], list[int]] = defaultdict(list)
        for i in ids:
            groups[tuple(getattr(kinds[i], f) for f in fields)].append(i)
        return dict(sorted(groups.items()))

    by_instrument_mode = by("instrument", "mode")
    return VenueReport(
        venue=kinds[ids[0]].venue,
        first_ts=_iso(per_kind.first[ids].min()),
        last_ts=_iso(per_kind.last[ids].max()),
        overall=stats(ids),
        by_mode=[ModeStats(m, stats(g)) for (m,), g in by("mode").items()],
        by_instrument_side=[GroupStats(i, s, m, stats(g)) for (i, s, m), g in by("instrument", "side", "mode").items()],
        by_session=[
            SessionStats(s, sorted({kinds[i].mode for i in g}), _iso(per_kind.first[g].min()),
                         _iso(per_kind.last[g].max()), stats(g))
            for (s,), g in sorted(by("session").items(), key=lambda item: per_kind.first[item[1]].min())
        ],
        shadow_vs_live=[
            _shadow_vs_live(i, stats(by_instrument_mode[i, "shadow"]), stats(by_instrument_mode[i, "live"]))
            for i in sorted({i for i, _ in by_instrument_mode})
            if (i, "shadow") in by_instrument_mode and (i, "live") in by_instrument_mode
        ],
        costs=[_costs(m, per_kind.total(g)) for (m,), g in by("mode").items()],
        worst=worst_orders(columns, ids),
    )


def _stats(per_kind: _PerKind, ids: list[int]) -> DriftStats:
    s = per_kind.total(ids)
    drift = per_kind.sorted_drift(ids)
    figures: dict[str, float | None] = {}
    if len(drift):
        median, p90, p99 = _percentiles(drift, (50, 90, 99))
        figures = {"mean_bps": s["drift"] / s["known"], "weighted_mean_bps": _ratio(s["weighted"], s["known_notional"]),
                   "median_bps": median, "p90_bps": p90, "p99_bps": p99, "worst_bps": float(drift[-1])}
    return DriftStats(
        fills=int(s["fills"]),
        fills_without_drift=int(s["fills"] - s["known"]),
        notional=s["notional"],
        alerts=int(s["alerts"]),
        fees=s["fee"] if s["fee_fills"] else None,
        fees_bps=_ratio(s["fee"] * 1e4, s["fee_notional"]),
        fills_unknown_fee=int(s["fills"] - s["fee_fills"]),
        **{name: figures.get(name) for name in ("mean_bps", "weighted_mean_bps", "median_bps", "p90_bps", "p99_bps",
                                                 "worst_bps")},
    )


def _percentiles(values: np.ndarray, qs: tuple[float, ...]) -> list[float]:
    """numpy.percentile's default (linear) of values sorted ascending, without numpy sorting them again."""
    position = (len(values) - 1) * np.array(qs) / 100
    low = np.floor(position).astype(np.int64)
    a, b = values[low], values[np.minimum(low + 1, len(values) - 1)]
    t = position - low
    return np.where(t >= 0.5, b - (b - a) * (1 - t), a + (b - a) * t).tolist()  # numpy's lerp, for equal results


def _ratio(numerator: float, denominator: float) -> float | None:
    return numerator / denominator if denominator > 0 else None


def _costs(mode: str, s: dict[str, float]) -> CostBreakdown:
    spread_bps = _ratio(s["spread"], s["touch_notional"])
    drift_bps = _ratio(s["touch_weighted"], s["touch_notional"])
    fees_bps = _ratio(s["touch_fee"] * 1e4, s["touch_fee_notional"])
    return CostBreakdown(
        mode=mode,
        fills=int(s["touch_fills"]),
        notional=s["touch_notional"],
        spread_bps=spread_bps,
        impact_bps=None if drift_bps is None else drift_bps - spread_bps,
        fees_bps=fees_bps,
        total_bps=None if drift_bps is None else drift_bps + (fees_bps or 0.0),
        spread=s["spread"] / 1e4,
        impact=(s["touch_weighted"] - s["spread"]) / 1e4,
        fees=s["touch_fee"],
    )


def _shadow_vs_live(instrument: str, shadow: DriftStats, live: DriftStats) -> ShadowVsLive:
    known = shadow.weighted_mean_bps is not None and live.weighted_mean_bps is not None
    delta = live.weighted_mean_bps - shadow.weighted_mean_bps if known else None
    return ShadowVsLive(instrument, shadow, live, delta)


def _iso(ticks: np.integer) -> str:
    return f"{np.datetime_as_string(np.datetime64(int(ticks), 'us'), unit='us')}Z"
