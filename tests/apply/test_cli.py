"""`orgctl apply` as people and CI run it: over HTTP to a sandbox server, confirmation, exit
codes 0/1/3/4, the tenant lock, the journal."""

from __future__ import annotations

import functools
import json
import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

import reconciler.cli.apply as cli_apply
from reconciler.apply.executor import AbsentUser, ApplyReport, Outcome, StepResult
from reconciler.apply.journal import read_journal
from reconciler.apply.lock import TenantLock, default_lock_dir, tenant_lock_key
from reconciler.cli import app
from reconciler.clock import FakeClock
from reconciler.desired.load import load_desired
from reconciler.live.target import open_target
from reconciler.plan.planner import build_plan
from reconciler.sandbox import APP_KEY, APP_SECRET, Sandbox, ServerHandle, serve

PEOPLE = [(f"p{n:02d}", f"员工{n}", f"+86-1380013{n:04d}") for n in range(12)]


@pytest.fixture(autouse=True)
def _fake_clock(monkeypatch: pytest.MonkeyPatch, clock: FakeClock) -> None:
    """The client's limiter and the sandbox pace themselves on the fake clock: no waiting."""
    monkeypatch.setattr(cli_apply, "open_target", functools.partial(open_target, clock=clock))


@pytest.fixture
def server(sb: Sandbox, monkeypatch: pytest.MonkeyPatch) -> Iterator[ServerHandle]:
    with serve(sb, "127.0.0.1") as handle:
        monkeypatch.setenv("DINGTALK_BASE_URL", handle.url)
        monkeypatch.setenv("DINGTALK_APP_KEY", APP_KEY)
        monkeypatch.setenv("DINGTALK_APP_SECRET", APP_SECRET)
        yield handle


def write_org(org_dir: Path, people: list[tuple[str, str, str]], *, protected: str = "") -> Path:
    org_dir.mkdir(parents=True, exist_ok=True)
    (org_dir / "orgctl.yaml").write_text(
        "prune:\n  users: true\n  departments: true\n"
        f"protected_users: [{protected}]\n"
        "safety:\n  max_user_delete_fraction: 0.1\n  min_existing: 10\n",
        encoding="utf-8",
    )
    lines = [
        "departments:",
        "  - {key: eng, name: 研发中心, parent: root, order: 1, managers: [p00]}",
        "users:",
    ]
    for userid, name, mobile in people:
        lines.append(
            f'  - {{userid: {userid}, name: {name}, mobile: "{mobile}", departments: [eng],'
            f" email: {userid}@example.com}}"
        )
    (org_dir / "org.yaml").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return org_dir


def orgctl(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, list(args))
    return result.exit_code, result.output


def test_apply_over_http_then_nothing_left_and_a_masked_journal(
    tmp_path: Path, sb: Sandbox, server: ServerHandle, repo_root: Path
) -> None:
    org_dir = tmp_path / "org"
    shutil.copytree(repo_root / "org", org_dir)

    code, output = orgctl("apply", str(org_dir), "--yes")
    assert code == 0, output
    lines = output.splitlines()
    assert lines[0] == f"target: DingTalk {server.url} (app key {APP_KEY})"
    assert "Apply: " in output
    assert " 0 failed" in output
    journal_line = next(line for line in lines if line.startswith("journal: "))
    journal = Path(journal_line.removeprefix("journal: "))
    assert journal.parent == Path(os.environ["ORGCTL_HOME"]) / "journal"
    records = read_journal(journal)
    steps = [r for r in records if r["event"] == "step" and r["outcome"] == "done"]
    assert len(steps) == int(records[-1]["done"]) > 0  # type: ignore[call-overload]
    raw = journal.read_text(encoding="utf-8")
    assert APP_SECRET not in raw
    assert "access_token" not in raw
    desired, _ = load_desired(org_dir)
    mobiles = [u.mobile.rpartition("-")[2] for u in desired.users.values() if u.mobile]
    emails = [u.email for u in desired.users.values() if u.email]
    assert mobiles  # else the checks below would pass vacuously
    assert emails
    for value in [*mobiles, *emails]:
        assert value not in raw, value  # the journal is a CI artifact
        assert value not in output, value  # and apply's output a CI log
    assert "****" in output  # the plan apply shows is masked, not stripped of people
    assert "***@" in output
    writes = len(sb.writes())
    assert writes == len(steps)
    assert all(w.errcode == 0 for w in sb.writes())

    code, output = orgctl("apply", str(org_dir), "--yes")
    assert code == 0, output
    assert "No changes" in output
    assert len(sb.writes()) == writes  # converged: the second apply wrote nothing


