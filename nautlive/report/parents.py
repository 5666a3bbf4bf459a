"""Parent orders and execution styles in the drift log (issue #31): drift-report's "by style" and "by parent order".

Lines written since the execution styles carry `parent_order_id`, `style`, `arrival_mid`, `parent_qty` and `parent_ts`
(a market or limit_cap order is its own parent). Older lines have none: a log without them has no parent figures and
the report prints exactly what it printed before. Per parent, over its children's fills:
- slippage: notional-weighted drift_bps (each child's fill against the mid at that child's submit);
- shortfall: notional-weighted distance of the fills from the arrival mid (the mid when the parent started), bps,
  positive a cost;
- fees: fee_quote over the filled notional, bps; fill ratio: filled / parent quantity;
- time to complete: from the parent's start to its last fill, seconds.
A style's figures are the notional-weighted means over its parents (fill ratio and time: plain means).
"""

from __future__ import annotations

import gzip
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

import msgspec

from nautlive.report.columns import Filters
from nautlive.report.read import GZIP_MAGIC, PARENT_MARK, log_files
from nautlive.report.tables import Table


class ParentFill(msgspec.Struct, gc=False):
    """The fields of a drift-log line the parent figures need."""

    ts: str
    session: str
    mode: str
    venue: str
    instrument: str
    side: str
    qty: float
    fill_px: float
    notional: float
    client_order_id: str = ""
    drift_bps: float | None = None
    fee_quote: float | None = None
    parent_order_id: str | None = None
    style: str | None = None
    arrival_mid: float | None = None
    parent_qty: float | None = None
    parent_ts: str | None = None


class ParentStats(msgspec.Struct):
    parent_order_id: str
    style: str
    instrument: str
    side: str
    children: int
    filled_qty: float
    notional: float
    slippage_bps: float | None
    shortfall_bps: float | None
    fees_bps: float | None
    fill_ratio: float | None
    seconds_to_complete: float | None


class StyleStats(msgspec.Struct):
    style: str
    parents: int
    notional: float
    slippage_bps: float | None
    shortfall_bps: float | None
    fees_bps: float | None
    fill_ratio: float | None
    seconds_to_complete: float | None


DECODER = msgspec.json.Decoder(ParentFill, strict=False)


def read_parent_fills(paths: Sequence[Path | str], filters: Filters = Filters()) -> list[ParentFill]:
    """The fills that name a parent order, from the logs (plain or gzip; malformed lines skipped), filtered."""
    fills: list[ParentFill] = []
    for path in log_files(paths):
        body = path.read_bytes()
        if body[:2] == GZIP_MAGIC:
            try:
                body = gzip.decompress(body)
            except (OSError, EOFError):
                continue  # drift-report's own reader has said so already
        if PARENT_MARK not in body:
            continue
        for raw in body.splitlines():
            if PARENT_MARK not in raw:
                continue
            try:
                fill = DECODER.decode(raw)
            except msgspec.DecodeError:
                continue
            if fill.parent_order_id and kept(fill, filters):
                fills.append(fill)
    return fills


def kept(fill: ParentFill, filters: Filters) -> bool:
    """Whether a fill passes drift-report's filters (the same meaning as for the other tables)."""
    when = _time(fill.ts)
    if when is None or (filters.since and when < filters.since) or (filters.until and when >= filters.until):
        return False
    if filters.venue_id and fill.venue.lower() != filters.venue_id.lower():
        return False
    return all(wanted is None or wanted == got for wanted, got in ((filters.mode, fill.mode),
                                                                   (filters.instrument, fill.instrument),
                                                                   (filters.session, fill.session)))


def shortfall_bps(side: str, fill_px: float, arrival_mid: float) -> float:
    """A fill against the arrival mid, bps, positive a cost."""
    sign = 1 if side == "BUY" else -1
    return sign * (fill_px - arrival_mid) / arrival_mid * 10_000


def parent_stats(fills: list[ParentFill]) -> ParentStats:
    """One parent's figures from its fills (all of one parent order)."""
    first = fills[0]
    notional = sum(f.notional for f in fills)
    filled = sum(f.qty for f in fills)
    priced = [f for f in fills if f.drift_bps is not None]
    arrived = [f for f in fills if f.arrival_mid]
    fees = [f.fee_quote for f in fills if f.fee_quote is not None]
    start = _time(first.parent_ts) if first.parent_ts else None
    end = max(filter(None, (_time(f.ts) for f in fills)), default=None)
    return ParentStats(
        parent_order_id=first.parent_order_id or "", style=first.style or "?", instrument=first.instrument,
        side=first.side, children=len({f.client_order_id for f in fills}),
        filled_qty=filled, notional=notional,
        slippage_bps=_weighted([(f.drift_bps, f.notional) for f in priced]),
        shortfall_bps=_weighted([(shortfall_bps(f.side, f.fill_px, f.arrival_mid), f.notional) for f in arrived]),
        fees_bps=sum(fees) / notional * 10_000 if fees and notional else None,
        fill_ratio=filled / first.parent_qty if first.parent_qty else None,
        seconds_to_complete=(end - start).total_seconds() if start and end else None,
    )


