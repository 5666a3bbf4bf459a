"""The drift report for people and scripts: tables (rich on a terminal, tab-separated lines otherwise) and JSON."""

from __future__ import annotations

from typing import Any

import msgspec

from nautlive.report.figures import DriftReport
from nautlive.report.tables import venue_tables


def report_json(report: DriftReport) -> dict[str, Any]:
    return msgspec.to_builtins(report)


def render_tables(report: DriftReport, fills_in_logs: int | None = None) -> None:
    """The report as tables; a line saying "no fills" when none matched (`fills_in_logs`: how many the logs hold)."""
    from nautlive.report.console import line, table

    line(f"drift report: {', '.join(report.logs)}")
    if not report.venues:
        line(f"no fills match the filters ({fills_in_logs} in the logs)" if fills_in_logs else "no fills")
        return
    for v in report.venues:
        for t in venue_tables(v):
            table(t.title, t.columns, t.rows)
