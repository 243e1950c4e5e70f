"""Labels (Chinese by default, English on request), the per-day counts, the absences, and
the HTML page's two charts."""

from __future__ import annotations

import datetime as dt
import re
from html.parser import HTMLParser
from zoneinfo import ZoneInfo

import pytest

from reconciler.attendance.labels import EN, ZH, Lang
from reconciler.attendance.records import AttendanceRow
from reconciler.attendance.report import render_html
from reconciler.attendance.summary import (
    CATEGORIES,
    Summary,
    render_csv,
    render_markdown,
    render_table,
    summarize,
)
from reconciler.attendance.window import Window
from reconciler.model import ROOT, Department, Org, User

SHANGHAI = ZoneInfo("Asia/Shanghai")
MONDAY = dt.date(2025, 12, 1)
WINDOW = Window(MONDAY, MONDAY + dt.timedelta(days=6))  # Mon..Sun
ORG = Org.of(
    departments=[
        Department(key="eng", name="研发中心", parent=ROOT),
        Department(key="sales", name="销售部", parent=ROOT),
    ],
    users=[
        User(userid="zhangsan", name="张三", departments=("eng",)),
        User(userid="lisi", name="李四", departments=("sales",)),
    ],
)


def row(userid: str, day: int, result: str, check: str = "OnDuty", where: str = "Normal"):
    date = MONDAY + dt.timedelta(days=day)
    base = dt.datetime.combine(date, dt.time(9 if check == "OnDuty" else 18), SHANGHAI)
    dept = "研发中心" if userid == "zhangsan" else "销售部"
    name = ORG.users[userid].name
    return AttendanceRow(userid, name, dept, date, check, base, base, result, where, "USER", day)


ROWS = [
    row("zhangsan", 0, "Normal"),
    row("zhangsan", 0, "Normal", "OffDuty"),
    row("lisi", 0, "Late"),
    row("lisi", 0, "NotSigned", "OffDuty"),
    row("zhangsan", 1, "Late", where="Outside"),
    row("lisi", 1, "Late"),
    row("lisi", 2, "Absenteeism"),
    row("lisi", 2, "Absenteeism", "OffDuty"),
    row("zhangsan", 3, "SeriousLate"),
]


def summary() -> Summary:
    return summarize(ROWS, ORG, sorted(ORG.users), WINDOW, "Asia/Shanghai")


def by_name(counts) -> dict[str, int]:
    return dict(zip(CATEGORIES, counts, strict=True))


def test_every_date_of_the_window_is_a_day_with_its_own_counts() -> None:
    days = summary().days
    assert [d.date for d in days] == list(WINDOW.dates())
    assert by_name(days[0].counts)["Normal"] == 2
    assert by_name(days[1].counts)["Late"] == 2
    assert by_name(days[1].counts)["Outside"] == 1
    assert by_name(days[2].counts)["Absenteeism"] == 2
    assert all(sum(d.counts) == 0 for d in days[4:])  # the weekend
    # The days add up to the total.
    assert tuple(map(sum, zip(*(d.counts for d in days), strict=True))) == summary().total.counts


def test_absences_are_the_missed_and_absent_check_points_by_date_then_person() -> None:
    absences = [(a.date.day, a.userid, a.check_type, a.time_result) for a in summary().absences]
    assert absences == [
        (1, "lisi", "OffDuty", "NotSigned"),
        (3, "lisi", "OnDuty", "Absenteeism"),
        (3, "lisi", "OffDuty", "Absenteeism"),
    ]


def test_chinese_labels_are_the_default_in_every_format() -> None:
    for text in (render_table(summary()), render_markdown(summary()), render_html(summary())):
        for label in ("正常", "迟到", "严重迟到", "早退", "旷工", "缺卡", "外勤"):
            assert label in text
        assert "考勤汇总 2025-12-01 至 2025-12-07" in text
        assert "Late" not in re.sub(r'data-result="\w+"', "", text)
    header = render_csv(summary()).splitlines()[0]
    assert header == "范围,键,名称,人数,正常,迟到,严重迟到,早退,旷工,缺卡,外勤"


def test_english_labels_with_lang_en() -> None:
    text = render_table(summary(), Lang.en)
    assert text.startswith("Attendance 2025-12-01 to 2025-12-07 (Asia/Shanghai)\n")
    assert "迟到" not in text
    assert "SeriousLate" in text
    assert render_csv(summary(), Lang.en).splitlines()[0].startswith("scope,key,label,people,")
    assert '<html lang="en">' in render_html(summary(), Lang.en)


def test_the_table_lists_absences_with_translated_check_points() -> None:
    text = render_table(summary())
    section = text.split("旷工与缺卡名单\n", 1)[1].splitlines()
    assert section[0].split() == ["日期", "UserID", "姓名", "部门", "打卡", "结果"]
    assert section[2].split() == ["2025-12-01", "lisi", "李四", "销售部", "下班", "缺卡"]
    quiet = summarize([row("zhangsan", 0, "Normal")], ORG, ["zhangsan"], WINDOW, "UTC")
    assert "无旷工、无缺卡。" in render_table(quiet)
    assert "No absences" in render_markdown(quiet, Lang.en)


class _Svg(HTMLParser):
    """Collects, per <svg id=…>, the elements drawn inside it with their attributes."""

    def __init__(self) -> None:
        super().__init__()
        self.current: str | None = None
        self.charts: dict[str, list[tuple[str, dict[str, str | None]]]] = {}
        self.tables: list[str | None] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = dict(attrs)
        if tag == "svg":
            self.current = attributes.get("id")
            self.charts[self.current or ""] = []
        elif self.current is not None:
            self.charts[self.current].append((tag, attributes))
        if tag == "table":
            self.tables.append(attributes.get("id"))

    def handle_endtag(self, tag: str) -> None:
        if tag == "svg":
            self.current = None


def test_html_has_the_bars_beside_a_trend_line_per_exception() -> None:
    parser = _Svg()
    parser.feed(render_html(summary()))
    assert set(parser.charts) == {"by-department", "trend"}
    lines = [a for tag, a in parser.charts["trend"] if tag == "polyline"]
    assert [a["data-result"] for a in lines] == list(CATEGORIES[1:])
    late = next(a for a in lines if a["data-result"] == "Late")
    points = [tuple(map(float, p.split(","))) for p in str(late["points"]).split()]
    assert len(points) == WINDOW.days
    xs = [x for x, _ in points]
    assert xs == sorted(xs)
    ys = [y for _, y in points]
    # SVG's y grows downwards: Tuesday's two lates sit highest, at the top of the plot
    # (peak), Monday's one halfway, the rest on the zero line.
    assert ys[1] == min(ys)
    assert ys[0] == pytest.approx((ys[1] + ys[2]) / 2)
    assert ys[2] == ys[3] == ys[6] == max(ys)
    bars = [a for tag, a in parser.charts["by-department"] if tag == "rect"]
    assert len(bars) > len(CATEGORIES)  # legend plus at least one bar
    assert "absences" in parser.tables


def test_html_stays_self_contained_in_both_languages() -> None:
    for lang in Lang:
        page = render_html(summary(), lang)
        assert not re.search(r"https?:|//|<script|@import|url\(|src=|href=|xmlns", page)


def test_both_label_sets_name_every_category_once() -> None:
    for labels in (ZH, EN):
        assert len(set(labels.categories)) == len(CATEGORIES)
    assert EN.categories == CATEGORIES
