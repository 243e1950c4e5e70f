"""The emulated tenant: departments and users in SQLite, with DingTalk's rules and errcodes.

Every rule DingTalk enforces on the contacts API is checked through `rules` (the rulebook the
planner's property-test simulator shares), so seeding (`add_department`, `add_user`) and the
API handlers (`contacts.py`) cannot disagree. The tenant is layered in three modules:

- `store.Store`: the SQLite database, transactions, counters;
- `departments.Departments`: departments, their rules and ``department/get`` shapes;
- `users.Users`: people, their rules and ``user/get`` / ``user/list`` shapes;

and `Tenant` adds seeding on top. Shapes returned by `departments()`, `get_department()`,
`users()` and `get_user()` are exactly the ``result`` of ``department/get`` and ``user/get``,
so tests can compare them with what a client read.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from reconciler.sandbox.departments import DEPT_ATTR_DEFAULTS, DEPT_ID_BASE
from reconciler.sandbox.rules import ROOT_DEPT_ID
from reconciler.sandbox.store import register_schema
from reconciler.sandbox.users import USER_FIELDS, USERID_BASE, Users

__all__ = [
    "DEPT_ATTR_DEFAULTS",
    "DEPT_ID_BASE",
    "ROOT_DEPT_ID",
    "USERID_BASE",
    "USER_FIELDS",
    "Tenant",
    "register_schema",
]


class Tenant(Users):
    """One DingTalk organisation. The root department (id 1, named `corp_name`) always exists."""

    # -- seeding (bypasses the API: no token, no rate limit, no faults) -----------------------

    def add_department(
        self,
        name: str,
        parent_id: int = ROOT_DEPT_ID,
        *,
        order: int | None = None,
        source_identifier: str | None = None,
        managers: Sequence[str] = (),
    ) -> int:
        """Create a department under the API's rules and return its id.

        `managers` is stored as given, without the "managers must be members" check (40031),
        so a test can seed a department before the users who manage it.
        """
        with self.transaction():
            dept_id = self.create_department(
                name, parent_id, order=order, source_identifier=source_identifier
            )
            if managers:
                self._set_managers(dept_id, list(managers))
            return dept_id

    def add_user(
        self,
        userid: str,
        name: str,
        mobile: str,
        dept_ids: Sequence[int],
        **fields: Any,
    ) -> None:
        """Create a user under the API's rules (unique userid/mobile, valid mobile, …).

        `fields`: any of USER_FIELDS (`extension` is a dict), plus `dept_orders`, a mapping
        dept_id → order inside that department.
        """
        dept_orders = dict(fields.pop("dept_orders", {}))
        unknown = set(fields) - USER_FIELDS
        if unknown:
            raise TypeError(f"add_user: unknown fields {sorted(unknown)}")
        with self.transaction():
            self.create_user(
                userid, name, mobile, list(dept_ids), dept_orders=dept_orders, fields=fields
            )
