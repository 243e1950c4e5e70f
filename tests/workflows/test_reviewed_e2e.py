"""Reviewed = applied, and approvals on the pull request, with the real workflows, the real
orgctl, a sandbox DingTalk and the fake GitHub API.

A merge applies the plan reviewed on its PR, if the steps are still the same; a console edit
that changes a step blocks it (one "plan changed since review" issue, a manual run with the
new digest applies it); an unsafe plan needs the label from someone who may write, added
after the plan of the PR's last commit; a rule by change class takes a team's review.
"""

from __future__ import annotations

import json
import re
from typing import Any

from reconciler.gitops import markers
from reconciler.gitops.approvals import APPROVAL_CONTEXT, parse_record
from reconciler.gitops.reviewed import PLAN_CHANGED_LABEL, PLAN_CHANGED_MARKER
from tests.workflows.harness import RunResult
from tests.workflows.test_workflows_e2e import (
    World,
    assert_no_secret_leaked,
    git,
    org_people,
    plan_comments,
    raw_pii,
)

LABEL = "orgctl-approved"


# --------------------------------------------------------------------------- helpers


def converge(world: World) -> None:
    """DingTalk as org/ says: a manual run without a digest applies the head of main."""
    result = world.runner("apply", "workflow_dispatch", {}).run()
    assert result.jobs["apply"].result == "success", result.output()


def edit(world: World, old: str, new: str) -> None:
    """Replace the first ``old`` in org/ by ``new``, and commit."""
    for path in sorted((world.workspace / "org").rglob("*.yaml")):
        text = path.read_text(encoding="utf-8")
        if old in text:
            path.write_text(text.replace(old, new, 1), encoding="utf-8")
            world.commit(f"{old} → {new}")
            return
    raise AssertionError(f"{old!r} is nowhere in org/")


def leaf_people(world: World, count: int) -> list[str]:
    """People nobody names as manager, who lead no department and are not protected."""
    people = org_people(world.workspace / "org")
    text = "\n".join(p.read_text("utf-8") for p in (world.workspace / "org").rglob("*.yaml"))
    named = set(re.findall(r"manager: (\w+)", text))
    named |= {m for group in re.findall(r"managers: \[([^\]]*)\]", text) for m in group.split(",")}
    named |= set(re.findall(r"protected_users: \[([^\]]*)\]", text)[0].split(","))
    leaves = [p["userid"] for p in people if p["userid"] not in {n.strip() for n in named}]
    assert len(leaves) >= count
    return leaves[:count]


def remove_people(world: World, userids: list[str]) -> None:
    for path in sorted((world.workspace / "org").rglob("*.yaml")):
        lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
        kept: list[str] = []
        skipping = False
        for line in lines:
            if line.startswith("  - userid: "):
                skipping = line.split(":", 1)[1].strip() in userids
            elif line.startswith(("  #", "users:")) or not line.startswith(" "):
                skipping = False
            if not skipping:
                kept.append(line)
        path.write_text("".join(kept), encoding="utf-8")
    world.commit(f"remove {', '.join(userids)}")


def open_pr(world: World, number: int) -> RunResult:
    world.github.add_pull(number)
    return world.plan_pr(number)


def merge(world: World, number: int, head: str | None = None) -> RunResult:
    """PR ``number`` is merged as the current head of main; apply runs for that push."""
    world.github.merge_pull(number, world.head_sha, head or world.head_sha)
    result = world.runner("apply", "push", {}).run()
    assert_no_secret_leaked(result)
    return result


def label(world: World, number: int, actor: str, *, remove: bool = False) -> RunResult:
    world.github.label_pull(number, LABEL, actor, remove=remove)
    event = {**world.pr_event(number), "action": "unlabeled" if remove else "labeled"}
    result = world.runner("plan", "pull_request_target", event, actor=actor).run()
    assert result.jobs["approval"].result == "success", result.output()
    assert result.jobs["plan"].result == "skipped"  # a label never re-plans
    return result


def review(world: World, number: int, user: str) -> RunResult:
    world.github.add_review(number, user, "APPROVED", world.head_sha)
    event = {**world.pr_event(number), "action": "submitted"}
    result = world.runner("plan", "pull_request_review", event, actor=user).run()
    assert result.jobs["approval"].result == "success", result.output()
    return result


def status(world: World, sha: str | None = None) -> dict[str, Any]:
    found = world.github.status(sha or world.head_sha, APPROVAL_CONTEXT)
    assert found is not None
    return found


def record_digest(world: World, number: int) -> str:
    (part,) = [c for c in plan_comments(world, number) if "part=1/" in c["body"]]
    record = parse_record(part["body"])
    assert record is not None
    return record.digest


def plan_records(world: World) -> list[dict[str, Any]]:
    found = []
    for path in sorted((world.workspace / ".orgctl" / "journal").rglob("*.jsonl")):
        for line in path.read_text(encoding="utf-8").splitlines():
            data = json.loads(line)
            if data.get("event") == "plan":
                found.append(data)
    return found


def user(world: World, userid: str) -> dict[str, Any]:
    (found,) = [u for u in world.sandbox.tenant.users() if u["userid"] == userid]
    return found


