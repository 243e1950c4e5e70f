"""Advance notices before a ``leaves_on`` (`orgctl notify due`): due on exactly one day, to
the right managers, and never delivered twice — a re-run the same day is held back by
DingTalk's once-a-day rule for the same content and reported as such."""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

import reconciler.cli.notify as cli_notify
from reconciler.apply.journal import read_journal
from reconciler.cli import app
from reconciler.clock import FakeClock
from reconciler.live.target import open_target
from reconciler.model import Org, User
from reconciler.notify.compose import ChangeKind, leaving_on_notice_day, notices, render
from reconciler.sandbox import AGENT_ID, APP_KEY, APP_SECRET, Sandbox, ServerHandle, serve
from tests.plan.builders import dept, user

TODAY = dt.date(2026, 1, 1)  # the fake clock's day in Asia/Shanghai (08:00)


@pytest.fixture(autouse=True)
def _fake_clock(monkeypatch: pytest.MonkeyPatch, clock: FakeClock) -> None:
    monkeypatch.setattr(cli_notify, "open_target", functools.partial(open_target, clock=clock))


@pytest.fixture
def server(sb: Sandbox, monkeypatch: pytest.MonkeyPatch) -> Iterator[ServerHandle]:
    with serve(sb, "127.0.0.1") as handle:
        monkeypatch.setenv("DINGTALK_BASE_URL", handle.url)
        monkeypatch.setenv("DINGTALK_APP_KEY", APP_KEY)
        monkeypatch.setenv("DINGTALK_APP_SECRET", APP_SECRET)
        yield handle


def leaving(person: User, days: int) -> User:
    return dataclasses.replace(person, leaves_on=TODAY + dt.timedelta(days=days))


def test_due_on_exactly_the_day_to_the_manager_and_the_department_managers():
    eng = dept("eng", "研发中心", managers=("boss", "lead"), dept_id=2)
    boss = user("boss", "老板", "eng")
    lead = user("lead", "组长", "eng", manager="boss")
    p1 = leaving(user("p1", "员工1", "eng", manager="lead"), 7)
    desired = Org.of([eng], [boss, lead, p1])
    assert leaving_on_notice_day(desired, desired, TODAY, 6) == []
    assert leaving_on_notice_day(desired, desired, TODAY, 8) == []
    [change] = leaving_on_notice_day(desired, desired, TODAY, 7)
    assert change.kind is ChangeKind.LEAVING
    assert change.recipients == {"boss", "lead"}
    assert change.on == dt.date(2026, 1, 8)
    assert render([change]) == (
        "【离职提醒】以下人员即将离职：\n"
        "· 员工1 将于 2026-01-08 离职（部门：研发中心）\n"
        "此通知由 orgctl 自动发送。"
    )
    # A leaving department manager is not told about themselves.
    both = Org.of([eng], [boss, leaving(lead, 7), p1])
    heard = notices(leaving_on_notice_day(both, both, TODAY, 7))
    assert {r: sorted(c.userid for c in cs) for r, cs in heard.items()} == {
        "boss": ["lead", "p1"],
        "lead": ["p1"],
    }


def write_org(org_dir: Path, policy: str) -> Path:
    org_dir.mkdir(parents=True, exist_ok=True)
    (org_dir / "orgctl.yaml").write_text(policy, encoding="utf-8")
    (org_dir / "org.yaml").write_text(
        "departments:\n"
        "  - {key: eng, name: 研发中心, parent: root, managers: [boss]}\n"
        "users:\n"
        '  - {userid: boss, name: 老板, mobile: "+86-13800000001", departments: [eng]}\n'
        '  - {userid: p1, name: 员工1, mobile: "+86-13800000002", departments: [eng],'
        " manager: boss, leaves_on: 2026-01-08, email: p1@example.com}\n"
        '  - {userid: p2, name: 员工2, mobile: "+86-13800000003", departments: [eng],'
        " leaves_on: 2026-02-01}\n",
        encoding="utf-8",
    )
    return org_dir


def orgctl(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, list(args))
    return result.exit_code, result.output


POLICY = f"notify: {{agent_id: {AGENT_ID}, advance_days: 7}}\n"


def test_notify_due_sends_once_and_a_rerun_is_held_back_by_dingtalk(
    tmp_path: Path, sb: Sandbox, server: ServerHandle, clock: FakeClock
):
    org_dir = write_org(tmp_path / "org", POLICY)
    assert orgctl("apply", str(org_dir), "--yes", "--no-notify")[0] == 0

    code, output = orgctl("notify", "due", str(org_dir))
    assert code == 0, output
    assert "2026-01-01: 1 leaving, notice due:" in output
    assert "员工1 (p1) leaves 2026-01-08 → boss" in output
    assert "Notices: 1 sent to 1 people, 0 failed." in output
    [notice] = sb.notices()
    assert [(r[0], r[1]) for r in notice.recipients] == [("boss", "unread")]
    assert "员工1 将于 2026-01-08 离职" in notice.text()
    assert "员工2" not in notice.text()  # due on 2026-01-25
    assert "@" not in notice.text()
    journal = Path(output.splitlines()[-1].removeprefix("journal: "))
    assert [r["event"] for r in read_journal(journal)] == ["notify_due", "notice_change", "notice"]

    # The nightly job runs again the same day: the same text, which DingTalk holds back.
    code, output = orgctl("notify", "due", str(org_dir))
    assert code == 0, output
    assert "ALREADY  boss: already got this notice today" in output
    assert [r[1] for n in sb.notices() for r in n.recipients] == ["unread", "forbidden"]

    # The next day nobody is due: nothing is read or sent.
    clock.advance(24 * 3600)
    calls = len(sb.limiter.arrivals)
    code, output = orgctl("notify", "due", str(org_dir))
    assert code == 0, output
    assert "2026-01-02: nobody's advance notice is due." in output
    assert len(sb.notices()) == 2
    assert len(sb.limiter.arrivals) == calls

    # A missed day can be caught up; a dry run sends nothing.
    code, output = orgctl("notify", "due", str(org_dir), "--date", "2026-01-25", "--dry-run")
    assert code == 0, output
    assert "员工2 (p2) leaves 2026-02-01 → boss" in output
    assert "Dry run: nothing sent." in output
    assert len(sb.notices()) == 2
    code, output = orgctl("notify", "due", str(org_dir), "--date", "2026-01-25")
    assert code == 0, output
    assert "员工2 将于 2026-02-01 离职" in sb.notices()[-1].text()


def test_a_failing_advance_notice_exits_1(tmp_path: Path, sb: Sandbox, server: ServerHandle):
    org_dir = write_org(tmp_path / "org", POLICY)
    assert orgctl("apply", str(org_dir), "--yes", "--no-notify")[0] == 0
    sb.faults.fail_api["topapi/message/corpconversation/asyncsend_v2"] = 40056
    code, output = orgctl("notify", "due", str(org_dir))
    assert code == 1, output
    assert "FAILED   notice to boss" in output
    assert "AgentID" in output  # the hint


def test_without_advance_days_it_does_nothing(tmp_path: Path, sb: Sandbox, server: ServerHandle):
    org_dir = write_org(tmp_path / "org", f"notify: {{agent_id: {AGENT_ID}}}\n")
    code, output = orgctl("notify", "due", str(org_dir))
    assert code == 0, output
    assert "notify.advance_days is not set" in output
    assert sb.limiter.arrivals == {}
    code, output = orgctl("notify", "due", str(org_dir), "--date", "tomorrow")
    assert code == 1
    assert "expected YYYY-MM-DD" in output
