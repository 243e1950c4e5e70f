"""The attendance summary as one self-contained HTML page. Pure.

Two charts side by side — results per department (stacked bars) and the daily trend of
exceptions (one line per result) — then the absences (旷工, 缺卡) person by person and the
tables. Inline CSS and SVG only: no script, no font, no URL, so the file can be mailed to HR
or opened offline and shows the same everywhere. SVG carries no xmlns: an HTML parser puts it
in the SVG namespace by itself.
"""

from __future__ import annotations

import html
from collections.abc import Iterable, Sequence

from reconciler.attendance.labels import LABELS, Labels, Lang
from reconciler.attendance.summary import (
    CATEGORIES,
    COLOURS,
    Counts,
    Line,
    Summary,
    absence_cells,
    absence_header,
)

ABSENCES_SHOWN = 2000
"""Absence rows in the page; past that it grows unwieldy and the export is the place."""

TREND_SERIES = (1, 2, 3, 4, 5, 6)
"""Indexes into CATEGORIES drawn in the trend: every exception; Normal would dwarf them."""

_CSS = """
body{font-family:system-ui,-apple-system,"PingFang SC","Hiragino Sans GB","Microsoft YaHei",
"Noto Sans CJK SC",sans-serif;margin:2em;color:#222}
table{border-collapse:collapse;margin:1em 0}th,td{border:1px solid #ccc;padding:.25em .6em}
td.n{text-align:right;font-variant-numeric:tabular-nums}th{background:#f3f3f3}
tr.total td{font-weight:bold}.warn{color:#c62828;font-weight:bold}
.charts{display:flex;flex-wrap:wrap;gap:2em;align-items:flex-start}
figure{margin:0}figcaption{font-weight:bold;margin-bottom:.4em}.note{color:#666;font-size:.85em}
"""


def _e(text: str) -> str:
    return html.escape(text, quote=True)


def _legend(labels: Labels, indexes: Sequence[int], step: int) -> list[str]:
    parts = []
    for slot, i in enumerate(indexes):
        lx = 10 + slot * step
        parts.append(f'<rect x="{lx}" y="6" width="12" height="12" fill="{COLOURS[i]}"/>')
        parts.append(f'<text x="{lx + 16}" y="17" font-size="12">{_e(labels.categories[i])}</text>')
    return parts


def bar_chart(lines: Sequence[Line], labels: Labels) -> str:
    """Stacked horizontal bars, one per line, one colour per result."""
    label_w, bar_w, row_h, top = 200.0, 380.0, 22, 30
    width_all = label_w + bar_w + 50
    peak = max((sum(line.counts[:6]) for line in lines), default=0) or 1
    height = top + row_h * len(lines) + 10
    parts = [
        f'<svg id="by-department" role="img" aria-label="{_e(labels.by_department)}" '
        f'width="{width_all:g}" height="{height}" viewBox="0 0 {width_all:g} {height}">',
        *_legend(labels, range(len(CATEGORIES)), 88),
    ]
    for row, line in enumerate(lines):
        y = top + row * row_h
        parts.append(
            f'<text x="{label_w - 6:g}" y="{y + 15}" font-size="12" text-anchor="end">'
            f"{_e(line.label)}</text>"
        )
        x = label_w
        # Time results partition the records, so they stack; Outside (外勤) overlaps them
        # and is drawn as a thin bar underneath.
        for value, colour, name in zip(line.counts[:6], COLOURS, labels.categories, strict=False):
            width = bar_w * value / peak
            if width > 0:
                parts.append(
                    f'<rect x="{x:.1f}" y="{y + 2}" width="{width:.1f}" height="14" '
                    f'fill="{colour}"><title>{_e(f"{line.label}: {name} {value}")}</title></rect>'
                )
            x += width
        outside = bar_w * line.counts[6] / peak
        if outside > 0:
            tip = f"{line.label}: {labels.categories[6]} {line.counts[6]}"
            parts.append(
                f'<rect x="{label_w:g}" y="{y + 17}" width="{outside:.1f}" height="3" '
                f'fill="{COLOURS[6]}"><title>{_e(tip)}</title></rect>'
            )
        parts.append(
            f'<text x="{x + 4:.1f}" y="{y + 15}" font-size="11">{sum(line.counts[:6])}</text>'
        )
    parts.append("</svg>")
    return "".join(parts)