def test_no_terminal_and_no_yes_refuses_without_writing(
    tmp_path: Path, sb: Sandbox, server: ServerHandle
) -> None:
    org_dir = write_org(tmp_path / "org", PEOPLE)
    code, output = orgctl("apply", str(org_dir))
    assert code == 1
    assert "refusing to apply without confirmation" in output
    assert "--yes" in output
    assert sb.writes() == []


def test_an_unsafe_plan_exits_3_and_writes_nothing_until_forced(
    tmp_path: Path, sb: Sandbox, server: ServerHandle
) -> None:
    org_dir = write_org(tmp_path / "org", PEOPLE)
    assert orgctl("apply", str(org_dir), "--yes")[0] == 0
    before = len(sb.writes())

    write_org(org_dir, PEOPLE[:8])  # prune 4 of 12 people: over the 10 % threshold
    code, output = orgctl("apply", str(org_dir), "--yes")
    assert code == 3, output
    assert "refused:" in output
    assert "--force" in output
    assert len(sb.writes()) == before

    code, output = orgctl("apply", str(org_dir), "--yes", "--force")
    assert code == 0, output
    assert {u["userid"] for u in sb.tenant.users()} == {p[0] for p in PEOPLE[:8]}


def test_a_protected_user_is_never_replaced_even_with_force(
    tmp_path: Path, sb: Sandbox, server: ServerHandle
) -> None:
    org_dir = write_org(tmp_path / "org", PEOPLE, protected="p01")
    assert orgctl("apply", str(org_dir), "--yes")[0] == 0
    before = len(sb.writes())
    new_mobile = [(p[0], p[1], "+86-13900000001" if p[0] == "p01" else p[2]) for p in PEOPLE]
    write_org(org_dir, new_mobile, protected="p01")  # a new mobile: delete + re-create
    code, output = orgctl("apply", str(org_dir), "--yes", "--force")
    assert code == 3, output
    assert "p01" in output
    assert len(sb.writes()) == before


def test_a_saved_plan_applies_only_while_it_is_fresh(
    tmp_path: Path, sb: Sandbox, server: ServerHandle, clock: FakeClock
) -> None:
    import asyncio

    from tests.apply.helpers import make_client, read

    org_dir = write_org(tmp_path / "org", PEOPLE)
    desired, policy = load_desired(org_dir)

    async def saved_plan() -> str:
        async with make_client(None, clock, url=server.url) as client:
            return build_plan(desired, await read(client, desired), policy).to_json()

    plan_path = tmp_path / "plan.json"
    plan_path.write_text(asyncio.run(saved_plan()), encoding="utf-8")

    # Someone changes DingTalk by hand after the plan was reviewed: exit 4, nothing written.
    sb.tenant.add_department("手工部门")
    code, output = orgctl("apply", str(org_dir), "--yes", "--plan", str(plan_path))
    assert code == 4, output
    assert "stale plan" in output
    assert "re-plan" in output
    assert sb.writes() == []

    # Re-planned against the current state, it applies, and the YAML changing stales it too.
    plan_path.write_text(asyncio.run(saved_plan()), encoding="utf-8")
    write_org(org_dir, PEOPLE[:11])
    code, output = orgctl("apply", str(org_dir), "--yes", "--plan", str(plan_path))
    assert code == 4, output
    assert "the YAML changed" in output
    write_org(org_dir, PEOPLE)
    code, output = orgctl("apply", str(org_dir), "--yes", "--plan", str(plan_path))
    assert code == 0, output
    assert len({u["userid"] for u in sb.tenant.users()}) == len(PEOPLE)


def test_orgctl_plan_out_then_apply_plan_runs_the_reviewed_plan(
    tmp_path: Path, sb: Sandbox, server: ServerHandle, repo_root: Path
) -> None:
    org_dir = tmp_path / "org"
    shutil.copytree(repo_root / "org", org_dir)
    plan_path = tmp_path / "plan.json"
    code, output = orgctl("plan", str(org_dir), "--out", str(plan_path))
    assert code == 0, output
    assert sb.writes() == []
    code, output = orgctl("apply", str(org_dir), "--yes", "--plan", str(plan_path))
    assert code == 0, output
    steps = json.loads(plan_path.read_text(encoding="utf-8"))["steps"]
    assert len(sb.writes()) == len(steps)
    code, output = orgctl("apply", str(org_dir), "--yes", "--plan", str(plan_path))
    assert code == 4, output  # applied: DingTalk no longer looks like what it was made from


