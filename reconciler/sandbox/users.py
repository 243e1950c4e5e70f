"""People of the emulated tenant: storage, DingTalk's rules (from `rules`) and the shapes
``user/get`` and ``user/list`` return.
I/O: the tenant's SQLite database.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from reconciler.phone import InvalidMobile, normalize_mobile
from reconciler.sandbox import rules
from reconciler.sandbox.departments import Departments
from reconciler.sandbox.errors import ApiError
from reconciler.sandbox.store import dumps

USERID_BASE = 16_000_000_000_000_000  # generated userids look like DingTalk's: 17 digits

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


class Users(Departments):
    """The people half of the tenant (and the `rules.Directory` facts about them)."""

    # -- inspection ---------------------------------------------------------------------

    def users(self) -> list[dict[str, Any]]:
        """Every user as ``user/get`` returns it, by userid."""
        with self.lock:
            ids = [r["userid"] for r in self.db.execute("SELECT userid FROM users ORDER BY userid")]
            return [self._user_view(i) for i in ids]

    def get_user(self, userid: str) -> dict[str, Any] | None:
        with self.lock:
            return self._user_view(userid) if self._user_row(userid) else None

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
            self.db.execute("UPDATE users SET fields = ? WHERE userid = ?", (dumps(fields), userid))

    # -- the rulebook's Directory: facts about users ------------------------------------

    def user_exists(self, userid: str) -> bool:
        return self._user_row(userid) is not None

    def holder(self, field: rules.UniqueField, value: str) -> str | None:
        if field == "mobile":
            sql = "SELECT userid FROM users WHERE mobile = ?"
        elif field == "email":
            # Mailboxes do not care about case, and neither does the org's uniqueness rule.
            sql = "SELECT userid FROM users WHERE lower(email) = lower(?)"
        else:
            sql = "SELECT userid FROM users WHERE json_extract(fields, '$.telephone') = ?"
        row = self.db.execute(sql, (value,)).fetchone()
        return None if row is None else str(row["userid"])

    # -- users ---------------------------------------------------------------------------

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
            canonical = self.canonical_mobile(mobile)
            email = fields.pop("email", None) or None
            depts = rules.check_create_user(
                self,
                userid,
                name,
                canonical,
                dept_ids,
                email=email,
                telephone=str(fields.get("telephone") or ""),
                manager=fields.get("manager_userid"),
            )
            stored = {k: v for k, v in fields.items() if v not in (None, "")}
            unionid = hashlib.sha256(f"{userid}:{seq}".encode()).hexdigest()[:24]
            self.db.execute(
                "INSERT INTO users (userid, seq, unionid, name, mobile, email, fields) "
                "VALUES (?, ?, ?, ?, ?, ?, ?)",
                (userid, seq, unionid, name, canonical, email, dumps(stored)),
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
            manager = changes.get("manager_userid")
            depts = rules.check_update_user(
                self,
                userid,
                name=changes.get("name"),
                dept_ids=changes.get("dept_id_list"),
                email=changes.get("email"),
                telephone=str(changes.get("telephone") or ""),
                manager=None if "manager_userid" in force else manager,
            )
            name = changes.get("name", row["name"])
            email = row["email"]
            if "email" in changes:
                email = changes["email"] or None
            fields: dict[str, Any] = json.loads(row["fields"])
            for key in USER_FIELDS - {"email", "manager_userid", "extension"}:
                if key in changes:
                    fields[key] = changes[key]
            if "manager_userid" in force:
                fields.pop("manager_userid", None)
            elif manager:  # an empty manager_userid is ignored: clearing needs force [UU]
                fields["manager_userid"] = manager
            if "extension" in changes:
                extension = dict(changes["extension"] or {})
                if append_extension:  # ext_attrs_update_mode=1
                    extension = {**fields.get("extension", {}), **extension}
                fields["extension"] = extension
            fields = {k: v for k, v in fields.items() if v not in (None, "", {})}
            self.db.execute(
                "UPDATE users SET name = ?, email = ?, fields = ? WHERE userid = ?",
                (name, email, dumps(fields), userid),
            )
            current = {m["dept_id"]: m["sort_order"] for m in self._memberships(userid)}
            orders = dict(changes.get("dept_orders") or {})
            if depts is not None:
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
            view["extension"] = dumps(fields["extension"])
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
