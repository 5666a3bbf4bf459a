"""Execution-quality report over the drift log (`nautlive drift-report`), one module per concern:

decode  the fields of a drift-log line the report needs (msgspec Structs, every writer version) and ISO-8601 times;
read    read_drift_log(paths, filters) -> DriftColumns: fills as numpy columns, in chunks, parallel for big logs;
stats   summarise(columns) -> DriftReport: plain msgspec Structs per venue; check_fail_above gates cron;
output  render_tables / report_json;
html    write_html: the chart page (plotly, imported only when asked for).
"""

from nautlive.report.html import write_html
from nautlive.report.output import render_tables, report_json
from nautlive.report.read import (
    DEFAULT_LOG,
    MODES,
    DriftColumns,
    FillKind,
    Filters,
    parse_filters,
    read_drift_log,
)
from nautlive.report.stats import (
    DriftReport,
    DriftStats,
    GroupStats,
    ModeStats,
    ShadowVsLive,
    VenueReport,
    WorstFill,
    check_fail_above,
    summarise,
)

__all__ = [
    "DEFAULT_LOG", "MODES", "DriftColumns", "DriftReport", "DriftStats", "FillKind", "Filters", "GroupStats",
    "ModeStats", "ShadowVsLive", "VenueReport", "WorstFill", "check_fail_above", "parse_filters", "read_drift_log",
    "render_tables", "report_json", "summarise", "write_html",
]
