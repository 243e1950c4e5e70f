"""What a plan needs approved, and whether what the PR shows is enough. Pure."""

from __future__ import annotations

import pytest

from reconciler.gitops.approvals import (
    UNSAFE,
    Evaluation,
    LabelApproval,
    LabelEvent,
    Need,
    PlanNeeds,
    Review,
    ReviewRecord,
    approval_note,
    approving_reviewers,
    change_classes,
    commit_status,
    evaluate,
    label_candidate,
    needs_markdown,
    parse_record,
    plan_needs,
)
from reconciler.model import Org, User
from reconciler.plan.planner import build_plan
from reconciler.policy import ApprovalRule, Approvals, Policy
from tests.plan.builders import dept, live_dept, mobile, org, user

RULES = Approvals(
    rules=(
        ApprovalRule(changes=("delete-user", "replace-user"), teams=("hr", "acme/people-ops")),
        ApprovalRule(changes=("delete-department",)),
    )
)
POLICY = Policy(prune_users=True, prune_departments=True, approvals=RULES)


def people(n: int, *, first: int = 0, moved: int | None = None) -> list[User]:
    return [
        user(f"u{i}", f"人{i}", "eng", mobile=mobile(900 + i if i == moved else i))
        for i in range(first, first + n)
    ]


def live_with(n_users: int) -> Org:
    return org(live_dept(2, "研发", key="eng"), *people(n_users))


def test_change_classes_count_a_new_number_as_a_replace_not_a_delete_and_a_create() -> None:
    desired = org(dept("eng", "研发"), *people(10, moved=3), dept("ops", "运维"))
    plan = build_plan(desired, live_with(11), POLICY)  # u10 pruned, u3 a new number
    assert change_classes(plan) == {"delete-user", "replace-user", "create-department"}


def test_plan_needs_the_label_when_unsafe_and_a_rule_per_matching_class() -> None:
    desired = org(dept("eng", "研发"), *people(8, first=2))  # 2 of 10 gone: over 10 %
    needs = plan_needs(build_plan(desired, live_with(10), POLICY), POLICY)
    assert needs == PlanNeeds((Need(UNSAFE), Need("delete-user", ("hr", "acme/people-ops"))))
    # A plan without deletions needs nothing.
    calm = build_plan(org(dept("eng", "研发"), *people(11)), live_with(10), POLICY)
    assert plan_needs(calm, POLICY) == PlanNeeds()


def test_a_protected_user_blocks_the_plan_whatever_the_approvals() -> None:
    policy = Policy(prune_users=True, protected_users=("u1",), approvals=RULES)
    desired = org(dept("eng", "研发"), *people(10, moved=1))
    needs = plan_needs(build_plan(desired, live_with(10), policy), policy)
    assert len(needs.blocked) == 1
    assert "protected user u1" in needs.blocked[0]
    by_label = LabelApproval("alice", "2026-01-01T00:00:09Z", "admin")
    evaluation = evaluate(needs, "ok", by_label, {})
    assert not evaluation.approved
    assert commit_status(evaluation)[0] == "failure"
    assert "No approval can apply this plan" in needs_markdown(needs, "ok")


def test_the_record_survives_the_comment_and_a_forged_or_broken_one_is_ignored() -> None:
    record = ReviewRecord(
        "a" * 40,
        "sha256:" + "b" * 64,
        "77",
        "orgctl-plan-7-1",
        3,
        PlanNeeds((Need(UNSAFE), Need("delete-user", ("team--x",))), ("would --> break",)),
        "ok-go",
    )
    line = record.line()
    assert line.count("-->") == 1  # nothing in it can end the HTML comment early
    body = f"<!-- orgctl-plan part=1/1 -->\n{line}\n### plan"
    assert parse_record(body) == record
    assert parse_record("no record here") is None
    assert parse_record("<!-- orgctl-review bm90IGpzb24= -->") is None


