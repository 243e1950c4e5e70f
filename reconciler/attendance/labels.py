"""The words of attendance reports, in Chinese (the default: HR reads 考勤 in Chinese) and
English. Pure data.

The Chinese result names are the ones DingTalk's own attendance console uses, so a report
reads like the console HR already knows: 正常, 迟到, 严重迟到, 早退, 旷工, 缺卡, 外勤.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass


class Lang(enum.StrEnum):
    zh = "zh"
    en = "en"


@dataclass(frozen=True, slots=True)
class Labels:
    categories: tuple[str, str, str, str, str, str, str]
    """In the order of summary.CATEGORIES: Normal … NotSigned, then Outside."""
    check_types: dict[str, str]  # OnDuty / OffDuty
    title: str  # {start} {end} {timezone}
    incomplete: str
    incomplete_warning: str
    people: str
    departments: str
    total: str
    userid: str
    name: str
    department: str
    headcount: str
    date: str
    check: str
    result: str
    scope_person: str
    scope_department: str
    scope_total: str
    by_department: str
    trend: str
    trend_note: str
    absences: str
    absences_note: str
    no_absences: str
    more_absences: str  # {n}


ZH = Labels(
    categories=("正常", "迟到", "严重迟到", "早退", "旷工", "缺卡", "外勤"),
    check_types={"OnDuty": "上班", "OffDuty": "下班"},
    title="考勤汇总 {start} 至 {end}（{timezone}）",
    incomplete="（不完整）",
    incomplete_warning="本报告不完整：缺少哪些数据见命令输出。",
    people="人员",
    departments="部门（含下级部门）",
    total="合计",
    userid="UserID",
    name="姓名",
    department="部门",
    headcount="人数",
    date="日期",
    check="打卡",
    result="结果",
    scope_person="人员",
    scope_department="部门",
    scope_total="合计",
    by_department="各部门考勤结果",
    trend="每日趋势",
    trend_note="每天的异常次数（正常打卡不计）",
    absences="旷工与缺卡名单",
    absences_note="每行一个未打卡或旷工的打卡点",
    no_absences="无旷工、无缺卡。",
    more_absences="……另有 {n} 条，见 attendance export",
)

EN = Labels(
    categories=("Normal", "Late", "SeriousLate", "Early", "Absenteeism", "NotSigned", "Outside"),
    check_types={"OnDuty": "OnDuty", "OffDuty": "OffDuty"},
    title="Attendance {start} to {end} ({timezone})",
    incomplete=" (INCOMPLETE)",
    incomplete_warning="This export is incomplete: the command output says what is missing.",
    people="People",
    departments="Departments (sub-departments included)",
    total="Total",
    userid="userid",
    name="name",
    department="department",
    headcount="people",
    date="date",
    check="check",
    result="result",
    scope_person="person",
    scope_department="department",
    scope_total="total",
    by_department="Results by department",
    trend="Daily trend",
    trend_note="exceptions per day (normal punches not counted)",
    absences="Absences",
    absences_note="one line per check point that was missed or counted as absent",
    no_absences="No absences and no missed punches.",
    more_absences="… and {n} more: see attendance export",
)

LABELS = {Lang.zh: ZH, Lang.en: EN}
