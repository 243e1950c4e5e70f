"""An in-memory DingTalk at the client's method level, and hand-made plans, for executor tests.

`FakeDirectory` asks DingTalk's rulebook (`reconciler.sandbox.rules`, the one the sandbox and
the property-test simulator ask) before every write, so it refuses what they refuse with the
same errcodes; it logs every write and lets a test inject a fault per call:
raise before the write (not applied) or after it (applied, but the caller never hears). The
sandbox is the full emulation over HTTP; this fake makes exact fault sequences easy.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Callable, Mapping
from typing import Any

from reconciler.errors import DingTalkError, OutcomeUnknownError, TerminalError
from reconciler.model import Department, Org, User, unkeyed
from reconciler.plan.diff import FieldChange
from reconciler.plan.document import Plan
from reconciler.plan.steps import Phase, Step, StepBody
from reconciler.sandbox import rules
from reconciler.sandbox.errors import ApiError


def step(
    step_id: str,
    phase: int,
    body: StepBody,
    *,
    changes: tuple[FieldChange, ...] = (),
    requires: tuple[str, ...] = (),
    destructive: bool = False,
) -> Step:
    """A plan step by hand: the key is what follows the ``:`` of its id."""
    return Step(
        id=step_id,
        phase=Phase(phase),
        key=step_id.partition(":")[2],
        body=body,
        changes=changes,
        requires=requires,
        destructive=destructive,
    )


def plan(*steps: Step) -> Plan:
    """A hand-made plan (the fingerprints say so: nothing was read to make it)."""
    return Plan(tuple(steps), 0, 0, "sha256:hand-made", "sha256:hand-made")


Fault = Callable[[str, tuple[Any, ...]], "DingTalkError | None"]


def terminal(api: str, errcode: int, errmsg: str = "rejected") -> TerminalError:
    return TerminalError(api, errcode, errmsg)


def unknown(api: str) -> OutcomeUnknownError:
    return OutcomeUnknownError(api, -2, "ReadTimeout: no complete response")


class FakeDirectory:
    """DingTalk's contacts, in memory. Method names and shapes match DingTalkClient."""

    def __init__(self, seed: int = 0) -> None:
        self.depts: dict[int, dict[str, Any]] = {}
        self.users: dict[str, dict[str, Any]] = {}
        self.writes: list[tuple[str, Any]] = []  # (api, argument) of every *applied* write
        self.attempts: list[tuple[str, Any]] = []  # every write call, applied or not
        self.reads: list[tuple[str, Any]] = []
        self.before: list[Fault] = []  # a fault here means the write did not happen
        self.after: list[Fault] = []  # a fault here means it happened, the answer was lost
        self.in_flight: dict[str, int] = {}
        self.max_in_flight: dict[str, int] = {}
        self.max_total_in_flight = 0
        self.timeline: list[tuple[str, str, Any]] = []  # ("start"|"end", api, arg)
        self._next_id = 100
        # Writes take a random number of event-loop turns, so one started later may land
        # first, as over a network: an ordering bug shows up as a rule violation.
        self._jitter = random.Random(seed)

    # ------------------------------------------------------------------ building

    def add_department(
        self, name: str, parent_id: int = 1, *, key: str | None = None, order: int = 0
    ) -> int:
        self._next_id += 1
        self.depts[self._next_id] = {
            "dept_id": self._next_id,
            "name": name,
            "parent_id": parent_id,
            "order": order,
            "source_identifier": key,
            "dept_manager_userid_list": [],
        }
        return self._next_id

    def add_user(self, userid: str, name: str, mobile: str, dept_ids: list[int], **extra: Any):
        self.users[userid] = {
            "userid": userid,
            "name": name,
            "mobile": mobile,
            "dept_id_list": list(dept_ids),
            **extra,
        }

    def live(self) -> Org:
        """The directory as an Org (what the snapshot would read)."""
        keys = {1: "root"}
        for dept_id, d in self.depts.items():
            keys[dept_id] = d["source_identifier"] or unkeyed(dept_id)
        departments = [
            Department(
                key=keys[dept_id],
                name=d["name"],
                parent=keys[d["parent_id"]],
                order=d["order"],
                managers=tuple(sorted(d["dept_manager_userid_list"])),
                dept_id=dept_id,
                source_identifier=d["source_identifier"],
            )
            for dept_id, d in self.depts.items()
        ]
        users = [
            User(
                userid=u["userid"],
                name=u["name"],
                mobile=u["mobile"],
                email=u.get("email"),
                departments=tuple(sorted(keys[i] for i in u["dept_id_list"])),
            )
            for u in self.users.values()
        ]
        return Org.of(departments, users)

    def key_of(self, dept_id: int) -> str | None:
        return self.depts[dept_id]["source_identifier"] if dept_id in self.depts else None

    def id_of(self, key: str) -> int:
        for dept_id, d in self.depts.items():
            if d["source_identifier"] == key:
                return dept_id
        raise KeyError(key)

    # ------------------------------------------------------------------ plumbing

    async def _write(self, api: str, arg: Any, apply: Callable[[], Any]) -> Any:
        self.attempts.append((api, arg))
        self.in_flight[api] = self.in_flight.get(api, 0) + 1
        self.max_in_flight[api] = max(self.max_in_flight.get(api, 0), self.in_flight[api])
        self.max_total_in_flight = max(self.max_total_in_flight, sum(self.in_flight.values()))
        self.timeline.append(("start", api, arg))
        try:
            for _ in range(1 + self._jitter.randrange(6)):
                await asyncio.sleep(0)
            for fault in self.before:
                error = fault(api, (arg,))
                if error is not None:
                    raise error
            result = apply()
            self.writes.append((api, arg))
            for fault in self.after:
                error = fault(api, (arg,))
                if error is not None:
                    raise error
            return result
        finally:
            self.in_flight[api] -= 1
            self.timeline.append(("end", api, arg))

    def _children(self, dept_id: int) -> list[int]:
        return [i for i, d in self.depts.items() if d["parent_id"] == dept_id]

    @staticmethod
    def _checked(api: str, check: Callable[[], object]) -> None:
        """Run a rulebook check; its refusal as the client would raise it."""
        try:
            check()
        except ApiError as error:
            raise terminal(api, error.errcode, error.errmsg) from None

    # -- the rulebook's Directory

    def dept_exists(self, dept_id: int) -> bool:
        return dept_id == rules.ROOT_DEPT_ID or dept_id in self.depts

    def dept_name(self, dept_id: int) -> str:
        return str(self.depts[dept_id]["name"])

    def parent_of(self, dept_id: int) -> int | None:
        dept = self.depts.get(dept_id)
        return None if dept is None else int(dept["parent_id"])

    def sibling_named(self, parent_id: int, name: str) -> int | None:
        for dept_id in self._children(parent_id):
            if self.depts[dept_id]["name"] == name:
                return dept_id
        return None

    def has_children(self, dept_id: int) -> bool:
        return bool(self._children(dept_id))

    def has_members(self, dept_id: int) -> bool:
        return bool(self.members(dept_id)) or any(
            self.has_members(child) for child in self._children(dept_id)
        )

    def members(self, dept_id: int) -> list[str]:
        return [u for u, d in self.users.items() if dept_id in d["dept_id_list"]]

    def user_exists(self, userid: str) -> bool:
        return userid in self.users

    def holder(self, field: rules.UniqueField, value: str) -> str | None:
        want = rules.unique_key(field, value)
        for userid, user in self.users.items():
            held = user.get(field)
            if held and rules.unique_key(field, str(held)) == want:
                return userid
        return None

    # ------------------------------------------------------------------ writes

    async def create_department(
        self,
        *,
        name: str,
        parent_id: int,
        order: int | None = None,
        source_identifier: str | None = None,
    ) -> int:
        api = "department/create"

        def apply() -> int:
            self._checked(api, lambda: rules.check_create_department(self, name, parent_id))
            new_id = self.add_department(name, parent_id, key=source_identifier, order=order or 0)
            return new_id

        result: int = await self._write(api, {"name": name, "parent_id": parent_id}, apply)
        return result

    async def update_department(self, dept_id: int, **fields: Any) -> None:
        api = "department/update"

        def apply() -> None:
            self._checked(
                api,
                lambda: rules.check_update_department(
                    self, dept_id, fields.get("name"), fields.get("parent_id")
                ),
            )
            dept = self.depts[dept_id]
            managers = fields.get("managers")
            if managers is not None:
                self._checked(api, lambda: rules.check_managers(self, dept_id, managers))
            for k, v in fields.items():
                if k == "managers":
                    dept["dept_manager_userid_list"] = list(v)
                else:
                    dept[k] = v

        await self._write(api, {"dept_id": dept_id, **fields}, apply)

    async def delete_department(self, dept_id: int) -> None:
        api = "department/delete"

        def apply() -> None:
            self._checked(api, lambda: rules.check_delete_department(self, dept_id))
            del self.depts[dept_id]

        await self._write(api, dept_id, apply)

    async def create_user(self, fields: Mapping[str, Any]) -> str:
        api = "user/create"
        userid = str(fields["userid"])

        def apply() -> str:
            self._checked(
                api,
                lambda: rules.check_create_user(
                    self,
                    userid,
                    str(fields["name"]),
                    str(fields["mobile"]),
                    list(fields["dept_id_list"]),
                    email=fields.get("email"),
                    telephone=fields.get("telephone"),
                    manager=fields.get("manager_userid"),
                ),
            )
            self.users[userid] = {**fields, "dept_id_list": list(fields["dept_id_list"])}
            return userid

        result: str = await self._write(api, dict(fields), apply)
        return result

    async def update_user(self, userid: str, fields: Mapping[str, Any]) -> None:
        api = "user/update"

        def apply() -> None:
            self._checked(api, lambda: rules.require_user(self, userid))
            if "mobile" in fields:  # not through the API: the person is replaced instead
                raise terminal(api, 41054)
            self._checked(
                api,
                lambda: rules.check_update_user(
                    self,
                    userid,
                    name=fields.get("name"),
                    dept_ids=fields.get("dept_id_list"),
                    email=fields.get("email"),
                    telephone=fields.get("telephone"),
                    manager=fields.get("manager_userid"),
                ),
            )
            self.users[userid].update(fields)

        await self._write(api, {"userid": userid, **fields}, apply)

    async def delete_user(self, userid: str) -> None:
        api = "user/delete"

        def apply() -> None:
            self._checked(api, lambda: rules.check_delete_user(self, userid))
            del self.users[userid]
            for dept in self.depts.values():
                if userid in dept["dept_manager_userid_list"]:
                    dept["dept_manager_userid_list"].remove(userid)

        await self._write(api, userid, apply)

    # ------------------------------------------------------------------ reads

    async def get_user(self, userid: str) -> dict[str, Any] | None:
        self.reads.append(("user/get", userid))
        user = self.users.get(userid)
        return dict(user) if user is not None else None

    async def get_department(self, dept_id: int) -> dict[str, Any]:
        self.reads.append(("department/get", dept_id))
        if dept_id not in self.depts:
            raise terminal("department/get", 60003)
        return dict(self.depts[dept_id])

    async def list_sub_department_ids(self, dept_id: int) -> list[int]:
        self.reads.append(("department/listsubid", dept_id))
        return self._children(dept_id)

    async def get_userid_by_mobile(self, mobile: str) -> str | None:
        self.reads.append(("user/getbymobile", mobile))
        for userid, user in self.users.items():
            if user["mobile"] == mobile:
                return userid
        return None