EVENTS = [
    LabelEvent("labeled", "ok", "alice", "2026-01-01T00:00:05Z"),
    LabelEvent("labeled", "other", "bob", "2026-01-01T00:00:06Z"),
]


@pytest.mark.parametrize(
    ("events", "labels_now", "since", "found"),
    [
        (EVENTS, ["ok"], "2026-01-01T00:00:04Z", "alice"),
        (EVENTS, ["OK"], "2026-01-01T00:00:04Z", "alice"),  # GitHub labels ignore case
        (EVENTS, ["ok"], "2026-01-01T00:00:05Z", None),  # not strictly after the plan
        (EVENTS, ["ok"], "2026-01-01T00:00:07Z", None),  # before the plan of a later push
        (EVENTS, [], "2026-01-01T00:00:04Z", None),  # removed since
        (
            [*EVENTS, LabelEvent("unlabeled", "ok", "carol", "2026-01-01T00:00:08Z")],
            ["ok"],
            "2026-01-01T00:00:04Z",
            None,
        ),
        ([], ["ok"], "2026-01-01T00:00:04Z", None),  # on the PR, but nobody added it?
        (EVENTS, ["ok"], "", None),  # no time for the plan: nothing counts
    ],
)
def test_the_label_counts_only_when_added_after_the_plan_and_still_there(
    events: list[LabelEvent], labels_now: list[str], since: str, found: str | None
) -> None:
    candidate = label_candidate(events, labels_now, "ok", since)
    assert (candidate.actor if candidate else None) == found


def test_label_events_other_than_labels_are_skipped() -> None:
    assert LabelEvent.from_json({"event": "assigned", "actor": {"login": "x"}}) is None
    event = LabelEvent.from_json(
        {"event": "labeled", "label": {"name": "ok"}, "actor": {"login": "a"}, "created_at": "t"}
    )
    assert event == LabelEvent("labeled", "ok", "a", "t")


def test_a_review_approves_only_the_commit_it_was_given_on_and_only_its_last_word() -> None:
    head, old = "h" * 40, "o" * 40
    reviews = [
        Review("bob", "APPROVED", old, "1"),  # an earlier commit: a push needs a new review
        Review("carol", "APPROVED", head, "2"),
        Review("carol", "COMMENTED", head, "3"),  # a comment changes nothing
        Review("dave", "APPROVED", head, "4"),
        Review("dave", "CHANGES_REQUESTED", head, "5"),
    ]
    assert approving_reviewers(reviews, head) == ["carol"]


def test_evaluate_meets_each_need_by_the_label_or_a_member_of_its_teams() -> None:
    needs = PlanNeeds((Need(UNSAFE), Need("delete-user", ("hr",))))
    evaluation = evaluate(needs, "ok", None, {"hr": ["bob"]})
    assert evaluation.missing == (Need(UNSAFE),)  # a team review never lifts a threshold
    assert commit_status(evaluation) == ("pending", "needs approval: unsafe")
    by_label = LabelApproval("alice", "2026-01-01T00:00:09Z", "maintain")
    approved = evaluate(needs, "ok", by_label, {})
    assert approved.approved
    assert approval_note(approved) == "label ok added by alice (maintain) at 2026-01-01T00:00:09Z"
    state, text = commit_status(approved)
    assert state == "success"
    assert len(text) <= 140
    assert commit_status(Evaluation((), ())) == ("success", "nothing in this plan needs approval")
    reviewed = evaluate(PlanNeeds((Need("delete-user", ("hr",)),)), "ok", None, {"hr": ["bob"]})
    assert approval_note(reviewed) == "review by bob (hr)"


def test_the_comment_says_what_the_plan_needs_and_how() -> None:
    text = needs_markdown(PlanNeeds((Need(UNSAFE), Need("delete-user", ("hr",)))), "ok")
    assert "refused by a safety threshold" in text
    assert "the label `ok`" in text
    assert "a member of `hr`" in text
    assert "orgctl/approval" in text
    assert needs_markdown(PlanNeeds(), "ok") == ""
