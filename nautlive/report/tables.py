"""The report's tables, as titles, headers and cells of text: the terminal (output.py) and the page (page.py) show
the same ones."""

from __future__ import annotations

from typing import Any

import msgspec

from nautlive.report.figures import DriftStats, VenueReport


class Table(msgspec.Struct, frozen=True):
    title: str
    columns: list[str]
    rows: list[list[Any]]


STATS_COLUMNS = ["fills", "no drift", "notional", "mean", "w.mean", "median", "p90", "p99", "worst", "alerts", "fees",
                 "fees bps"]


def venue_tables(v: VenueReport) -> list[Table]:
    """Every table of a venue's section, in reading order."""
    title = f"{v.venue}: {v.overall.fills} fills {v.first_ts} .. {v.last_ts}"
    if v.overall.fills_unknown_fee:
        title += (f"; fees leave out {v.overall.fills_unknown_fee} fill(s) of unknown fee "
                  "(no fee_quote: logged before fees had a currency)")
    scopes = [("all", v.overall)] + ([(m.mode, m.stats) for m in v.by_mode] if len(v.by_mode) > 1 else [])
    tables = [
        Table(title, ["scope", *STATS_COLUMNS], [[scope, *stats_cells(s)] for scope, s in scopes]),
        Table(f"{v.venue}: by instrument x side x mode", ["instrument", "side", "mode", *STATS_COLUMNS],
              [[g.instrument, g.side, g.mode, *stats_cells(g.stats)] for g in v.by_instrument_side]),
        Table(f"{v.venue}: by session", ["session", "mode", "first", "last", *STATS_COLUMNS],
              [[s.session, ",".join(s.modes), s.first_ts, s.last_ts, *stats_cells(s.stats)] for s in v.by_session]),
    ]
    if v.shadow_vs_live:
        tables.append(Table(
            f"{v.venue}: shadow vs live (notional-weighted mean bps)",
            ["instrument", "shadow fills", "shadow", "live fills", "live", "live - shadow"],
            [[c.instrument, c.shadow.fills, bps(c.shadow.weighted_mean_bps), c.live.fills,
              bps(c.live.weighted_mean_bps), bps(c.live_minus_shadow_bps)] for c in v.shadow_vs_live],
        ))
    if any(c.fills for c in v.costs):
        tables.append(Table(
            f"{v.venue}: cost breakdown (fills that logged the bid and ask at submit; bps of notional)",
            ["mode", "fills", "notional", "spread", "impact", "fees", "total", "spread (quote)", "impact (quote)", "fees (quote)"],
            [[c.mode, c.fills, money(c.notional), bps(c.spread_bps), bps(c.impact_bps), bps(c.fees_bps),
              bps(c.total_bps), money(c.spread), money(c.impact), money(c.fees)] for c in v.costs if c.fills],
        ))
    tables.append(Table(
        f"{v.venue}: worst {len(v.worst)} orders",
        ["ts", "mode", "instrument", "side", "qty", "vwap", "levels", "mid_at_submit", "drift bps", "notional",
         "client_order_id"],
        [[w.ts, w.mode, w.instrument, w.side, w.qty, w.fill_px, w.levels, w.mid_at_submit, bps(w.drift_bps),
          money(w.notional), w.client_order_id] for w in v.worst],
    ))
    return tables


def headline(v: VenueReport) -> list[tuple[str, str]]:
    """The figures a trader reads first, as (label, value)."""
    s = v.overall
    return [
        ("fills", f"{s.fills:,}"), ("notional", money(s.notional)), ("weighted mean", _unit(bps(s.weighted_mean_bps))),
        ("median", _unit(bps(s.median_bps))), ("p90", _unit(bps(s.p90_bps))), ("p99", _unit(bps(s.p99_bps))),
        ("worst", _unit(bps(s.worst_bps))), ("alerts", f"{s.alerts:,}"), ("fees", _unit(bps(s.fees_bps))),
        ("fees (quote ccy)", money(s.fees) or "unknown"),
    ]


def stats_cells(s: DriftStats) -> list[Any]:
    return [
        s.fills, s.fills_without_drift, money(s.notional), bps(s.mean_bps), bps(s.weighted_mean_bps),
        bps(s.median_bps), bps(s.p90_bps), bps(s.p99_bps), bps(s.worst_bps), s.alerts, money(s.fees), bps(s.fees_bps),
    ]


def bps(value: float | None) -> str | None:
    return None if value is None else f"{value:.2f}"


def money(value: float | None) -> str | None:
    return None if value is None else f"{value:,.2f}"


def _unit(text: str | None) -> str:
    return "n/a" if text is None else f"{text} bps"
