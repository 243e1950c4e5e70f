"""`orgctl apply` with ``notify:``, end to end over HTTP to a sandbox server: the notices reach
exactly the right managers, in batches of ≤ 100, and a failing notice is reported but leaves
the apply's exit code alone."""

from __future__ import annotations

import functools
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

import reconciler.cli.apply as cli_apply
from reconciler.apply.journal import read_journal
from reconciler.cli import app
from reconciler.clock import FakeClock
from reconciler.live.target import open_target
from reconciler.sandbox import AGENT_ID, APP_KEY, APP_SECRET, Sandbox, ServerHandle, serve
from reconciler.sandbox.messages import SEND

NOTIFY = f"notify: {{agent_id: {AGENT_ID}}}\n"


@pytest.fixture(autouse=True)
def _fake_clock(monkeypatch: pytest.MonkeyPatch, clock: FakeClock) -> None:
    monkeypatch.setattr(cli_apply, "open_target", functools.partial(open_target, clock=clock))


@pytest.fixture
def server(sb: Sandbox, monkeypatch: pytest.MonkeyPatch) -> Iterator[ServerHandle]:
    with serve(sb, "127.0.0.1") as handle:
        monkeypatch.setenv("DINGTALK_BASE_URL", handle.url)
        monkeypatch.setenv("DINGTALK_APP_KEY", APP_KEY)
        monkeypatch.setenv("DINGTALK_APP_SECRET", APP_SECRET)
        yield handle


Person = tuple[str, str, str, str, str | None]  # userid, name, mobile, department, manager


def team() -> list[Person]:
    return [
        ("boss", "老板", "+86-13800000001", "eng", None),
        ("opsm", "运维主管", "+86-13800000002", "ops", None),
        *[(f"p{n}", f"员工{n}", f"+86-1380000010{n}", "eng", "boss") for n in range(1, 6)],
    ]


def write_org(
    org_dir: Path, people: list[Person], *, policy: str = NOTIFY, extra: str = ""
) -> Path:
    org_dir.mkdir(parents=True, exist_ok=True)
    (org_dir / "orgctl.yaml").write_text(
        "prune: {users: true}\nsafety: {max_user_delete_fraction: 1.0}\n" + policy,
        encoding="utf-8",
    )
    lines = [
        "departments:",
        "  - {key: eng, name: 研发中心, parent: root, managers: [boss]}",
        "  - {key: ops, name: 运维组, parent: root, managers: [opsm]}",
        extra,
        "users:",
    ]
    for userid, name, mobile, department, manager in people:
        boss = f", manager: {manager}" if manager else ""
        lines.append(
            f'  - {{userid: {userid}, name: {name}, mobile: "{mobile}", '
            f"departments: [{department}], email: {userid}@example.com{boss}}}"
        )
    (org_dir / "org.yaml").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return org_dir


def orgctl(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, list(args))
    return result.exit_code, result.output


def reorganised(people: list[Person]) -> list[Person]:
    """p1 leaves, p2 gets a new mobile (a replace), p3 moves to 运维组."""
    changed: list[Person] = []
    for userid, name, mobile, department, manager in people:
        if userid == "p1":
            continue
        if userid == "p2":
            mobile = "+86-13700000002"
        if userid == "p3":
            department = "ops"
        changed.append((userid, name, mobile, department, manager))
    return changed


def journal_of(output: str) -> list[dict[str, object]]:
    line = next(line for line in output.splitlines() if line.startswith("journal: "))
    return read_journal(Path(line.removeprefix("journal: ")))


def test_deletion_replacement_and_move_reach_exactly_their_managers(
    tmp_path: Path, sb: Sandbox, server: ServerHandle
):
    org_dir = write_org(tmp_path / "org", team())
    code, output = orgctl("apply", str(org_dir), "--yes")
    assert code == 0, output
    assert "Notices: nobody to tell." in output  # creations are not announced
    assert sb.notices() == []

    write_org(org_dir, reorganised(team()))
    code, output = orgctl("apply", str(org_dir), "--yes")
    assert code == 0, output
    assert "Notices: 2 sent to 2 people, 0 failed" in output
    sent = {n.recipients[0][0]: n for n in sb.notices()}
    assert {u: [r[0] for r in n.recipients] for u, n in sent.items()} == {
        "boss": ["boss"],
        "opsm": ["opsm"],
    }
    boss = sent["boss"].text()  # p1's and p2's manager, and 研发中心's, which p3 left
    assert "员工1 已从通讯录删除（原部门：研发中心）" in boss
    assert "员工2 因手机号变更" in boss
    assert "员工3 调离 研发中心，调入 运维组" in boss
    opsm = sent["opsm"].text()  # 运维组's manager: only the person who joined
    assert "员工3 调离 研发中心，调入 运维组" in opsm
    assert "员工1" not in opsm
    assert "员工2" not in opsm
    for notice in sent.values():
        assert "@" not in notice.text()
        for _, _, mobile, _, _ in team():
            assert mobile.rpartition("-")[2] not in notice.text()
    assert all(status == "unread" for n in sent.values() for _, status, _ in n.recipients)
    records = journal_of(output)
    calls = [r for r in records if r["event"] == "notice"]
    assert sorted(str(r["recipients"]) for r in calls) == ["['boss']", "['opsm']"]
    assert all(isinstance(r["task_id"], int) for r in calls)
    changes = {r["userid"]: r["kind"] for r in records if r["event"] == "notice_change"}
    assert changes == {"p1": "deleted", "p2": "replaced", "p3": "moved"}


