"""Count attendance results per person and per department, and render the counts. Pure.

Departments count their whole subtree (HR reads "研发中心" as everyone in it, groups
included); a person in two departments counts once in each, and once in a shared parent.
"""

from __future__ import annotations

import csv
import html
import io
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from reconciler.attendance.people import department_path
from reconciler.attendance.records import AttendanceRow
from reconciler.attendance.render import spreadsheet_safe
from reconciler.attendance.window import Window
from reconciler.model import ROOT, DeptKey, Org, UserId

CATEGORIES = ("Normal", "Late", "SeriousLate", "Early", "Absenteeism", "NotSigned", "Outside")
"""Time results, then Outside (a location result: a punch can be Late *and* Outside)."""

COLOURS = ("#4caf50", "#ffb300", "#f4511e", "#8e24aa", "#c62828", "#9e9e9e", "#1e88e5")

Counts = tuple[int, int, int, int, int, int, int]
ZERO: Counts = (0, 0, 0, 0, 0, 0, 0)


def _count(row: AttendanceRow) -> Counts:
    return (
        int(row.time_result == "Normal"),
        int(row.time_result == "Late"),
        int(row.time_result == "SeriousLate"),
        int(row.time_result == "Early"),
        int(row.time_result == "Absenteeism"),
        int(row.time_result == "NotSigned"),
        int(row.location_result == "Outside"),
    )


def _add(a: Counts, b: Counts) -> Counts:
    return (
        a[0] + b[0],
        a[1] + b[1],
        a[2] + b[2],
        a[3] + b[3],
        a[4] + b[4],
        a[5] + b[5],
        a[6] + b[6],
    )


@dataclass(frozen=True, slots=True)
class Line:
    key: str  # userid, department key, or "" for the total
    label: str  # person's name, department path, or "Total"
    counts: Counts
    people: int = 1


@dataclass(frozen=True, slots=True)
class Summary:
    window: Window
    timezone: str
    people: tuple[Line, ...]
    departments: tuple[Line, ...]
    total: Line
    complete: bool = True

    @property
    def title(self) -> str:
        partial = "" if self.complete else " (INCOMPLETE)"
        return f"Attendance {self.window.start} to {self.window.end} ({self.timezone}){partial}"


def summarize(
    rows: Iterable[AttendanceRow],
    org: Org,
    userids: Sequence[UserId],
    window: Window,
    timezone: str,
    *,
    complete: bool = True,
) -> Summary:
    """Counts for every selected person (zeros included) and every department holding one."""
    per_person: dict[UserId, Counts] = dict.fromkeys(userids, ZERO)
    for row in rows:
        if row.userid in per_person:
            per_person[row.userid] = _add(per_person[row.userid], _count(row))
    per_dept: dict[DeptKey, Counts] = {}
    headcount: dict[DeptKey, int] = {}
    for userid, counts in per_person.items():
        user = org.users.get(userid)
        keys: set[DeptKey] = set()
        for key in user.departments if user else ():
            keys.add(key)
            keys.update(org.ancestors(key))
        for key in keys:
            per_dept[key] = _add(per_dept.get(key, ZERO), counts)
            headcount[key] = headcount.get(key, 0) + 1
    people = tuple(
        Line(userid, org.users[userid].name if userid in org.users else "", counts)
        for userid, counts in sorted(per_person.items())
    )
    departments = tuple(
        sorted(
            (
                Line(key, department_path(org, key), per_dept[key], headcount[key])
                for key in per_dept
            ),
            key=lambda line: (line.key != ROOT, line.label, line.key),
        )
    )
    total = ZERO
    for line in people:
        total = _add(total, line.counts)
    return Summary(
        window=window,
        timezone=timezone,
        people=people,
        departments=departments,
        total=Line("", "Total", total, len(people)),
        complete=complete,
    )


# --- table -------------------------------------------------------------------------------


def _width(text: str) -> int:
    """Terminal columns: CJK characters take two."""
    return sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in text)


def _pad(text: str, width: int, right: bool = False) -> str:
    gap = " " * max(0, width - _width(text))
    return gap + text if right else text + gap


def _table(header: Sequence[str], body: Sequence[Sequence[str]], numeric_from: int) -> list[str]:
    widths = [max(_width(r[i]) for r in [header, *body]) for i in range(len(header))]

    def line(cells: Sequence[str]) -> str:
        return "  ".join(
            _pad(c, widths[i], right=i >= numeric_from) for i, c in enumerate(cells)
        ).rstrip()

    return [line(header), "  ".join("-" * w for w in widths), *(line(r) for r in body)]


def render_table(summary: Summary) -> str:
    out = [summary.title, "", "People"]
    out += _table(
        ("userid", "name", *CATEGORIES),
        [(p.key, p.label, *map(str, p.counts)) for p in summary.people]
        + [("", "Total", *map(str, summary.total.counts))],
        numeric_from=2,
    )
    out += ["", "Departments (sub-departments included)"]
    out += _table(
        ("department", "people", *CATEGORIES),
        [(d.label, str(d.people), *map(str, d.counts)) for d in summary.departments],
        numeric_from=1,
    )
    return "\n".join(out) + "\n"


# --- csv ---------------------------------------------------------------------------------


def render_csv(summary: Summary) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(("scope", "key", "label", "people", *CATEGORIES))
    for scope, lines in (
        ("person", summary.people),
        ("department", summary.departments),
        ("total", (summary.total,)),
    ):
        for item in lines:
            writer.writerow(
                (
                    scope,
                    spreadsheet_safe(item.key),
                    spreadsheet_safe(item.label),
                    item.people,
                    *item.counts,
                )
            )
    return buffer.getvalue()


