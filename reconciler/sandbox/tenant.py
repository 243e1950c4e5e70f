"""The emulated tenant: departments and users in SQLite, with DingTalk's rules and errcodes.

Every rule DingTalk enforces on the contacts API lives here, so seeding (`add_department`,
`add_user`) and the API handlers (`contacts.py`) cannot disagree. Rules and their errcodes
follow `reference/dingtalk-api.md` §3–§4 and §7.

Thread safety: one `sqlite3.Connection` (``check_same_thread=False``) guarded by `lock`, an
RLock. Hold it around any direct use of `db`; `transaction()` takes it for you. Each API call
runs in one transaction, so a write is atomic and its write-log row commits with it.

Shapes returned by `departments()`, `get_department()`, `users()` and `get_user()` are exactly
the ``result`` of ``department/get`` and ``user/get``, so tests can compare them with what a
client read.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import threading
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from reconciler.clock import SYSTEM_CLOCK, Clock
from reconciler.phone import InvalidMobile, normalize_mobile
from reconciler.sandbox.errors import ApiError
from reconciler.sandbox.profile import STRICT, Profile

ROOT_DEPT_ID = 1
DEPT_ID_BASE = 100_000_000  # new departments get DEPT_ID_BASE + n, n = 1, 2, … (never reused)
USERID_BASE = 16_000_000_000_000_000  # generated userids look like DingTalk's: 17 digits
MAX_DEPT_NAME = 64  # 60001; the v2 update doc says 100, 64 is the safe limit both accept
MAX_USER_NAME = 80
MAX_USERID = 64
MAX_DEPTS_PER_USER = 100  # 40066: dept_id_list holds at most 100 ids per call
FORBIDDEN_IN_DEPT_NAME = ("-", ",", "，")  # 60009

USER_FIELDS = frozenset(
    {
        "title",
        "email",
        "job_number",
        "telephone",
        "work_place",
        "remark",
        "manager_userid",
        "hired_date",
        "hide_mobile",
        "senior_mode",
        "org_email",
        "extension",
    }
)
"""Optional user fields the tenant stores (besides userid, name, mobile, departments)."""

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

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS departments (
    dept_id INTEGER PRIMARY KEY,
    name TEXT NOT NULL,
    parent_id INTEGER,                      -- NULL only for the root
    sort_order INTEGER NOT NULL,
    source_identifier TEXT,
    managers TEXT NOT NULL DEFAULT '[]',    -- JSON list of userids, in the order given
    attrs TEXT NOT NULL DEFAULT '{}'        -- JSON: DEPT_ATTR_DEFAULTS keys that were set
);
CREATE UNIQUE INDEX IF NOT EXISTS departments_sibling_name ON departments (parent_id, name);
CREATE TABLE IF NOT EXISTS users (
    userid TEXT PRIMARY KEY,
    seq INTEGER NOT NULL,
    unionid TEXT NOT NULL,
    name TEXT NOT NULL,
    mobile TEXT NOT NULL UNIQUE,            -- canonical +cc-national
    email TEXT,
    fields TEXT NOT NULL DEFAULT '{}'       -- JSON: the other USER_FIELDS that were set
);
CREATE TABLE IF NOT EXISTS memberships (
    userid TEXT NOT NULL,
    dept_id INTEGER NOT NULL,
    sort_order INTEGER NOT NULL DEFAULT 0,  -- larger sorts first inside the department
    PRIMARY KEY (userid, dept_id)
);
CREATE INDEX IF NOT EXISTS memberships_dept ON memberships (dept_id);
CREATE TABLE IF NOT EXISTS tokens (
    token TEXT PRIMARY KEY,
    app_key TEXT NOT NULL,
    expires_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS writes (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    api TEXT NOT NULL,
    body TEXT NOT NULL,
    errcode INTEGER NOT NULL,
    at REAL NOT NULL
);
"""

_EXTRA_SCHEMAS: list[str] = []


def register_schema(ddl: str) -> None:
    """Add tables for another part of the sandbox (attendance) to every tenant.

    `ddl` must be idempotent (``CREATE TABLE IF NOT EXISTS …``); each Tenant runs it when it
    opens its database. `Tenant.reset()` empties every table, these included.
    """
    if ddl not in _EXTRA_SCHEMAS:
        _EXTRA_SCHEMAS.append(ddl)


