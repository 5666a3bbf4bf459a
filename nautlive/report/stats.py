"""Statistics of the drift report: plain msgspec Structs per venue (overall, by mode, by instrument x side x mode,
shadow versus live, worst fills), and the --fail-above verdict cron relies on."""

from __future__ import annotations

import msgspec
import numpy as np

from nautlive.errors import RuntimeFailure
from nautlive.report.read import DriftColumns

WORST_COUNT = 10


class DriftStats(msgspec.Struct, frozen=True):
    """A set of fills: drift in basis points (positive = cost), notional and fees in the quote currency.

    Drift figures cover the fills that logged a drift (a fill without a mid at submit logs null); they are None when
    no fill did. The weighted mean weighs each fill's drift by its notional. `fees` sums the fills' fee_quote (the fee
    converted to the quote currency) and is None when no fill has one; `fills_unknown_fee` counts the fills without
    one (lines of older writers, whose fee has no currency), whose fees are not in `fees`.
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
    fills_unknown_fee: int


class ModeStats(msgspec.Struct, frozen=True):
    mode: str
    stats: DriftStats


class GroupStats(msgspec.Struct, frozen=True):
    instrument: str
    side: str
    mode: str
    stats: DriftStats


class ShadowVsLive(msgspec.Struct, frozen=True):
    """One instrument traded in both modes: shadow's simulated fills beside live's real ones."""

    instrument: str
    shadow: DriftStats
    live: DriftStats
    live_minus_shadow_bps: float | None  # difference of the notional-weighted means


class WorstFill(msgspec.Struct, frozen=True):
    """One fill as logged (prices and quantities as the log wrote them)."""

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


class VenueReport(msgspec.Struct, frozen=True):
    venue: str
    first_ts: str
    last_ts: str
    overall: DriftStats
    by_mode: list[ModeStats]
    by_instrument_side: list[GroupStats]
    shadow_vs_live: list[ShadowVsLive]
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


Group = tuple[str, str, str, str]  # venue, instrument, side, mode


class _Grouped(msgspec.Struct, frozen=True):
    """The columns reordered so that each (venue, instrument, side, mode) group is one contiguous span."""

    rows: np.ndarray  # the row of `columns` at each position
    drift_bps: np.ndarray
    notional: np.ndarray
    fee_quote: np.ndarray
    alert: np.ndarray
    spans: dict[Group, tuple[int, int]]  # sorted by group


def summarise(columns: DriftColumns) -> DriftReport:
    """Statistics per venue: overall, by mode, by instrument × side × mode, shadow versus live, worst fills."""
    grouped = _grouped(columns)
    cache: dict[tuple[Group, ...], DriftStats] = {}

    def stats(groups: list[Group]) -> DriftStats:
        key = tuple(groups)
        if key not in cache:  # e.g. a venue with one mode: its by-mode figures are its overall figures
            cache[key] = _stats(grouped, groups)
        return cache[key]

    venues = [_venue_report(columns, grouped, v, stats) for v in sorted({g[0] for g in grouped.spans})]
    return DriftReport(
        logs=columns.paths,
        malformed_lines=columns.malformed,
        fills=sum(v.overall.fills for v in venues),
        fills_unknown_fee=sum(v.overall.fills_unknown_fee for v in venues),
        venues=venues,
    )


def _grouped(columns: DriftColumns) -> _Grouped:
    groups = sorted({(k.venue, k.instrument, k.side, k.mode) for k in columns.kinds})
    index = {g: i for i, g in enumerate(groups)}
    group = np.array([index[k.venue, k.instrument, k.side, k.mode] for k in columns.kinds] or [0], np.int32)
    group = group[columns.kind]
    if len(groups) < 2**16:
        group = group.astype(np.uint16)  # numpy radix-sorts 16-bit keys
    rows = np.argsort(group, kind="stable")
    counts = np.bincount(group, minlength=len(groups))
    ends = np.cumsum(counts)
    starts = ends - counts
    return _Grouped(
        rows=rows,
        drift_bps=columns.drift_bps[rows],
        notional=columns.notional[rows],
        fee_quote=columns.fee_quote[rows],
        alert=columns.alert[rows],
        spans={g: (int(s), int(e)) for g, s, e in zip(groups, starts, ends, strict=True) if e > s},
    )


def _venue_report(columns: DriftColumns, grouped: _Grouped, venue: str, stats) -> VenueReport:
    mine = [g for g in grouped.spans if g[0] == venue]
    modes = sorted({g[3] for g in mine})
    instruments = sorted({g[1] for g in mine})
    start, end = grouped.spans[mine[0]][0], grouped.spans[mine[-1]][1]  # a venue's groups are adjacent
    rows = grouped.rows[start:end]
    times = columns.ts[rows]

    def of(instrument: str, mode: str) -> list[Group]:
        return [g for g in mine if g[1] == instrument and g[3] == mode]

    return VenueReport(
        venue=venue,
        first_ts=_iso(times.min()),
        last_ts=_iso(times.max()),
        overall=stats(mine),
        by_mode=[ModeStats(m, stats([g for g in mine if g[3] == m])) for m in modes],
        by_instrument_side=[GroupStats(g[1], g[2], g[3], stats([g])) for g in mine],
        shadow_vs_live=[
            _shadow_vs_live(i, stats(of(i, "shadow")), stats(of(i, "live")))
            for i in instruments
            if of(i, "shadow") and of(i, "live")
        ],
        worst=_worst_fills(columns, rows, grouped.drift_bps[start:end]),
    )


def _stats(grouped: _Grouped, groups: list[Group]) -> DriftStats:
    spans = [slice(*grouped.spans[g]) for g in groups]

    def joined(values: np.ndarray) -> np.ndarray:
        return np.concatenate([values[s] for s in spans])

    drift, notional, fee = joined(grouped.drift_bps), joined(grouped.notional), joined(grouped.fee_quote)
    known = ~np.isnan(drift)
    fee_known = ~np.isnan(fee)
    figures = _drift_figures(drift[known], notional[known]) if known.any() else {}
    return DriftStats(
        fills=len(drift),
        fills_without_drift=int(len(drift) - known.sum()),
        notional=float(notional.sum()),
        alerts=int(joined(grouped.alert).sum()),
        fees=float(fee[fee_known].sum()) if fee_known.any() else None,
        fills_unknown_fee=int(len(fee) - fee_known.sum()),
        **{name: figures.get(name) for name in _DRIFT_FIGURES},
    )


_DRIFT_FIGURES = ("mean_bps", "weighted_mean_bps", "median_bps", "p90_bps", "p99_bps", "worst_bps")


def _drift_figures(drift: np.ndarray, notional: np.ndarray) -> dict[str, float | None]:
    total = notional.sum()
    median, p90, p99 = (float(v) for v in np.percentile(drift, [50, 90, 99]))
    return {
        "mean_bps": float(drift.mean()),
        "weighted_mean_bps": float((drift * notional).sum() / total) if total > 0 else None,
        "median_bps": median,
        "p90_bps": p90,
        "p99_bps": p99,
        "worst_bps": float(drift.max()),
    }


def _shadow_vs_live(instrument: str, shadow: DriftStats, live: DriftStats) -> ShadowVsLive:
    known = shadow.weighted_mean_bps is not None and live.weighted_mean_bps is not None
    delta = live.weighted_mean_bps - shadow.weighted_mean_bps if known else None
    return ShadowVsLive(instrument, shadow, live, delta)


def _worst_fills(columns: DriftColumns, rows: np.ndarray, drift: np.ndarray) -> list[WorstFill]:
    """The WORST_COUNT fills with the highest drift (of `rows`, whose drift is `drift`), re-read in full."""
    known = np.flatnonzero(~np.isnan(drift))
    top = known[np.argpartition(-drift[known], WORST_COUNT)[:WORST_COUNT]] if len(known) > WORST_COUNT else known
    top = top[np.argsort(-drift[top], kind="stable")]
    return [_worst_fill(columns, row) for row in rows[top]]


def _worst_fill(columns: DriftColumns, row: int) -> WorstFill:
    with open(columns.paths[columns.source[row]], "rb") as f:
        f.seek(columns.offset[row])
        line = msgspec.json.decode(f.readline())
    kind = columns.kinds[columns.kind[row]]
    return WorstFill(
        ts=str(line.get("ts")),
        session=kind.session,
        mode=kind.mode,
        instrument=kind.instrument,
        side=kind.side,
        qty=str(line.get("qty")),
        fill_px=str(line.get("fill_px")),
        mid_at_submit=str(line.get("mid_at_submit")),
        drift_bps=float(columns.drift_bps[row]),
        notional=float(columns.notional[row]),
        client_order_id=str(line.get("client_order_id")),
    )


def _iso(moment: np.datetime64) -> str:
    return f"{np.datetime_as_string(moment, unit='us')}Z"


def check_fail_above(report: DriftReport, bps: float) -> None:
    """RuntimeFailure naming each venue whose notional-weighted mean drift exceeds `bps` (no fills: none does)."""
    over = [
        f"{v.venue} {v.overall.weighted_mean_bps:.2f} bps"
        for v in report.venues
        if v.overall.weighted_mean_bps is not None and v.overall.weighted_mean_bps > bps
    ]
    if over:
        raise RuntimeFailure(f"notional-weighted mean drift above --fail-above {bps:g} bps: {', '.join(over)}")
