"""Export rows → CSV or JSON text. Pure: the CLI decides where the text goes."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Sequence
from typing import Any

from reconciler.attendance.records import COLUMNS, AttendanceRow

FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


def spreadsheet_safe(cell: str) -> str:
    """Neutralise a cell a spreadsheet would run as a formula (CSV injection): names come
    from the directory, where anyone with console access can type ``=HYPERLINK(…)``."""
    return "'" + cell if cell.startswith(FORMULA_PREFIXES) else cell


def render_csv(rows: Sequence[AttendanceRow]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(COLUMNS)
    for row in rows:
        cells = row.as_dict()
        writer.writerow(spreadsheet_safe(cells[column]) for column in COLUMNS)
    return buffer.getvalue()


def render_json(rows: Sequence[AttendanceRow], meta: dict[str, Any]) -> str:
    """``{"version": 1, <meta>, "records": [...]}``; meta says the window, zone and whether
    the export is complete."""
    document: dict[str, Any] = {"version": 1, **meta, "records": [r.as_dict() for r in rows]}
    return json.dumps(document, ensure_ascii=False, indent=2) + "\n"
