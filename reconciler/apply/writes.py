"""Each step as a DingTalk write, and the read that tells whether that write happened.
I/O: calls the client.

A step runs as a pair (write, verify): both return a department id where there is one (0
otherwise); verify returns None when the write is *not* visible. The runner calls verify
after an unknown outcome (a timeout, a lost connection) before it writes again, so a create
that did happen is adopted instead of repeated.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, Protocol

from reconciler.errors import TerminalError
from reconciler.model import ROOT, ROOT_DEPT_ID, DeptKey, Org, is_unkeyed
from reconciler.plan.steps import (
    AdoptDepartment,
    CreateDepartment,
    CreateUser,
    DeleteDepartment,
    DeleteUser,
    SetManagers,
    Step,
    UpdateDepartment,
    UpdateUser,
    body_fields,
)


class ApplyClient(Protocol):
    """The writes and reads apply makes (`reconciler.dingtalk.DingTalkClient` has them)."""

    async def create_department(
        self,
        *,
        name: str,
        parent_id: int,
        order: int | None = None,
        source_identifier: str | None = None,
    ) -> int: ...
    async def update_department(self, dept_id: int, **fields: Any) -> None: ...
    async def delete_department(self, dept_id: int) -> None: ...
    async def create_user(self, fields: Mapping[str, Any]) -> str: ...
    async def update_user(self, userid: str, fields: Mapping[str, Any]) -> None: ...
    async def delete_user(self, userid: str) -> None: ...
    async def get_user(self, userid: str) -> dict[str, Any] | None: ...
    async def get_department(self, dept_id: int) -> dict[str, Any]: ...
    async def list_sub_department_ids(self, dept_id: int) -> list[int]: ...
    async def get_userid_by_mobile(self, mobile: str) -> str | None: ...


class Skip(Exception):
    """A step cannot run: something it refers to does not exist."""


Call = Callable[[], Awaitable[int | None]]


class Writes:
    """The write and verify calls of each step, resolving department refs to dept_ids:
    the live department's id, or the id a create of this apply got back."""

    def __init__(self, client: ApplyClient, live: Org) -> None:
        self.client = client
        self.ids: dict[DeptKey, int] = {ROOT: ROOT_DEPT_ID}
        for key, dept in live.departments.items():
            if dept.dept_id is not None:
                self.ids[key] = dept.dept_id

    def dept_id(self, ref: DeptKey) -> int:
        dept_id = self.ids.get(ref)
        if dept_id is None and is_unkeyed(ref):
            dept_id = int(ref[1:])
        if dept_id is None:
            raise Skip(f"skipped: department {ref} does not exist (was its create skipped?)")
        return dept_id

    def calls(self, step: Step) -> tuple[Call, Call]:
        """(write, verify) for a step."""
        body = step.body
        if isinstance(body, CreateDepartment):
            return self._create_department(body)
        if isinstance(body, UpdateDepartment | AdoptDepartment | SetManagers):
            return self._update_department(body)
        if isinstance(body, DeleteDepartment):
            return self._delete_department(body)
        if isinstance(body, CreateUser):
            return self._create_user(body)
        if isinstance(body, UpdateUser):
            return self._update_user(body)
        return self._delete_user(body)

    # -- departments

    def _create_department(self, body: CreateDepartment) -> tuple[Call, Call]:
        async def write() -> int | None:
            return await self.client.create_department(
                name=body.name,
                parent_id=self.dept_id(body.parent),
                order=body.order,
                source_identifier=body.key,
            )

        async def verify() -> int | None:
            # Create-or-adopt: the department is ours if it carries our source_identifier,
            # or (if the app cannot read source_identifier) has our name under our parent.
            by_name: int | None = None
            for child_id in await self.client.list_sub_department_ids(self.dept_id(body.parent)):
                child = await self.client.get_department(child_id)
                if child.get("source_identifier") == body.key:
                    return child_id
                if child.get("name") == body.name and not child.get("source_identifier"):
                    by_name = child_id
            return by_name

        return write, verify

    def _department_fields(
        self, body: UpdateDepartment | AdoptDepartment | SetManagers
    ) -> dict[str, Any]:
        if isinstance(body, SetManagers):
            return {"managers": sorted(body.managers)}
        fields: dict[str, Any] = {}
        if body.name is not None:
            fields["name"] = body.name
        if body.parent is not None:
            fields["parent_id"] = self.dept_id(body.parent)
        if body.order is not None:
            fields["order"] = body.order
        if isinstance(body, AdoptDepartment):
            fields["source_identifier"] = body.source_identifier
        return fields

    def _update_department(
        self, body: UpdateDepartment | AdoptDepartment | SetManagers
    ) -> tuple[Call, Call]:
        async def write() -> int | None:
            dept_id = self.dept_id(body.ref)
            await self.client.update_department(dept_id, **self._department_fields(body))
            return dept_id

        async def verify() -> int | None:
            dept_id = self.dept_id(body.ref)
            current = await self.client.get_department(dept_id)
            for name, value in self._department_fields(body).items():
                read_as = "dept_manager_userid_list" if name == "managers" else name
                if not same(value, current.get(read_as)):
                    return None
            return dept_id

        return write, verify

    def _delete_department(self, body: DeleteDepartment) -> tuple[Call, Call]:
        async def write() -> int | None:
            await self.client.delete_department(self.dept_id(body.ref))
            return None

        async def verify() -> int | None:
            try:
                await self.client.get_department(self.dept_id(body.ref))
            except TerminalError as error:
                if error.errcode in (60003, 40009):
                    return 0  # gone: the delete happened
                raise
            return None

        return write, verify

    # -- people

    def user_fields(self, body: CreateUser | UpdateUser) -> dict[str, Any]:
        """DingTalk's field names for the body's model fields (refs resolved to ids); the
        userid only for a create (an update names the person in the call)."""
        create = isinstance(body, CreateUser)
        fields: dict[str, Any] = {}
        for name, value in body_fields(body).items():
            if name == "userid":
                if create:
                    fields["userid"] = value
            elif name == "departments":
                fields["dept_id_list"] = [self.dept_id(ref) for ref in value]
            elif name == "manager":
                # "" clears the manager: the client sends force_update_fields for None.
                if value:
                    fields["manager_userid"] = value
                elif not create:
                    fields["manager_userid"] = None
            elif name == "extension":
                fields["extension"] = dict(value)
            else:
                fields[name] = value
        return fields

    def _create_user(self, body: CreateUser) -> tuple[Call, Call]:
        async def write() -> int | None:
            await self.client.create_user(self.user_fields(body))
            return None

        async def verify() -> int | None:
            return 0 if await self.client.get_user(body.userid) is not None else None

        return write, verify

    def _update_user(self, body: UpdateUser) -> tuple[Call, Call]:
        async def write() -> int | None:
            await self.client.update_user(body.userid, self.user_fields(body))
            return None

        async def verify() -> int | None:
            current = await self.client.get_user(body.userid)
            if current is None:
                return None
            for name, value in self.user_fields(body).items():
                if not same(value, current.get(name)):
                    return None
            return 0

        return write, verify

    def _delete_user(self, body: DeleteUser) -> tuple[Call, Call]:
        async def write() -> int | None:
            await self.client.delete_user(body.userid)
            return None

        async def verify() -> int | None:
            return 0 if await self.client.get_user(body.userid) is None else None

        return write, verify


def same(sent: object, got: object) -> bool:
    """Whether a value read back equals the value written, across DingTalk's encodings:
    comma-separated strings vs lists, JSON-string extensions, numbers as strings."""
    if isinstance(sent, Mapping):
        if isinstance(got, str):
            try:
                got = json.loads(got) if got.strip() else {}
            except ValueError:
                return False
        return isinstance(got, Mapping) and dict(sent) == {k: str(v) for k, v in got.items()}
    if isinstance(sent, list | tuple):
        if isinstance(got, str):
            got = [g for g in got.split(",") if g]
        if got is None:
            got = []
        if not isinstance(got, list | tuple):
            return False
        return sorted(str(s) for s in sent) == sorted(str(g) for g in got)
    if sent is None or sent == "":
        return got is None or got == ""
    return str(sent) == str(got)


__all__ = ["ApplyClient", "Call", "Skip", "Writes", "same"]
