"""People leaving, with the real workflows, the real orgctl, a sandbox DingTalk and the fake
GitHub API: the base of a change (the PR's merge base in plan.yml, the commit before the push
in apply.yml) tells a dated removal (deleted on merge even with prune.users off) from an
undated one (refused under lifecycle.dated_removals_only, applied by nobody); the nightly
drift run sends the advance notices with the read app's AgentID, and a failed notice does
not fail the night.
"""

from __future__ import annotations

import datetime
from zoneinfo import ZoneInfo

from reconciler.gitops.drift import LIFECYCLE_BRANCH
from tests.workflows.harness import RunResult
from tests.workflows.test_reviewed_e2e import (
    apply_step,
    converge,
    edit,
    label,
    leaf_people,
    open_pr,
    remove_people,
    user,
)
from tests.workflows.test_workflows_e2e import (
    World,
    assert_no_secret_leaked,
    git,
    plan_comments,
    raw_pii,
)

SANDBOX_AGENT_ID = "987654321"
"""The AgentID of the sandbox's app."""


def policy(world: World, text: str) -> None:
    path = world.workspace / "org" / "orgctl.yaml"
    path.write_text(path.read_text(encoding="utf-8") + text, encoding="utf-8")
    world.commit("policy")


def merge_commit(world: World, branch: str, number: int, before: str) -> RunResult:
    """PR ``number`` from ``branch`` merged into main with a merge commit; apply runs for
    that push, which took main from ``before``."""
    git(world.workspace, "checkout", "-q", "main")
    git(world.workspace, "merge", "-q", "--no-ff", "--no-edit", branch)
    head = git(world.workspace, "rev-parse", f"{branch}")
    world.head_sha = git(world.workspace, "rev-parse", "HEAD")
    world.github.merge_pull(number, world.head_sha, head)
    result = world.runner("apply", "push", {"before": before}).run()
    assert_no_secret_leaked(result)
    return result


def squash(world: World, number: int, before: str) -> RunResult:
    """PR ``number`` (the commits on main since ``before``) squashed into one commit on main;
    apply runs for that push."""
    head = world.head_sha
    git(world.workspace, "reset", "-q", "--soft", before)
    git(world.workspace, "commit", "-q", "-m", f"PR #{number} (squashed)")
    world.head_sha = git(world.workspace, "rev-parse", "HEAD")
    world.github.merge_pull(number, world.head_sha, head)
    result = world.runner("apply", "push", {"before": before}).run()
    assert_no_secret_leaked(result)
    return result


def test_merging_the_nightly_leavers_pr_deletes_the_leaver_with_prune_users_off(
    world: World,
) -> None:
    edit(world, "users: true ", "users: false")
    converge(world)
    assert user(world, "linxiaoyu")["name"] == "林晓雨"
    # Her date was set (and reviewed) long ago; it has come since. No apply ran in between.
    edit(world, "    job_number: XH0002\n", "    job_number: XH0002\n    leaves_on: 2020-01-31\n")
    base = world.base_sha = world.head_sha
    night = world.night()
    assert night.jobs["leavers"].result == "success", night.output()

    # The leavers PR, as its branch holds it.
    git(world.workspace, "checkout", "-q", "-b", "leavers")
    for name, text in world.github.files_at(LIFECYCLE_BRANCH).items():
        (world.workspace / name).write_text(text, encoding="utf-8")
    world.commit("Remove the people whose leaving date has come from org/")
    planned = open_pr(world, 7)
    assert planned.jobs["validate"].result == "success", planned.output()
    assert planned.jobs["plan"].result == "success", planned.output()
    (comment,) = plan_comments(world, 7)
    assert "linxiaoyu" in comment["body"]
    assert "Delete" in comment["body"] or "delete" in comment["body"]
    for value in raw_pii(world.workspace / "org"):
        assert value not in comment["body"]

    result = merge_commit(world, "leavers", 7, before=base)
    assert result.jobs["apply"].result == "success", result.output()
    step = apply_step(result)
    assert step.env["BASE"] == base
    assert step.env["REVIEWED_PLAN"] == "true"  # the reviewed steps, the same at merge
    assert "linxiaoyu" not in {u["userid"] for u in world.sandbox.tenant.users()}
    # The others, unmanaged or not, stay: prune.users is off.
    assert len(world.sandbox.tenant.users()) >= 25


