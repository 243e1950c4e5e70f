"""The workflows' wiring, with `orgctl validate/plan/apply` replaced by a stub that returns a
chosen exit code and output, and the real `orgctl gh` talking to a fake GitHub on loopback.

This pins down what each exit code does to the job and to GitHub, independently of the plan
engine; test_workflows_e2e.py runs the same workflows with the real engine and a sandbox.
"""

from __future__ import annotations

import shlex
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from reconciler.gitops import markdown, markers
from reconciler.gitops.reviewed import EMPTY_DIGEST
from tests.workflows.fake_github import FakeGitHub, GitHubState
from tests.workflows.harness import WORKFLOWS, Runner, RunResult, add_action, merge_runs

TOKEN = "ghs_wiring_token_abcdef"
REPOSITORY = "acme/org"
READ_SECRET = "read-secret-value-123"
WRITE_SECRET = "write-secret-value-456"

STUB = r"""#!/usr/bin/env bash
# Stands in for orgctl's engine; `orgctl gh` and `orgctl lifecycle` are the real ones.
printf '%s\n' "$*" >>"$STUB_LOG"
case "$1" in
  gh) exec "$REAL_ORGCTL" "$@" ;;
  lifecycle) exec "$REAL_ORGCTL" "$@" ;;  # reads only the YAML and the date
  validate)
    if [ "$STUB_VALIDATE_EXIT" != 0 ]; then
      echo "org/people.yaml:3:5: users[0].mobile: 15172391968 is taken" >&2
    fi
    exit "$STUB_VALIDATE_EXIT" ;;
  plan)
    test "$DINGTALK_APP_SECRET" = "$STUB_EXPECT_SECRET" || { echo "wrong credentials" >&2; exit 1; }
    prev=""
    for arg in "$@"; do
      if [ "$prev" = "--out" ]; then echo '{"plan": "json"}' >"$arg"; fi
      prev=$arg
    done
    cat "$STUB_PLAN_MD"
    if [ "$STUB_PLAN_EXIT" != 0 ]; then echo "error: stub plan exit $STUB_PLAN_EXIT" >&2; fi
    exit "$STUB_PLAN_EXIT" ;;
  pull)
    test "$DINGTALK_APP_SECRET" = "$STUB_EXPECT_SECRET" || { echo "wrong credentials" >&2; exit 1; }
    prev=""
    for arg in "$@"; do
      if [ "$prev" = "--report" ]; then echo '{"files": [], "changes": [], "notes": []}' >"$arg"; fi
      prev=$arg
    done
    exit 0 ;;
  apply)
    test "$DINGTALK_APP_SECRET" = "$STUB_EXPECT_SECRET" || { echo "wrong credentials" >&2; exit 1; }
    mkdir -p "$ORGCTL_HOME/journal"
    echo '{"step": 1}' >"$ORGCTL_HOME/journal/20260101T000000Z-stub.jsonl"
    exit "$STUB_APPLY_EXIT" ;;
esac
echo "stub: unexpected $*" >&2
exit 99
"""


@dataclass
class Wiring:
    tmp: Path
    workspace: Path
    github: GitHubState
    api_url: str
    stub_dir: Path
    log: Path
    plan_md: Path
    head_sha: str = ""
    exits: dict[str, int] = field(default_factory=lambda: {"validate": 0, "plan": 0, "apply": 0})

    def run(self, name: str, event_name: str, event: dict[str, Any] | None = None) -> RunResult:
        expect = WRITE_SECRET if name == "apply" else READ_SECRET

        def step_env(env: dict[str, str]) -> dict[str, str]:
            return {
                "STUB_LOG": str(self.log),
                "STUB_PLAN_MD": str(self.plan_md),
                "STUB_EXPECT_SECRET": expect,
                "STUB_VALIDATE_EXIT": str(self.exits["validate"]),
                "STUB_PLAN_EXIT": str(self.exits["plan"]),
                "STUB_APPLY_EXIT": str(self.exits["apply"]),
                "REAL_ORGCTL": str(Path(sys.executable).parent / "orgctl"),
            }

        runner = Runner(
            WORKFLOWS / f"{name}.yml",
            self.workspace,
            github={
                "repository": REPOSITORY,
                "run_id": 99,
                "run_attempt": 1,
                "sha": self.head_sha,
                "event_name": event_name,
                "event": event or {},
                "token": TOKEN,
            },
            secrets={
                "DINGTALK_READ_APP_KEY": "read-key",
                "DINGTALK_READ_APP_SECRET": READ_SECRET,
                "DINGTALK_APP_KEY": "write-key",
                "DINGTALK_APP_SECRET": WRITE_SECRET,
            },
            api_url=self.api_url,
            step_env=step_env,
            extra_path=[self.stub_dir],
        )
        result = runner.run()
        output = result.output()
        for secret in (TOKEN, READ_SECRET, WRITE_SECRET):
            assert secret not in output, "a secret reached the log"
        return result

    def run_pr(self, event: dict[str, Any]) -> RunResult:
        """plan.yml as GitHub runs it for one push to a PR: once per event it listens to."""
        return merge_runs(
            self.run("plan", "pull_request", event), self.run("plan", "pull_request_target", event)
        )

    def calls(self) -> list[list[str]]:
        if not self.log.exists():
            return []
        return [shlex.split(line) for line in self.log.read_text().splitlines()]


