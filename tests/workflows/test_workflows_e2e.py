"""The workflows' `run:` steps, executed in order against a sandbox DingTalk on loopback and
a fake GitHub API on loopback, in a temp copy of the repo's org/.

What a company would see: the PR gets one plan comment (masked), updated on the next push;
merging applies and converges; a hand edit in DingTalk opens one drift issue, which closes
once drift is gone; a failed apply is reported on the merged PR.
"""

from __future__ import annotations

import itertools
import re
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml

from reconciler.gitops import markers
from reconciler.gitops.drift import (
    DRIFT_BRANCH,
    DRIFT_PR_MARKER,
    LIFECYCLE_BRANCH,
    LIFECYCLE_PR_MARKER,
)
from reconciler.gitops.reviewed import PLAN_CHANGED_MARKER
from reconciler.sandbox import Sandbox, serve
from tests.workflows.fake_github import FakeGitHub, GitHubState
from tests.workflows.harness import REPO, WORKFLOWS, Runner, RunResult, add_action, merge_runs

GH_TOKEN = "ghs_fake_workflow_token_0123456789"
REPOSITORY = "acme/org"
SANDBOX_KEY = "orgctl-sandbox"
SANDBOX_SECRET = "orgctl-sandbox-secret"
NEW_MOBILE = "+86-13700000002"


def org_people(org_dir: Path) -> list[dict[str, Any]]:
    people: list[dict[str, Any]] = []
    for path in sorted(org_dir.rglob("*.yaml")):
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        if isinstance(data, dict):
            people += [u for u in data.get("users") or [] if isinstance(u, dict)]
    return people


def raw_pii(org_dir: Path) -> list[str]:
    """The mobiles (national digits) and emails written in org/: none may reach GitHub."""
    values: list[str] = []
    for user in org_people(org_dir):
        if user.get("mobile"):
            values.append(re.sub(r"\D", "", str(user["mobile"]))[-11:])
        if user.get("email"):
            values.append(str(user["email"]))
    assert values, "the example org/ has mobiles and emails: else a masking check is vacuous"
    return values


@dataclass
class World:
    workspace: Path
    sandbox: Sandbox
    sandbox_url: str
    github: GitHubState
    api_url: str
    head_sha: str
    base_sha: str = ""
    run_ids: Iterator[int] = field(default_factory=lambda: itertools.count(4242))
    """Each run its own id: a plan comment names the run whose artifact keeps its plan."""

    def runner(
        self,
        name: str,
        event_name: str,
        event: dict[str, Any],
        secrets: dict[str, str] | None = None,
        actor: str = "octocat",
        vars: dict[str, str] | None = None,
    ) -> Runner:
        def step_env(env: dict[str, str]) -> dict[str, str]:
            # DingTalk credentials point the step at the sandbox, like a real tenant.
            return {"DINGTALK_BASE_URL": self.sandbox_url} if "DINGTALK_APP_KEY" in env else {}

        return Runner(
            WORKFLOWS / f"{name}.yml",
            self.workspace,
            github={
                "repository": REPOSITORY,
                "run_id": next(self.run_ids),
                "actor": actor,
                "run_attempt": 1,
                "sha": self.head_sha,
                "ref": "refs/heads/main",
                "event_name": event_name,
                "event": event,
                "token": GH_TOKEN,
            },
            secrets=secrets
            or {
                "DINGTALK_READ_APP_KEY": SANDBOX_KEY,
                "DINGTALK_READ_APP_SECRET": SANDBOX_SECRET,
                "DINGTALK_APP_KEY": SANDBOX_KEY,
                "DINGTALK_APP_SECRET": SANDBOX_SECRET,
                "ORGCTL_TEAMS_TOKEN": self.github.teams_token,
            },
            vars=vars or {},
            api_url=self.api_url,
            step_env=step_env,
        )

    def pr_event(self, number: int, fork: bool = False) -> dict[str, Any]:
        full_name = "someone/org-fork" if fork else REPOSITORY
        return {
            "pull_request": {
                "number": number,
                "base": {"sha": self.base_sha, "repo": {"full_name": REPOSITORY}},
                "head": {"sha": self.head_sha, "repo": {"full_name": full_name}},
            }
        }

    def plan_pr(self, number: int, fork: bool = False) -> RunResult:
        """plan.yml as GitHub runs it for one push to a PR: once per event it listens to."""
        event = self.pr_event(number, fork)
        target = self.runner("plan", "pull_request_target", {**event, "action": "synchronize"})
        result = merge_runs(self.runner("plan", "pull_request", event).run(), target.run())
        # What the run uploaded is then GitHub's, for apply to download on merge.
        for name, files in target.uploaded.items():
            self.github.add_artifact(target.github["run_id"], name, files)
        return result

    def night(self, vars: dict[str, str] | None = None) -> RunResult:
        """One nightly drift run. Its `orgctl pull` edits org/ in the runner's workspace, which
        a runner throws away: so is it here, back to the head commit."""
        result = self.runner("drift", "schedule", {}, vars=vars).run()
        git(self.workspace, "checkout", "-q", "-f", "HEAD")
        git(self.workspace, "clean", "-fdq")
        return result

    def commit(self, message: str) -> None:
        # org/ only: what the workflows write in the workspace (plan.md, pr/) is no change.
        git(self.workspace, "add", "-A", "--", "org")
        git(self.workspace, "commit", "-q", "-m", message)
        self.head_sha = git(self.workspace, "rev-parse", "HEAD")