def changed_issues(world: World) -> list[dict[str, Any]]:
    return [
        i
        for i in world.github.issues.values()
        if PLAN_CHANGED_LABEL in [label["name"] for label in i["labels"]]
    ]


def apply_step(result: RunResult) -> Any:
    return result.jobs["apply"].step("Apply org/ to DingTalk")


# --------------------------------------------------------------------------- reviewed = applied


def test_the_reviewed_plan_is_applied_despite_a_console_edit_of_an_unmanaged_field(
    world: World,
) -> None:
    converge(world)
    edit(world, "name: 孙丽", "name: 孙丽丽")
    planned = open_pr(world, 7)
    assert planned.jobs["plan"].result == "success", planned.output()
    assert status(world)["state"] == "success"
    digest = record_digest(world, 7)
    # Between review and merge an admin writes a remark on her, which org/ does not manage.
    world.sandbox.tenant.update_user("sunli", {"remark": "控制台备注"})

    result = merge(world, 7)
    assert result.jobs["apply"].result == "success", result.output()
    step = apply_step(result)
    assert step.env["REVIEWED_PLAN"] == "true"  # the artifact's plan, step by step
    assert step.env["FORCE_DIGEST"] == ""
    assert user(world, "sunli")["name"] == "孙丽丽"
    assert user(world, "sunli")["remark"] == "控制台备注"
    assert plan_records(world)[-1]["digest"] == digest
    assert changed_issues(world) == []


def test_a_console_rename_blocks_the_merge_until_the_new_digest_is_approved(world: World) -> None:
    converge(world)
    edit(world, "name: 孙丽", "name: 孙丽丽")
    open_pr(world, 7)
    reviewed = record_digest(world, 7)
    (dept,) = [
        d for d in world.sandbox.tenant.departments() if d.get("source_identifier") == "sales"
    ]
    world.sandbox.tenant.update_department(dept["dept_id"], {"name": "控制台改名"})
    writes = len(world.sandbox.writes())

    for attempt in (1, 2):  # the second time: the same issue, updated
        result = merge(world, 7)
        assert result.jobs["apply"].result == "failure"
        assert apply_step(result).exit_code == 4
        assert len(world.sandbox.writes()) == writes  # nothing applied
        report = result.jobs["report"]
        assert report.result == "success", result.output()
        assert report.step("Tell the merged PR (or open an issue)").outcome == "skipped"
        (issue,) = changed_issues(world)
        assert issue["state"] == "open"
        assert markers.has_marker(issue["body"], PLAN_CHANGED_MARKER)
        assert "+ department.update:sales  (new)" in issue["body"]
        assert "user.update:sunli" not in issue["body"]  # the reviewed step is unchanged
        assert reviewed in issue["body"]
        comments = world.github.comments_on(issue["number"])
        assert len(comments) == attempt - 1  # "changed again" from the second time on
    assert user(world, "sunli")["name"] == "孙丽"
    (posted,) = [
        c for c in world.github.comments_on(7) if markers.has_marker(c["body"], PLAN_CHANGED_MARKER)
    ]
    assert "The plan now" in posted["body"]
    for value in raw_pii(world.workspace / "org"):
        assert value not in issue["body"]
        assert value not in posted["body"]
    new = re.search(r"New digest: `(sha256:[0-9a-f]{64})`", issue["body"])
    assert new is not None
    assert new.group(1) != reviewed

    # A manual run with a digest other than the plan's applies nothing.
    wrong = {"inputs": {"approve-digest": reviewed, "force": False}}
    result = world.runner("apply", "workflow_dispatch", wrong, actor="alice").run()
    assert apply_step(result).exit_code == 4
    assert len(world.sandbox.writes()) == writes

    # The new digest, approved by hand: applied, the issue closed.
    approve = {"inputs": {"approve-digest": new.group(1), "force": False}}
    result = world.runner("apply", "workflow_dispatch", approve, actor="alice").run()
    assert result.jobs["apply"].result == "success", result.output()
    assert user(world, "sunli")["name"] == "孙丽丽"
    assert dept["dept_id"] in {
        d["dept_id"] for d in world.sandbox.tenant.departments() if d["name"] == "销售中心"
    }
    assert plan_records(world)[-1]["approval"] == f"workflow_dispatch by alice for {new.group(1)}"
    assert issue["state"] == "closed"


def test_two_prs_merged_back_to_back_each_apply_their_own_reviewed_plan(world: World) -> None:
    converge(world)
    base = world.head_sha
    edit(world, "name: 孙丽", "name: 孙丽丽")
    first = world.head_sha
    open_pr(world, 7)
    # PR 8 branches from the same base and is planned before PR 7 is merged.
    git(world.workspace, "checkout", "-q", "-b", "pr8", base)
    world.head_sha = base
    edit(world, "name: 周强", "name: 周强强")
    second = world.head_sha
    open_pr(world, 8)

    git(world.workspace, "checkout", "-q", "main")
    world.head_sha = first
    result = merge(world, 7)
    assert result.jobs["apply"].result == "success", result.output()
    git(
        world.workspace,
        "-c",
        "user.name=t",
        "-c",
        "user.email=t@example.com",
        "merge",
        "-q",
        "--no-edit",
        "pr8",
    )
    world.head_sha = git(world.workspace, "rev-parse", "HEAD")
    result = merge(world, 8, head=second)
    assert result.jobs["apply"].result == "success", result.output()
    assert apply_step(result).env["REVIEWED_PLAN"] == "true"
    assert user(world, "sunli")["name"] == "孙丽丽"
    assert user(world, "zhouqiang")["name"] == "周强强"
    assert changed_issues(world) == []