@pytest.fixture
def wiring(tmp_path: Path) -> Iterator[Wiring]:
    workspace = tmp_path / "repo"
    (workspace / "org").mkdir(parents=True)
    (workspace / "org" / "people.yaml").write_text("users: []\n")
    add_action(workspace)
    subprocess.run(["git", "init", "-q", "-b", "main", str(workspace)], check=True)
    subprocess.run(["git", "-C", str(workspace), "add", "org", "action.yml", "action"], check=True)
    subprocess.run(
        [
            "git",
            "-C",
            str(workspace),
            "-c",
            "user.name=t",
            "-c",
            "user.email=t@example.com",
            "commit",
            "-q",
            "-m",
            "init",
        ],
        check=True,
    )
    head = subprocess.run(
        ["git", "-C", str(workspace), "rev-parse", "HEAD"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    stub_dir = tmp_path / "stub-bin"
    stub_dir.mkdir()
    stub = stub_dir / "orgctl"
    stub.write_text(STUB)
    stub.chmod(0o755)
    plan_md = tmp_path / "canned-plan.md"
    plan_md.write_text("## orgctl plan\n\n| create | 1 |\n|---|---|\n\n- create user lisi\n")
    state = GitHubState(REPOSITORY, TOKEN)
    with FakeGitHub(state) as api:
        yield Wiring(
            tmp_path, workspace, state, api.url, stub_dir, tmp_path / "calls.log", plan_md, head
        )


def pr(number: int, sha: str, fork: bool = False) -> dict[str, Any]:
    name = "someone/fork" if fork else REPOSITORY
    return {
        "pull_request": {
            "number": number,
            "base": {"sha": sha, "repo": {"full_name": REPOSITORY}},
            "head": {"sha": sha, "repo": {"full_name": name}},
        }
    }


def marked(state: GitHubState, number: int, marker: str) -> list[dict[str, Any]]:
    return [c for c in state.comments_on(number) if markers.has_marker(c["body"], marker)]


# --------------------------------------------------------------------------- plan.yml


def test_plan_calls_orgctl_as_documented_and_posts_one_comment(wiring: Wiring) -> None:
    wiring.github.add_pull(5)
    result = wiring.run_pr(pr(5, wiring.head_sha))
    assert result.jobs["validate"].result == "success"
    assert result.jobs["plan"].result == "success"
    calls = wiring.calls()
    # Both against the PR's base: validate by its commit, plan by its org checked out as data.
    assert ["validate", "org", "--base", wiring.head_sha] in calls
    plan = ["plan", "pr/org", "--base-dir", "pr-base/org", "--format", "markdown"]
    assert [*plan, "--out", "plan.json"] in calls
    assert [p.name for p in result.artifacts["orgctl-plan-5-1"]] == ["plan.json"]
    (comment,) = marked(wiring.github, 5, "orgctl-plan")
    assert "create user lisi" in comment["body"]
    assert wiring.head_sha[:12] in comment["body"]
    assert "https://github.test/acme/org/actions/runs/99" in comment["body"]

    wiring.plan_md.write_text("## orgctl plan\n\n- create user wangwu\n")
    wiring.run_pr(pr(5, wiring.head_sha))
    (updated,) = marked(wiring.github, 5, "orgctl-plan")
    assert updated["id"] == comment["id"]
    assert "wangwu" in updated["body"]


def test_a_long_plan_is_split_and_shrinks_back(wiring: Wiring) -> None:
    wiring.github.add_pull(5)
    rows = "".join(f"| create | user{i:05d} | 研发中心/平台组 | 工程师 |\n" for i in range(4000))
    wiring.plan_md.write_text(
        "## orgctl plan\n\n<details><summary>4000 users</summary>\n\n"
        "| op | userid | dept | title |\n|---|---|---|---|\n" + rows + "\n</details>\n"
    )
    result = wiring.run_pr(pr(5, wiring.head_sha))
    assert result.jobs["plan"].result == "success", result.output()
    parts = marked(wiring.github, 5, "orgctl-plan")
    assert len(parts) >= 3
    assert all(len(p["body"]) <= markdown.GITHUB_BODY_LIMIT for p in parts)
    assert [markers.marker_part(p["body"], "orgctl-plan") for p in parts] == list(
        range(1, len(parts) + 1)
    )

    wiring.plan_md.write_text("## orgctl plan\n\nNo changes.\n")
    wiring.run_pr(pr(5, wiring.head_sha))
    (only,) = marked(wiring.github, 5, "orgctl-plan")
    assert only["id"] == parts[0]["id"]
    assert "No changes." in only["body"]


@pytest.mark.parametrize("code", [1, 3])
def test_a_failed_or_unsafe_plan_comments_then_fails_the_job(wiring: Wiring, code: int) -> None:
    wiring.github.add_pull(6)
    wiring.exits["plan"] = code
    result = wiring.run_pr(pr(6, wiring.head_sha))
    plan = result.jobs["plan"]
    assert plan.result == "failure"
    assert plan.step("Post the plan on the PR").outcome == "success"
    assert plan.step("Fail on invalid YAML or an unsafe plan").exit_code == code
    (comment,) = marked(wiring.github, 6, "orgctl-plan")
    expected = "refused by a safety rule" if code == 3 else "orgctl plan failed"
    assert expected in comment["body"]
    assert f"stub plan exit {code}" in comment["body"]


def test_invalid_yaml_fails_validate_even_for_a_fork(wiring: Wiring) -> None:
    wiring.exits["validate"] = 1
    result = wiring.run_pr(pr(6, wiring.head_sha, fork=True))
    assert result.jobs["validate"].result == "failure"
    assert result.jobs["plan"].result == "skipped"


def test_a_fork_gets_validate_only(wiring: Wiring) -> None:
    result = wiring.run_pr(pr(6, wiring.head_sha, fork=True))
    assert result.jobs["validate"].result == "success"
    assert result.jobs["plan"].result == "skipped"
    assert all(call[0] == "validate" for call in wiring.calls())
    assert wiring.github.requests == []


def commit(workspace: Path, message: str) -> str:
    def git(*args: str) -> str:
        return subprocess.run(
            ["git", "-C", str(workspace), "-c", "user.name=t", "-c", "user.email=t@e", *args],
            check=True,
            capture_output=True,
            text=True,
        ).stdout.strip()

    git("add", "-A")
    git("commit", "-q", "-m", message)
    return git("rev-parse", "HEAD")


def pr_from(number: int, base: str, head: str) -> dict[str, Any]:
    event = pr(number, head)
    event["pull_request"]["base"]["sha"] = base
    return event


def test_the_plan_job_runs_the_base_branch_orgctl_on_the_pr_org_as_data(wiring: Wiring) -> None:
    wiring.github.add_pull(5)
    base = wiring.head_sha
    (wiring.workspace / "org" / "people.yaml").write_text("users: [{userid: from-the-pr}]\n")
    head = commit(wiring.workspace, "a change to org/")
    result = wiring.run_pr(pr_from(5, base, head))
    plan = result.jobs["plan"]
    assert plan.result == "success", result.output()
    (install,) = plan.installs
    # orgctl and its dependencies come from the base commit's action (its install script
    # pins every dependency by hash), not from anything the PR holds.
    assert install.source is not None
    assert (install.source.ref, install.source.path) == (base, ".")
    assert (install.via, install.commands) == ("./", ('bash "$ACTION_DIR/action/install.sh"',))
    # From the PR: org/ only, into its own folder, which is what orgctl plans from.
    data = [c for c in plan.checkouts if c.ref == head]
    assert [(c.path, c.sparse) for c in data] == [("pr", ("org",))]
    # The base of its removals: org/ where the PR branched (the merge base), as data too.
    (where,) = [c for c in plan.checkouts if c.path == "pr-base"]
    assert (where.ref, where.sparse) == (base, ("org",))
    assert result.jobs["scope"].outputs["merge-base"] == base
    plan_call = ["plan", "pr/org", "--base-dir", "pr-base/org", "--format", "markdown"]
    assert [*plan_call, "--out", "plan.json"] in wiring.calls()
    people = (wiring.workspace / "pr" / "org" / "people.yaml").read_text()
    assert "from-the-pr" in people
    # validate runs the PR's own code (the event's default checkout), without secrets.
    validate = result.jobs["validate"]
    assert [c.ref for c in validate.checkouts] == [""]
    assert not any("secrets." in str(s.env) for s in validate.steps)
    assert "DINGTALK_APP_SECRET" not in str([s.env for s in validate.steps])


@pytest.mark.parametrize(
    "change",
    [".github/workflows/plan.yml", "reconciler/cli/__init__.py", "requirements/runtime.txt"],
)
def test_a_pr_changing_more_than_org_gets_validate_but_no_secrets(
    wiring: Wiring, change: str
) -> None:
    wiring.github.add_pull(5)
    base = wiring.head_sha
    (wiring.workspace / change).parent.mkdir(parents=True, exist_ok=True)
    (wiring.workspace / change).write_text("import os; print(os.environ)\n")
    (wiring.workspace / "org" / "people.yaml").write_text("users: [{userid: x}]\n")
    head = commit(wiring.workspace, "code and data")
    result = wiring.run_pr(pr_from(5, base, head))
    assert result.jobs["validate"].result == "success"
    assert result.jobs["scope"].outputs["data-only"] == "false"
    assert result.jobs["plan"].result == "skipped"
    assert [call[0] for call in wiring.calls()] == ["validate"]
    assert wiring.github.requests == []


def test_a_symlink_in_the_pr_org_gets_no_plan(wiring: Wiring) -> None:
    wiring.github.add_pull(5)
    base = wiring.head_sha
    (wiring.workspace / "org" / "env.yaml").symlink_to("/proc/self/environ")
    head = commit(wiring.workspace, "a link")
    result = wiring.run_pr(pr_from(5, base, head))
    assert result.jobs["scope"].outputs["data-only"] == "false"
    assert result.jobs["plan"].result == "skipped"


def test_a_marker_comment_by_another_author_is_ignored(wiring: Wiring) -> None:
    wiring.github.add_pull(5)
    planted = wiring.github.add_comment(
        5, "<!-- orgctl-plan part=1/1 -->\n## orgctl plan\n\nNo changes. (trust me)", "mallory"
    )
    result = wiring.run_pr(pr(5, wiring.head_sha))
    assert result.jobs["plan"].result == "success", result.output()
    # The planted comment is untouched (not edited into a real plan, not deleted as a
    # duplicate); the real plan is a new comment by the workflow's identity.
    assert wiring.github.comments[planted["id"]]["body"].endswith("(trust me)")
    ours = [c for c in marked(wiring.github, 5, "orgctl-plan") if c["id"] != planted["id"]]
    (comment,) = ours
    assert comment["user"]["login"] == "github-actions[bot]"
    assert "create user lisi" in comment["body"]
    assert ("PATCH", f"/repos/{REPOSITORY}/issues/comments/{planted['id']}") not in (
        wiring.github.writes()
    )


# --------------------------------------------------------------------------- drift.yml


def test_drift_opens_updates_and_closes_one_issue(wiring: Wiring) -> None:
    wiring.exits["plan"] = 2
    for _ in range(2):
        result = wiring.run("drift", "schedule")
        assert result.jobs["drift"].result == "success", result.output()
    assert ["plan", "org", "--detailed-exitcode", "--format", "markdown"] in wiring.calls()
    (issue,) = wiring.github.issues.values()
    assert issue["state"] == "open"
    assert "create user lisi" in issue["body"]
    assert wiring.github.labels[markers.DRIFT_LABEL]["color"]

    wiring.exits["plan"] = 0
    result = wiring.run("drift", "schedule")
    assert result.jobs["drift"].result == "success"
    assert issue["state"] == "closed"
    assert "No drift" in wiring.github.comments_on(issue["number"])[-1]["body"]


def test_drift_with_an_unsafe_plan_keeps_the_issue_and_fails(wiring: Wiring) -> None:
    wiring.exits["plan"] = 3
    result = wiring.run("drift", "schedule")
    assert result.jobs["drift"].result == "failure"
    (issue,) = wiring.github.issues.values()
    assert "[!WARNING]" in issue["body"]


def test_drift_error_fails_without_touching_issues(wiring: Wiring) -> None:
    wiring.exits["plan"] = 1
    result = wiring.run("drift", "schedule")
    drift = result.jobs["drift"]
    assert drift.result == "failure"
    assert drift.step("Open, update or close the drift issue").outcome == "skipped"
    # Only the leavers job (which reads no tenant) looked for its PR; the drift job nothing.
    assert result.jobs["leavers"].result == "success", result.output()
    assert wiring.github.requests == [("GET", f"/repos/{REPOSITORY}/pulls")]


def test_a_planted_drift_issue_is_neither_updated_nor_closed(wiring: Wiring) -> None:
    planted = wiring.github.add_issue(
        "DingTalk has drifted", "<!-- orgctl-drift -->\nfake", [markers.DRIFT_LABEL], "mallory"
    )
    wiring.exits["plan"] = 0
    result = wiring.run("drift", "schedule")
    assert result.jobs["drift"].result == "success", result.output()
    assert planted["state"] == "open"
    assert wiring.github.comments_on(planted["number"]) == []
    wiring.exits["plan"] = 2
    wiring.run("drift", "schedule")
    assert planted["body"] == "<!-- orgctl-drift -->\nfake"
    (ours,) = [i for i in wiring.github.issues.values() if i is not planted]
    assert ours["user"]["login"] == "github-actions[bot]"


# --------------------------------------------------------------------------- apply.yml


def test_apply_uses_write_credentials_and_keeps_the_journal(wiring: Wiring) -> None:
    result = wiring.run("apply", "push")
    apply = result.jobs["apply"]
    assert apply.result == "success", result.output()
    # A push no merged PR stands for applies only an empty plan (nothing unreviewed).
    assert ["apply", "org", "--yes", "--out", "fresh.json", "--digest", EMPTY_DIGEST] in (
        wiring.calls()
    )
    assert [p.name for p in result.artifacts["orgctl-journal-1"]] == ["20260101T000000Z-stub.jsonl"]
    report = result.jobs["report"]
    assert report.step("Tell the merged PR (or open an issue)").outcome == "skipped"
    assert "nothing to close" in report.step("Close open issues and record the approval").stdout
    assert wiring.github.writes() == []


def test_apply_failure_reports_on_the_merged_pr(wiring: Wiring) -> None:
    wiring.github.add_pull(12, merge_commit_sha=wiring.head_sha)
    wiring.exits["apply"] = 1
    result = wiring.run("apply", "push")
    assert result.jobs["apply"].result == "failure"
    assert result.jobs["apply"].step("Keep the journal").outcome == "success"
    assert result.jobs["report"].result == "success", result.output()
    (comment,) = marked(wiring.github, 12, markers.FAILURE_MARKER)
    assert "orgctl apply failed (exit 1)" in comment["body"]


def test_apply_failure_without_a_pr_opens_then_reuses_one_issue(wiring: Wiring) -> None:
    wiring.exits["apply"] = 3
    wiring.run("apply", "workflow_dispatch")
    wiring.run("apply", "workflow_dispatch")
    (issue,) = wiring.github.issues.values()
    assert [label["name"] for label in issue["labels"]] == [markers.FAILURE_LABEL]
    assert "safety rule" in issue["body"]
    assert len(wiring.github.comments_on(issue["number"])) == 1  # the second failure


def test_a_green_apply_closes_the_failure_issue(wiring: Wiring) -> None:
    wiring.exits["apply"] = 1
    wiring.run("apply", "workflow_dispatch")
    (issue,) = wiring.github.issues.values()
    assert issue["state"] == "open"
    wiring.exits["apply"] = 0
    result = wiring.run("apply", "workflow_dispatch")
    assert result.jobs["report"].result == "success", result.output()
    assert issue["state"] == "closed"
    assert "succeeded" in wiring.github.comments_on(issue["number"])[-1]["body"]
    # A manual run without a digest applies the head of main as it plans now.
    assert ["apply", "org", "--yes", "--out", "fresh.json"] in wiring.calls()


def applies(wiring: Wiring) -> list[list[str]]:
    return [call for call in wiring.calls() if call[0] == "apply"]


def test_apply_plans_against_the_org_before_the_change(wiring: Wiring) -> None:
    before = wiring.head_sha
    (wiring.workspace / "org" / "people.yaml").write_text("users: [{userid: x}]\n")
    head = commit(wiring.workspace, "a change to org/")
    wiring.head_sha = head
    # A push: the commit before it (a merge commit, a squash or a rebase alike).
    wiring.run("apply", "push", {"before": before})
    assert applies(wiring)[-1][:6] == ["apply", "org", "--yes", "--out", "fresh.json", "--base"]
    assert applies(wiring)[-1][6] == before
    # A manual run: the head's first parent (the commit before a merge or squash).
    wiring.run("apply", "workflow_dispatch")
    assert applies(wiring)[-1][5:7] == ["--base", before]
    # No commit before it (the branch was created, or history rewritten): no --base, a warning.
    for missing in ("0" * 40, "f" * 40):
        result = wiring.run("apply", "push", {"before": missing})
        assert "--base" not in applies(wiring)[-1]
        step = result.jobs["apply"].step("Find the org before the change")
        assert "::warning::no commit before this change" in step.stdout