def trend_chart(summary: Summary, labels: Labels) -> str:
    """One polyline per exception over the window's dates, on a shared axis from 0."""
    days = summary.days
    left, right, top, bottom = 40.0, 16.0, 34.0, 40.0
    plot_w, plot_h = 480.0, 200.0
    width, height = left + plot_w + right, top + plot_h + bottom
    peak = max((day.counts[i] for day in days for i in TREND_SERIES), default=0) or 1

    def x_at(index: int) -> float:
        if len(days) < 2:
            return left + plot_w / 2
        return left + plot_w * index / (len(days) - 1)

    def y_at(value: int) -> float:
        return top + plot_h - plot_h * value / peak

    parts = [
        f'<svg id="trend" role="img" aria-label="{_e(labels.trend)}" width="{width:g}" '
        f'height="{height:g}" viewBox="0 0 {width:g} {height:g}">',
        *_legend(labels, TREND_SERIES, 84),
    ]
    for value in sorted({0, (peak + 1) // 2, peak}):
        y = y_at(value)
        parts.append(
            f'<line x1="{left:g}" y1="{y:.1f}" x2="{left + plot_w:g}" y2="{y:.1f}" '
            'stroke="#e0e0e0" stroke-width="1"/>'
        )
        parts.append(
            f'<text x="{left - 6:g}" y="{y + 4:.1f}" font-size="11" text-anchor="end">'
            f"{value}</text>"
        )
    every = max(1, -(-len(days) // 10))  # at most ~10 date labels
    for index, day in enumerate(days):
        if index % every == 0 or index == len(days) - 1:
            parts.append(
                f'<text x="{x_at(index):.1f}" y="{top + plot_h + 18:g}" font-size="11" '
                f'text-anchor="middle">{day.date:%m-%d}</text>'
            )
    for i in TREND_SERIES:
        points = " ".join(f"{x_at(n):.1f},{y_at(day.counts[i]):.1f}" for n, day in enumerate(days))
        name = labels.categories[i]
        parts.append(
            f'<polyline class="series" data-result="{CATEGORIES[i]}" points="{points}" '
            f'fill="none" stroke="{COLOURS[i]}" stroke-width="2">'
            f"<title>{_e(name)}</title></polyline>"
        )
        for n, day in enumerate(days):
            if day.counts[i]:
                tip = f"{day.date.isoformat()} {name} {day.counts[i]}"
                parts.append(
                    f'<circle cx="{x_at(n):.1f}" cy="{y_at(day.counts[i]):.1f}" r="3" '
                    f'fill="{COLOURS[i]}"><title>{_e(tip)}</title></circle>'
                )
    parts.append("</svg>")
    return "".join(parts)


def _html_table(
    labels: Labels, first: Sequence[str], lines: Iterable[tuple[Sequence[str], Counts, bool]]
) -> str:
    head = "".join(f"<th>{_e(h)}</th>" for h in (*first, *labels.categories))
    body = []
    for cells, counts, is_total in lines:
        tds = "".join(f"<td>{_e(c)}</td>" for c in cells)
        tds += "".join(f'<td class="n">{n}</td>' for n in counts)
        body.append(f'<tr class="total">{tds}</tr>' if is_total else f"<tr>{tds}</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def _absences(summary: Summary, labels: Labels) -> str:
    if not summary.absences:
        return f"<p>{_e(labels.no_absences)}</p>"
    shown = summary.absences[:ABSENCES_SHOWN]
    head = "".join(f"<th>{_e(h)}</th>" for h in absence_header(labels))
    rows = "".join(
        "<tr>" + "".join(f"<td>{_e(c)}</td>" for c in absence_cells(labels, a)) + "</tr>"
        for a in shown
    )
    more = len(summary.absences) - len(shown)
    tail = f"<p>{_e(labels.more_absences.format(n=more))}</p>" if more else ""
    return (
        f'<p class="note">{_e(labels.absences_note)}</p>'
        f'<table id="absences"><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table>{tail}'
    )


def render_html(summary: Summary, lang: Lang = Lang.zh) -> str:
    """A self-contained page: inline CSS and SVG, no script, no external reference."""
    labels = LABELS[lang]
    title = summary.title(labels)
    chart_lines = summary.departments or (
        Line("", labels.total, summary.total.counts, summary.total.people),
    )
    warn = "" if summary.complete else f'<p class="warn">{_e(labels.incomplete_warning)}</p>'
    people = _html_table(
        labels,
        (labels.userid, labels.name),
        [((p.key, p.label), p.counts, False) for p in summary.people]
        + [(("", labels.total), summary.total.counts, True)],
    )
    departments = _html_table(
        labels,
        (labels.department, labels.headcount),
        [((d.label, str(d.people)), d.counts, False) for d in summary.departments],
    )
    html_lang = "zh-CN" if lang is Lang.zh else "en"
    return (
        "<!DOCTYPE html>\n"
        f'<html lang="{html_lang}"><head><meta charset="utf-8">'
        f"<title>{_e(title)}</title><style>{_CSS}</style></head><body>"
        f"<h1>{_e(title)}</h1>{warn}"
        '<div class="charts">'
        f"<figure><figcaption>{_e(labels.by_department)}</figcaption>"
        f"{bar_chart(chart_lines, labels)}</figure>"
        f"<figure><figcaption>{_e(labels.trend)}</figcaption>{trend_chart(summary, labels)}"
        f'<p class="note">{_e(labels.trend_note)}</p></figure>'
        "</div>"
        f"<h2>{_e(labels.absences)}</h2>{_absences(summary, labels)}"
        f"<h2>{_e(labels.departments)}</h2>{departments}"
        f"<h2>{_e(labels.people)}</h2>{people}"
        "</body></html>\n"
    )
