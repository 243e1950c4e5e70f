"""`orgctl.yaml` → `Policy`, or problems located in it. Pure (given the parsed document).

What needs the org as well (protected users must exist, unmanaged paths must not name a
managed department) is checked later by `reconciler.desired.semantic`, through `PolicyRef`.
"""

from __future__ import annotations

import re
import zoneinfo
from dataclasses import dataclass, field
from typing import Any

from reconciler.desired.locate import describe, problem_at
from reconciler.desired.schema import schema_errors
from reconciler.desired.yamlsafe import Document
from reconciler.errors import Problem
from reconciler.policy import (
    DEFAULT_POLICY,
    ApprovalRule,
    Approvals,
    Lifecycle,
    Notify,
    Policy,
    Safety,
    TenantTraits,
)


@dataclass(slots=True)
class PolicyRef:
    """Where the policy's list entries are, for problems found after reading it."""

    document: Document | None = None
    protected: dict[str, int] = field(default_factory=dict)  # userid → index in the list
    unmanaged: list[str] = field(default_factory=list)  # valid paths, normalised
    holding: str | None = None  # lifecycle.holding_department, checked against the org


def read_policy(
    document: Document, problems: list[Problem], ref: PolicyRef | None = None
) -> Policy:
    """The policy in ``document``; appends its problems (and then returns the defaults)."""
    data = document.data
    if data is None:
        return DEFAULT_POLICY
    if not isinstance(data, dict):
        problems.append(
            problem_at(document, (), f"expected a mapping of policy settings, got {describe(data)}")
        )
        return DEFAULT_POLICY
    before = len(problems)
    broken = {path[0] for path in schema_errors(document, "policy", problems) if path}
    # Check what the schema passed, so one bad setting does not hide problems in the others.
    data = {key: value for key, value in data.items() if key not in broken}
    timezone = data.get("timezone", DEFAULT_POLICY.timezone)
    if "timezone" in data and not _valid_timezone(timezone):
        problems.append(
            problem_at(
                document,
                ("timezone",),
                f"unknown time zone {timezone!r}; use an IANA name such as Asia/Shanghai",
            )
        )
    unmanaged: list[str] = []
    for index, raw in enumerate(data.get("unmanaged_departments") or ()):
        path = "/".join(name.strip() for name in raw.split("/"))
        reason = _bad_department_path(path)
        if reason:
            problems.append(
                problem_at(document, ("unmanaged_departments", index), f"{raw!r} {reason}")
            )
            continue
        unmanaged.append(path)
        if ref is not None:
            ref.unmanaged.append(path)
    approvals = _read_approvals(document, data.get("approvals") or {}, problems)
    protected = data.get("protected_users") or []
    if ref is not None:
        ref.protected = {userid: index for index, userid in enumerate(protected)}
    lifecycle = data.get("lifecycle") or {}
    if ref is not None:
        ref.holding = lifecycle.get("holding_department")
    if len(problems) > before:
        return DEFAULT_POLICY
    prune = data.get("prune") or {}
    invitations = lifecycle.get("pending_invitations") or {}
    safety = data.get("safety") or {}
    limits = data.get("limits") or {}
    default_safety = DEFAULT_POLICY.safety
    return Policy(
        prune_users=prune.get("users", DEFAULT_POLICY.prune_users),
        prune_departments=prune.get("departments", DEFAULT_POLICY.prune_departments),
        protected_users=tuple(sorted(protected)),
        unmanaged_departments=tuple(sorted(unmanaged)),
        safety=Safety(
            max_user_delete_fraction=float(
                safety.get("max_user_delete_fraction", default_safety.max_user_delete_fraction)
            ),
            max_department_delete_fraction=float(
                safety.get(
                    "max_department_delete_fraction", default_safety.max_department_delete_fraction
                )
            ),
            min_existing=safety.get("min_existing", default_safety.min_existing),
        ),
        qps=float((data.get("rate_limit") or {}).get("qps", DEFAULT_POLICY.qps)),
        tenant=TenantTraits(**(data.get("tenant") or {})),  # the schema checked its keys
        require_ci=(data.get("apply") or {}).get("require_ci", DEFAULT_POLICY.require_ci),
        approvals=approvals,
        timezone=timezone,
        lifecycle=Lifecycle(
            holding_department=lifecycle.get("holding_department"),
            hold_days=lifecycle.get("hold_days", 0),
            dated_removals_only=lifecycle.get("dated_removals_only", False),
            invitation_max_days=invitations.get("max_age_days"),
            stale_invitations=invitations.get("action", "warn"),
        ),
        max_org_bytes=(
            limits["org_files_mb"] * 1024 * 1024
            if "org_files_mb" in limits
            else DEFAULT_POLICY.max_org_bytes
        ),
        notify=_notify(data.get("notify")),
    )


def _notify(section: dict[str, Any] | None) -> Notify | None:
    """The ``notify:`` section (the schema checked its keys and types), or None."""
    if not section:
        return None
    return Notify(
        agent_id=section["agent_id"],
        advance_days=section.get("advance_days"),
        lang=section.get("lang", "zh"),
    )


_ORGCTL_LABELS = ("orgctl-drift", "orgctl-apply-failure", "orgctl-plan-changed")
"""Labels orgctl puts on its own issues: an approval label must not be one of them."""


def _read_approvals(document: Document, data: dict[str, Any], problems: list[Problem]) -> Approvals:
    """The ``approvals:`` section (the schema checked its shape)."""
    label = str(data.get("label", Approvals().label)).strip()
    if label.casefold() in _ORGCTL_LABELS:
        problems.append(
            problem_at(
                document,
                ("approvals", "label"),
                f"{label!r} is a label orgctl puts on its own issues; choose another name, "
                "such as orgctl-approved",
            )
        )
    rules = tuple(
        ApprovalRule(changes=tuple(rule.get("changes") or ()), teams=tuple(rule.get("teams") or ()))
        for rule in data.get("rules") or ()
    )
    return Approvals(label=label, rules=rules)


def _valid_timezone(name: str) -> bool:
    try:
        zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError, OSError):
        return False
    return True


_FORBIDDEN_IN_NAME = re.compile("[-,，]")


def _bad_department_path(path: str) -> str:
    """Why ``path`` is not a name path like ``外包/华东`` ('' when it is one)."""
    if path.startswith("/") or path.endswith("/"):
        return (
            "is not a department path: write names from the top, like 外包/华东, "
            "without a leading or trailing '/'"
        )
    for name in path.split("/"):
        if not name:
            return "has an empty department name between '/'s"
        if _FORBIDDEN_IN_NAME.search(name):
            return f"names {name!r}; DingTalk forbids '-', ',' and '，' in names"
        if len(name) > 64:
            return f"names a department longer than 64 characters ({name[:20]}…)"
    return ""