def by_parent(fills: list[ParentFill]) -> list[ParentStats]:
    """Every parent's figures, in the order of their first fill."""
    groups: dict[tuple, list[ParentFill]] = {}
    for fill in fills:
        groups.setdefault((fill.session, fill.style, fill.instrument, fill.parent_order_id), []).append(fill)
    return [parent_stats(group) for group in groups.values()]


def by_style(parents: list[ParentStats]) -> list[StyleStats]:
    """Each style's figures over its parents."""
    styles: dict[str, list[ParentStats]] = {}
    for parent in parents:
        styles.setdefault(parent.style, []).append(parent)
    return [StyleStats(
        style=style, parents=len(group), notional=sum(p.notional for p in group),
        slippage_bps=_weighted([(p.slippage_bps, p.notional) for p in group if p.slippage_bps is not None]),
        shortfall_bps=_weighted([(p.shortfall_bps, p.notional) for p in group if p.shortfall_bps is not None]),
        fees_bps=_weighted([(p.fees_bps, p.notional) for p in group if p.fees_bps is not None]),
        fill_ratio=_mean([p.fill_ratio for p in group]), seconds_to_complete=_mean([p.seconds_to_complete for p in group]),
    ) for style, group in sorted(styles.items())]


def _weighted(pairs: list[tuple[float, float]]) -> float | None:
    weight = sum(w for _, w in pairs)
    return sum(v * w for v, w in pairs) / weight if pairs and weight else None


def _mean(values: list[float | None]) -> float | None:
    known = [v for v in values if v is not None]
    return sum(known) / len(known) if known else None


def _time(text: str) -> datetime | None:
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment.astimezone(UTC) if moment.tzinfo else moment.replace(tzinfo=UTC)


# -- output ------------------------------------------------------------------------------------------------------------

SHOWN_PARENTS = 20  # the terminal lists the latest parents; --json has them all


class ParentFigures(msgspec.Struct):
    by_style: list[StyleStats]
    by_parent: list[ParentStats]


def parent_figures(paths: Sequence[Path | str], filters: Filters = Filters()) -> ParentFigures | None:
    """The parent and style figures of the logs; None when no line names a parent (an older log)."""
    fills = read_parent_fills(paths, filters)
    if not fills:
        return None
    parents = by_parent(fills)
    return ParentFigures(by_style(parents), parents)


def parent_tables(figures: ParentFigures) -> list[Table]:
    """By style, then the latest parents: the terminal's and the page's tables."""
    styles, parents = figures.by_style, figures.by_parent
    shown = parents[-SHOWN_PARENTS:]
    more = f" (the latest {len(shown)} of {len(parents)}; --json lists all)" if len(shown) < len(parents) else ""
    return [
        Table("by execution style (slippage vs the mid at each child's submit, shortfall vs the arrival mid)",
              ["style", "parents", "notional", "slippage bps", "shortfall bps", "fees bps", "fill ratio",
               "time to complete s"],
              [[s.style, s.parents, _fmt(s.notional), _fmt(s.slippage_bps), _fmt(s.shortfall_bps), _fmt(s.fees_bps),
                _fmt(s.fill_ratio, 4), _fmt(s.seconds_to_complete, 1)] for s in styles]),
        Table(f"by parent order{more}",
              ["parent order", "style", "instrument", "side", "children", "notional", "slippage bps",
               "shortfall bps", "fees bps", "fill ratio", "time to complete s"],
              [[p.parent_order_id, p.style, p.instrument, p.side, p.children, _fmt(p.notional), _fmt(p.slippage_bps),
                _fmt(p.shortfall_bps), _fmt(p.fees_bps), _fmt(p.fill_ratio, 4), _fmt(p.seconds_to_complete, 1)]
               for p in shown]),
    ]


def render_parent_figures(figures: ParentFigures | None) -> None:
    """The two tables after drift-report's own (nothing for an older log)."""
    from nautlive.report.console import table

    for t in parent_tables(figures) if figures is not None else []:
        table(t.title, t.columns, t.rows)


def parents_json(figures: ParentFigures | None) -> dict:
    """drift-report --json's additions (none for an older log)."""
    return msgspec.to_builtins(figures) if figures is not None else {}


def _fmt(value: float | None, places: int = 2) -> str:
    return "" if value is None else f"{value:.{places}f}"
