"""`orgctl gh gate|comment|approval-status` as the workflows call them, on the fake GitHub."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from reconciler.cli import app
from reconciler.gitops.approvals import APPROVAL_CONTEXT, UNSAFE, Need, parse_record
from reconciler.plan.planner import build_plan
from reconciler.policy import Policy
from tests.plan.builders import dept, live_dept, mobile, org, user
from tests.workflows.fake_github import FakeGitHub, GitHubState

REPO = "acme/org"
TOKEN = "ghs_cli_token"
HEAD = "c" * 40
DIGEST = "sha256:" + "e" * 64


@pytest.fixture
def github(monkeypatch: pytest.MonkeyPatch) -> Iterator[GitHubState]:
    state = GitHubState(REPO, TOKEN)
    with FakeGitHub(state) as api:
        for name, value in {
            "GITHUB_TOKEN": TOKEN,
            "GITHUB_REPOSITORY": REPO,
            "GITHUB_API_URL": api.url,
            "GITHUB_RUN_ID": "31",
            "GITHUB_SERVER_URL": "https://github.test",
        }.items():
            monkeypatch.setenv(name, value)
        yield state


def orgctl(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, list(args))
    return result.exit_code, result.output


def test_a_manual_run_with_a_digest_gates_on_it_without_asking_github(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, github: GitHubState
) -> None:
    monkeypatch.setenv("GITHUB_EVENT_NAME", "workflow_dispatch")
    monkeypatch.setenv("GITHUB_ACTOR", "alice")
    outputs = tmp_path / "outputs"
    code, output = orgctl(
        "gh",
        "gate",
        "--sha",
        HEAD,
        "--outputs",
        str(outputs),
        "--approve-digest",
        DIGEST,
        "--force",
    )
    assert code == 0, output
    lines = dict(line.split("=", 1) for line in outputs.read_text().splitlines())
    assert lines["mode"] == "dispatch"
    assert lines["digest"] == DIGEST
    assert lines["force-digest"] == DIGEST
    assert lines["approval"] == f"workflow_dispatch by alice for {DIGEST} (thresholds lifted)"
    assert github.requests == []


def unsafe_plan_file(tmp_path: Path) -> Path:
    people = [user(f"u{i}", f"人{i}", "eng", mobile=mobile(i)) for i in range(10)]
    live = org(live_dept(2, "研发", key="eng"), *people)
    plan = build_plan(org(dept("eng", "研发"), *people[:7]), live, Policy(prune_users=True))
    path = tmp_path / "plan.json"
    path.write_text(plan.masked().to_json(), encoding="utf-8")
    (tmp_path / "org").mkdir()
    (tmp_path / "org" / "orgctl.yaml").write_text("prune: {users: true}\n", encoding="utf-8")
    (tmp_path / "plan.md").write_text("## plan\n", encoding="utf-8")
    return path


def test_the_comment_records_the_plan_and_the_status_waits_for_the_label(
    tmp_path: Path, github: GitHubState
) -> None:
    plan = unsafe_plan_file(tmp_path)
    github.add_pull(7)
    code, output = orgctl(
        "gh",
        "comment",
        "--pr",
        "7",
        "--file",
        str(tmp_path / "plan.md"),
        "--exit-code",
        "3",
        "--sha",
        HEAD,
        "--plan-json",
        str(plan),
        "--org",
        str(tmp_path / "org"),
        "--artifact",
        "orgctl-plan-7-1",
    )
    assert code == 0, output
    (comment,) = github.comments_on(7)
    record = parse_record(comment["body"])
    assert record is not None
    assert (record.sha, record.run_id, record.artifact) == (HEAD, "31", "orgctl-plan-7-1")
    assert record.needs.needs == (Need(UNSAFE),)
    assert "the label `orgctl-approved`" in comment["body"]

    code, output = orgctl("gh", "approval-status", "--pr", "7")
    assert code == 0, output
    status = github.status(HEAD, APPROVAL_CONTEXT)
    assert status is not None
    assert status["state"] == "pending"
    assert status["target_url"] == "https://github.test/acme/org/actions/runs/31"

    github.roles["alice"] = "write"
    github.label_pull(7, "orgctl-approved", "alice")
    code, output = orgctl("gh", "approval-status", "--pr", "7")
    assert code == 0, output
    status = github.status(HEAD, APPROVAL_CONTEXT)
    assert status is not None
    assert status["state"] == "success"
    assert "alice (write)" in status["description"]


def test_no_plan_comment_no_status(github: GitHubState) -> None:
    github.add_pull(8)
    code, output = orgctl("gh", "approval-status", "--pr", "8")
    assert code == 0, output
    assert "no orgctl plan" in output
    assert github.statuses == {}
