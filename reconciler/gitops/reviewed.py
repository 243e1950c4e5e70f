"""Reviewed = applied: what the apply job may apply on merge, and what it tells people when it
may not. Pure; `reconciler.gitops.gate` gathers the facts.

On a push to main, the merged pull request's plan comment names the plan reviewers saw (its
digest, and the run whose artifact keeps the masked plan). Apply re-plans and goes on only if
the steps are the same (`orgctl apply --plan`). Otherwise nothing is applied, the new plan goes
on the merged PR and into one "plan changed since review" issue, and running the apply
workflow by hand with the new digest approves it (`orgctl apply --digest`).

A push no reviewed plan stands for (a direct push, a PR merged without a plan of its last
commit) applies only an empty plan: whatever it would change goes the same way as a plan that
changed since review.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from reconciler.gitops.approvals import Evaluation, ReviewRecord, approval_note
from reconciler.gitops.issues import (
    CommentOnIssue,
    CreateIssue,
    IssueAction,
    UpdateIssue,
    close_duplicates,
    comment_and_close,
)
from reconciler.gitops.markdown import run_link
from reconciler.gitops.markers import BOT_LOGIN, Issue, find_marked_issues, marker_line
from reconciler.plan.document import Plan, StepDifference

PLAN_CHANGED_MARKER = "orgctl-plan-changed"
PLAN_CHANGED_LABEL = "orgctl-plan-changed"
PLAN_CHANGED_TITLE = "orgctl: plan changed since review"
EMPTY_DIGEST = Plan(
    steps=(), existing_users=0, existing_departments=0, live_fingerprint="", desired_fingerprint=""
).digest
"""The digest of a plan with no steps: what an unreviewed push may apply."""
DIFFERENCE_LINES = 200
"""Step differences listed in the issue; the merged PR's comment has the whole plan."""


def choose_merged(pulls: Sequence[Mapping[str, Any]], sha: str) -> Mapping[str, Any] | None:
    """The PR that merged ``sha``: the one whose merge commit it is, else a merged one."""
    merged = [p for p in pulls if p.get("merged_at")]
    for pull in merged:
        if pull.get("merge_commit_sha") == sha:
            return pull
    return merged[0] if merged else None


@dataclass(frozen=True, slots=True)
class GateDecision:
    mode: str
    """``reviewed`` (the merged PR's plan), ``unreviewed`` (nothing reviewed: only an empty
    plan), ``dispatch`` (a digest approved by hand), ``head`` (a manual run without one)."""
    apply: bool
    """False: do not even plan with the write credentials (an approval is missing)."""
    message: str
    pr: int | None = None
    digest: str = ""
    """Apply only a plan with this digest ("" = any)."""
    reviewed: bool = False
    """The reviewed plan file was fetched: compare step by step (--plan)."""
    force_digest: str = ""
    """Lift the safety thresholds for a plan with this digest only."""
    approval: str = ""

    def outputs(self) -> dict[str, str]:
        return {
            "mode": self.mode,
            "apply": "true" if self.apply else "false",
            "pr": str(self.pr or ""),
            "digest": "" if self.reviewed else self.digest,
            "reviewed-plan": "true" if self.reviewed else "false",
            "force-digest": self.force_digest,
            "approval": self.approval,
        }


def decide_dispatch(digest: str, force: bool, actor: str) -> GateDecision:
    """A manual run of the apply workflow. With a digest: that plan only, approved by whoever
    ran it (running a workflow needs write access); without: the head of main, as planned now."""
    digest = digest.strip()
    if not digest:
        return GateDecision(
            "head", True, "manual run without a digest: applying the head of main as planned now"
        )
    who = f"workflow_dispatch by {actor or 'unknown'} for {digest}"
    return GateDecision(
        "dispatch",
        True,
        f"manual run: applying only a plan with digest {digest}",
        digest=digest,
        force_digest=digest if force else "",
        approval=who + (" (thresholds lifted)" if force else ""),
    )