def git(cwd: Path, *args: str) -> str:
    return subprocess.run(
        ["git", "-c", "user.name=t", "-c", "user.email=t@example.com", *args],
        cwd=cwd,
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    workspace = tmp_path / "repo"
    workspace.mkdir()
    shutil.copytree(REPO / "org", workspace / "org")
    add_action(workspace)
    git(workspace, "init", "-q", "-b", "main")
    git(workspace, "add", "-A")
    git(workspace, "commit", "-q", "-m", "org")
    sb = Sandbox(tmp_path / "tenant.db")
    state = GitHubState(REPOSITORY, GH_TOKEN)
    with serve(sb, port=0) as server, FakeGitHub(state) as api:
        head = git(workspace, "rev-parse", "HEAD")
        yield World(workspace, sb, server.url, state, api.url, head, base_sha=head)
    sb.close()


def assert_no_secret_leaked(result: RunResult) -> None:
    output = result.output()
    assert GH_TOKEN not in output
    assert SANDBOX_SECRET not in output


def plan_comments(world: World, number: int) -> list[dict[str, Any]]:
    return [
        c for c in world.github.comments_on(number) if markers.has_marker(c["body"], "orgctl-plan")
    ]


# --------------------------------------------------------------------------- plan.yml


def test_plan_posts_one_masked_comment_and_updates_it_on_the_next_push(world: World) -> None:
    world.github.add_pull(7)
    result = world.plan_pr(7)
    assert_no_secret_leaked(result)
    assert result.jobs["validate"].result == "success", result.output()
    plan = result.jobs["plan"]
    assert plan.result == "success", result.output()
    assert plan.step("Plan (read-only DingTalk app)").outputs["exit-code"] == "0"

    plan_md = (world.workspace / "plan.md").read_text(encoding="utf-8")
    assert plan_md.strip()
    assert [p.name for p in result.artifacts["orgctl-plan-7-1"]] == ["plan.json"]
    (first,) = plan_comments(world, 7)
    first_id, first_body = first["id"], first["body"]  # the fake edits `first` in place
    first_sha = world.head_sha
    for value in raw_pii(world.workspace / "org"):
        assert value not in plan_md
        assert value not in first["body"]

    # The next push changes org/: the same comment is edited, no second one appears.
    people = org_people(world.workspace / "org")
    assert people, "the example org/ has users"
    path = next(
        p
        for p in sorted((world.workspace / "org").rglob("*.yaml"))
        if f"userid: {people[0]['userid']}" in p.read_text(encoding="utf-8")
    )
    text = path.read_text(encoding="utf-8")
    path.write_text(
        text.replace(f"name: {people[0]['name']}", "name: 改名测试", 1), encoding="utf-8"
    )
    world.commit("rename someone")
    result = world.plan_pr(7)
    assert result.jobs["plan"].result == "success", result.output()
    (second,) = plan_comments(world, 7)
    assert second["id"] == first_id
    assert second["body"] != first_body
    assert "改名测试" in second["body"]
    posts = [w for w in world.github.writes() if w[0] == "POST" and "/comments" in w[1]]
    assert len(posts) == 1  # created once, then only PATCHed
    # Each planned commit gets its approval status: this plan needs none.
    for commit in (first_sha, world.head_sha):
        status = world.github.status(commit, "orgctl/approval")
        assert status is not None
        assert status["state"] == "success", status


def test_plan_of_a_fork_validates_only_and_never_touches_secrets_or_github(world: World) -> None:
    world.github.add_pull(8)
    result = world.plan_pr(8, fork=True)
    assert result.jobs["validate"].result == "success", result.output()
    assert result.jobs["plan"].result == "skipped"
    assert world.github.requests == []


def test_invalid_yaml_fails_the_job_after_commenting(world: World) -> None:
    world.github.add_pull(9)
    (world.workspace / "org" / "broken.yaml").write_text("users:\n  - userid: [unclosed\n")
    world.commit("broken YAML")
    result = world.plan_pr(9)
    assert result.jobs["validate"].result == "failure"
    plan = result.jobs["plan"]
    assert plan.result == "failure"
    assert plan.step("Post the plan on the PR").outcome == "success"
    assert plan.step("Fail on invalid YAML or an unsafe plan").exit_code == 1
    (comment,) = plan_comments(world, 9)
    assert "orgctl plan failed" in comment["body"]
    assert "broken.yaml" in comment["body"]


# --------------------------------------------------------------------------- apply + drift


def test_apply_converges_then_drift_opens_and_closes_one_issue(world: World) -> None:
    applied = world.runner("apply", "workflow_dispatch", {}).run()
    assert_no_secret_leaked(applied)
    assert applied.jobs["apply"].result == "success", applied.output()
    assert applied.jobs["report"].step("Tell the merged PR (or open an issue)").outcome == (
        "skipped"
    )
    assert applied.artifacts["orgctl-journal-1"], "the journal is uploaded"
    assert applied.jobs["apply"].outputs["sha"] == world.head_sha

    # Converged: the nightly plan finds nothing, and opens nothing.
    drift = world.night()
    assert drift.jobs["drift"].result == "success", drift.output()
    assert drift.jobs["drift"].step("Plan (read-only DingTalk app)").outputs["exit-code"] == "0"
    assert world.github.issues == {}

    # Someone edits a managed person in the DingTalk console, and adds one by hand.
    person = org_people(world.workspace / "org")[0]
    world.sandbox.tenant.update_user(person["userid"], {"name": "控制台改的"})
    world.sandbox.tenant.add_user("handmade01", "手工加的", "+86-13700000001", [1])
    for _ in range(2):  # two nights of drift: still one issue
        drift = world.night()
        assert drift.jobs["drift"].result == "success", drift.output()
        step = drift.jobs["drift"].step("Plan (read-only DingTalk app)")
        assert step.outputs["exit-code"] == "2"
    (issue,) = world.github.issues.values()
    assert issue["state"] == "open"
    assert [label["name"] for label in issue["labels"]] == [markers.DRIFT_LABEL]
    assert markers.has_marker(issue["body"], markers.DRIFT_MARKER)
    for value in raw_pii(world.workspace / "org"):
        assert value not in issue["body"]

    # Re-applying undoes the console edit; the next night closes the issue.
    assert world.runner("apply", "workflow_dispatch", {}).run().jobs["apply"].result == "success"
    drift = world.night()
    assert drift.jobs["drift"].step("Plan (read-only DingTalk app)").outputs["exit-code"] == "0"
    assert issue["state"] == "closed"
    assert "No drift" in world.github.comments_on(issue["number"])[-1]["body"]


def test_failed_apply_is_red_keeps_the_journal_step_and_tells_the_merged_pr(
    world: World,
) -> None:
    world.github.add_pull(12, merge_commit_sha=world.head_sha)
    secrets = {"DINGTALK_APP_KEY": SANDBOX_KEY, "DINGTALK_APP_SECRET": "wrong-secret-value"}
    result = world.runner("apply", "push", {}, secrets=secrets).run()
    output = result.output()
    assert "wrong-secret-value" not in output
    assert GH_TOKEN not in output
    apply = result.jobs["apply"]
    assert apply.result == "failure"
    assert apply.step("Apply org/ to DingTalk").exit_code == 1
    assert apply.step("Keep the journal").outcome == "success"  # if: always()
    assert result.jobs["report"].result == "success", output
    (comment,) = world.github.comments_on(12)
    assert markers.has_marker(comment["body"], markers.FAILURE_MARKER)
    assert "orgctl apply failed (exit 1)" in comment["body"]
    assert world.head_sha[:12] in comment["body"]


# --------------------------------------------------------------------------- personal data


def everything_published(world: World) -> dict[str, list[tuple[str, str]]]:
    """Run every workflow the way a company would (a PR planned, merged and applied, a hand
    edit caught by drift, a failed apply reported) and collect what reaches GitHub:
    ``{"comments" | "artifacts" | "logs": [(where, text)]}``."""
    published: dict[str, list[tuple[str, str]]] = {"comments": [], "artifacts": [], "logs": []}

    def keep(result: RunResult) -> None:
        for step in result.steps:
            published["logs"].append((f"log of {step.job}/{step.name}", step.stdout + step.stderr))
        for name, files in result.artifacts.items():
            for path in files:
                text = path.read_text(encoding="utf-8", errors="replace")
                published["artifacts"].append((f"{name}/{path.name}", text))

    world.github.add_pull(7, merge_commit_sha=world.head_sha)
    keep(world.plan_pr(7))
    keep(world.runner("apply", "push", {}).run())
    person = org_people(world.workspace / "org")[0]
    world.sandbox.tenant.update_user(person["userid"], {"name": "控制台改的"})
    world.sandbox.tenant.add_user("handmade01", "手工加的", "+86-13700000001", [1])
    # The nightly run with advance notices on (the step's log is published too).
    keep(world.runner("drift", "schedule", {}, vars={"ORGCTL_NOTIFY_AGENT_ID": "987654321"}).run())
    # A PR gives someone a new number (a replace), and the console renames a department
    # before it is merged: the new plan goes on the PR and into the plan-changed issue.
    policy = yaml.safe_load((world.workspace / "org" / "orgctl.yaml").read_text("utf-8"))
    changed = next(
        p
        for p in org_people(world.workspace / "org")
        if p.get("mobile") and p["userid"] not in policy["protected_users"]
    )
    for path in sorted((world.workspace / "org").rglob("*.yaml")):
        text = path.read_text(encoding="utf-8")
        if f"userid: {changed['userid']}" in text:
            old = f'mobile: "{changed["mobile"]}"'
            assert old in text
            path.write_text(text.replace(old, f'mobile: "{NEW_MOBILE}"', 1), encoding="utf-8")
    world.commit("a new number")
    world.github.add_pull(8)
    keep(world.plan_pr(8))
    (dept,) = [
        d for d in world.sandbox.tenant.departments() if d.get("source_identifier") == "sales"
    ]
    world.sandbox.tenant.update_department(dept["dept_id"], {"name": "控制台改名"})
    world.github.merge_pull(8, world.head_sha, world.head_sha)
    stale = world.runner("apply", "push", {}).run()
    assert stale.jobs["report"].step("Post the new plan for review").outcome == "success", (
        stale.output()
    )
    keep(stale)
    wrong = {"DINGTALK_APP_KEY": SANDBOX_KEY, "DINGTALK_APP_SECRET": "wrong"}
    keep(world.runner("apply", "push", {}, secrets=wrong).run())
    for comment in world.github.comments.values():
        published["comments"].append((f"comment on #{comment['issue']}", comment["body"]))
    for issue in world.github.issues.values():
        published["comments"].append((f"issue #{issue['number']}", issue["body"]))
    return published


def full_pii_in(texts: list[tuple[str, str]], values: list[str]) -> list[str]:
    return [f"{where}: {value}" for where, text in texts for value in values if value in text]


@pytest.fixture
def published(world: World) -> tuple[dict[str, list[tuple[str, str]]], list[str]]:
    values = [*raw_pii(world.workspace / "org"), "13700000001", NEW_MOBILE[-11:]]
    return everything_published(world), values


def test_no_comment_issue_log_or_journal_holds_a_full_mobile_or_email(published) -> None:
    found, values = published
    # The plans, the drift issue, the new plan on the PR and in the plan-changed issue, the
    # failure report.
    assert len(found["comments"]) >= 6
    assert any(PLAN_CHANGED_MARKER in text for _, text in found["comments"])
    assert any(where.startswith("orgctl-journal") for where, _ in found["artifacts"])
    others = [(w, t) for w, t in found["artifacts"] if not w.startswith("orgctl-plan-")]
    assert full_pii_in(found["comments"], values) == []
    assert full_pii_in(others, values) == []
    assert full_pii_in(found["logs"], values) == []  # run logs are readable by the repo


def test_the_saved_plan_artifact_holds_no_full_mobile_or_email(published) -> None:
    found, values = published
    plans = [(w, t) for w, t in found["artifacts"] if w.startswith("orgctl-plan-")]
    assert plans, "plan.yml uploads the saved plan"
    assert full_pii_in(plans, values) == []


def drift_pulls(world: World) -> list[dict[str, Any]]:
    return [p for p in world.github.pulls.values() if p["head"]["ref"] == DRIFT_BRANCH]


def test_drift_pull_request_is_opened_once_updated_next_night_and_closed_when_drift_is_gone(
    world: World,
) -> None:
    assert world.runner("apply", "workflow_dispatch", {}).run().jobs["apply"].result == "success"
    drift = world.night()
    assert drift.jobs["drift"].result == "success", drift.output()
    assert drift_pulls(world) == []  # no drift, no PR

    # Night 1: a title changed in the console, and someone joined.
    person = org_people(world.workspace / "org")[0]
    world.sandbox.tenant.update_user(person["userid"], {"title": "控制台改的职位"})
    drift = world.night()
    assert_no_secret_leaked(drift)
    assert drift.jobs["drift"].result == "success", drift.output()
    (pull,) = drift_pulls(world)
    assert pull["state"] == "open"
    assert markers.has_marker(pull["body"], DRIFT_PR_MARKER)
    assert f"kept from the console: person {person['userid']}: title" in pull["body"]
    first_head = world.github.refs[f"heads/{DRIFT_BRANCH}"]
    (path,) = world.github.files_at(DRIFT_BRANCH)
    assert "title: 控制台改的职位" in world.github.files_at(DRIFT_BRANCH)[path]

    # Night 2: one more console change: the same PR, a new commit on its branch.
    world.sandbox.tenant.add_user(
        "handmade01", "手工加的", "+86-13700000001", [1], email="handmade01@xinghe.example"
    )
    drift = world.night()
    assert drift.jobs["drift"].result == "success", drift.output()
    assert drift_pulls(world) == [pull]
    assert "new person handmade01" in pull["body"]
    assert "13700000001" not in pull["body"]
    assert "handmade01@xinghe.example" not in pull["body"]
    for value in raw_pii(world.workspace / "org"):
        assert value not in pull["body"]
    assert world.github.refs[f"heads/{DRIFT_BRANCH}"] != first_head
    assert len([w for w in world.github.writes() if w == ("POST", "/repos/acme/org/pulls")]) == 1
    files = world.github.files_at(DRIFT_BRANCH)
    assert len(files) == 2  # the edited file and the new person's file

    # Merging the PR's files leaves no drift; the next night closes the PR and its branch.
    for name, text in files.items():
        (world.workspace / name).parent.mkdir(parents=True, exist_ok=True)
        (world.workspace / name).write_text(text, encoding="utf-8")
    world.commit("keep the console's changes")
    drift = world.night()
    assert drift.jobs["drift"].step("Plan (read-only DingTalk app)").outputs["exit-code"] == "0"
    assert pull["state"] == "closed"
    assert "No drift left" in world.github.comments_on(pull["number"])[-1]["body"]
    assert f"heads/{DRIFT_BRANCH}" not in world.github.refs
    (issue,) = world.github.issues.values()
    assert issue["state"] == "closed"


# --------------------------------------------------------------------------- leavers


def leaver_pulls(world: World) -> list[dict[str, Any]]:
    return [p for p in world.github.pulls.values() if p["head"]["ref"] == LIFECYCLE_BRANCH]


def test_the_nightly_leavers_pr_removes_the_entries_whose_date_has_come(world: World) -> None:
    # A manual run applies the head of main (a push no reviewed plan stands for would not).
    assert world.runner("apply", "workflow_dispatch", {}).run().jobs["apply"].result == "success"
    night = world.night()
    assert night.jobs["leavers"].result == "success", night.output()
    assert leaver_pulls(world) == []  # nobody leaves: no PR

    # linxiaoyu's date has come; wufang's has not.
    path = world.workspace / "org" / "people" / "corporate.yaml"
    text = path.read_text(encoding="utf-8")
    text = text.replace(
        "    job_number: XH0002\n", "    job_number: XH0002\n    leaves_on: 2020-01-31\n"
    )
    text = text.replace(
        "    email: wufang@xinghe.example\n",
        "    email: wufang@xinghe.example\n    leaves_on: 2099-12-31\n",
    )
    path.write_text(text, encoding="utf-8")
    world.commit("linxiaoyu and wufang leave")
    for _ in range(2):  # two nights: still one PR, updated
        night = world.night()
        assert_no_secret_leaked(night)
        assert night.jobs["leavers"].result == "success", night.output()
    (pull,) = leaver_pulls(world)
    assert pull["state"] == "open"
    assert markers.has_marker(pull["body"], LIFECYCLE_PR_MARKER)
    assert "person linxiaoyu (林晓雨) left on 2020-01-31: removed" in pull["body"]
    assert "wufang" not in pull["body"]
    for value in raw_pii(world.workspace / "org"):
        assert value not in pull["body"]
    posts = [w for w in world.github.writes() if w == ("POST", "/repos/acme/org/pulls")]
    assert len(posts) == 1
    files = world.github.files_at(LIFECYCLE_BRANCH)
    assert list(files) == ["org/people/corporate.yaml"]
    removed = files["org/people/corporate.yaml"]
    assert "userid: linxiaoyu" not in removed
    assert "leaves_on: 2099-12-31" in removed  # wufang stays, date and all

    # Merged: nobody's date has come any more; the next night closes the PR and its branch.
    path.write_text(removed, encoding="utf-8")
    world.commit("remove the leavers")
    night = world.night()
    assert night.jobs["leavers"].result == "success", night.output()
    assert pull["state"] == "closed"
    assert "Nobody's leaving date" in world.github.comments_on(pull["number"])[-1]["body"]
    assert f"heads/{LIFECYCLE_BRANCH}" not in world.github.refs


def test_the_drift_issue_lists_pending_invitations(world: World) -> None:
    # A manual run applies the head of main (a push no reviewed plan stands for would not).
    assert world.runner("apply", "workflow_dispatch", {}).run().jobs["apply"].result == "success"
    people = org_people(world.workspace / "org")
    invited, edited = people[1]["userid"], people[2]["userid"]
    world.sandbox.tenant.set_active(invited, False)  # created, invitation not accepted (40103)
    world.sandbox.tenant.update_user(edited, {"title": "控制台改的职位"})  # drift
    night = world.night()
    assert night.jobs["drift"].step("Plan (read-only DingTalk app)").outputs["exit-code"] == "2"
    (issue,) = world.github.issues.values()
    assert "**Pending invitations** (not accepted yet, DingTalk 40103)" in issue["body"]
    assert f"- {invited}" in issue["body"]
    assert "(no date in DingTalk)" in issue["body"]
