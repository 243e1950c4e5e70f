"""Read the whole live directory through the client into an `Org` — completely, or not at all.
I/O: DingTalk reads through the client, nothing else.

Three streams run at once, each on its own API and so under its own 20 QPS budget:

    tree         topapi/v2/department/listsubid   BFS from the root (1)
    departments  topapi/v2/department/get         every department the walk finds
    members      topapi/v2/user/list              cursor pages (size 100) of each department
                                                  with direct members (owning_member_count > 0)

A department id flows from one stream's queue to the next as soon as it is known, so the
three limiters are busy together and the wall time approaches the floor: max over APIs of
calls / QPS. Each stream runs enough workers to keep its limiter busy under latency.

Managers: ``user/list`` does not return ``manager_userid`` (only ``user/get`` does, one call
per user). So a user's live ``manager`` is read only for the userids the caller names in
``read_managers`` (the users whose desired state manages a manager), in a fourth stream on
``user/get``; every other live user has ``manager=None``, which the diff never compares
because a desired ``None`` is unmanaged. ``read_managers=True`` reads them for everyone.

A snapshot is complete or raises `SnapshotError` naming the department (or user) that could
not be read: 50004 (outside the app's contact scope) means *unknown*, not *absent*, and a
plan made from a partial read would delete what it could not see.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
from collections.abc import Awaitable, Callable, Collection, Mapping
from dataclasses import dataclass, field
from typing import Any

from reconciler.dingtalk import DingTalkClient
from reconciler.dingtalk.errcodes import parse_int
from reconciler.errors import DingTalkError, SnapshotError
from reconciler.model import (
    ROOT,
    ROOT_DEPT_ID,
    Department,
    DeptKey,
    Org,
    User,
    UserId,
    is_unkeyed,
    unkeyed,
)
from reconciler.phone import InvalidMobile, normalize_mobile

Progress = Callable[[str, int, int], None]
"""``progress(stream, done, total)``: called whenever a stream finishes an item. ``total``
grows while the walk discovers departments."""

TREE = "tree"
DEPARTMENTS = "departments"
MEMBERS = "members"
MANAGERS = "managers"
STREAMS = (TREE, DEPARTMENTS, MEMBERS, MANAGERS)

PAGE_SIZE = 100
"""``user/list`` page size: DingTalk's SDKs check 1 ≤ size ≤ 100."""


async def read_live(
    client: DingTalkClient,
    *,
    progress: Progress | None = None,
    read_managers: bool | Collection[UserId] = False,
) -> Org:
    """The live directory as an `Org`. Raises SnapshotError unless every read succeeded."""
    return await _Reader(client, progress, read_managers).run()


# ---------------------------------------------------------------------------- normalisation


def clean_text(value: object) -> str | None:
    """Whitespace-normalised text, or None when empty: runs of whitespace (including the
    full-width space U+3000, which str.split knows) become one space, ends are stripped."""
    if value is None:
        return None
    text = " ".join(str(value).split())
    return text or None


def clean_remark(value: object) -> str | None:
    """A remark may be several lines: only its ends and each line's trailing spaces go."""
    if value is None:
        return None
    text = "\n".join(line.rstrip() for line in str(value).strip().splitlines())
    return text or None


def live_mobile(raw: object, state_code: object) -> str | None:
    """DingTalk's mobile (bare for +86, ``+cc-national`` otherwise) in canonical form. A number
    phonenumbers rejects is kept as DingTalk has it, so the plan shows it instead of hiding it."""
    text = clean_text(raw)
    if text is None:
        return None
    try:
        return normalize_mobile(text, clean_text(state_code))
    except InvalidMobile:
        return text


def live_extension(raw: object) -> dict[str, str] | None:
    """``extension`` arrives as a JSON *string* (S11); values are compared as text."""
    if raw is None or raw == "":
        return None
    parsed: object = raw
    if isinstance(raw, str):
        try:
            parsed = json.loads(raw)
        except ValueError:
            return {"": raw}  # not JSON: keep it visible rather than dropping it
    if not isinstance(parsed, Mapping):
        return None
    values = {
        str(k): v if isinstance(v, str) else json.dumps(v, ensure_ascii=False)
        for k, v in parsed.items()
    }
    return dict(sorted(values.items())) or None