def test_a_saved_plan_is_stale_when_the_policy_would_plan_otherwise(
    tmp_path: Path, sb: Sandbox, server: ServerHandle, clock: FakeClock
) -> None:
    import asyncio

    from tests.apply.helpers import make_client, read

    org_dir = write_org(tmp_path / "org", PEOPLE)
    assert orgctl("apply", str(org_dir), "--yes")[0] == 0
    sb.tenant.add_user("visitor", "访客", "+86-13911112222", [1])  # by hand, not in the YAML
    desired, policy = load_desired(org_dir)

    async def saved_plan() -> str:
        async with make_client(None, clock, url=server.url) as client:
            return build_plan(desired, await read(client, desired), policy).to_json()

    plan_path = tmp_path / "plan.json"
    plan_path.write_text(asyncio.run(saved_plan()), encoding="utf-8")  # prunes the visitor
    policy_file = org_dir / "orgctl.yaml"
    policy_file.write_text(
        policy_file.read_text(encoding="utf-8").replace("users: true", "users: false"),
        encoding="utf-8",
    )
    before = len(sb.writes())
    code, output = orgctl("apply", str(org_dir), "--yes", "--plan", str(plan_path))
    assert code == 4, output
    assert "the policy (orgctl.yaml) or orgctl itself changed" in output
    assert len(sb.writes()) == before
    assert "visitor" in {u["userid"] for u in sb.tenant.users()}


def reviewed_plan(org_dir: Path, tmp_path: Path) -> Path:
    """What the plan job keeps: ``orgctl plan --out`` (masked, with digests)."""
    plan_path = tmp_path / "reviewed.json"
    code, output = orgctl("plan", str(org_dir), "--out", str(plan_path))
    assert code == 0, output
    assert json.loads(plan_path.read_text(encoding="utf-8"))["pii_masked"] is True
    return plan_path


def test_the_masked_plan_file_applies_what_it_pins_down(
    tmp_path: Path, sb: Sandbox, server: ServerHandle
) -> None:
    org_dir = write_org(tmp_path / "org", PEOPLE)
    plan_path = reviewed_plan(org_dir, tmp_path)
    text = plan_path.read_text(encoding="utf-8")
    assert PEOPLE[0][2] not in text
    assert f"{PEOPLE[0][0]}@example.com" not in text
    code, output = orgctl("apply", str(org_dir), "--yes", "--plan", str(plan_path))
    assert code == 0, output
    # The real values came from the YAML and a fresh read, not from the masked file.
    users = {u["userid"]: u for u in sb.tenant.users()}
    assert users[PEOPLE[0][0]]["mobile"].endswith(PEOPLE[0][2][-11:])
    assert users[PEOPLE[0][0]]["email"] == f"{PEOPLE[0][0]}@example.com"
    journal = read_journal(Path(output.rsplit("journal: ", 1)[1].strip()))
    (planned,) = [r for r in journal if r["event"] == "plan"]
    assert planned["digest"] == json.loads(text)["digest"]
    assert planned["reviewed"] == str(plan_path)


def test_a_console_edit_of_an_unmanaged_field_does_not_block_the_reviewed_plan(
    tmp_path: Path, sb: Sandbox, server: ServerHandle
) -> None:
    org_dir = write_org(tmp_path / "org", PEOPLE[:11])
    assert orgctl("apply", str(org_dir), "--yes")[0] == 0
    write_org(org_dir, PEOPLE)  # the PR: one more person
    plan_path = reviewed_plan(org_dir, tmp_path)
    # Between review and merge an admin sets a title, which the YAML does not manage.
    sb.tenant.update_user("p03", {"title": "架构师"})
    before = len(sb.writes())
    code, output = orgctl("apply", str(org_dir), "--yes", "--plan", str(plan_path))
    assert code == 0, output
    journal = read_journal(Path(output.rsplit("journal: ", 1)[1].strip()))
    (planned,) = [r for r in journal if r["event"] == "plan"]
    saved = json.loads(plan_path.read_text(encoding="utf-8"))
    assert planned["live_fingerprint"] != saved["live_fingerprint"]  # DingTalk did drift
    assert planned["digest"] == saved["digest"]
    new = sb.writes()[before:]
    assert [(w.api.rsplit("/", 2)[-2:], w.errcode) for w in new] == [(["user", "create"], 0)]
    users = {u["userid"]: u for u in sb.tenant.users()}
    assert users["p03"]["title"] == "架构师"
    assert "p11" in users


