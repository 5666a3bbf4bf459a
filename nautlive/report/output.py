"""The drift report for people and scripts: tables (rich on a terminal, tab-separated lines otherwise) and JSON."""

from __future__ import annotations

from typing import Any

import msgspec

from nautlive.report.stats import DriftReport, DriftStats


def report_json(report: DriftReport) -> dict[str, Any]:
    return msgspec.to_builtins(report)


def render_tables(report: DriftReport, fills_in_logs: int | None = None) -> None:
    """The report as tables; a line saying "no fills" when none matched (`fills_in_logs`: how many the logs hold)."""
    from nautlive.render import line, table

    line(f"drift report: {', '.join(report.logs)}")
    if not report.venues:
        line(f"no fills match the filters ({fills_in_logs} in the logs)" if fills_in_logs else "no fills")
        return
    for v in report.venues:
        title = f"{v.venue}: {v.overall.fills} fills {v.first_ts} .. {v.last_ts}"
        if v.overall.fills_unknown_fee:
            title += (f"; fees leave out {v.overall.fills_unknown_fee} fill(s) of unknown fee "
                      "(no fee_quote: logged before fees had a currency)")
        scopes = [("all", v.overall)] + ([(m.mode, m.stats) for m in v.by_mode] if len(v.by_mode) > 1 else [])
        table(title, ["scope", *_STATS_COLUMNS], [[scope, *_stats_cells(s)] for scope, s in scopes])
        table(
            f"{v.venue}: by instrument x side x mode",
            ["instrument", "side", "mode", *_STATS_COLUMNS],
            [[g.instrument, g.side, g.mode, *_stats_cells(g.stats)] for g in v.by_instrument_side],
        )
        if v.shadow_vs_live:
            table(
                f"{v.venue}: shadow vs live (notional-weighted mean bps)",
                ["instrument", "shadow fills", "shadow", "live fills", "live", "live - shadow"],
                [
                    [c.instrument, c.shadow.fills, _bps(c.shadow.weighted_mean_bps), c.live.fills,
                     _bps(c.live.weighted_mean_bps), _bps(c.live_minus_shadow_bps)]
                    for c in v.shadow_vs_live
                ],
            )
        table(
            f"{v.venue}: worst {len(v.worst)} fills",
            ["ts", "mode", "instrument", "side", "qty", "fill_px", "mid_at_submit", "drift bps", "notional",
             "client_order_id"],
            [
                [w.ts, w.mode, w.instrument, w.side, w.qty, w.fill_px, w.mid_at_submit, _bps(w.drift_bps),
                 _money(w.notional), w.client_order_id]
                for w in v.worst
            ],
        )


_STATS_COLUMNS = ["fills", "no drift", "notional", "mean", "w.mean", "median", "p90", "p99", "worst", "alerts", "fees"]


def _stats_cells(s: DriftStats) -> list[Any]:
    return [
        s.fills, s.fills_without_drift, _money(s.notional), _bps(s.mean_bps), _bps(s.weighted_mean_bps),
        _bps(s.median_bps), _bps(s.p90_bps), _bps(s.p99_bps), _bps(s.worst_bps), s.alerts, _money(s.fees),
    ]


def _bps(value: float | None) -> str | None:
    return None if value is None else f"{value:.2f}"


def _money(value: float | None) -> str | None:
    return None if value is None else f"{value:,.2f}"
