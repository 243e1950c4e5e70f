"""Counts per person and department, and their renderings."""

from __future__ import annotations

import csv
import datetime as dt
import html
import io
import re
from html.parser import HTMLParser
from zoneinfo import ZoneInfo

from reconciler.attendance.labels import Lang
from reconciler.attendance.records import AttendanceRow
from reconciler.attendance.render import render_csv as render_export_csv
from reconciler.attendance.report import render_html
from reconciler.attendance.summary import (
    CATEGORIES,
    Line,
    Summary,
    render_csv,
    render_markdown,
    render_table,
    summarize,
)
from reconciler.attendance.window import Window
from reconciler.model import ROOT, Department, Org, User

SHANGHAI = ZoneInfo("Asia/Shanghai")
DAY = dt.date(2025, 12, 1)
WINDOW = Window(DAY, DAY)
EVIL = '=cmd|<script src="http://evil.example/x.js"></script>&"\'|'

ORG = Org.of(
    departments=[
        Department(key="eng", name="研发中心", parent=ROOT),
        Department(key="eng-db", name="数据库", parent="eng"),
        Department(key="sales", name=EVIL, parent=ROOT),
    ],
    users=[
        User(userid="zhangsan", name="张三", departments=("eng",)),
        User(userid="lisi", name="李四", departments=("eng-db",)),
        User(userid="evil", name=EVIL, departments=("sales", "eng-db")),
        User(userid="idle", name="闲人", departments=("sales",)),
    ],
)


def row(
    userid: str, time_result: str, location: str = "Normal", check: str = "OnDuty"
) -> AttendanceRow:
    base = dt.datetime(2025, 12, 1, 9, tzinfo=SHANGHAI)
    return AttendanceRow(
        userid, ORG.users[userid].name, "", DAY, check, base, base, time_result, location, "USER", 1
    )


ROWS = [
    row("zhangsan", "Normal"),
    row("zhangsan", "Early", "Outside", "OffDuty"),
    row("lisi", "Late"),
    row("lisi", "NotSigned", "NotSigned", "OffDuty"),
    row("evil", "SeriousLate", "Outside"),
    row("evil", "Absenteeism"),
]


def summary() -> Summary:
    return summarize(ROWS, ORG, sorted(ORG.users), WINDOW, "Asia/Shanghai")


def counts(line: Line) -> dict[str, int]:
    return dict(zip(CATEGORIES, line.counts, strict=True))


def test_people_are_counted_and_idle_people_listed_with_zeros() -> None:
    people = {p.key: counts(p) for p in summary().people}
    assert people["zhangsan"] == {
        **dict.fromkeys(CATEGORIES, 0),
        "Normal": 1,
        "Early": 1,
        "Outside": 1,
    }
    assert people["lisi"]["Late"] == 1
    assert people["lisi"]["NotSigned"] == 1
    assert sum(people["idle"].values()) == 0


def test_departments_count_their_subtree_once_per_person() -> None:
    departments = {d.key: d for d in summary().departments}
    # eng = zhangsan + lisi (via eng-db) + evil (via eng-db): 6 records, 3 people.
    assert departments["eng"].people == 3
    assert sum(departments["eng"].counts[:6]) == 6
    assert departments["eng-db"].people == 2
    assert departments["sales"].people == 2  # evil and idle
    assert counts(departments["sales"])["Outside"] == 1
    assert counts(summary().total) == {
        "Normal": 1,
        "Late": 1,
        "SeriousLate": 1,
        "Early": 1,
        "Absenteeism": 1,
        "NotSigned": 1,
        "Outside": 2,
    }


class _Collect(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[str] = []
        self.attrs: list[tuple[str, str | None]] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        self.attrs.extend(attrs)

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def test_html_is_self_contained_and_escaped() -> None:
    page = render_html(summary())
    parser = _Collect()
    parser.feed(page)
    assert "script" not in parser.tags
    assert {"svg", "rect", "table"} <= set(parser.tags)
    for name, value in parser.attrs:
        assert name not in ("src", "href", "xmlns", "action"), (name, value)
        assert "url(" not in (value or "")
    # Nothing in the markup or the CSS points outside the file (the hostile name's own URL is
    # text, escaped, and removed here before looking).
    markup = page.replace(html.escape(EVIL, quote=True), "")
    assert not re.search(r"https?:|//|@import|url\(", markup)
    # The hostile name arrives as text, intact, never as markup.
    assert any(EVIL in t for t in parser.text)


def test_markdown_escapes_pipes_and_markup() -> None:
    text = render_markdown(summary())
    line = next(x for x in text.splitlines() if x.startswith("| evil |"))
    assert line.count(" | ") == len(CATEGORIES) + 1  # the name's pipe did not add a column
    assert "<script" not in text


def test_summary_csv_neutralises_formulas_and_parses_back() -> None:
    table = list(csv.DictReader(io.StringIO(render_csv(summary(), Lang.en))))
    evil = next(r for r in table if r["key"] == "evil")
    assert evil["label"].startswith("'")
    assert evil["SeriousLate"] == "1"
    assert table[-1]["scope"] == "total"


def test_export_csv_neutralises_formulas() -> None:
    exported = list(csv.DictReader(io.StringIO(render_export_csv([row("evil", "Normal")]))))
    assert exported[0]["name"] == "'" + EVIL
    hostile = AttendanceRow(
        "=1+1",
        "=HYPERLINK(x)",
        "",
        DAY,
        "OnDuty",
        ROWS[0].base_check_time,
        None,
        "Normal",
        "Normal",
        "USER",
        1,
    )
    cells = next(csv.DictReader(io.StringIO(render_export_csv([hostile]))))
    assert cells["userid"] == "'=1+1"
    assert cells["name"] == "'=HYPERLINK(x)"
    assert cells["user_check_time"] == ""


def test_table_aligns_wide_characters() -> None:
    text = render_table(summary())
    header, rule, *body = text.split("人员\n", 1)[1].split("\n\n")[0].splitlines()

    def width(line: str) -> int:
        return sum(2 if ord(c) > 0x2E80 else 1 for c in line)

    assert width(header) == len(rule)  # the Chinese labels take two columns each
    assert width(body[0]) == len(rule)