def test_a_deleted_manager_hears_nothing_and_their_manager_hears_of_it(
    tmp_path: Path, sb: Sandbox, server: ServerHandle
):
    people = [
        ("opsm", "运维主管", "+86-13800000002", "ops", "boss") if p[0] == "opsm" else p
        for p in team()
    ]
    people.append(("sub", "副主管", "+86-13800000009", "ops", "opsm"))
    org_dir = write_org(tmp_path / "org", people)
    assert orgctl("apply", str(org_dir), "--yes")[0] == 0
    # opsm (运维组's manager) leaves, and so does sub; 运维组's managers are left to DingTalk.
    remaining = [p for p in people if p[0] not in ("opsm", "sub")]
    write_org(org_dir, remaining)
    (org_dir / "org.yaml").write_text(
        (org_dir / "org.yaml").read_text("utf-8").replace(", managers: [opsm]", ""), "utf-8"
    )
    code, output = orgctl("apply", str(org_dir), "--yes")
    assert code == 0, output
    [notice] = sb.notices()
    assert [r[0] for r in notice.recipients] == ["boss"]  # opsm's manager; opsm hears nothing
    assert "运维主管 已从通讯录删除（原部门：运维组）" in notice.text()
    assert "副主管" not in notice.text()  # only opsm managed sub, and opsm is gone
    assert "Notices: 1 sent to 1 people, 0 failed" in output


def test_over_100_managers_get_the_same_notice_in_two_calls(
    tmp_path: Path, sb: Sandbox, server: ServerHandle
):
    managers = [(f"m{n:03d}", f"主管{n}", f"+86-1390000{n:04d}", "big", None) for n in range(120)]
    member: Person = ("x", "小明", "+86-13700000099", "big", None)
    names = ", ".join(m[0] for m in managers)
    big = f"  - {{key: big, name: 大部门, parent: root, managers: [{names}]}}"
    org_dir = write_org(tmp_path / "org", [*team(), *managers, member], extra=big)
    assert orgctl("apply", str(org_dir), "--yes")[0] == 0
    write_org(org_dir, [*team(), *managers], extra=big)
    code, output = orgctl("apply", str(org_dir), "--yes")
    assert code == 0, output
    sent = sb.notices()
    assert [len(n.recipients) for n in sent] == [100, 20]
    assert sent[0].msg == sent[1].msg
    assert sorted(r[0] for n in sent for r in n.recipients) == [m[0] for m in managers]
    assert "Notices: 2 sent to 120 people, 0 failed" in output
    assert sb.limiter.peak(SEND) <= 20


def test_a_failing_notice_is_reported_and_the_apply_still_exits_0(
    tmp_path: Path, sb: Sandbox, server: ServerHandle
):
    org_dir = write_org(tmp_path / "org", team())
    assert orgctl("apply", str(org_dir), "--yes")[0] == 0
    sb.faults.fail_api[SEND] = 1430003
    write_org(org_dir, reorganised(team()))
    code, output = orgctl("apply", str(org_dir), "--yes")
    assert code == 0, output
    assert " 0 failed" in output  # the steps
    assert "Notices: 0 sent to 0 people, 2 failed" in output
    assert "FAILED   notice to boss: " in output
    assert "errcode 1430003" in output
    assert "system protection" in output  # the hint
    assert sb.notices() == []
    assert {u["userid"] for u in sb.tenant.users()} >= {"p2", "p3"}
    assert "p1" not in {u["userid"] for u in sb.tenant.users()}
    calls = [r for r in journal_of(output) if r["event"] == "notice"]
    assert [r["errcode"] for r in calls] == [1430003, 1430003]
    assert all("task_id" not in r for r in calls)


def test_no_notify_and_no_section_send_nothing(tmp_path: Path, sb: Sandbox, server: ServerHandle):
    org_dir = write_org(tmp_path / "org", team())
    assert orgctl("apply", str(org_dir), "--yes")[0] == 0
    write_org(org_dir, reorganised(team()))
    code, output = orgctl("apply", str(org_dir), "--yes", "--no-notify")
    assert code == 0, output
    assert "Notices:" not in output
    assert sb.notices() == []
    assert not any(str(r["event"]).startswith("notice") for r in journal_of(output))

    people = reorganised(team())
    write_org(org_dir, [p for p in people if p[0] != "p4"], policy="")
    code, output = orgctl("apply", str(org_dir), "--yes")
    assert code == 0, output
    assert "Notices:" not in output
    assert sb.notices() == []


def test_a_leaves_on_that_has_come_deletes_and_tells_the_manager(
    tmp_path: Path, sb: Sandbox, server: ServerHandle
):
    org_dir = write_org(tmp_path / "org", team())
    assert orgctl("apply", str(org_dir), "--yes")[0] == 0
    # prune.users off: the date alone deletes (the fake clock's day is 2026-01-01).
    (org_dir / "orgctl.yaml").write_text(NOTIFY, encoding="utf-8")
    text = (org_dir / "org.yaml").read_text("utf-8")
    (org_dir / "org.yaml").write_text(
        text.replace("email: p1@example.com", "email: p1@example.com, leaves_on: 2025-12-31"),
        encoding="utf-8",
    )
    code, output = orgctl("apply", str(org_dir), "--yes")
    assert code == 0, output
    assert "p1" not in {u["userid"] for u in sb.tenant.users()}
    [notice] = sb.notices()
    assert [r[0] for r in notice.recipients] == ["boss"]
    assert "员工1 已从通讯录删除（原部门：研发中心）" in notice.text()