def live_user(userid: UserId, item: Mapping[str, Any]) -> User:
    """A ``user/list`` item as a User, without departments (keys come last) or manager."""
    return User(
        userid=userid,
        name=clean_text(item.get("name")) or "",
        departments=(),
        mobile=live_mobile(item.get("mobile"), item.get("state_code")),
        title=clean_text(item.get("title")),
        email=clean_text(item.get("email")),
        job_number=clean_text(item.get("job_number")),
        telephone=clean_text(item.get("telephone")),
        work_place=clean_text(item.get("work_place")),
        remark=clean_remark(item.get("remark")),
        extension=live_extension(item.get("extension")),
        active=_flag(item.get("active")),
        hired_date=parse_int(item.get("hired_date")),
    )


def _flag(raw: object) -> bool | None:
    """A boolean flag; the documented samples are type-erased ("true"/"false")."""
    if isinstance(raw, bool):
        return raw
    if isinstance(raw, str) and raw.lower() in ("true", "false"):
        return raw.lower() == "true"
    return None


LISTSUBID = "topapi/v2/department/listsubid"
DEPARTMENT_GET = "topapi/v2/department/get"
USER_LIST = "topapi/v2/user/list"


class _Malformed(ValueError):
    """An answer field with the wrong shape; `_Reader` names the API and the item."""

    def __init__(self, field: str, value: object) -> None:
        shown = repr(value)  # repr escapes control and bidi characters from the tenant
        super().__init__(f"{field}: {shown if len(shown) <= 80 else shown[:77] + '...'}")


def _ids(values: object, field: str) -> list[int]:
    """A list of ids, strictly: an id we cannot read would silently drop a user from a
    department, and the plan would then "add" them back (or prune what it did not see)."""
    if values is None:
        return []
    if isinstance(values, str):  # type-erased samples send "2,3,4"
        values = [v for v in values.split(",") if v.strip()]
    if not isinstance(values, list | tuple):
        raise _Malformed(field, values)
    ids = [parse_int(v) for v in values]
    if any(i is None for i in ids):
        raise _Malformed(field, values)
    return [i for i in ids if i is not None]


def _optional_int(raw: Mapping[str, Any], field: str) -> int | None:
    """An optional integer field: absent is None, present and not an integer is malformed."""
    value = raw.get(field)
    if value is None or value == "":
        return None
    number = parse_int(value)
    if number is None:
        raise _Malformed(field, value)
    return number


def _userids(values: object, field: str) -> list[str]:
    if values is None:
        return []
    if not isinstance(values, list | tuple) or not all(isinstance(v, str | int) for v in values):
        raise _Malformed(field, values)  # a bare string would be read letter by letter
    return [m for m in (clean_text(v) for v in values) if m]


def is_home_school(dept_id: int) -> bool:
    """家校通讯录 departments have negative ids; the contacts APIs refuse them (40009/60003)."""
    return dept_id <= 0


# ---------------------------------------------------------------------------- the reader


@dataclass
class _Stream:
    name: str
    queue: asyncio.Queue[Any] = field(default_factory=asyncio.Queue)
    done: int = 0
    total: int = 0

    def put(self, item: Any) -> None:
        self.total += 1
        self.queue.put_nowait(item)


