"""What the apply job may apply on merge, and the plan-changed issue. Pure."""

from __future__ import annotations

from reconciler.gitops.approvals import (
    UNSAFE,
    Evaluation,
    LabelApproval,
    Need,
    PlanNeeds,
    ReviewRecord,
)
from reconciler.gitops.issues import CommentOnIssue, CreateIssue, UpdateIssue
from reconciler.gitops.markers import Issue
from reconciler.gitops.reviewed import (
    EMPTY_DIGEST,
    PLAN_CHANGED_LABEL,
    build_plan_changed_body,
    choose_merged,
    decide_dispatch,
    decide_plan_changed_issue,
    decide_plan_changed_resolved,
    decide_push,
)
from reconciler.plan.document import Plan
from reconciler.plan.planner import build_plan
from reconciler.policy import Policy
from tests.plan.builders import dept, live_dept, mobile, org, user

HEAD = "a" * 40
DIGEST = "sha256:" + "d" * 64
BOT = "github-actions[bot]"


def record(**changes: object) -> ReviewRecord:
    fields: dict[str, object] = {"sha": HEAD, "digest": DIGEST, "run_id": "5", "artifact": "x"}
    fields.update(changes)
    return ReviewRecord(**fields)  # type: ignore[arg-type]


def test_choose_merged_prefers_the_pr_whose_merge_commit_it_is() -> None:
    pulls: list[dict[str, object]] = [
        {"number": 3, "merged_at": None, "merge_commit_sha": HEAD},
        {"number": 4, "merged_at": "t", "merge_commit_sha": "b" * 40},
        {"number": 5, "merged_at": "t", "merge_commit_sha": HEAD},
    ]
    assert choose_merged(pulls, HEAD) == pulls[2]
    assert choose_merged(pulls[:1], HEAD) is None


def test_a_push_without_a_reviewed_plan_applies_only_an_empty_plan() -> None:
    assert Plan((), 3, 4, "x", "y").digest == EMPTY_DIGEST
    for decision in (
        decide_push(pr=None, head_sha="", record=None, plan_fetched=False, evaluation=None),
        decide_push(pr=7, head_sha=HEAD, record=None, plan_fetched=False, evaluation=None),
        decide_push(
            pr=7, head_sha=HEAD, record=record(digest=""), plan_fetched=False, evaluation=None
        ),
        # Planned, but not at the commit that was merged (the last plan did not finish).
        decide_push(pr=7, head_sha="c" * 40, record=record(), plan_fetched=True, evaluation=None),
    ):
        assert decision.mode == "unreviewed"
        assert decision.apply
        assert decision.digest == EMPTY_DIGEST
        assert not decision.reviewed
        assert decision.outputs()["digest"] == EMPTY_DIGEST


def test_a_reviewed_plan_is_compared_step_by_step_or_by_digest_when_its_file_is_gone() -> None:
    done = Evaluation((), ())
    fetched = decide_push(pr=7, head_sha=HEAD, record=record(), plan_fetched=True, evaluation=done)
    assert (fetched.apply, fetched.reviewed, fetched.force_digest) == (True, True, "")
    assert fetched.outputs()["reviewed-plan"] == "true"
    assert fetched.outputs()["digest"] == ""  # --plan compares the steps themselves
    gone = decide_push(pr=7, head_sha=HEAD, record=record(), plan_fetched=False, evaluation=done)
    assert gone.outputs()["reviewed-plan"] == "false"
    assert gone.outputs()["digest"] == DIGEST


def test_missing_approvals_stop_apply_and_a_valid_label_forces_that_digest_only() -> None:
    needs = PlanNeeds((Need(UNSAFE),))
    missing = Evaluation((), (Need(UNSAFE),))
    refused = decide_push(
        pr=7, head_sha=HEAD, record=record(needs=needs), plan_fetched=True, evaluation=missing
    )
    assert not refused.apply
    assert "still needs approval (unsafe)" in refused.message
    by_label = LabelApproval("alice", "t", "admin")
    met = Evaluation(((Need(UNSAFE), "label ok added by alice (admin) at t"),), (), (), by_label)
    approved = decide_push(
        pr=7, head_sha=HEAD, record=record(needs=needs), plan_fetched=True, evaluation=met
    )
    assert approved.apply
    assert approved.force_digest == DIGEST
    assert approved.approval == "label ok added by alice (admin) at t"
    blocked = decide_push(
        pr=7,
        head_sha=HEAD,
        record=record(needs=PlanNeeds((), ("protected user",))),
        plan_fetched=True,
        evaluation=met,
    )
    assert not blocked.apply


def test_a_manual_run_applies_the_digest_it_is_given_or_the_head_of_main() -> None:
    head = decide_dispatch("  ", True, "alice")
    assert (head.mode, head.digest, head.force_digest) == ("head", "", "")
    approved = decide_dispatch(f" {DIGEST} ", False, "alice")
    assert (approved.digest, approved.force_digest) == (DIGEST, "")
    assert approved.approval == f"workflow_dispatch by alice for {DIGEST}"
    forced = decide_dispatch(DIGEST, True, "alice")
    assert forced.force_digest == DIGEST


def plans() -> tuple[Plan, Plan]:
    live = org(live_dept(2, "研发", key="eng"), user("u1", "人1", "eng", mobile=mobile(1)))
    reviewed = build_plan(
        org(dept("eng", "研发"), user("u1", "人一", "eng", mobile=mobile(1))), live, Policy()
    )
    fresh = build_plan(
        org(dept("eng", "研发中心"), user("u1", "人一", "eng", mobile=mobile(1))), live, Policy()
    )
    return reviewed.masked(), fresh.masked()


def test_the_plan_changed_body_lists_only_the_steps_that_differ_and_the_new_digest() -> None:
    reviewed, fresh = plans()
    body = build_plan_changed_body(
        fresh=fresh,
        difference=reviewed.difference(fresh),
        reviewed_digest=reviewed.digest,
        pr=7,
        sha=HEAD,
        run_url="https://github.test/acme/org/actions/runs/1",
    )
    assert "+ department.update:eng  (new)" in body
    assert "user.update:u1" not in body
    assert f"`approve-digest` = `{fresh.digest}`" in body
    assert reviewed.digest in body
    assert "The plan now" not in body  # the issue: the PR's comment carries the whole plan
    unreviewed = build_plan_changed_body(
        fresh=fresh, difference=None, reviewed_digest="", pr=None, sha=HEAD, run_url=""
    )
    assert f"`{HEAD[:12]}` was not reviewed" in unreviewed


def test_one_plan_changed_issue_is_opened_then_updated_and_closed_after_a_green_apply() -> None:
    (created,) = decide_plan_changed_issue([], "body", BOT)
    assert isinstance(created, CreateIssue)
    assert created.labels == (PLAN_CHANGED_LABEL,)
    ours = Issue(3, "t", created.body, labels=(PLAN_CHANGED_LABEL,), author=BOT)
    planted = Issue(2, "t", created.body, labels=(PLAN_CHANGED_LABEL,), author="mallory")
    actions = decide_plan_changed_issue([planted, ours], "new body", BOT)
    assert isinstance(actions[0], UpdateIssue)
    assert actions[0].number == 3
    assert isinstance(actions[1], CommentOnIssue)
    assert len(actions) == 2
    closing = decide_plan_changed_resolved([planted, ours], "done", BOT)
    assert [getattr(a, "number", None) for a in closing] == [3, 3]
