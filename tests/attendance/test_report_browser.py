"""The HTML attendance report in a real headless browser: Chinese labels in the rendered page,
and both charts actually drawn, the daily trend beside the department bars.

"Drawn" is read from pixels: the page is screenshot as it is and again with one chart's
marks taken out; where the two differ is where that chart painted.
"""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

import pytest
from PIL import Image, ImageChops

from reconciler.attendance.report import render_html
from reconciler.attendance.summary import summarize
from reconciler.attendance.window import Window
from tests.attendance.browser import HEIGHT, WIDTH, find_browser, rendered_dom, screenshot
from tests.attendance.test_report import MONDAY, ORG, row

BROWSER = find_browser()
pytestmark = pytest.mark.skipif(
    BROWSER is None,
    reason="no headless browser installed (apt-get install chromium): the report's rendering "
    "is checked only where one is",
)

TWO_WEEKS = Window(MONDAY, MONDAY + dt.timedelta(days=13))
RESULTS = ("Normal", "Late", "Normal", "Early", "NotSigned", "Normal", "SeriousLate")


def report_page() -> str:
    rows = [
        row(userid, day, RESULTS[(day + n) % len(RESULTS)], check)
        for day in range(14)
        if (MONDAY + dt.timedelta(days=day)).weekday() < 5
        for n, userid in enumerate(("zhangsan", "lisi"))
        for check in ("OnDuty", "OffDuty")
    ]
    rows = [r for r in rows if r.work_date <= TWO_WEEKS.end]
    return render_html(summarize(rows, ORG, sorted(ORG.users), TWO_WEEKS, "Asia/Shanghai"))


def painted(tmp_path: Path, page: str, without: str, name: str):
    """The box (left, top, right, bottom) where the marks matching ``without`` painted, and
    how many pixels they changed."""
    assert BROWSER is not None
    stripped = re.sub(without, "", page)
    assert stripped != page, f"{without} matched nothing"
    shots = []
    for label, text in (("full", page), ("stripped", stripped)):
        html = tmp_path / f"{name}-{label}.html"
        html.write_text(text, encoding="utf-8")
        png = tmp_path / f"{name}-{label}.png"
        screenshot(BROWSER, html, png)
        shots.append(Image.open(png).convert("RGB"))
    assert shots[0].size == (WIDTH, HEIGHT)
    diff = ImageChops.difference(shots[0], shots[1]).convert("L")
    changed = sum(diff.point(lambda v: 255 if v > 40 else 0).histogram()[255:])
    return diff.getbbox(), changed


def test_the_rendered_page_speaks_chinese_and_holds_both_charts(tmp_path):
    assert BROWSER is not None
    html = tmp_path / "report.html"
    html.write_text(report_page(), encoding="utf-8")
    dom = rendered_dom(BROWSER, html)
    for label in (
        "考勤汇总",
        "正常",
        "迟到",
        "严重迟到",
        "早退",
        "旷工",
        "缺卡",
        "外勤",
        "每日趋势",
    ):
        assert label in dom, label
    assert 'id="trend"' in dom
    assert 'id="by-department"' in dom
    assert "旷工与缺卡名单" in dom


def test_the_trend_chart_is_drawn_beside_the_department_bars(tmp_path):
    page = report_page()
    trend_box, trend_pixels = painted(
        tmp_path, page, r'<polyline class="series".*?</polyline>|<circle .*?</circle>', "trend"
    )
    bars_box, bar_pixels = painted(
        tmp_path,
        page,
        r'<rect x="[\d.]+" y="\d+" width="[\d.]+" height="(?:14|3)".*?</rect>',
        "bars",
    )
    assert trend_box is not None, "the trend lines painted nothing"
    assert bars_box is not None, "the department bars painted nothing"
    assert trend_pixels > 1000  # six polylines over two weeks, not a stray pixel
    assert bar_pixels > 1000
    # Beside: the trend starts right of where the bars end, and the two overlap vertically.
    assert trend_box[0] > bars_box[2]
    assert trend_box[1] < bars_box[3]
    assert bars_box[1] < trend_box[3]
