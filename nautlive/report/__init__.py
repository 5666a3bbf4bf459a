"""Execution-quality report over the drift log (`nautlive drift-report`), one module per concern:

decode   the fields of a drift-log line the report needs (msgspec Structs, every writer version) and ISO-8601 times;
columns  DriftColumns (fills as numpy columns), the pieces they are read in, and the command line's filters;
read     read_drift_log(paths, filters) -> DriftColumns: files and globs, plain or gzip, in parallel for big logs;
cache    the decoded columns of each log kept between runs, so that a re-run decodes only what was appended;
stats    summarise(columns) -> DriftReport, whose figures (figures.py) --json prints;
tables   the tables, shared by the terminal (output.py) and the page;
page     write_html: the page (headline figures, tables, charts.py's plotly charts, imported only when asked for);
parents  by execution style and by parent order (twap children, passive re-postings), for logs that name parents.
"""

from nautlive.report.columns import MODES, DriftColumns, FillKind, Filters, parse_filters
from nautlive.report.figures import (
    CostBreakdown,
    DriftReport,
    DriftStats,
    GroupStats,
    ModeStats,
    SessionStats,
    ShadowVsLive,
    VenueReport,
    WorstFill,
    check_fail_above,
)
from nautlive.report.output import render_tables, report_json
from nautlive.report.page import write_html
from nautlive.report.parents import ParentFigures, parent_figures, parents_json, render_parent_figures
from nautlive.report.read import DEFAULT_LOG, read_drift_log
from nautlive.report.stats import summarise

__all__ = [
    "DEFAULT_LOG", "MODES", "CostBreakdown", "DriftColumns", "DriftReport", "DriftStats", "FillKind", "Filters",
    "GroupStats", "ModeStats", "SessionStats", "ShadowVsLive", "VenueReport", "WorstFill", "check_fail_above",
    "ParentFigures", "parent_figures", "parents_json", "parse_filters", "read_drift_log", "render_parent_figures",
    "render_tables", "report_json", "summarise", "write_html",
]