def test_a_direct_push_applies_only_an_empty_plan(world: World) -> None:
    converge(world)
    edit(world, "name: 孙丽", "name: 孙丽丽")
    result = world.runner("apply", "push", {}).run()  # no PR merged this commit
    assert apply_step(result).exit_code == 4
    assert user(world, "sunli")["name"] == "孙丽"
    (issue,) = changed_issues(world)
    assert "was not reviewed" in issue["body"]


# --------------------------------------------------------------------------- approvals


def test_an_unsafe_plan_needs_the_label_of_a_maintainer_added_after_its_last_plan(
    world: World,
) -> None:
    world.github.roles.update({"alice": "maintain", "mallory": "triage"})
    converge(world)
    leaving = leaf_people(world, 3)  # 3 of 26 people: over the 10 % threshold
    remove_people(world, leaving)
    planned = open_pr(world, 7)
    assert planned.jobs["plan"].step("Plan (read-only DingTalk app)").outputs["exit-code"] == "3"
    (comment,) = plan_comments(world, 7)
    assert f"the label `{LABEL}`" in comment["body"]
    assert status(world)["state"] == "pending"
    writes = len(world.sandbox.writes())

    # No label: refused before DingTalk is even planned with the write credentials.
    result = merge(world, 7)
    assert result.jobs["apply"].step("Find the reviewed plan and its approvals").exit_code == 3
    assert apply_step(result).outcome == "skipped"
    failure = [c for c in world.github.comments_on(7) if "orgctl apply failed" in c["body"]]
    assert len(failure) == 1

    # A label by someone who cannot write does not count.
    label(world, 7, "mallory")
    assert status(world)["state"] == "pending"
    result = merge(world, 7)
    assert apply_step(result).outcome == "skipped"
    assert "mallory" in result.output()

    # A maintainer's label approves this plan…
    label(world, 7, "mallory", remove=True)
    label(world, 7, "alice")
    assert status(world)["state"] == "success"
    assert "alice" in status(world)["description"]

    # …but not the plan of a later push, even with the label still on the PR.
    edit(world, "name: 孙丽", "name: 孙丽丽")
    open_pr(world, 7)
    assert status(world)["state"] == "pending"
    result = merge(world, 7)
    assert apply_step(result).outcome == "skipped"
    assert len(world.sandbox.writes()) == writes

    # Added again after that plan: applied, with the thresholds lifted for its digest only.
    label(world, 7, "alice", remove=True)
    label(world, 7, "alice")
    digest = record_digest(world, 7)
    result = merge(world, 7)
    assert result.jobs["apply"].result == "success", result.output()
    assert apply_step(result).env["FORCE_DIGEST"] == digest
    remaining = {u["userid"] for u in world.sandbox.tenant.users()}
    assert not remaining & set(leaving)
    record = plan_records(world)[-1]
    assert record["forced_digest"] == digest
    assert record["approval"].startswith(f"label {LABEL} added by alice (maintain) at ")
    (note,) = [c for c in world.github.comments_on(7) if "with approval" in c["body"]]
    assert "alice (maintain)" in note["body"]


def test_deleting_a_person_needs_a_review_from_the_named_team(world: World) -> None:
    world.github.teams["acme/hr"] = {"bob"}
    world.github.teams_token = "ghs_teams_token_read_org"
    policy = world.workspace / "org" / "orgctl.yaml"
    text = policy.read_text(encoding="utf-8")
    assert text.endswith(f"approvals:\n  label: {LABEL}\n")  # the example's section
    rules = "  rules:\n    - changes: [delete-user, replace-user]\n      teams: [hr]\n"
    policy.write_text(text + rules, encoding="utf-8")
    world.commit("deletes need HR")
    converge(world)
    (leaving,) = leaf_people(world, 1)
    remove_people(world, [leaving])
    open_pr(world, 9)
    (comment,) = plan_comments(world, 9)
    assert "a member of `hr`" in comment["body"]
    assert status(world)["state"] == "pending"

    review(world, 9, "carol")  # approves, but is not in the team
    assert status(world)["state"] == "pending"
    review(world, 9, "bob")
    assert status(world)["state"] == "success"
    assert "bob" in status(world)["description"]

    result = merge(world, 9)
    assert result.jobs["apply"].result == "success", result.output()
    assert apply_step(result).env["FORCE_DIGEST"] == ""  # a review lifts no threshold
    assert leaving not in {u["userid"] for u in world.sandbox.tenant.users()}
    assert plan_records(world)[-1]["approval"] == "review by bob (hr)"