# --- markdown ----------------------------------------------------------------------------


def _md(text: str) -> str:
    """A Markdown table cell: no pipe, no newline, no HTML."""
    return html.escape(text, quote=False).replace("|", "\\|").replace("\n", " ").replace("\r", " ")


def render_markdown(summary: Summary) -> str:
    head = "| " + " | ".join(CATEGORIES) + " |"
    rule = "|---:" * len(CATEGORIES) + "|"
    out = [f"## {_md(summary.title)}", "", "### People", ""]
    out.append("| userid | name " + head)
    out.append("|---|---" + rule)
    for p in summary.people:
        out.append(f"| {_md(p.key)} | {_md(p.label)} | " + " | ".join(map(str, p.counts)) + " |")
    out.append("| | **Total** | " + " | ".join(f"**{n}**" for n in summary.total.counts) + " |")
    out += ["", "### Departments (sub-departments included)", ""]
    out.append("| department | people " + head)
    out.append("|---|---:" + rule)
    for d in summary.departments:
        out.append(f"| {_md(d.label)} | {d.people} | " + " | ".join(map(str, d.counts)) + " |")
    return "\n".join(out) + "\n"


# --- html --------------------------------------------------------------------------------

_CSS = """
body{font-family:system-ui,-apple-system,"PingFang SC","Microsoft YaHei",sans-serif;
margin:2em;color:#222}
table{border-collapse:collapse;margin:1em 0}th,td{border:1px solid #ccc;padding:.25em .6em}
td.n{text-align:right;font-variant-numeric:tabular-nums}th{background:#f3f3f3}
tr.total td{font-weight:bold}.warn{color:#c62828;font-weight:bold}
"""


def _e(text: str) -> str:
    return html.escape(text, quote=True)


def _chart(lines: Sequence[Line]) -> str:
    """Stacked horizontal bars, one per line, one colour per category; plain inline SVG (no
    xmlns URL, no fonts, no scripts: the file stays self-contained)."""
    label_w, bar_w, row_h, top = 260.0, 520.0, 22, 30
    width_all = label_w + bar_w + 70
    peak = max((sum(line.counts[:6]) for line in lines), default=0) or 1
    height = top + row_h * len(lines) + 10
    parts = [
        f'<svg role="img" aria-label="attendance results by department" width="{width_all:g}" '
        f'height="{height}" viewBox="0 0 {width_all:g} {height}">'
    ]
    for i, (name, colour) in enumerate(zip(CATEGORIES, COLOURS, strict=True)):
        lx = 10 + i * 110
        parts.append(f'<rect x="{lx}" y="6" width="12" height="12" fill="{colour}"/>')
        parts.append(f'<text x="{lx + 16}" y="17" font-size="12">{_e(name)}</text>')
    for row, line in enumerate(lines):
        y = top + row * row_h
        parts.append(
            f'<text x="{label_w - 6:g}" y="{y + 15}" font-size="12" text-anchor="end">'
            f"{_e(line.label)}</text>"
        )
        x = label_w
        # Time results partition the records, so they stack; Outside overlaps them and is
        # drawn as a thin bar underneath.
        for value, colour, name in zip(line.counts[:6], COLOURS, CATEGORIES, strict=False):
            width = bar_w * value / peak
            if width > 0:
                parts.append(
                    f'<rect x="{x:.1f}" y="{y + 2}" width="{width:.1f}" height="14" '
                    f'fill="{colour}"><title>{_e(f"{line.label}: {name} {value}")}</title></rect>'
                )
            x += width
        outside = bar_w * line.counts[6] / peak
        if outside > 0:
            parts.append(
                f'<rect x="{label_w:g}" y="{y + 17}" width="{outside:.1f}" height="3" '
                f'fill="{COLOURS[6]}"><title>{_e(f"{line.label}: Outside {line.counts[6]}")}'
                "</title></rect>"
            )
        parts.append(
            f'<text x="{x + 4:.1f}" y="{y + 15}" font-size="11">{sum(line.counts[:6])}</text>'
        )
    parts.append("</svg>")
    return "".join(parts)


def _html_table(first: Sequence[str], lines: Iterable[tuple[Sequence[str], Counts, bool]]) -> str:
    head = "".join(f"<th>{_e(h)}</th>" for h in (*first, *CATEGORIES))
    body = []
    for cells, counts, is_total in lines:
        tds = "".join(f"<td>{_e(c)}</td>" for c in cells)
        tds += "".join(f'<td class="n">{n}</td>' for n in counts)
        body.append(f'<tr class="total">{tds}</tr>' if is_total else f"<tr>{tds}</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def render_html(summary: Summary) -> str:
    """A self-contained page: inline CSS and SVG, no script, no external reference."""
    chart_lines = summary.departments or (summary.total,)
    warn = (
        ""
        if summary.complete
        else '<p class="warn">This export is incomplete: the command output says what is '
        "missing.</p>"
    )
    people = _html_table(
        ("userid", "name"),
        [((p.key, p.label), p.counts, False) for p in summary.people]
        + [(("", "Total"), summary.total.counts, True)],
    )
    departments = _html_table(
        ("department", "people"),
        [((d.label, str(d.people)), d.counts, False) for d in summary.departments],
    )
    return (
        "<!DOCTYPE html>\n"
        '<html lang="zh-CN"><head><meta charset="utf-8">'
        f"<title>{_e(summary.title)}</title><style>{_CSS}</style></head><body>"
        f"<h1>{_e(summary.title)}</h1>{warn}"
        f"{_chart(chart_lines)}"
        f"<h2>Departments (sub-departments included)</h2>{departments}"
        f"<h2>People</h2>{people}"
        "</body></html>\n"
    )
