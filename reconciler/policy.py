"""The policy file `orgctl.yaml`: what may be pruned, what is never touched, safety thresholds.

Pure value types. The loader (`reconciler.desired`) reads and validates the file; every stage
after it takes a `Policy`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from reconciler.model import DeptKey, UserId

RateLimitKind = Literal["sliding", "bucket", "unknown"]
"""How a tenant counts its per-API QPS: at most `qps` arrivals in any sliding second, a token
bucket that lets a full burst through, or not known."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Safety:
    """Thresholds in the spirit of octoDNS (30 %) and peribolos (25 %), stricter for people.

    A plan is refused when it deletes or replaces more than the share of the *existing* live
    objects of a kind, once at least `min_existing` of that kind exist. `--force` overrides
    these; it never overrides the invariants (root, protected users).
    """

    max_user_delete_fraction: float = 0.10
    max_department_delete_fraction: float = 0.25
    min_existing: int = 10


@dataclass(frozen=True, slots=True, kw_only=True)
class TenantTraits:
    """What `orgctl doctor` observed about the tenant (the ``tenant:`` section of orgctl.yaml).

    DingTalk's documents allow two readings of each of these; None means nobody looked yet,
    and orgctl then takes the path that works under both readings.
    """

    empty_string_clears: bool | None = None
    """Whether ``""`` in ``user/update`` clears a field (email, telephone). The update page
    documents clearing only through ``force_update_fields``; DingTalk's SDKs drop ``""``."""
    unknown_user_errcode: int | None = None
    """What ``user/get`` answers for an unknown userid: 33012 (its page) or 60121 (the FAQ)."""
    rate_limit: RateLimitKind | None = None
    """How the 20 QPS per API is counted: a sliding window or a token bucket."""


NoticeLang = Literal["zh", "en"]


@dataclass(frozen=True, slots=True, kw_only=True)
class Notify:
    """The ``notify:`` section: work notices (工作通知) about people an apply changed."""

    agent_id: int
    """The AgentID of the DingTalk app that sends them."""
    advance_days: int | None = None
    """Also tell the managers this many days before a person's ``leaves_on``."""
    lang: NoticeLang = "zh"


InvitationAction = Literal["warn", "delete"]


@dataclass(frozen=True, slots=True, kw_only=True)
class Lifecycle:
    """The ``lifecycle:`` section: leaving dates and pending invitations."""

    holding_department: DeptKey | None = None
    """Leavers are moved into this department (and out of every other) `hold_days` days
    before their ``leaves_on``."""
    hold_days: int = 0
    dated_removals_only: bool = False
    """Refuse deleting a live person whose entry was removed without a due ``leaves_on``
    (checked against the org at a git ref: `validate --base`, `plan --base`)."""
    invitation_max_days: int | None = None
    """Pending invitations (40103, ``active: false``) older than this many days are warned
    about or deleted (`stale_invitations`); None: only listed."""
    stale_invitations: InvitationAction = "warn"


CHANGE_CLASSES = (
    "create-user",
    "update-user",
    "replace-user",
    "delete-user",
    "create-department",
    "update-department",
    "delete-department",
)
"""What a plan does to one object, as `approvals.rules` name it (a replace is a replace, not
a delete and a create)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class ApprovalRule:
    """A plan with any of ``changes`` needs the approval label, or an approving review of the
    pull request's head from a member of one of ``teams`` (``slug`` or ``org/slug``)."""

    changes: tuple[str, ...]
    teams: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class Approvals:
    """How a pull request approves what the plan alone may not do (the ``approvals:`` section).

    A plan refused by a safety threshold always needs the label; ``rules`` add needs by
    change class. The label counts only when someone with write, maintain or admin permission
    added it after the plan comment of the pull request's current commit was posted."""

    label: str = "orgctl-approved"
    rules: tuple[ApprovalRule, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class Policy:
    prune_users: bool = False
    """Delete live users absent from YAML. Off by default: deleting a person is close to
    irreversible in DingTalk (attendance and HR history go with the account)."""
    prune_departments: bool = False
    protected_users: tuple[UserId, ...] = ()
    """Never deleted or replaced, even with --force; must be present in the desired YAML."""
    unmanaged_departments: tuple[str, ...] = ()
    """Name paths from the root (``外包/华东``) of live subtrees orgctl never touches."""
    safety: Safety = field(default_factory=Safety)
    qps: float = 20.0
    """Requests per second per DingTalk API (standard edition: 20, errcode 90018 above)."""
    timezone: str = "Asia/Shanghai"
    """The org's time zone, for attendance dates and times and for which day ``leaves_on``
    dates are compared with."""
    tenant: TenantTraits = field(default_factory=TenantTraits)
    """What `orgctl doctor --save` observed about this tenant."""
    max_org_bytes: int = 64 * 1024 * 1024
    """All org files together, checked before any is read (``limits: {org_files_mb: 64}``):
    ~380 000 people at ~170 bytes each. Memory grows ~15 times the YAML's size."""
    require_ci: bool = False
    """``apply.require_ci``: `orgctl apply` to a real tenant runs only in CI (or --local)."""
    notify: Notify | None = None
    """Work notices after an apply; None: none are sent."""
    lifecycle: Lifecycle = field(default_factory=Lifecycle)
    """Leaving dates (holding department, dated removals) and pending invitations."""
    approvals: Approvals = field(default_factory=Approvals)
    """What a pull request must show before its plan is applied on merge."""


DEFAULT_POLICY = Policy()
