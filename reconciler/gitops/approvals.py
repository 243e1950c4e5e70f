"""Approvals on a pull request: what a plan needs, what the PR shows, whether that is enough.
Pure: the facts (label events, permissions, reviews, team memberships) are gathered by
`reconciler.gitops.gate`; here they are only judged.

A plan refused by a safety threshold needs the approval label. `approvals.rules` in
orgctl.yaml add needs by change class (``delete-user``, ``replace-user``, …), each met by the
label or by an approving review of the PR's head from a member of one of the rule's teams.
Invariants (the root department, protected users) no approval lifts.

The label binds to one plan: it counts only when its last ``labeled`` event is later than
the plan comment of the PR's current commit, and its author could write to the repository.
A new push posts a new plan comment, so an earlier label no longer counts: add it again.
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from reconciler.plan.document import Plan
from reconciler.plan.safety import check_safety
from reconciler.plan.steps import Action
from reconciler.policy import Approvals, Policy

APPROVAL_CONTEXT = "orgctl/approval"
"""The commit status that stays red (pending) until the plan has what it needs."""
WRITE_ROLES = frozenset({"admin", "maintain", "write"})
"""Repository roles whose label counts (GET /repos/{o}/{r}/collaborators/{u}/permission)."""
UNSAFE = "unsafe"
"""The need of a plan a safety threshold refused: met by the label only."""
REVIEW_MARKER = "orgctl-review"


# --------------------------------------------------------------------------- what a plan needs


def change_classes(plan: Plan) -> frozenset[str]:
    """What the plan does, per object: a person deleted and created again is a replace."""
    users: dict[str, set[Action]] = {}
    departments: dict[str, set[Action]] = {}
    for step in plan.steps:
        (departments if step.kind == "department" else users).setdefault(step.key, set()).add(
            step.action
        )
    found: set[str] = set()
    for actions in users.values():
        create, delete = Action.CREATE_USER in actions, Action.DELETE_USER in actions
        found.add(
            "replace-user"
            if create and delete
            else "create-user"
            if create
            else "delete-user"
            if delete
            else "update-user"
        )
    for actions in departments.values():
        if Action.CREATE_DEPARTMENT in actions:
            found.add("create-department")
        elif Action.DELETE_DEPARTMENT in actions:
            found.add("delete-department")
        else:
            found.add("update-department")
    return frozenset(found)


@dataclass(frozen=True, slots=True)
class Need:
    """One approval the plan needs: ``reason`` is ``unsafe`` or the change classes of a rule
    that the plan has; met by the label, or a review by a member of one of ``teams``."""

    reason: str
    teams: tuple[str, ...] = ()

    def describe(self, label: str) -> str:
        what = (
            "it was refused by a safety threshold"
            if self.reason == UNSAFE
            else f"it has {self.reason.replace(',', ', ')}"
        )
        how = f"the label `{label}` added by someone with write access"
        if self.teams:
            teams = ", ".join(f"`{t}`" for t in self.teams)
            how += f", or an approving review of this commit by a member of {teams}"
        return f"{what}: {how}"


@dataclass(frozen=True, slots=True)
class PlanNeeds:
    needs: tuple[Need, ...] = ()
    blocked: tuple[str, ...] = ()
    """Invariants the plan breaks: no approval lifts them; the plan must change."""


def plan_needs(plan: Plan, policy: Policy) -> PlanNeeds:
    blocked = tuple(str(v) for v in check_safety(plan, policy, force=True))
    needs: list[Need] = []
    if any(v.overridable for v in check_safety(plan, policy, force=False)):
        needs.append(Need(UNSAFE))
    classes = change_classes(plan)
    for rule in policy.approvals.rules:
        matched = [c for c in rule.changes if c in classes]
        if matched:
            needs.append(Need(",".join(matched), rule.teams))
    return PlanNeeds(tuple(needs), blocked)


# --------------------------------------------------------------------------- the review record


@dataclass(frozen=True, slots=True)
class ReviewRecord:
    """What the plan job recorded, hidden in the first part of the sticky plan comment: the
    commit planned, the plan's digest ("" when planning failed), the run and artifact that
    keep the masked plan, and what the plan needs."""

    sha: str
    digest: str
    run_id: str = ""
    artifact: str = ""
    exit_code: int = 0
    needs: PlanNeeds = PlanNeeds()
    label: str = Approvals().label

    def line(self) -> str:
        # base64: the JSON goes inside an HTML comment, where "--" or ">" would end it.
        data = {
            "sha": self.sha,
            "digest": self.digest,
            "run": self.run_id,
            "artifact": self.artifact,
            "exit": self.exit_code,
            "needs": [[n.reason, list(n.teams)] for n in self.needs.needs],
            "blocked": list(self.needs.blocked),
            "label": self.label,
        }
        text = base64.urlsafe_b64encode(json.dumps(data, ensure_ascii=False).encode()).decode()
        return f"<!-- {REVIEW_MARKER} {text} -->"


_RECORD = re.compile(rf"^<!-- {REVIEW_MARKER} ([A-Za-z0-9_=-]+) -->$", re.MULTILINE)


def parse_record(body: str) -> ReviewRecord | None:
    """The record in a plan comment's body, or None (none, or not ours to read)."""
    match = _RECORD.search(body)
    if match is None:
        return None
    try:
        data = json.loads(base64.urlsafe_b64decode(match.group(1)))
        return ReviewRecord(
            sha=str(data["sha"]),
            digest=str(data["digest"]),
            run_id=str(data.get("run", "")),
            artifact=str(data.get("artifact", "")),
            exit_code=int(data.get("exit", 0)),
            needs=PlanNeeds(
                tuple(Need(str(r), tuple(str(t) for t in teams)) for r, teams in data["needs"]),
                tuple(str(b) for b in data.get("blocked", ())),
            ),
            label=str(data.get("label") or Approvals().label),
        )
    except (ValueError, KeyError, TypeError):
        return None