def decide_push(
    *,
    pr: int | None,
    head_sha: str,
    record: ReviewRecord | None,
    plan_fetched: bool,
    evaluation: Evaluation | None,
) -> GateDecision:
    """A push to main. ``head_sha``: the merged PR's head commit; ``record``: its plan
    comment's; ``evaluation``: its approvals, judged against the plan's needs."""
    if pr is None:
        return GateDecision(
            "unreviewed",
            True,
            "no merged pull request for this commit (a direct push): applying only if there "
            "is nothing to change",
            digest=EMPTY_DIGEST,
        )
    if record is None or not record.digest or record.sha != head_sha:
        why = (
            "has no plan comment"
            if record is None
            else "has no successful plan"
            if not record.digest
            else f"was last planned at {record.sha[:12]}, not at its head {head_sha[:12]}"
        )
        return GateDecision(
            "unreviewed",
            True,
            f"PR #{pr} {why}: applying only if there is nothing to change",
            pr=pr,
            digest=EMPTY_DIGEST,
        )
    if record.needs.blocked or (evaluation is not None and not evaluation.approved):
        missing = [] if evaluation is None else [n.reason for n in evaluation.missing]
        why = "breaks a rule no approval lifts" if record.needs.blocked else ""
        why = why or f"still needs approval ({', '.join(missing)})"
        return GateDecision("reviewed", False, f"PR #{pr}'s plan {why}: nothing applied", pr=pr)
    label_used = evaluation is not None and evaluation.label is not None
    return GateDecision(
        "reviewed",
        True,
        f"PR #{pr}'s reviewed plan {record.digest}: applying it if the steps are still the same",
        pr=pr,
        digest=record.digest,
        reviewed=plan_fetched,
        force_digest=record.digest if label_used else "",
        approval="" if evaluation is None else approval_note(evaluation),
    )


# --------------------------------------------------------------------------- plan changed


def build_plan_changed_body(
    *,
    fresh: Plan,
    difference: StepDifference | None,
    reviewed_digest: str,
    pr: int | None,
    sha: str,
    run_url: str,
    plan_md: str = "",
) -> str:
    """The body of the plan-changed issue (``plan_md`` empty) or of the comment on the merged
    PR (``plan_md``: the whole new plan)."""
    where = f"PR #{pr}" if pr else f"`{sha[:12]}`" if sha else "the head of `main`"
    if reviewed_digest:
        headline = f"### ⚠️ orgctl: the plan changed since {where} was reviewed"
        what = (
            "DingTalk, `org/` or the policy changed between review and merge, and the steps "
            "planned now are not the reviewed ones. **Nothing was applied.**"
        )
    else:
        headline = f"### ⚠️ orgctl: {where} was not reviewed as a plan"
        what = (
            "No reviewed plan stands for this commit, and it would change DingTalk. "
            "**Nothing was applied.**"
        )
    lines = [headline, "", what, ""]
    if difference is not None and not difference.empty:
        listed = difference.lines()
        lines += ["Steps that differ from the reviewed plan:", "", "```diff"]
        lines += listed[:DIFFERENCE_LINES]
        lines += ["```", ""]
        if len(listed) > DIFFERENCE_LINES:
            lines += [f"… and {len(listed) - DIFFERENCE_LINES} more (see the run log).", ""]
    lines += [
        f"- {fresh.summary.line()} New digest: `{fresh.digest}`"
        + (f" (reviewed: `{reviewed_digest}`)" if reviewed_digest else ""),
        "- To apply the new plan as it is: run the **apply** workflow by hand (Actions → "
        f"apply → Run workflow) with `approve-digest` = `{fresh.digest}`. It applies only a "
        "plan with exactly that digest (check *force* as well if a safety threshold refuses it).",
        "- Or change `org/` in a new pull request, which gets its own plan and review.",
        f"- Details: {run_link(run_url)}.",
        "",
    ]
    if plan_md.strip():
        lines += ["<details><summary>The plan now</summary>", "", plan_md.rstrip("\n"), ""]
        lines += ["</details>", ""]
    return "\n".join(lines)


def decide_plan_changed_issue(
    open_issues: Sequence[Issue], body: str, author: str = BOT_LOGIN
) -> list[IssueAction]:
    """Keep ONE open plan-changed issue: open it, or update it and say it changed again."""
    text = marker_line(PLAN_CHANGED_MARKER) + "\n" + body
    ours = find_marked_issues(open_issues, PLAN_CHANGED_MARKER, author)
    if not ours:
        return [CreateIssue(PLAN_CHANGED_TITLE, text, (PLAN_CHANGED_LABEL,))]
    keep, *duplicates = ours
    return [
        UpdateIssue(keep.number, text),
        CommentOnIssue(keep.number, "The plan changed again; the description is up to date.\n"),
        *close_duplicates(duplicates, keep.number),
    ]


def decide_plan_changed_resolved(
    open_issues: Sequence[Issue], comment: str, author: str = BOT_LOGIN
) -> list[IssueAction]:
    """After a green apply, DingTalk matches main: the plan-changed issue is done."""
    return comment_and_close(find_marked_issues(open_issues, PLAN_CHANGED_MARKER, author), comment)


def build_approval_comment(approval: str, sha: str, run_url: str) -> str:
    return (
        f"orgctl applied `{sha[:12]}` with approval: {approval} ({run_link(run_url)}; "
        "also in the journal artifact).\n"
    )