def test_a_console_rename_of_a_managed_department_blocks_the_reviewed_plan(
    tmp_path: Path, sb: Sandbox, server: ServerHandle
) -> None:
    org_dir = write_org(tmp_path / "org", PEOPLE[:11])
    assert orgctl("apply", str(org_dir), "--yes")[0] == 0
    write_org(org_dir, PEOPLE)
    plan_path = reviewed_plan(org_dir, tmp_path)
    (eng,) = [d for d in sb.tenant.departments() if d.get("source_identifier") == "eng"]
    sb.tenant.update_department(eng["dept_id"], {"name": "研发部"})
    before = len(sb.writes())
    code, output = orgctl("apply", str(org_dir), "--yes", "--plan", str(plan_path))
    assert code == 4, output
    assert "stale plan: DingTalk changed since" in output
    assert "+ department.update:eng  (new)" in output
    assert "user.create:p11" not in output  # unchanged steps are not listed
    assert len(sb.writes()) == before
    assert "p11" not in {u["userid"] for u in sb.tenant.users()}


def test_a_second_apply_while_one_holds_the_lock_fails_fast(tmp_path: Path) -> None:
    org_dir = write_org(tmp_path / "org", PEOPLE)
    home = Path(os.environ["ORGCTL_HOME"])
    key = tenant_lock_key(sandbox_db=str(home / "sandbox.db"))
    with TenantLock(default_lock_dir(), key):
        code, output = orgctl("apply", str(org_dir), "--yes", "--sandbox")
    assert code == 1
    assert f"another apply is running against tenant {key}" in output
    assert f"pid {os.getpid()}" in output
    with Sandbox(home / "sandbox.db") as sb:
        assert sb.writes() == []
    code, output = orgctl("apply", str(org_dir), "--yes", "--sandbox")  # released: runs now
    assert code == 0, output


