"""Departments of the emulated tenant: storage, DingTalk's rules (from `rules`) and the
shapes ``department/get`` and ``department/listsub`` return.
I/O: the tenant's SQLite database.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
from collections.abc import Iterable, Mapping
from typing import Any

from reconciler.sandbox import rules
from reconciler.sandbox.errors import ApiError
from reconciler.sandbox.store import Store, dumps

DEPT_ID_BASE = 100_000_000  # new departments get DEPT_ID_BASE + n, n = 1, 2, … (never reused)

DEPT_ATTR_DEFAULTS: dict[str, Any] = {
    "hide_dept": False,
    "dept_permits": [],
    "user_permits": [],
    "outer_dept": False,
    "outer_dept_only_self": False,
    "outer_permit_depts": [],
    "outer_permit_users": [],
    "create_dept_group": False,
    "auto_add_user": False,
    "auto_approve_apply": False,
    "group_contain_sub_dept": False,
    "org_dept_owner": "",
    "dept_group_chat_id": "",
    "brief": "",
    "code": "",
}
"""Department settings that only matter to DingTalk's UI; stored so reads echo writes."""


def _group_chat_id(dept_id: int) -> str:
    """The department group chat's id: stable per department, whenever the group is made."""
    return "chat" + hashlib.md5(str(dept_id).encode(), usedforsecurity=False).hexdigest()


