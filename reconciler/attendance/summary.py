"""Count attendance results per person, per department and per day, list the absences, and
render them as a table, CSV or Markdown (HTML: `report`). Pure.

Departments count their whole subtree (HR reads "研发中心" as everyone in it, groups
included); a person in two departments counts once in each, and once in a shared parent.
Labels are Chinese unless the caller asks for English (`labels`).
"""

from __future__ import annotations

import csv
import datetime as dt
import html
import io
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from reconciler.attendance.labels import LABELS, Labels, Lang
from reconciler.attendance.people import department_path
from reconciler.attendance.records import AttendanceRow
from reconciler.attendance.render import spreadsheet_safe
from reconciler.attendance.window import Window
from reconciler.model import ROOT, DeptKey, Org, UserId

CATEGORIES = ("Normal", "Late", "SeriousLate", "Early", "Absenteeism", "NotSigned", "Outside")
"""Time results, then Outside (a location result: a punch can be Late *and* Outside)."""

ABSENT = ("Absenteeism", "NotSigned")
"""The time results HR follows up person by person: 旷工 and 缺卡."""

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
class Day:
    date: dt.date
    counts: Counts  # every selected person's check points of that work date


@dataclass(frozen=True, slots=True)
class Absence:
    """One check point counted as 旷工 (Absenteeism) or 缺卡 (NotSigned)."""

    date: dt.date
    userid: UserId
    name: str
    department: str
    check_type: str
    time_result: str


@dataclass(frozen=True, slots=True)
class Summary:
    window: Window
    timezone: str
    people: tuple[Line, ...]
    departments: tuple[Line, ...]
    total: Line
    complete: bool = True
    days: tuple[Day, ...] = ()
    """Every date of the window, in order, zeros included (weekends show as gaps)."""
    absences: tuple[Absence, ...] = ()
    """By date, then person, then check point."""

    def title(self, labels: Labels = LABELS[Lang.zh]) -> str:
        text = labels.title.format(
            start=self.window.start, end=self.window.end, timezone=self.timezone
        )
        return text if self.complete else text + labels.incomplete


def result_label(labels: Labels, time_result: str) -> str:
    """A time result's label; an unknown one (a value DingTalk adds later) as it came."""
    if time_result in CATEGORIES:
        return labels.categories[CATEGORIES.index(time_result)]
    return time_result


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
    per_day: dict[dt.date, Counts] = dict.fromkeys(window.dates(), ZERO)
    absences: list[Absence] = []
    for row in rows:
        if row.userid not in per_person:
            continue
        counts = _count(row)
        per_person[row.userid] = _add(per_person[row.userid], counts)
        if row.work_date in per_day:
            per_day[row.work_date] = _add(per_day[row.work_date], counts)
        if row.time_result in ABSENT:
            absences.append(
                Absence(
                    row.work_date,
                    row.userid,
                    row.name,
                    row.department,
                    row.check_type,
                    row.time_result,
                )
            )
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
        days=tuple(Day(date, counts) for date, counts in per_day.items()),
        absences=tuple(
            sorted(absences, key=lambda a: (a.date, a.userid, a.check_type != "OnDuty"))
        ),
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


ABSENCES_SHOWN = 200
"""Absences listed in a table or Markdown; the export has every one."""


def absence_cells(labels: Labels, absence: Absence) -> tuple[str, str, str, str, str, str]:
    return (
        absence.date.isoformat(),
        absence.userid,
        absence.name,
        absence.department,
        labels.check_types.get(absence.check_type, absence.check_type),
        result_label(labels, absence.time_result),
    )


def absence_header(labels: Labels) -> tuple[str, str, str, str, str, str]:
    return (
        labels.date,
        labels.userid,
        labels.name,
        labels.department,
        labels.check,
        labels.result,
    )


def render_table(summary: Summary, lang: Lang = Lang.zh) -> str:
    labels = LABELS[lang]
    out = [summary.title(labels), "", labels.people]
    out += _table(
        (labels.userid, labels.name, *labels.categories),
        [(p.key, p.label, *map(str, p.counts)) for p in summary.people]
        + [("", labels.total, *map(str, summary.total.counts))],
        numeric_from=2,
    )
    out += ["", labels.departments]
    out += _table(
        (labels.department, labels.headcount, *labels.categories),
        [(d.label, str(d.people), *map(str, d.counts)) for d in summary.departments],
        numeric_from=1,
    )
    out += ["", labels.absences]
    if summary.absences:
        shown = summary.absences[:ABSENCES_SHOWN]
        out += _table(
            absence_header(labels),
            [absence_cells(labels, a) for a in shown],
            numeric_from=99,
        )
        if len(summary.absences) > len(shown):
            out.append(labels.more_absences.format(n=len(summary.absences) - len(shown)))
    else:
        out.append(labels.no_absences)
    return "\n".join(out) + "\n"


# --- csv ---------------------------------------------------------------------------------


CSV_KEYS = {Lang.zh: ("范围", "键", "名称", "人数"), Lang.en: ("scope", "key", "label", "people")}


def render_csv(summary: Summary, lang: Lang = Lang.zh) -> str:
    labels = LABELS[lang]
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow((*CSV_KEYS[lang], *labels.categories))
    total = Line(summary.total.key, labels.total, summary.total.counts, summary.total.people)
    for scope, lines in (
        (labels.scope_person, summary.people),
        (labels.scope_department, summary.departments),
        (labels.scope_total, (total,)),
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


def render_markdown(summary: Summary, lang: Lang = Lang.zh) -> str:
    labels = LABELS[lang]
    head = "| " + " | ".join(labels.categories) + " |"
    rule = "|---:" * len(CATEGORIES) + "|"
    out = [f"## {_md(summary.title(labels))}", "", f"### {labels.people}", ""]
    out.append(f"| {labels.userid} | {labels.name} " + head)
    out.append("|---|---" + rule)
    for p in summary.people:
        out.append(f"| {_md(p.key)} | {_md(p.label)} | " + " | ".join(map(str, p.counts)) + " |")
    out.append(
        f"| | **{labels.total}** | " + " | ".join(f"**{n}**" for n in summary.total.counts) + " |"
    )
    out += ["", f"### {labels.departments}", ""]
    out.append(f"| {labels.department} | {labels.headcount} " + head)
    out.append("|---|---:" + rule)
    for d in summary.departments:
        out.append(f"| {_md(d.label)} | {d.people} | " + " | ".join(map(str, d.counts)) + " |")
    out += ["", f"### {labels.absences}", ""]
    if summary.absences:
        out.append("| " + " | ".join(absence_header(labels)) + " |")
        out.append("|---" * 6 + "|")
        shown = summary.absences[:ABSENCES_SHOWN]
        for absence in shown:
            out.append("| " + " | ".join(_md(c) for c in absence_cells(labels, absence)) + " |")
        if len(summary.absences) > len(shown):
            out += ["", labels.more_absences.format(n=len(summary.absences) - len(shown))]
    else:
        out.append(labels.no_absences)
    return "\n".join(out) + "\n"
