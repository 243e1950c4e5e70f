"""`orgctl plan` against the embedded sandbox: output streams, formats, --out, exit codes."""

from __future__ import annotations

import asyncio
import functools
import json
import os
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

import reconciler.cli.plan as cli_plan
from reconciler.apply.executor import apply_plan
from reconciler.cli import app
from reconciler.clock import FakeClock
from reconciler.desired.load import load_desired
from reconciler.live.target import open_target
from reconciler.plan.planner import Plan
from reconciler.reconcile import make_plan
from reconciler.sandbox import Sandbox


@pytest.fixture(autouse=True)
def _fake_clock(monkeypatch: pytest.MonkeyPatch, clock: FakeClock) -> None:
    """The client's limiter and the sandbox pace themselves on the fake clock: no waiting."""
    monkeypatch.setattr(cli_plan, "open_target", functools.partial(open_target, clock=clock))


@pytest.fixture
def org_dir(tmp_path: Path, repo_root: Path) -> Path:
    target = tmp_path / "org"
    shutil.copytree(repo_root / "org", target)
    return target


def orgctl(*args: str) -> Result:
    return CliRunner().invoke(app, list(args))


def seed(org_dir: Path, clock: FakeClock) -> None:
    """Make the sandbox match org_dir (plan, then the real executor)."""

    async def run() -> None:
        async with open_target(sandbox=True, clock=clock) as target:
            result = await make_plan(org_dir, target.client)
            report = await apply_plan(result.plan, target.client, result.live, clock=clock)
            assert report.exit_code == 0

    asyncio.run(run())


def test_target_line_first_on_stderr_and_the_plan_on_stdout(org_dir: Path) -> None:
    result = orgctl("plan", str(org_dir), "--sandbox")
    assert result.exit_code == 0, result.output
    assert result.stderr.splitlines()[0].startswith("target: sandbox tenant ")
    assert result.stdout.startswith("1. Create departments\n")
    assert result.stdout.endswith("Plan: 42 to create, 0 to update, 0 to replace, 0 to delete.\n")
    assert "+86-13852601815" not in result.stdout  # text is masked (CI logs)
    assert "\x1b[" not in result.stdout  # not a terminal: no colour


def test_ci_without_credentials_or_sandbox_is_an_error(org_dir: Path) -> None:
    result = orgctl("plan", str(org_dir))
    assert result.exit_code == 1
    assert "refusing" in result.stderr


def test_detailed_exitcode_is_2_with_changes_and_0_without(org_dir: Path, clock: FakeClock) -> None:
    assert orgctl("plan", str(org_dir), "--sandbox", "--detailed-exitcode").exit_code == 2
    seed(org_dir, clock)
    result = orgctl("plan", str(org_dir), "--sandbox", "--detailed-exitcode")
    assert result.exit_code == 0, result.output
    assert result.stdout == (
        "No changes: DingTalk matches the desired state.\n"
        "Plan: 0 to create, 0 to update, 0 to replace, 0 to delete.\n"
    )


def sensitive_values(text: str) -> list[tuple[str, str]]:
    """(field, value) of every mobile, email and telephone anywhere in a plan document."""
    found: list[tuple[str, str]] = []

    def walk(value: object, name: str = "") -> None:
        if isinstance(value, dict):
            if "field" in value and "old" in value:  # a change: {"field", "old", "new"}
                walk(value["old"], str(value["field"]))
                walk(value["new"], str(value["field"]))
                return
            for key, inner in value.items():
                walk(inner, key)
        elif isinstance(value, list):
            for inner in value:
                walk(inner, name)
        elif isinstance(value, str) and name in ("mobile", "email", "telephone") and value:
            found.append((name, value))

    walk(json.loads(text))
    return found