class Departments(Store):
    """The department half of the tenant (and the `rules.Directory` facts about them)."""

    # -- inspection ---------------------------------------------------------------------

    def departments(self) -> list[dict[str, Any]]:
        """Every department as ``department/get`` returns it, root first, then by id."""
        with self.lock:
            ids = [
                r["dept_id"]
                for r in self.db.execute("SELECT dept_id FROM departments ORDER BY dept_id")
            ]
            return [self._dept_view(i) for i in ids]

    def get_department(self, dept_id: int) -> dict[str, Any] | None:
        with self.lock:
            return self._dept_view(dept_id) if self._dept_row(dept_id) else None

    # -- the rulebook's Directory: facts about departments -------------------------------

    def dept_exists(self, dept_id: int) -> bool:
        return self._dept_row(dept_id) is not None

    def dept_name(self, dept_id: int) -> str:
        return str(self.require_department(dept_id)["name"])

    def parent_of(self, dept_id: int) -> int | None:
        row = self._dept_row(dept_id)
        return None if row is None else row["parent_id"]

    def sibling_named(self, parent_id: int, name: str) -> int | None:
        row = self.db.execute(
            "SELECT dept_id FROM departments WHERE parent_id = ? AND name = ?", (parent_id, name)
        ).fetchone()
        return None if row is None else int(row["dept_id"])

    def has_children(self, dept_id: int) -> bool:
        found = self.db.execute(
            "SELECT 1 FROM departments WHERE parent_id = ? LIMIT 1", (dept_id,)
        ).fetchone()
        return found is not None

    def has_members(self, dept_id: int) -> bool:
        subtree = self.subtree_ids(dept_id)
        marks = ",".join("?" * len(subtree))
        found = self.db.execute(
            f"SELECT 1 FROM memberships WHERE dept_id IN ({marks}) LIMIT 1", subtree
        ).fetchone()
        return found is not None

    def members(self, dept_id: int) -> list[str]:
        return self._member_ids(dept_id)

    # -- departments ---------------------------------------------------------------------

    def _dept_row(self, dept_id: int) -> sqlite3.Row | None:
        row: sqlite3.Row | None = self.db.execute(
            "SELECT * FROM departments WHERE dept_id = ?", (dept_id,)
        ).fetchone()
        return row

    def require_department(self, dept_id: int) -> sqlite3.Row:
        row = self._dept_row(dept_id)
        if row is None:
            raise ApiError(60003, "部门不存在")
        return row

    def child_ids(self, dept_id: int) -> list[int]:
        """Direct children, in DingTalk's display order (order ascending, then id)."""
        return [
            r["dept_id"]
            for r in self.db.execute(
                "SELECT dept_id FROM departments WHERE parent_id = ? ORDER BY sort_order, dept_id",
                (dept_id,),
            )
        ]

    def subtree_ids(self, dept_id: int) -> list[int]:
        """The department and every department below it."""
        return [
            r["id"]
            for r in self.db.execute(
                "WITH RECURSIVE sub(id) AS (SELECT ? UNION ALL "
                "SELECT d.dept_id FROM departments d JOIN sub ON d.parent_id = sub.id) "
                "SELECT id FROM sub",
                (dept_id,),
            )
        ]

    def create_department(
        self,
        name: str,
        parent_id: int,
        *,
        order: int | None = None,
        source_identifier: str | None = None,
        attrs: Mapping[str, Any] | None = None,
    ) -> int:
        """``department/create``: 60001/60009 name, 60004 parent, 60021 sibling name."""
        with self.transaction():
            rules.check_create_department(self, name, parent_id)
            dept_id = DEPT_ID_BASE + self._next("dept_seq")
            stored = dict(attrs or {})
            if stored.get("create_dept_group"):
                # A department group chat is created with the department; its members join it
                # automatically unless told otherwise.
                stored.setdefault("auto_add_user", True)
                stored["dept_group_chat_id"] = _group_chat_id(dept_id)
            self.db.execute(
                "INSERT INTO departments (dept_id, name, parent_id, sort_order, source_identifier, "
                "attrs) VALUES (?, ?, ?, ?, ?, ?)",
                (
                    dept_id,
                    name,
                    parent_id,
                    # Without an order DingTalk appends the department: we use its id.
                    dept_id if order is None else order,
                    source_identifier or None,
                    dumps(stored),
                ),
            )
            return dept_id

    def update_department(
        self,
        dept_id: int,
        changes: Mapping[str, Any],
        force_update_fields: Iterable[str] = (),
    ) -> None:
        """``department/update``. Keys of `changes`: name, parent_id, order, source_identifier,
        dept_manager_userid_list (list[str]) and DEPT_ATTR_DEFAULTS keys. Omitted = unchanged.
        """
        force = set(force_update_fields)
        with self.transaction():
            rules.check_update_department(
                self, dept_id, changes.get("name"), changes.get("parent_id")
            )
            row = self.require_department(dept_id)
            name: str = changes.get("name", row["name"])
            parent_id: int = changes.get("parent_id", row["parent_id"])
            members = set(self._member_ids(dept_id))
            managers: list[str] | None = None
            if "dept_manager_userid_list" in force:
                managers = list(changes.get("dept_manager_userid_list", []))
            elif changes.get("dept_manager_userid_list"):
                # An empty list is ignored: clearing needs force_update_fields [FAQ].
                managers = list(changes["dept_manager_userid_list"])
            if managers is not None:
                rules.check_managers(self, dept_id, managers)
            attrs = json.loads(row["attrs"])
            for key in DEPT_ATTR_DEFAULTS:
                if key in changes and key != "dept_group_chat_id":
                    attrs[key] = changes[key]
            owner = changes.get("org_dept_owner")
            if owner and owner not in members:
                raise ApiError(40093, "不合法的群主：群主须为部门成员")
            if attrs.get("create_dept_group") and not attrs.get("dept_group_chat_id"):
                attrs["dept_group_chat_id"] = _group_chat_id(dept_id)
            source_identifier = changes.get("source_identifier", row["source_identifier"])
            self.db.execute(
                "UPDATE departments SET name = ?, parent_id = ?, sort_order = ?, "
                "source_identifier = ?, attrs = ? WHERE dept_id = ?",
                (
                    name,
                    parent_id,
                    changes.get("order", row["sort_order"]),
                    source_identifier or None,
                    dumps(attrs),
                    dept_id,
                ),
            )
            if managers is not None:
                self._set_managers(dept_id, managers)

    def delete_department(self, dept_id: int) -> None:
        """``department/delete``: 60007 root, 60003 unknown, 60005 members, 60006 children."""
        with self.transaction():
            rules.check_delete_department(self, dept_id)
            self.db.execute("DELETE FROM departments WHERE dept_id = ?", (dept_id,))

    def _set_managers(self, dept_id: int, managers: list[str]) -> None:
        unique = list(dict.fromkeys(managers))
        self.db.execute(
            "UPDATE departments SET managers = ? WHERE dept_id = ?", (dumps(unique), dept_id)
        )

    def _managers(self, dept_id: int) -> list[str]:
        row = self._dept_row(dept_id)
        return [] if row is None else json.loads(row["managers"])

    def _drop_manager(self, userid: str, dept_ids: Iterable[int]) -> None:
        """A manager who leaves a department stops managing it (managers must be members)."""
        for dept_id in dept_ids:
            row = self._dept_row(dept_id)
            if row is None:
                continue
            managers = [u for u in json.loads(row["managers"]) if u != userid]
            attrs = json.loads(row["attrs"])
            if attrs.get("org_dept_owner") == userid:
                attrs["org_dept_owner"] = ""
            self.db.execute(
                "UPDATE departments SET managers = ?, attrs = ? WHERE dept_id = ?",
                (dumps(managers), dumps(attrs), dept_id),
            )

    def _member_ids(self, dept_id: int) -> list[str]:
        """Direct members in DingTalk's order: order inside the department descending."""
        return [
            r["userid"]
            for r in self.db.execute(
                "SELECT m.userid FROM memberships m JOIN users u ON u.userid = m.userid "
                "WHERE m.dept_id = ? ORDER BY m.sort_order DESC, u.seq",
                (dept_id,),
            )
        ]

    def member_ids(self, dept_id: int) -> list[str]:
        """``user/listid``: direct members of an existing department (60003 otherwise)."""
        with self.lock:
            self.require_department(dept_id)
            return self._member_ids(dept_id)

    def _dept_view(self, dept_id: int) -> dict[str, Any]:
        row = self.require_department(dept_id)
        attrs = {**DEPT_ATTR_DEFAULTS, **json.loads(row["attrs"])}
        view: dict[str, Any] = {"dept_id": row["dept_id"], "name": row["name"]}
        if row["parent_id"] is not None:  # the root has no parent_id
            view["parent_id"] = row["parent_id"]
        view["order"] = row["sort_order"]
        if row["source_identifier"]:
            view["source_identifier"] = row["source_identifier"]
        for key in (
            "auto_add_user",
            "auto_approve_apply",
            "brief",
            "create_dept_group",
            "group_contain_sub_dept",
            "hide_dept",
            "outer_dept",
        ):
            view[key] = attrs[key]
        view["dept_manager_userid_list"] = json.loads(row["managers"])
        # Conditional fields, as documented for department/get [DG]:
        if attrs["create_dept_group"]:
            view["dept_group_chat_id"] = attrs["dept_group_chat_id"]
            view["org_dept_owner"] = attrs["org_dept_owner"]
        if attrs["hide_dept"]:
            view["dept_permits"] = list(attrs["dept_permits"])
            view["user_permits"] = list(attrs["user_permits"])
        if attrs["outer_dept"]:
            view["outer_permit_depts"] = list(attrs["outer_permit_depts"])
            view["outer_permit_users"] = list(attrs["outer_permit_users"])
        if attrs["code"]:
            view["code"] = attrs["code"]
        subtree = self.subtree_ids(dept_id)
        marks = ",".join("?" * len(subtree))
        view["member_count"] = self.db.execute(
            f"SELECT COUNT(DISTINCT userid) FROM memberships WHERE dept_id IN ({marks})", subtree
        ).fetchone()[0]
        view["owning_member_count"] = self.db.execute(
            "SELECT COUNT(*) FROM memberships WHERE dept_id = ?", (dept_id,)
        ).fetchone()[0]
        return view

    def dept_summary(self, dept_id: int) -> dict[str, Any]:
        """One ``department/listsub`` item: no order, no source_identifier [DLS]."""
        row = self.require_department(dept_id)
        attrs = {**DEPT_ATTR_DEFAULTS, **json.loads(row["attrs"])}
        return {
            "dept_id": row["dept_id"],
            "name": row["name"],
            "parent_id": row["parent_id"],
            "create_dept_group": attrs["create_dept_group"],
            "auto_add_user": attrs["auto_add_user"],
        }

    def department_view(self, dept_id: int) -> dict[str, Any]:
        """``department/get`` result (60003 for an unknown department)."""
        with self.lock:
            return self._dept_view(dept_id)

    # -- the app's contact scope and pending invitations (profile knobs) -------------------

    def in_scope(self, dept_id: int) -> bool:
        """Whether the app's contact scope covers the department (None = the whole org)."""
        scope = self.profile.contact_scope
        if scope is None:
            return True
        cursor: int | None = dept_id
        while cursor is not None:
            if cursor in scope:
                return True
            row = self._dept_row(cursor)
            cursor = None if row is None else row["parent_id"]
        return False

    def require_dept_in_scope(self, dept_id: int) -> None:
        """50004 for an existing department outside the contact scope (an unknown one is left
        to the handler's own 60003 / 60004)."""
        if self._dept_row(dept_id) is not None and not self.in_scope(dept_id):
            raise ApiError(50004, "部门不在授权范围内")
