"""The drift report as one self-contained HTML page (plotly.js embedded, so it works offline): per venue the headline
figures, the tables the terminal shows, and the charts."""

from __future__ import annotations

from html import escape
from pathlib import Path

from nautlive.errors import ConfigError
from nautlive.report.charts import venue_figure
from nautlive.report.columns import DriftColumns
from nautlive.report.figures import DriftReport, VenueReport
from nautlive.report.parents import ParentFigures, parent_tables
from nautlive.report.tables import Table, headline, venue_tables

STYLE = """
body{font:14px system-ui,sans-serif;margin:24px;color:#222;max-width:1400px}
h1{font-size:22px;margin:0 0 4px}h2{font-size:18px;margin:28px 0 8px;border-bottom:1px solid #ccc}
.logs{color:#666;margin:0 0 12px}.cards{display:flex;flex-wrap:wrap;gap:8px;margin:8px 0 16px}
.card{border:1px solid #ddd;border-radius:6px;padding:6px 12px;min-width:110px}
.card b{display:block;font-size:18px}.card span{color:#666;font-size:12px}
table{border-collapse:collapse;margin:4px 0 18px;font-size:12px}
caption{text-align:left;font-weight:600;padding:4px 0}
th,td{border:1px solid #ddd;padding:3px 7px;text-align:right;white-space:nowrap}
th{background:#f4f4f4}td:first-child,th:first-child{text-align:left}
"""


def write_html(columns: DriftColumns, report: DriftReport, path: Path, parents: ParentFigures | None = None) -> None:
    """Write the page to `path` (with the execution styles' tables when the log names parent orders); ConfigError
    when it cannot be written."""
    sections = [_venue_section(columns, v, first=i == 0) for i, v in enumerate(report.venues)]
    if parents is not None:
        sections.append(f"<h2>execution styles</h2>{''.join(map(_table, parent_tables(parents)))}")
    notes = f" · skipped {report.malformed_lines} malformed line(s)" if report.malformed_lines else ""
    page = (
        "<!DOCTYPE html><html><head><meta charset='utf-8'><title>nautlive drift report</title>"
        f"<style>{STYLE}</style></head><body><h1>nautlive drift report</h1>"
        f"<p class='logs'>{escape(', '.join(report.logs))}{notes}</p>"
        f"{''.join(sections) or '<p>no fills</p>'}</body></html>"
    )
    try:
        Path(path).write_text(page, encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"--html: cannot write {path}: {exc.strerror}") from None


def _venue_section(columns: DriftColumns, v: VenueReport, first: bool) -> str:
    cards = "".join(f"<div class='card'><b>{escape(value)}</b><span>{escape(label)}</span></div>"
                    for label, value in headline(v))
    figure = venue_figure(columns, v.venue).to_html(full_html=False, include_plotlyjs=first)
    return (f"<h2>{escape(v.venue)} · {escape(v.first_ts)} .. {escape(v.last_ts)}</h2><div class='cards'>{cards}</div>"
            f"{''.join(map(_table, venue_tables(v)))}{figure}")


def _table(t: Table) -> str:
    head = "".join(f"<th>{escape(c)}</th>" for c in t.columns)
    body = "".join("<tr>" + "".join(f"<td>{_cell(c)}</td>" for c in row) + "</tr>" for row in t.rows)
    return f"<table><caption>{escape(t.title)}</caption><tr>{head}</tr>{body}</table>"


def _cell(value: object) -> str:
    return "" if value is None else escape(str(value))