# --------------------------------------------------------------------------- what the PR shows


def parse_time(text: str) -> datetime | None:
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None


@dataclass(frozen=True, slots=True)
class LabelEvent:
    action: str  # labeled | unlabeled
    label: str
    actor: str
    at: str

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> LabelEvent | None:
        if data.get("event") not in ("labeled", "unlabeled"):
            return None
        label = data.get("label") or {}
        actor = data.get("actor") or {}
        return cls(
            action=str(data["event"]),
            label=str(label.get("name", "")) if isinstance(label, Mapping) else "",
            actor=str(actor.get("login", "")) if isinstance(actor, Mapping) else "",
            at=str(data.get("created_at") or ""),
        )


def label_candidate(
    events: Sequence[LabelEvent], labels_now: Iterable[str], label: str, since: str
) -> LabelEvent | None:
    """The ``labeled`` event that could approve: the label is on the PR now, and its last
    event, an addition, is strictly later than ``since`` (when the plan comment of the current
    commit was posted). Whether its actor may approve is asked of the API next."""
    if label.casefold() not in {name.casefold() for name in labels_now}:
        return None
    ours = [e for e in events if e.label.casefold() == label.casefold()]
    if not ours or ours[-1].action != "labeled":
        return None
    added, posted = parse_time(ours[-1].at), parse_time(since)
    if added is None or posted is None or added <= posted:
        return None
    return ours[-1]


@dataclass(frozen=True, slots=True)
class LabelApproval:
    actor: str
    at: str
    role: str

    def describe(self, label: str) -> str:
        return f"label {label} added by {self.actor} ({self.role}) at {self.at}"


@dataclass(frozen=True, slots=True)
class Review:
    user: str
    state: str
    commit_id: str
    at: str

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Review:
        user = data.get("user") or {}
        return cls(
            user=str(user.get("login", "")) if isinstance(user, Mapping) else "",
            state=str(data.get("state") or ""),
            commit_id=str(data.get("commit_id") or ""),
            at=str(data.get("submitted_at") or ""),
        )


def approving_reviewers(reviews: Sequence[Review], sha: str) -> list[str]:
    """Who approves the commit ``sha`` now: each reviewer's last decisive review (comments
    decide nothing) is an approval of that very commit. A push needs a new review."""
    last: dict[str, Review] = {}
    for review in reviews:  # the API lists them oldest first
        if review.state in ("APPROVED", "CHANGES_REQUESTED", "DISMISSED"):
            last[review.user.casefold()] = review
    return sorted(
        r.user for r in last.values() if r.state == "APPROVED" and r.commit_id == sha and r.user
    )


@dataclass(frozen=True, slots=True)
class Evaluation:
    met: tuple[tuple[Need, str], ...]
    """Each need met, with who met it."""
    missing: tuple[Need, ...]
    blocked: tuple[str, ...] = ()
    label: LabelApproval | None = None
    """A valid approval label: it also lifts the safety thresholds, for this plan only."""

    @property
    def approved(self) -> bool:
        return not self.missing and not self.blocked


def evaluate(
    needs: PlanNeeds,
    label: str,
    by_label: LabelApproval | None,
    team_approvals: Mapping[str, Sequence[str]],
) -> Evaluation:
    """``team_approvals``: team → the approving reviewers who are its members."""
    met: list[tuple[Need, str]] = []
    missing: list[Need] = []
    for need in needs.needs:
        reviewers = sorted({u for t in need.teams for u in team_approvals.get(t, ())})
        if by_label is not None:
            met.append((need, by_label.describe(label)))
        elif reviewers:
            teams = ", ".join(t for t in need.teams if team_approvals.get(t))
            met.append((need, f"review by {', '.join(reviewers)} ({teams})"))
        else:
            missing.append(need)
    return Evaluation(tuple(met), tuple(missing), needs.blocked, by_label)


def approval_note(evaluation: Evaluation) -> str:
    """Who approved, for the journal and the merged PR ("" when nothing needed approving)."""
    return "; ".join(dict.fromkeys(by for _, by in evaluation.met))


def commit_status(evaluation: Evaluation) -> tuple[str, str]:
    """(state, description ≤ 140 characters) of the `orgctl/approval` status."""
    if evaluation.blocked:
        text = "breaks a rule no approval lifts (root or protected user): change the plan"
        return "failure", text
    if evaluation.missing:
        reasons = ", ".join(n.reason.replace(",", "/") for n in evaluation.missing)
        return "pending", f"needs approval: {reasons}"[:140]
    if evaluation.met:
        return "success", f"approved: {approval_note(evaluation)}"[:140]
    return "success", "nothing in this plan needs approval"


def needs_markdown(needs: PlanNeeds, label: str) -> str:
    """What the plan comment says the plan still needs before it is applied on merge."""
    if needs.blocked:
        lines = ["#### ⛔ No approval can apply this plan", ""]
        lines += [f"- {reason}" for reason in needs.blocked]
        return "\n".join(lines) + "\n"
    if not needs.needs:
        return ""
    lines = ["#### 🔐 This plan needs approval before it is applied on merge", ""]
    lines += [f"- {need.describe(label)}" for need in needs.needs]
    lines += [
        "",
        f"The label counts only if added after this comment: a new push needs it again. "
        f"The `{APPROVAL_CONTEXT}` status turns green once the plan has what it needs.",
    ]
    return "\n".join(lines) + "\n"