class _Reader:
    def __init__(
        self,
        client: DingTalkClient,
        progress: Progress | None,
        read_managers: bool | Collection[UserId],
    ) -> None:
        self.client = client
        self.progress = progress
        self.all_managers = read_managers is True
        self.managers_of: frozenset[UserId] = (
            frozenset() if isinstance(read_managers, bool) else frozenset(read_managers)
        )
        self.parent_of: dict[int, int] = {}  # from the walk
        self.departments: dict[int, dict[str, Any]] = {}  # department/get results
        self.users: dict[UserId, User] = {}  # departments=() until the keys are known
        self.user_depts: dict[UserId, set[int]] = {}
        self.managers: dict[UserId, str | None] = {}
        self.streams = {name: _Stream(name) for name in STREAMS}
        self.failure: BaseException | None = None
        self.failed = asyncio.Event()

    async def run(self) -> Org:
        handlers: dict[str, Callable[[Any], Awaitable[None]]] = {
            TREE: self._walk,
            DEPARTMENTS: self._read_department,
            MEMBERS: self._read_members,
            MANAGERS: self._read_manager,
        }
        active = [TREE, DEPARTMENTS, MEMBERS]
        if self.all_managers or self.managers_of:
            active.append(MANAGERS)
        # Each stream gets as many workers as the client lets requests be in flight, so it
        # can keep its limiter busy however long answers take (20 QPS × 300 ms = 6 in
        # flight); the client's max_in_flight caps the total across streams.
        workers = [
            asyncio.create_task(self._work(self.streams[name], handlers[name]))
            for name in active
            for _ in range(self.client.max_in_flight)
        ]
        self.parent_of[ROOT_DEPT_ID] = ROOT_DEPT_ID
        self.streams[TREE].put(ROOT_DEPT_ID)
        self.streams[MEMBERS].put(ROOT_DEPT_ID)  # the root's own direct members
        drained = asyncio.create_task(self._drain())
        failed = asyncio.create_task(self.failed.wait())
        try:
            await asyncio.wait({drained, failed}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in (*workers, drained, failed):
                task.cancel()
            await asyncio.gather(*workers, drained, failed, return_exceptions=True)
        if self.failure is not None:
            raise self.failure
        return self._build()

    async def _drain(self) -> None:
        # Each stream only feeds the ones after it, so once a stream's queue is joined no
        # more work can reach it.
        for name in STREAMS:
            await self.streams[name].queue.join()

    async def _work(self, stream: _Stream, handle: Callable[[Any], Awaitable[None]]) -> None:
        while True:
            item = await stream.queue.get()
            try:
                if self.failure is None:
                    await handle(item)
                    stream.done += 1
                    if self.progress is not None:
                        self.progress(stream.name, stream.done, stream.total)
            except Exception as error:  # the first failure of any kind ends the snapshot
                if self.failure is None:
                    self.failure = error
                    self.failed.set()
            finally:
                stream.queue.task_done()

    # -- the streams ---------------------------------------------------------------------

    async def _walk(self, dept_id: int) -> None:
        try:
            children = await self.client.list_sub_department_ids(dept_id)
        except DingTalkError as error:
            raise self._department_error(dept_id, "list its sub-departments", error) from error
        except (TypeError, ValueError) as error:  # the client's int() of each id
            malformed = _Malformed("dept_id_list", str(error))
            raise self._malformed(LISTSUBID, f"department {dept_id}", malformed) from None
        for child in children:
            if is_home_school(child) or child in self.parent_of:
                continue  # home-school ids are not contacts; a repeat would loop forever
            self.parent_of[child] = dept_id
            self.streams[TREE].put(child)
            self.streams[DEPARTMENTS].put(child)

    async def _read_department(self, dept_id: int) -> None:
        try:
            result = await self.client.get_department(dept_id)
        except DingTalkError as error:
            raise self._department_error(dept_id, "read it", error) from error
        try:
            for name in ("parent_id", "order"):
                _optional_int(result, name)
            _userids(result.get("dept_manager_userid_list"), "dept_manager_userid_list")
        except _Malformed as error:
            raise self._malformed(DEPARTMENT_GET, f"department {dept_id}", error) from None
        self.departments[dept_id] = result
        direct = parse_int(result.get("owning_member_count"))
        if direct is None or direct > 0:  # unknown count: list it to be sure
            self.streams[MEMBERS].put(dept_id)

    async def _read_members(self, dept_id: int) -> None:
        cursor: int | None = 0
        while cursor is not None:
            try:
                page, cursor = await self.client.list_users_page(dept_id, cursor, PAGE_SIZE)
            except DingTalkError as error:
                raise self._department_error(dept_id, "list its members", error) from error
            for item in page:
                raw_userid = item.get("userid")
                if raw_userid is not None and not isinstance(raw_userid, str | int):
                    bad = _Malformed("userid", raw_userid)
                    raise self._malformed(USER_LIST, f"department {dept_id}", bad)
                userid = clean_text(raw_userid)
                if userid is None:
                    continue
                try:
                    listed = _ids(item.get("dept_id_list"), "dept_id_list")
                except _Malformed as error:
                    where = f"user {userid!r} in department {dept_id}"
                    raise self._malformed(USER_LIST, where, error) from None
                depts = self.user_depts.get(userid)
                if depts is None:
                    # Normalise now, while the limiters make us wait anyway: for 10k users
                    # phonenumbers alone costs seconds of CPU that would otherwise come
                    # after the last answer.
                    self.users[userid] = live_user(userid, item)
                    depts = self.user_depts[userid] = set()
                    if self.all_managers or userid in self.managers_of:
                        self.streams[MANAGERS].put(userid)
                depts.add(dept_id)
                depts.update(i for i in listed if not is_home_school(i))

    async def _read_manager(self, userid: UserId) -> None:
        try:
            result = await self.client.get_user(userid)
        except DingTalkError as error:
            raise SnapshotError(
                f"could not read user {userid}'s manager: {error}. {_COMPLETE}"
            ) from error
        if result is None:
            # Listed a moment ago, gone now (60121): the directory changed under the read.
            raise SnapshotError(f"user {userid} disappeared during the read. {_COMPLETE}")
        self.managers[userid] = clean_text(result.get("manager_userid"))

    @staticmethod
    def _malformed(api: str, where: str, error: _Malformed) -> SnapshotError:
        return SnapshotError(f"{api} answered a malformed field for {where}: {error}. {_COMPLETE}")

    def _department_error(self, dept_id: int, doing: str, error: DingTalkError) -> SnapshotError:
        return SnapshotError(
            f"could not {doing}: department {self._describe(dept_id)}: {error}. {_COMPLETE}"
        )

    def _describe(self, dept_id: int) -> str:
        """``4176 (研发中心/平台组)``, or ``4176 (under 研发中心)`` before it was read."""
        if dept_id == ROOT_DEPT_ID:
            return "1 (the root)"
        if dept_id in self.departments:
            return f"{dept_id} ({self._path(dept_id)})"
        parent = self.parent_of.get(dept_id)
        if parent is None or parent == ROOT_DEPT_ID:
            return f"{dept_id} (top level)"
        return f"{dept_id} (under {self._path(parent)})"

    def _path(self, dept_id: int) -> str:
        names: list[str] = []
        seen: set[int] = set()
        while dept_id != ROOT_DEPT_ID and dept_id not in seen:
            seen.add(dept_id)
            raw = self.departments.get(dept_id)
            names.append(clean_text(raw.get("name")) or "?" if raw else str(dept_id))
            dept_id = self.parent_of.get(dept_id, ROOT_DEPT_ID)
        return "/".join(reversed(names))

    # -- building the Org ----------------------------------------------------------------

    def _build(self) -> Org:
        keys = self._keys()

        def key_of(dept_id: int) -> DeptKey:
            return ROOT if dept_id == ROOT_DEPT_ID else keys.get(dept_id, unkeyed(dept_id))

        departments = []
        for dept_id, raw in self.departments.items():
            parent_id = parse_int(raw.get("parent_id"))
            if parent_id is None:
                parent_id = self.parent_of[dept_id]
            managers = set(_userids(raw.get("dept_manager_userid_list"), "managers"))
            departments.append(
                Department(
                    key=key_of(dept_id),
                    name=clean_text(raw.get("name")) or "",
                    parent=key_of(parent_id),
                    order=parse_int(raw.get("order")),
                    managers=tuple(sorted(managers)),
                    dept_id=dept_id,
                    source_identifier=clean_text(raw.get("source_identifier")),
                )
            )
        users = [
            dataclasses.replace(
                user,
                departments=tuple(sorted({key_of(d) for d in self.user_depts[userid]})),
                manager=self.managers.get(userid),
            )
            for userid, user in self.users.items()
        ]
        departments.sort(key=lambda d: d.key)
        users.sort(key=lambda u: u.userid)
        return Org.of(departments, users)

    def _keys(self) -> dict[int, DeptKey]:
        """dept_id → key: its source_identifier, unless that is empty, could be mistaken for
        the root or an unkeyed key, or is shared (then the lowest dept_id keeps it and the
        others are unkeyed, so a plan adopts them instead of confusing the two)."""
        keys: dict[int, DeptKey] = {}
        taken: set[DeptKey] = set()
        for dept_id in sorted(self.departments):
            identifier = clean_text(self.departments[dept_id].get("source_identifier"))
            if identifier is None or identifier == ROOT or is_unkeyed(identifier):
                continue
            if identifier in taken:
                continue
            keys[dept_id] = identifier
            taken.add(identifier)
        return keys


_COMPLETE = "A snapshot must be complete: orgctl never plans from a partial read"