def test_every_format_and_the_plan_file_are_masked(org_dir: Path, tmp_path: Path) -> None:
    desired, _ = load_desired(org_dir)
    raw = {
        value
        for user in desired.users.values()
        for value in (user.mobile, user.email, user.telephone)
        if value
    }
    assert "+86-13852601815" in raw
    markdown = orgctl("plan", str(org_dir), "--sandbox", "--format", "markdown")
    assert markdown.exit_code == 0
    assert markdown.stdout.startswith("### orgctl plan\n")
    assert "+86-138****1815" in markdown.stdout
    assert "13852601815" not in markdown.stdout

    out_file = tmp_path / "plan.json"
    as_json = orgctl("plan", str(org_dir), "--sandbox", "-f", "json", "--out", str(out_file))
    assert as_json.exit_code == 0
    saved = out_file.read_text(encoding="utf-8")
    assert saved == as_json.stdout
    plan = Plan.from_json(saved)
    assert plan.pii_masked
    assert f"plan written to {out_file}" in as_json.stderr
    shown = sensitive_values(saved)
    assert {name for name, _ in shown} == {"mobile", "email", "telephone"}
    assert not [value for _, value in shown if value in raw]
    assert not [v for v in raw if ("@" in v or v.startswith("+")) and v in saved]
    # What it pins down instead: a digest of each real step, and of the plan.
    assert all(step.digest.startswith("sha256:") for step in plan.steps)
    assert json.loads(saved)["digest"] == plan.digest


def write_org(org_dir: Path, people: range) -> Path:
    org_dir.mkdir(parents=True, exist_ok=True)
    (org_dir / "orgctl.yaml").write_text(
        "prune:\n  users: true\n  departments: true\n"
        "safety:\n  max_user_delete_fraction: 0.1\n  min_existing: 10\n",
        encoding="utf-8",
    )
    lines = ["departments:", "  - {key: eng, name: 研发中心, parent: root}", "users:"]
    lines += [
        f'  - {{userid: p{n:02d}, name: 员工{n}, mobile: "+86-1380013{n:04d}", departments: [eng]}}'
        for n in people
    ]
    (org_dir / "org.yaml").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return org_dir


def test_unsafe_plan_is_shown_refused_and_exits_3(tmp_path: Path, clock: FakeClock) -> None:
    seed(write_org(tmp_path / "org", range(12)), clock)
    org_dir = write_org(tmp_path / "org", range(3, 12))  # 3 of 12 people go: 25% > 10%

    result = orgctl("plan", str(org_dir), "--sandbox", "--detailed-exitcode")
    assert result.exit_code == 3, result.output
    assert "Refused by safety checks" in result.stdout
    assert "- delete user p00" in result.stdout
    refusal = [line for line in result.stderr.splitlines() if line.startswith("refused: ")]
    assert refusal == [
        "refused: would delete 3 of 12 users (25%) > 10% limit; re-run with --force if "
        "intended (--force overrides this)"
    ]
    forced = orgctl("plan", str(org_dir), "--sandbox", "--force", "--detailed-exitcode")
    assert forced.exit_code == 2, forced.output


def test_bad_yaml_is_exit_1_with_every_problem(org_dir: Path) -> None:
    (org_dir / "departments.yaml").write_text("departments: [{key: x}]\n", encoding="utf-8")
    result = orgctl("plan", str(org_dir), "--sandbox")
    assert result.exit_code == 1
    assert "departments.yaml" in result.stderr
    assert result.stdout == ""


def test_unwritable_out_file_is_an_error(org_dir: Path, tmp_path: Path) -> None:
    result = orgctl("plan", str(org_dir), "--sandbox", "--out", str(tmp_path / "no" / "p.json"))
    assert result.exit_code == 1
    assert "cannot write plan file" in result.stderr


def test_make_plan_reads_the_managers_the_yaml_manages(org_dir: Path, clock: FakeClock) -> None:
    seed(org_dir, clock)
    path = Path(os.environ["ORGCTL_HOME"]) / "sandbox.db"
    with Sandbox(path, clock=clock) as sb:  # someone re-points a manager by hand
        sb.tenant.update_user("lisi", {"manager_userid": "wangjianguo"})

    async def run() -> tuple[int, str]:
        async with open_target(sandbox=True, clock=clock) as target:
            result = await make_plan(org_dir, target.client)
        return len(result.plan.steps), json.dumps([s.to_data() for s in result.plan.steps])

    count, steps = asyncio.run(run())
    assert count == 1
    assert '"manager": "zhangsan"' in steps