def _dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def _group_chat_id(dept_id: int) -> str:
    """The department group chat's id: stable per department, whenever the group is made."""
    return "chat" + hashlib.md5(str(dept_id).encode(), usedforsecurity=False).hexdigest()


class Tenant:
    """One DingTalk organisation. The root department (id 1, named `corp_name`) always exists."""

    def __init__(
        self,
        db_path: Path | None = None,
        *,
        clock: Clock = SYSTEM_CLOCK,
        corp_name: str = "示例科技",
        profile: Profile = STRICT,
        seed: int = 0,
    ) -> None:
        self.clock = clock
        self.corp_name = corp_name
        self.profile = profile
        self.seed = seed
        self.lock = threading.RLock()
        self._depth = 0
        target = ":memory:" if db_path is None else str(db_path)
        if db_path is not None:
            db_path.parent.mkdir(parents=True, exist_ok=True)
        # isolation_level=None: we issue BEGIN/SAVEPOINT ourselves (one transaction per call).
        self.db = sqlite3.connect(target, check_same_thread=False, isolation_level=None)
        self.db.row_factory = sqlite3.Row
        with self.lock:
            if db_path is not None:
                # Another process (`orgctl sandbox serve`, a CLI run) may share the file.
                self.db.execute("PRAGMA busy_timeout = 5000")
                self.db.execute("PRAGMA journal_mode = WAL")
            self.db.executescript(_SCHEMA)
            for ddl in _EXTRA_SCHEMAS:
                self.db.executescript(ddl)
            with self.transaction():
                self._ensure_root()

    def close(self) -> None:
        with self.lock:
            self.db.close()

    # -- transactions --------------------------------------------------------------------

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """Hold the lock and run the block atomically; nested blocks become savepoints."""
        with self.lock:
            depth = self._depth
            if depth == 0:
                self.db.execute("BEGIN IMMEDIATE")
            else:
                self.db.execute(f"SAVEPOINT sp{depth}")
            self._depth = depth + 1
            try:
                yield self.db
            except BaseException:
                if depth == 0:
                    self.db.execute("ROLLBACK")
                else:
                    self.db.execute(f"ROLLBACK TO sp{depth}")
                    self.db.execute(f"RELEASE sp{depth}")
                raise
            else:
                if depth == 0:
                    self.db.execute("COMMIT")
                else:
                    self.db.execute(f"RELEASE sp{depth}")
            finally:
                self._depth = depth

    def reset(self) -> None:
        """Empty the tenant (every table, tokens and write log included); keep the root."""
        with self.transaction():
            tables = [
                row["name"]
                for row in self.db.execute(
                    "SELECT name FROM sqlite_master WHERE type = 'table' "
                    "AND name NOT LIKE 'sqlite_%'"
                )
            ]
            for table in tables:
                self.db.execute(f'DELETE FROM "{table}"')
            if self.db.execute(
                "SELECT 1 FROM sqlite_master WHERE name = 'sqlite_sequence'"
            ).fetchone():
                self.db.execute("DELETE FROM sqlite_sequence")
            self._ensure_root()

    def _ensure_root(self) -> None:
        if self._dept_row(ROOT_DEPT_ID) is None:
            self.db.execute(
                "INSERT INTO departments (dept_id, name, parent_id, sort_order) "
                "VALUES (?, ?, NULL, 0)",
                (ROOT_DEPT_ID, self.corp_name),
            )

    def counter(self, key: str) -> int:
        """The current value of a `_next` counter (0 if never counted)."""
        row = self.db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return int(row["value"]) if row else 0

    def next_value(self, key: str) -> int:
        """Count one more under `key` and return the new value (call in a transaction)."""
        return self._next(key)

    def _next(self, key: str) -> int:
        row = self.db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        value = int(row["value"]) + 1 if row else 1
        self.db.execute(
            "INSERT INTO meta (key, value) VALUES (?, ?) "
            "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            (key, str(value)),
        )
        return value

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

    def users(self) -> list[dict[str, Any]]:
        """Every user as ``user/get`` returns it, by userid."""
        with self.lock:
            ids = [r["userid"] for r in self.db.execute("SELECT userid FROM users ORDER BY userid")]
            return [self._user_view(i) for i in ids]

    def get_user(self, userid: str) -> dict[str, Any] | None:
        with self.lock:
            return self._user_view(userid) if self._user_row(userid) else None

    # -- departments: rules -------------------------------------------------------------

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

    @staticmethod
    def _check_dept_name(name: str) -> None:
        if not name or len(name) > MAX_DEPT_NAME:
            raise ApiError(60001, f"部门名称不合法：长度须为1到{MAX_DEPT_NAME}个字符")
        if any(ch in name for ch in FORBIDDEN_IN_DEPT_NAME):
            raise ApiError(60009, "部门名称含有非法字符：不能包含 - , ，")

    def _check_sibling_name(self, parent_id: int, name: str, exclude: int | None = None) -> None:
        row = self.db.execute(
            "SELECT dept_id FROM departments WHERE parent_id = ? AND name = ? AND dept_id IS NOT ?",
            (parent_id, name, exclude),
        ).fetchone()
        if row is not None:
            raise ApiError(60021, "该父部门下已存在同名部门")

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
            self._check_dept_name(name)
            if self._dept_row(parent_id) is None:
                raise ApiError(60004, "父部门不存在")
            self._check_sibling_name(parent_id, name)
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
                    _dumps(stored),
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
            if dept_id == ROOT_DEPT_ID:
                raise ApiError(60018, "根部门不允许更新")
            row = self.require_department(dept_id)
            name: str = changes.get("name", row["name"])
            parent_id: int = changes.get("parent_id", row["parent_id"])
            if "name" in changes:
                self._check_dept_name(name)
            if parent_id != row["parent_id"]:
                if self._dept_row(parent_id) is None:
                    raise ApiError(60004, "父部门不存在")
                if parent_id in self.subtree_ids(dept_id):
                    raise ApiError(60010, "部门层级关系错误：不能移动到自己或自己的子部门下")
            if name != row["name"] or parent_id != row["parent_id"]:
                self._check_sibling_name(parent_id, name, exclude=dept_id)
            members = set(self._member_ids(dept_id))
            managers: list[str] | None = None
            if "dept_manager_userid_list" in force:
                managers = list(changes.get("dept_manager_userid_list", []))
            elif changes.get("dept_manager_userid_list"):
                # An empty list is ignored: clearing needs force_update_fields [FAQ].
                managers = list(changes["dept_manager_userid_list"])
            if managers is not None:
                strangers = [u for u in managers if u not in members]
                if strangers:
                    raise ApiError(
                        40031, f"不合法的UserID列表：不存在的userId {','.join(strangers)}"
                    )
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
                    _dumps(attrs),
                    dept_id,
                ),
            )
            if managers is not None:
                self._set_managers(dept_id, managers)

    def delete_department(self, dept_id: int) -> None:
        """``department/delete``: 60007 root, 60003 unknown, 60005 members, 60006 children."""
        with self.transaction():
            if dept_id == ROOT_DEPT_ID:
                raise ApiError(60007, "不允许删除根部门")
            self.require_department(dept_id)
            subtree = self.subtree_ids(dept_id)
            marks = ",".join("?" * len(subtree))
            if self.db.execute(
                f"SELECT 1 FROM memberships WHERE dept_id IN ({marks}) LIMIT 1", subtree
            ).fetchone():
                raise ApiError(60005, "不允许删除有成员的部门")
            # The tutorial says sub-departments go with it; the error table (60006) and the old
            # API say no. We take the strict reading, as the reference recommends.
            if len(subtree) > 1:
                raise ApiError(60006, "不允许删除有子部门的部门")
            self.db.execute("DELETE FROM departments WHERE dept_id = ?", (dept_id,))

    def _set_managers(self, dept_id: int, managers: list[str]) -> None:
        unique = list(dict.fromkeys(managers))
        self.db.execute(
            "UPDATE departments SET managers = ? WHERE dept_id = ?", (_dumps(unique), dept_id)
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
                (_dumps(managers), _dumps(attrs), dept_id),
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

    def require_user_in_scope(self, userid: str) -> None:
        """50002 for a user none of whose departments is inside the contact scope."""
        if self.profile.contact_scope is None or self._user_row(userid) is None:
            return
        if not any(self.in_scope(m["dept_id"]) for m in self._memberships(userid)):
            raise ApiError(50002, "员工不在授权范围内")

    def invitation_pending(self, mobile: str) -> bool:
        """Whether ``user/create`` for this mobile answers 40103: a seeded hash of the mobile
        under `profile.pending_invite_share`, so the same people are pending on every run."""
        share = self.profile.pending_invite_share
        if share <= 0.0:
            return False
        digest = hashlib.sha256(f"{self.seed}:{self.canonical_mobile(mobile)}".encode()).digest()
        return int.from_bytes(digest[:8], "big") / 2.0**64 < share

    def set_active(self, userid: str, active: bool) -> None:
        """Mark a user active (joined) or not (invitation pending); reads show ``active``."""
        with self.transaction():
            row = self.require_user(userid)
            fields = json.loads(row["fields"])
            if active:
                fields.pop("active", None)
            else:
                fields["active"] = False
            self.db.execute(
                "UPDATE users SET fields = ? WHERE userid = ?", (_dumps(fields), userid)
            )

    # -- users: rules --------------------------------------------------------------------

    def _user_row(self, userid: str) -> sqlite3.Row | None:
        row: sqlite3.Row | None = self.db.execute(
            "SELECT * FROM users WHERE userid = ?", (userid,)
        ).fetchone()
        return row

    def require_user(self, userid: str) -> sqlite3.Row:
        row = self._user_row(userid)
        if row is None:
            raise ApiError(60121, "找不到该用户")
        return row

    @staticmethod
    def canonical_mobile(mobile: str, errcode: int = 60103) -> str:
        try:
            return normalize_mobile(mobile)
        except InvalidMobile:
            raise ApiError(errcode, "手机号码不合法") from None

    def userid_by_mobile(self, mobile: str) -> str:
        """``user/getbymobile``: 40104 invalid mobile, 60121 nobody has it."""
        with self.lock:
            canonical = self.canonical_mobile(mobile, errcode=40104)
            row = self.db.execute(
                "SELECT userid, fields FROM users WHERE mobile = ?", (canonical,)
            ).fetchone()
            # Only staff who joined are found [UM]: a pending invitation is not.
            if row is None or json.loads(row["fields"]).get("active") is False:
                raise ApiError(60121, "找不到该用户")
            return str(row["userid"])

    def _check_depts(self, dept_ids: Sequence[int]) -> list[int]:
        unique = list(dict.fromkeys(dept_ids))
        if not unique or len(unique) > MAX_DEPTS_PER_USER:
            raise ApiError(40066, "不合法的部门列表")
        for dept_id in unique:
            self.require_department(dept_id)
        return unique

    def _check_email(self, email: str, userid: str) -> None:
        if "@" not in email or len(email) > 50:
            raise ApiError(60105, "邮箱不合法")
        # Mailboxes do not care about case, and neither does the org's uniqueness rule.
        row = self.db.execute(
            "SELECT userid FROM users WHERE lower(email) = lower(?) AND userid != ?",
            (email, userid),
        ).fetchone()
        if row is not None:
            raise ApiError(60106, "邮箱已存在")

    def _check_telephone(self, telephone: str, userid: str) -> None:
        """The extension number (分机号) is unique in the org too (errcode 40100)."""
        row = self.db.execute(
            "SELECT userid FROM users WHERE json_extract(fields, '$.telephone') = ? "
            "AND userid != ?",
            (telephone, userid),
        ).fetchone()
        if row is not None:
            raise ApiError(40100, "分机号已经存在")

    def _check_manager(self, manager: str, userid: str) -> None:
        if manager == userid or self._user_row(manager) is None:
            raise ApiError(60128, "不合法的主管userid")

    def create_user(
        self,
        userid: str | None,
        name: str,
        mobile: str,
        dept_ids: Sequence[int],
        *,
        dept_orders: Mapping[int, int] | None = None,
        fields: Mapping[str, Any] | None = None,
    ) -> str:
        """``user/create``: 60111/60102 userid, 60112 name, 60103/60104 mobile, 40066/60003
        departments, 60105/60106 email, 40100 telephone, 60128 manager. Returns the userid
        (generated if None).
        """
        fields = dict(fields or {})
        with self.transaction():
            seq = self._next("user_seq")
            if userid is None:
                userid = str(USERID_BASE + seq)
            if not userid or len(userid) > MAX_USERID:
                raise ApiError(60111, "userid不合法")
            if self._user_row(userid) is not None:
                raise ApiError(60102, "UserID在公司中已存在")
            if not name or len(name) > MAX_USER_NAME:
                raise ApiError(60112, "用户姓名不合法")
            canonical = self.canonical_mobile(mobile)
            if self.db.execute("SELECT 1 FROM users WHERE mobile = ?", (canonical,)).fetchone():
                raise ApiError(60104, "手机号码在公司中已存在")
            depts = self._check_depts(dept_ids)
            email = fields.pop("email", None) or None
            if email is not None:
                self._check_email(email, userid)
            if fields.get("telephone"):
                self._check_telephone(str(fields["telephone"]), userid)
            manager = fields.get("manager_userid")
            if manager:
                self._check_manager(manager, userid)
            stored = {k: v for k, v in fields.items() if v not in (None, "")}
            unionid = hashlib.sha256(f"{userid}:{seq}".encode()).hexdigest()[:24]
            self.db.execute(
                "INSERT INTO users (userid, seq, unionid, name, mobile, email, fields) "
                "VALUES (?, ?, ?, ?, ?, ?, ?)",
                (userid, seq, unionid, name, canonical, email, _dumps(stored)),
            )
            orders = dict(dept_orders or {})
            self.db.executemany(
                "INSERT INTO memberships (userid, dept_id, sort_order) VALUES (?, ?, ?)",
                [(userid, d, orders.get(d, 0)) for d in depts],
            )
            return userid

    def update_user(
        self,
        userid: str,
        changes: Mapping[str, Any],
        *,
        force_update_fields: Iterable[str] = (),
        append_extension: bool = False,
    ) -> None:
        """``user/update``. Keys of `changes`: name, mobile, dept_id_list (list[int]),
        dept_orders (dict[int, int]) and USER_FIELDS. Omitted = unchanged.

        mobile: DingTalk cannot change a mobile through the API (40022). Sending the number
        the user already has is accepted and ignored, so a client may send a full record.
        """
        force = set(force_update_fields)
        with self.transaction():
            row = self.require_user(userid)
            mobile = changes.get("mobile")
            if mobile is not None and self.canonical_mobile(str(mobile)) != row["mobile"]:
                raise ApiError(
                    40022,
                    "企业中的手机号码和登陆钉钉的手机号码不一致，暂时不支持修改，请删除后重新添加",
                )
            name = changes.get("name", row["name"])
            if not name or len(name) > MAX_USER_NAME:
                raise ApiError(60112, "用户姓名不合法")
            email = row["email"]
            if "email" in changes:
                email = changes["email"] or None
                if email is not None:
                    self._check_email(email, userid)
            if changes.get("telephone"):
                self._check_telephone(str(changes["telephone"]), userid)
            fields: dict[str, Any] = json.loads(row["fields"])
            for key in USER_FIELDS - {"email", "manager_userid", "extension"}:
                if key in changes:
                    fields[key] = changes[key]
            manager = changes.get("manager_userid")
            if "manager_userid" in force:
                fields.pop("manager_userid", None)
            elif manager:  # an empty manager_userid is ignored: clearing needs force [UU]
                self._check_manager(manager, userid)
                fields["manager_userid"] = manager
            if "extension" in changes:
                extension = dict(changes["extension"] or {})
                if append_extension:  # ext_attrs_update_mode=1
                    extension = {**fields.get("extension", {}), **extension}
                fields["extension"] = extension
            fields = {k: v for k, v in fields.items() if v not in (None, "", {})}
            self.db.execute(
                "UPDATE users SET name = ?, email = ?, fields = ? WHERE userid = ?",
                (name, email, _dumps(fields), userid),
            )
            current = {m["dept_id"]: m["sort_order"] for m in self._memberships(userid)}
            orders = dict(changes.get("dept_orders") or {})
            if "dept_id_list" in changes:
                depts = self._check_depts(changes["dept_id_list"])
                self._drop_manager(userid, [d for d in current if d not in depts])
                self.db.execute("DELETE FROM memberships WHERE userid = ?", (userid,))
                self.db.executemany(
                    "INSERT INTO memberships (userid, dept_id, sort_order) VALUES (?, ?, ?)",
                    [(userid, d, orders.get(d, current.get(d, 0))) for d in depts],
                )
            else:
                for dept_id, order in orders.items():
                    if dept_id in current:
                        self.db.execute(
                            "UPDATE memberships SET sort_order = ? "
                            "WHERE userid = ? AND dept_id = ?",
                            (order, userid, dept_id),
                        )

    def delete_user(self, userid: str) -> None:
        """``user/delete``: 60121 unknown. The user stops managing their departments.

        Other users' manager_userid pointing at them is left as is: DingTalk's behaviour here
        is not documented [uncertain], and keeping it makes delete + create of the same
        userid (a mobile change) transparent to their reports.
        """
        with self.transaction():
            self.require_user(userid)
            self._drop_manager(userid, [m["dept_id"] for m in self._memberships(userid)])
            self.db.execute("DELETE FROM memberships WHERE userid = ?", (userid,))
            self.db.execute("DELETE FROM users WHERE userid = ?", (userid,))

    def _memberships(self, userid: str) -> list[sqlite3.Row]:
        return list(
            self.db.execute(
                "SELECT dept_id, sort_order FROM memberships WHERE userid = ? ORDER BY rowid",
                (userid,),
            )
        )

    @staticmethod
    def _mobile_out(canonical: str) -> tuple[str, str]:
        """(state_code, mobile) as DingTalk returns them: +86 numbers bare, others +cc-number."""
        cc, _, national = canonical.partition("-")
        code = cc.lstrip("+")
        return code, (national if code == "86" else canonical)

    def _user_common(self, row: sqlite3.Row) -> dict[str, Any]:
        fields = json.loads(row["fields"])
        state_code, mobile = self._mobile_out(row["mobile"])
        view: dict[str, Any] = {
            "userid": row["userid"],
            "unionid": row["unionid"],
            "name": row["name"],
            "avatar": "",
            "state_code": state_code,
            "mobile": mobile,
            "hide_mobile": bool(fields.get("hide_mobile", False)),
        }
        # Optional strings are returned only when non-empty [UG, UL]: absent means empty.
        for key in ("telephone", "job_number", "title", "org_email", "work_place", "remark"):
            if fields.get(key):
                view[key] = fields[key]
        if row["email"]:
            view["email"] = row["email"]
        if fields.get("extension"):
            # A JSON *string*, not an object [UG, S11].
            view["extension"] = _dumps(fields["extension"])
        if fields.get("hired_date") is not None:
            view["hired_date"] = int(fields["hired_date"])
        active = fields.get("active") is not False
        view.update(active=active, admin=False, boss=False, exclusive_account=False)
        return view

    def _user_view(self, userid: str) -> dict[str, Any]:
        row = self.require_user(userid)
        fields = json.loads(row["fields"])
        view = self._user_common(row)
        memberships = self._memberships(userid)
        view["dept_id_list"] = [m["dept_id"] for m in memberships]
        view["dept_order_list"] = [
            {"dept_id": m["dept_id"], "order": m["sort_order"]} for m in memberships
        ]
        view["leader_in_dept"] = [
            {"dept_id": m["dept_id"], "leader": userid in self._managers(m["dept_id"])}
            for m in memberships
        ]
        if fields.get("manager_userid"):
            view["manager_userid"] = fields["manager_userid"]
        view["real_authed"] = True
        view["senior"] = bool(fields.get("senior_mode", False))
        view["role_list"] = []
        return view

    def user_view(self, userid: str) -> dict[str, Any]:
        """``user/get`` result (60121 for an unknown user)."""
        with self.lock:
            return self._user_view(userid)

    def list_item(self, userid: str, dept_id: int) -> dict[str, Any]:
        """One ``user/list`` item for a member of `dept_id`. No manager_userid: user/list does
        not return it [UL, S11]; only user/get does."""
        row = self.require_user(userid)
        view = self._user_common(row)
        memberships = self._memberships(userid)
        view["dept_id_list"] = [m["dept_id"] for m in memberships]
        view["dept_order"] = next(m["sort_order"] for m in memberships if m["dept_id"] == dept_id)
        view["leader"] = userid in self._managers(dept_id)
        return view
