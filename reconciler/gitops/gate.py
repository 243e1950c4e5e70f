"""The GitHub reads behind approvals and reviewed plans: the plan comment's record, the
label's events and its author's permission, reviews and team memberships, the plan artifact.
Every decision is in `approvals` and `reviewed`; this module only asks GitHub.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from reconciler.errors import GitHubError, InputError
from reconciler.gitops.approvals import (
    WRITE_ROLES,
    Evaluation,
    LabelApproval,
    LabelEvent,
    PlanNeeds,
    Review,
    ReviewRecord,
    approving_reviewers,
    evaluate,
    label_candidate,
    parse_record,
)
from reconciler.gitops.client import GitHubClient
from reconciler.gitops.markers import PLAN_MARKER, find_marked_comments
from reconciler.plan.document import Plan


@dataclass(frozen=True, slots=True)
class Recorded:
    record: ReviewRecord
    posted_at: str
    """When the plan comment holding the record was last written (GitHub's clock)."""


def read_record(client: GitHubClient, pr: int) -> Recorded | None:
    """The record in the first part of the PR's plan comment, written by our login."""
    comment = find_marked_comments(client.list_issue_comments(pr), PLAN_MARKER, client.login).get(1)
    if comment is None:
        return None
    record = parse_record(comment.body)
    return Recorded(record, comment.updated_at) if record is not None else None


def label_approval(
    client: GitHubClient, pr: int, label: str, since: str
) -> tuple[LabelApproval | None, str]:
    """A valid approval label, or None and why not ("" when the label is not there)."""
    events = [e for e in map(LabelEvent.from_json, client.list_issue_events(pr)) if e is not None]
    candidate = label_candidate(events, client.issue_labels(pr), label, since)
    if candidate is None:
        present = any(e.label.casefold() == label.casefold() for e in events)
        return None, (
            f"the label {label} was added before the plan of the current commit" if present else ""
        )
    role = client.collaborator_role(candidate.actor)
    if role not in WRITE_ROLES:
        return None, (
            f"the label {label} was added by {candidate.actor}, who cannot write to the "
            f"repository ({role or 'no access'}): it does not count"
        )
    return LabelApproval(candidate.actor, candidate.at, role), ""


def team_approvals(
    client: GitHubClient, pr: int, sha: str, needs: PlanNeeds, teams_token: str
) -> dict[str, list[str]]:
    """team → its members among the reviewers approving ``sha`` (only the needs' teams)."""
    teams = sorted({t for need in needs.needs for t in need.teams})
    if not teams:
        return {}
    reviewers = approving_reviewers([Review.from_json(r) for r in client.list_reviews(pr)], sha)
    return {
        team: [u for u in reviewers if client.is_team_member(team, u, teams_token)]
        for team in teams
    }


def judge(
    client: GitHubClient,
    pr: int,
    recorded: Recorded,
    needs: PlanNeeds,
    label: str,
    teams_token: str = "",
) -> tuple[Evaluation, list[str]]:
    """The PR's approvals against ``needs``, and notes on approvals that do not count."""
    notes: list[str] = []
    by_label, why = label_approval(client, pr, label, recorded.posted_at)
    if why:
        notes.append(why)
    teams = team_approvals(client, pr, recorded.record.sha, needs, teams_token)
    return evaluate(needs, label, by_label, teams), notes


def fetch_reviewed_plan(client: GitHubClient, record: ReviewRecord) -> tuple[Plan | None, str]:
    """The masked plan the record names, from its run's artifact, if it is still there and
    is the plan the record's digest says (else None and why)."""
    if not record.run_id or not record.artifact:
        return None, "the plan comment names no artifact"
    try:
        artifacts = client.list_run_artifacts(record.run_id)
        found: Sequence[dict[str, object]] = [
            a for a in artifacts if a.get("name") == record.artifact and not a.get("expired")
        ]
        if not found:
            return None, f"artifact {record.artifact} of run {record.run_id} is gone"
        artifact_id = found[0].get("id")
        if not isinstance(artifact_id, int):
            return None, f"artifact {record.artifact} has no id"
        text = client.download_artifact_file(artifact_id, "plan.json")
    except GitHubError as error:
        return None, str(error)
    if text is None:
        return None, f"artifact {record.artifact} holds no plan.json"
    try:
        plan = Plan.from_json(text)
    except InputError as error:
        return None, f"artifact {record.artifact}: {error}"
    if plan.digest != record.digest:
        return None, f"artifact {record.artifact} is not the reviewed plan (other digest)"
    return plan, ""