def test_a_squash_merge_of_a_dated_removal_applies_the_reviewed_plan(world: World) -> None:
    edit(world, "users: true ", "users: false")
    converge(world)
    edit(world, "    job_number: XH0002\n", "    job_number: XH0002\n    leaves_on: 2020-01-31\n")
    base = world.base_sha = world.head_sha
    remove_people(world, ["linxiaoyu"])
    edit(world, "name: 孙丽", "name: 孙丽丽")  # two commits on the PR, squashed on merge
    planned = open_pr(world, 8)
    assert planned.jobs["plan"].result == "success", planned.output()
    result = squash(world, 8, before=base)
    assert result.jobs["apply"].result == "success", result.output()
    assert apply_step(result).env["REVIEWED_PLAN"] == "true"
    assert "linxiaoyu" not in {u["userid"] for u in world.sandbox.tenant.users()}
    assert user(world, "sunli")["name"] == "孙丽丽"


def test_an_undated_removal_is_red_on_the_pr_and_applied_by_nobody(world: World) -> None:
    world.github.roles["alice"] = "maintain"
    policy(world, "lifecycle:\n  dated_removals_only: true\n")
    converge(world)
    base = world.base_sha = world.head_sha
    (leaving,) = leaf_people(world, 1)
    remove_people(world, [leaving])
    planned = open_pr(world, 7)
    message = "was removed from the YAML but it had no leaves_on: set leaves_on instead"
    validate = planned.jobs["validate"]
    assert validate.result == "failure"
    assert message in validate.step("Validate org/").stdout + validate.step("Validate org/").stderr
    plan = planned.jobs["plan"]
    assert plan.result == "failure"
    assert plan.step("Plan (read-only DingTalk app)").outputs["exit-code"] == "3"
    (comment,) = plan_comments(world, 7)
    assert message in comment["body"]
    writes = len(world.sandbox.writes())

    # Merged anyway, even with a maintainer's approval label: the plan at merge is refused
    # the same way (a label lifts thresholds, never this rule), and nothing is written.
    label(world, 7, "alice")
    git(world.workspace, "checkout", "-q", "main")
    world.github.merge_pull(7, world.head_sha, world.head_sha)
    result = world.runner("apply", "push", {"before": base}).run()
    assert_no_secret_leaked(result)
    assert result.jobs["apply"].result == "failure"
    step = apply_step(result)
    assert step.exit_code == 3, result.output()
    assert step.env["FORCE_DIGEST"] != ""  # the approval was there
    assert message in step.stdout + step.stderr
    assert len(world.sandbox.writes()) == writes
    assert leaving in {u["userid"] for u in world.sandbox.tenant.users()}


# --------------------------------------------------------------------------- notices


def test_the_night_sends_the_advance_notices_with_the_read_apps_agent_id(world: World) -> None:
    today = datetime.datetime.now(ZoneInfo("Asia/Shanghai")).date()
    leaves = today + datetime.timedelta(days=3)
    policy(world, f"notify:\n  agent_id: {SANDBOX_AGENT_ID}\n  advance_days: 3\n")
    edit(world, "    job_number: XH0021\n", f"    job_number: XH0021\n    leaves_on: {leaves}\n")
    converge(world)
    sent = len(world.sandbox.notices())

    # Without the variable: no notices, the step skipped.
    night = world.night()
    assert night.jobs["drift"].result == "success", night.output()
    step = night.jobs["drift"].step("Tell managers who of their people leaves soon")
    assert step.outcome == "skipped"
    assert len(world.sandbox.notices()) == sent

    night = world.night(vars={"ORGCTL_NOTIFY_AGENT_ID": SANDBOX_AGENT_ID})
    assert_no_secret_leaked(night)
    assert night.jobs["drift"].result == "success", night.output()
    step = night.jobs["drift"].step("Tell managers who of their people leaves soon")
    assert step.outcome == "success", night.output()
    (notice,) = world.sandbox.notices()[sent:]
    assert notice.agent_id == int(SANDBOX_AGENT_ID)
    assert "Jessica Xie" in notice.text()
    assert str(leaves) in notice.text()
    assert "zhengxin" in [userid for userid, _, _ in notice.recipients]
    for value in raw_pii(world.workspace / "org"):
        assert value not in step.stdout + step.stderr

    # Another app's AgentID (DingTalk answers 40056): a warning, the night stays green.
    night = world.night(vars={"ORGCTL_NOTIFY_AGENT_ID": "111"})
    assert night.jobs["drift"].result == "success", night.output()
    step = night.jobs["drift"].step("Tell managers who of their people leaves soon")
    assert step.outcome == "success"
    assert "::warning::orgctl notify due exited 1" in step.stdout
    assert len(world.sandbox.notices()) == sent + 1