def test_on_a_terminal_a_progress_bar_and_failures_as_they_happen(
    tmp_path: Path, sb: Sandbox, server: ServerHandle, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(cli_apply, "is_terminal", lambda: True)
    org_dir = write_org(tmp_path / "org", PEOPLE)
    code, output = orgctl("apply", str(org_dir), "--yes")
    assert code == 0, output
    assert "Apply: 14 done, 0 failed, 0 skipped, 0 pending" in output
    assert "applied 14/14 steps" not in output  # the CI lines are for non-terminals only


def test_a_closed_output_loses_progress_lines_not_writes(
    tmp_path: Path, sb: Sandbox, server: ServerHandle, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken_pipe(text: str = "", *, nl: bool = True) -> None:
        raise BrokenPipeError(32, "Broken pipe")

    monkeypatch.setattr(cli_apply, "err", broken_pipe)  # `orgctl apply --yes 2>&1 | head`
    org_dir = write_org(tmp_path / "org", PEOPLE)
    code, output = orgctl("apply", str(org_dir), "--yes")
    assert code == 0, output
    assert len(sb.writes()) == 14  # every step, although the first progress line failed


def test_the_final_report_lists_failures_pending_and_a_screenful_of_skips_masked() -> None:
    failed = StepResult(
        "user.create:zhangsan",
        "create_user",
        "zhangsan",
        Outcome.FAILED,
        1,
        errcode=60104,
        message="mobile +86-15172391968 already used",
        hint="mobile already used by userid lisi",
    )
    pending = StepResult("user.create:wangwu", "create_user", "wangwu", Outcome.PENDING, 1)
    skips = tuple(
        StepResult(f"user.update:u{i}", "update_user", f"u{i}", Outcome.SKIPPED, message="x")
        for i in range(cli_apply.SKIPS_SHOWN + 3)
    )
    absent = (AbsentUser("zhangsan", "re-creating them failed: z@example.com taken"),)
    report = ApplyReport((failed, pending, *skips), absent, writes=7, elapsed=2.25)

    lines = cli_apply._report(report).splitlines()

    assert (
        lines[0] == f"Apply: 0 done, 1 failed, {len(skips)} skipped, 1 pending (7 writes, 2.2 s)."
    )
    assert lines[1] == (
        "  FAILED   user.create:zhangsan  errcode 60104: mobile +86-151****1968 already used"
        " — mobile already used by userid lisi"
    )
    assert lines[2] == "  PENDING  user.create:wangwu"
    assert sum(line.startswith("  SKIPPED ") for line in lines) == cli_apply.SKIPS_SHOWN
    assert "  … and 3 more skipped (see the journal)" in lines
    assert any(line.startswith("!!! zhangsan is NOT in DingTalk") for line in lines)
    assert "z@example.com" not in "\n".join(lines)
    assert lines[-1].startswith("Re-run `orgctl apply`")


def plan_digest(org_dir: Path, tmp_path: Path) -> str:
    path = tmp_path / "digest-plan.json"
    code, output = orgctl("plan", str(org_dir), "--out", str(path))
    assert code in (0, 3), output
    return str(json.loads(path.read_text(encoding="utf-8"))["digest"])


def test_force_digest_lifts_the_thresholds_for_that_plan_only(
    tmp_path: Path, sb: Sandbox, server: ServerHandle
) -> None:
    org_dir = write_org(tmp_path / "org", PEOPLE)
    assert orgctl("apply", str(org_dir), "--yes")[0] == 0
    write_org(org_dir, PEOPLE[:8])  # prunes 4 of 12: over the 10 % threshold
    digest = plan_digest(org_dir, tmp_path)
    before = len(sb.writes())

    # An approval of another plan (an earlier push) lifts nothing.
    other = "sha256:" + "0" * 64
    code, output = orgctl("apply", str(org_dir), "--yes", "--force-digest", other)
    assert code == 3, output
    assert len(sb.writes()) == before

    code, output = orgctl(
        "apply", str(org_dir), "--yes", "--force-digest", digest, "--approval", "label by alice"
    )
    assert code == 0, output
    assert {u["userid"] for u in sb.tenant.users()} == {p[0] for p in PEOPLE[:8]}
    journal = read_journal(Path(output.rsplit("journal: ", 1)[1].strip()))
    (planned,) = [r for r in journal if r["event"] == "plan"]
    assert planned["forced_digest"] == digest
    assert planned["approval"] == "label by alice"


def test_a_protected_user_stays_untouchable_with_an_approved_digest(
    tmp_path: Path, sb: Sandbox, server: ServerHandle
) -> None:
    org_dir = write_org(tmp_path / "org", PEOPLE, protected="p01")
    assert orgctl("apply", str(org_dir), "--yes")[0] == 0
    before = len(sb.writes())
    new_mobile = [(p[0], p[1], "+86-13900000001" if p[0] == "p01" else p[2]) for p in PEOPLE]
    write_org(org_dir, new_mobile, protected="p01")
    digest = plan_digest(org_dir, tmp_path)
    code, output = orgctl(
        "apply", str(org_dir), "--yes", "--digest", digest, "--force-digest", digest
    )
    assert code == 3, output
    assert "protected user p01" in output
    assert len(sb.writes()) == before


def test_digest_applies_only_that_plan_and_out_keeps_the_plan_computed_now(
    tmp_path: Path, sb: Sandbox, server: ServerHandle
) -> None:
    org_dir = write_org(tmp_path / "org", PEOPLE[:11])
    assert orgctl("apply", str(org_dir), "--yes")[0] == 0
    write_org(org_dir, PEOPLE)
    digest = plan_digest(org_dir, tmp_path)
    (eng,) = [d for d in sb.tenant.departments() if d.get("source_identifier") == "eng"]
    sb.tenant.update_department(eng["dept_id"], {"name": "研发部"})
    before = len(sb.writes())
    fresh = tmp_path / "fresh.json"
    code, output = orgctl("apply", str(org_dir), "--yes", "--digest", digest, "--out", str(fresh))
    assert code == 4, output
    assert f"not {digest}" in output
    assert "+ department.update:eng" in output
    assert len(sb.writes()) == before
    kept = json.loads(fresh.read_text(encoding="utf-8"))
    assert kept["pii_masked"] is True
    assert PEOPLE[11][2] not in fresh.read_text(encoding="utf-8")
    code, output = orgctl("apply", str(org_dir), "--yes", "--digest", kept["digest"])
    assert code == 0, output
    assert "p11" in {u["userid"] for u in sb.tenant.users()}
