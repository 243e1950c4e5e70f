"""The policy file `orgctl.yaml`: what may be pruned, what is never touched, safety thresholds.

Pure value types. The loader (`reconciler.desired.load`) reads and validates the file; every stage
after it takes a `Policy`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from reconciler.model import UserId


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
    """The org's time zone, for attendance dates and times."""
    require_ci: bool = False
    """``apply.require_ci``: `orgctl apply` to a real tenant runs only in CI (or --local)."""


DEFAULT_POLICY = Policy()
