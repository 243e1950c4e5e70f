"""`--base REF`: entries removed since a git ref. A removal whose leaves_on had come is a
delete even with prune.users off; under lifecycle.dated_removals_only any other removal is
refused by `validate --base` (exit 1, located in the base) and `plan --base` (exit 3)."""

from __future__ import annotations

import asyncio
import functools
import json
import shutil
import subprocess
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

import reconciler.cli.plan as cli_plan
from reconciler.apply.executor import apply_plan
from reconciler.cli import app
from reconciler.clock import FakeClock
from reconciler.desired.base import org_at, removed_since
from reconciler.desired.load import load_desired
from reconciler.errors import InputError
from reconciler.live.target import open_target
from reconciler.plan.steps import Action
from reconciler.reconcile import make_plan

QIANWEI = "  - userid: qianwei"


def git(cwd: Path, *args: str) -> str:
    return subprocess.run(
        ["git", "-c", "user.name=t", "-c", "user.email=t@example.com", *args],
        cwd=cwd,
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()


@pytest.fixture
def repo(tmp_path: Path, repo_root: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A git repository holding the example org/ at its first commit; cwd is its root."""
    root = tmp_path / "repo"
    root.mkdir()
    shutil.copytree(repo_root / "org", root / "org")
    git(root, "init", "-q", "-b", "main")
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "org")
    monkeypatch.chdir(root)
    return root


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert old in text
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


def remove_qianwei(root: Path) -> None:
    path = root / "org" / "people" / "engineering.yaml"
    text = path.read_text(encoding="utf-8")
    start = text.index(QIANWEI)
    end = text.index("  - userid:", start + 1)
    path.write_text(text[:start] + text[end:], encoding="utf-8")


def date_qianwei(root: Path, when: str) -> None:
    edit(
        root / "org" / "people" / "engineering.yaml",
        QIANWEI + "\n",
        f"{QIANWEI}\n    leaves_on: {when}\n",
    )
    git(root, "commit", "-qam", f"qianwei leaves on {when}")


def policy(root: Path, text: str) -> None:
    with (root / "org" / "orgctl.yaml").open("a", encoding="utf-8") as f:
        f.write(text)


def orgctl(*args: str) -> Result:
    return CliRunner().invoke(app, list(args))


def test_the_org_at_a_ref_is_read_from_git_objects_and_located_there(repo: Path) -> None:
    remove_qianwei(repo)
    desired, _ = load_desired(Path("org"))
    (gone,) = removed_since(Path("org"), "main", desired)
    assert gone.userid == "qianwei"
    assert gone.location is not None
    assert gone.location.file == "main:org/people/engineering.yaml"
    assert removed_since(Path("org"), "HEAD", load_desired(Path("org"))[0])  # same commit


def test_an_unknown_ref_or_an_option_is_an_input_error(repo: Path) -> None:
    with pytest.raises(InputError, match="no such commit"):
        org_at(Path("org"), "no-such-branch")
    with pytest.raises(InputError, match="not a git revision"):
        org_at(Path("org"), "--output=/tmp/x")


def test_a_directory_the_base_lacked_removes_nobody(repo: Path) -> None:
    shutil.copytree(repo / "org", repo / "org2")
    assert org_at(Path("org2"), "main").users == {}


def test_validate_refuses_an_undated_removal_naming_the_person(repo: Path) -> None:
    policy(repo, "lifecycle:\n  dated_removals_only: true\n")
    git(repo, "commit", "-qam", "policy")
    remove_qianwei(repo)
    result = orgctl("validate", "org", "--base", "main")
    assert result.exit_code == 1
    assert result.stderr.splitlines()[0] == (
        "main:org/people/engineering.yaml:36:5: users.qianwei: 钱伟 (qianwei) was removed from "
        "the YAML but it had no leaves_on: set leaves_on instead, so every removal is dated "
        "and reviewed (lifecycle.dated_removals_only)"
    )
    # Without the policy the same removal is fine (prune decides, as always).
    git(repo, "checkout", "-q", "--", "org/orgctl.yaml")
    edit(repo / "org" / "orgctl.yaml", "dated_removals_only: true", "dated_removals_only: false")
    assert orgctl("validate", "org", "--base", "main").exit_code == 0


def test_validate_accepts_a_removal_whose_date_has_come_and_refuses_one_to_come(
    repo: Path,
) -> None:
    policy(repo, "lifecycle:\n  dated_removals_only: true\n")
    date_qianwei(repo, "2020-01-31")
    remove_qianwei(repo)
    assert orgctl("validate", "org", "--base", "main").exit_code == 0, "date has come"
    git(repo, "checkout", "-q", "--", "org")
    edit(repo / "org" / "people" / "engineering.yaml", "2020-01-31", "2099-01-31")
    git(repo, "commit", "-qam", "later")
    remove_qianwei(repo)
    result = orgctl("validate", "org", "--base", "main")
    assert result.exit_code == 1
    assert "but their leaves_on 2099-01-31 has not come" in result.stderr


@pytest.fixture
def sandboxed(repo: Path, clock: FakeClock, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The sandbox holds the example org (applied), on the fake clock."""
    monkeypatch.setattr(cli_plan, "open_target", functools.partial(open_target, clock=clock))

    async def seed() -> None:
        async with open_target(sandbox=True, clock=clock) as target:
            result = await make_plan(Path("org"), target.client)
            report = await apply_plan(result.plan, target.client, result.live, clock=clock)
            assert report.exit_code == 0

    asyncio.run(seed())
    return repo


def plan_with_base(clock: FakeClock) -> tuple[list[tuple[Action, str]], list[str]]:
    async def run() -> tuple[list[tuple[Action, str]], list[str]]:
        async with open_target(sandbox=True, clock=clock) as target:
            result = await make_plan(Path("org"), target.client, base="main")
            steps = [(s.action, s.key) for s in result.plan.steps]
            return steps, [v.rule for v in result.violations]

    return asyncio.run(run())


def test_plan_base_deletes_a_dated_removal_with_prune_off(
    sandboxed: Path, clock: FakeClock
) -> None:
    edit(sandboxed / "org" / "orgctl.yaml", "users: true ", "users: false")
    date_qianwei(sandboxed, "2020-01-31")
    remove_qianwei(sandboxed)
    assert plan_with_base(clock) == ([(Action.DELETE_USER, "qianwei")], [])
    # Without --base the removal is invisible and prune is off: nothing.
    result = orgctl("plan", "org", "--sandbox", "--detailed-exitcode")
    assert result.exit_code == 0, result.output


def test_plan_base_refuses_deleting_an_undated_removal(sandboxed: Path, clock: FakeClock) -> None:
    policy(sandboxed, "lifecycle:\n  dated_removals_only: true\n")
    git(sandboxed, "commit", "-qam", "policy")
    remove_qianwei(sandboxed)
    steps, rules = plan_with_base(clock)
    assert steps == [(Action.DELETE_USER, "qianwei")]  # prune.users is on in the example
    assert rules == ["undated-removal"]
    result = orgctl("plan", "org", "--sandbox", "--base", "main", "--force")
    assert result.exit_code == 3
    assert "refused: 钱伟 (qianwei) was removed from the YAML but it had no leaves_on" in (
        result.stderr
    )


# --------------------------------------------------------------------------- --base-dir


def base_copy(root: Path) -> Path:
    """The org as it is now, copied outside the repository (as the plan workflow checks out
    the PR's base beside the PR's org/)."""
    copy = root.parent / "base-checkout" / "org"
    shutil.copytree(root / "org", copy)
    return copy


def test_base_dir_reads_the_org_in_a_directory_and_locates_removals_there(repo: Path) -> None:
    base = base_copy(repo)
    remove_qianwei(repo)
    desired, _ = load_desired(Path("org"))
    (gone,) = removed_since(Path("org"), None, desired, base_dir=base)
    assert gone.userid == "qianwei"
    assert gone.location is not None
    assert gone.location.file.endswith("base-checkout/org/people/engineering.yaml")
    assert removed_since(Path("org"), None, load_desired(base)[0], base_dir=base) == ()


def test_base_dir_missing_or_with_base_is_an_input_error(repo: Path) -> None:
    desired, _ = load_desired(Path("org"))
    with pytest.raises(InputError, match="no such directory"):
        removed_since(Path("org"), None, desired, base_dir=repo / "no-such-org")
    with pytest.raises(InputError, match="give one of them"):
        removed_since(Path("org"), "main", desired, base_dir=repo / "org")
    result = orgctl("validate", "org", "--base-dir", "no-such-org")
    assert result.exit_code == 1
    assert "--base-dir no-such-org: no such directory" in result.stderr


def test_validate_base_dir_refuses_an_undated_removal_and_accepts_a_dated_one(
    repo: Path,
) -> None:
    policy(repo, "lifecycle:\n  dated_removals_only: true\n")
    git(repo, "commit", "-qam", "policy")
    base = base_copy(repo)
    remove_qianwei(repo)
    result = orgctl("validate", "org", "--base-dir", str(base))
    assert result.exit_code == 1
    assert "钱伟 (qianwei) was removed from the YAML but it had no leaves_on" in result.stderr
    assert "base-checkout/org/people/engineering.yaml:36:5" in result.stderr
    git(repo, "checkout", "-q", "--", "org")
    date_qianwei(repo, "2020-01-31")
    shutil.rmtree(base.parent)
    base = base_copy(repo)
    remove_qianwei(repo)
    assert orgctl("validate", "org", "--base-dir", str(base)).exit_code == 0


def test_plan_base_dir_deletes_a_dated_removal_with_prune_off_outside_any_git_repo(
    sandboxed: Path, clock: FakeClock, tmp_path: Path
) -> None:
    edit(sandboxed / "org" / "orgctl.yaml", "users: true ", "users: false")
    date_qianwei(sandboxed, "2020-01-31")
    base = base_copy(sandboxed)
    # The PR's org exported outside the repository (no git around it), like the workflow's pr/.
    pr_org = tmp_path / "pr" / "org"
    shutil.copytree(sandboxed / "org", pr_org)
    path = pr_org / "people" / "engineering.yaml"
    text = path.read_text(encoding="utf-8")
    start = text.index(QIANWEI)
    path.write_text(text[:start] + text[text.index("  - userid:", start + 1) :], encoding="utf-8")

    async def run() -> list[tuple[Action, str]]:
        async with open_target(sandbox=True, clock=clock) as target:
            result = await make_plan(pr_org, target.client, base_dir=base)
            assert result.violations == ()
            return [(s.action, s.key) for s in result.plan.steps]

    assert asyncio.run(run()) == [(Action.DELETE_USER, "qianwei")]
    result = orgctl("plan", str(pr_org), "--sandbox", "--base-dir", str(base), "--format", "json")
    assert result.exit_code == 0, result.output
    assert [step["id"] for step in json.loads(result.stdout)["steps"]] == ["user.delete:qianwei"]
