"""Attendance (考勤) export, summary and punch upload.

Pure parts: `window` (dates, zones, the 180-day limit), `chunks` (≤50 people × ≤7 dates per
call, cost estimate), `people` (selectors → userids), `records` (API record → row),
`summary` and `render` (text formats). I/O parts take a `Caller` (the DingTalk client's
``call``): `fetch` (paged, concurrent, budgeted reads), `export` (the whole export), `upload`
(validated, all-or-nothing checking, exact reporting of what was sent).
"""

from __future__ import annotations

from reconciler.attendance.chunks import Chunk, estimate_calls, plan_chunks
from reconciler.attendance.export import Export, ExportPlan, plan_export, run_export
from reconciler.attendance.fetch import Caller, FetchResult, Progress, Stop, fetch_results
from reconciler.attendance.people import select_people
from reconciler.attendance.records import AttendanceRow, to_rows
from reconciler.attendance.summary import Summary, summarize
from reconciler.attendance.upload import (
    Punch,
    RowProblem,
    UploadResult,
    parse_punches,
    send_punches,
)
from reconciler.attendance.window import Window, check_window, local_today, parse_date, zone

__all__ = [
    "AttendanceRow",
    "Caller",
    "Chunk",
    "Export",
    "ExportPlan",
    "FetchResult",
    "Progress",
    "Punch",
    "RowProblem",
    "Stop",
    "Summary",
    "UploadResult",
    "Window",
    "check_window",
    "estimate_calls",
    "fetch_results",
    "local_today",
    "parse_date",
    "parse_punches",
    "plan_chunks",
    "plan_export",
    "run_export",
    "select_people",
    "send_punches",
    "summarize",
    "to_rows",
    "zone",
]
