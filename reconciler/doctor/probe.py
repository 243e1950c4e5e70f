"""The checks of `orgctl doctor`: calls that find out how a tenant behaves.
I/O: DingTalk calls through `DingTalkClient`, and the clock.

Read checks only read. ``write=True`` adds checks in one scratch department created for the
purpose (hidden, named ``orgctl_doctor_<UTC time>``) and deleted at the end — on failure and on
Ctrl-C (cancellation) too; a scratch department left by a run that was killed is found by its
name on the next run and removed. ``user_mobile`` adds one scratch user in it.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
from collections import defaultdict
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

import httpx

from reconciler.clock import Clock
from reconciler.dingtalk import DingTalkClient
from reconciler.dingtalk.client import MAX_REQUEUES, TOKEN_API
from reconciler.dingtalk.errcodes import DEPT_OUT_OF_SCOPE, GATEWAY_WRAPPER, NOT_FOUND, parse_int
from reconciler.doctor.report import (
    Burst,
    Report,
    Status,
    classify_burst,
    estimate,
    latencies,
)
from reconciler.errors import DingTalkError, ThrottledError, TokenError
from reconciler.model import ROOT_DEPT_ID, Org
from reconciler.policy import TenantTraits

SCRATCH_PREFIX = "orgctl_doctor_"
"""Names of scratch departments. DingTalk refuses ``-`` in department names (60009), so the
words are joined with ``_``; the leftover sweep finds departments by this prefix."""
SCRATCH_USER_PREFIX = "orgctl-doctor-"

LISTSUBID = "topapi/v2/department/listsubid"
DEPT_GET = "topapi/v2/department/get"
DEPT_CREATE = "topapi/v2/department/create"
DEPT_UPDATE = "topapi/v2/department/update"
DEPT_DELETE = "topapi/v2/department/delete"
USER_LIST = "topapi/v2/user/list"
USER_GET = "topapi/v2/user/get"
USER_BY_MOBILE = "topapi/v2/user/getbymobile"
USER_CREATE = "topapi/v2/user/create"
USER_UPDATE = "topapi/v2/user/update"
USER_DELETE = "topapi/v2/user/delete"

READ_PERMISSIONS: Mapping[str, str] = {
    LISTSUBID: "qyapi_get_department_list",
    DEPT_GET: "qyapi_get_department_list",
    USER_LIST: "qyapi_get_department_member",
    USER_GET: "qyapi_get_member",
    USER_BY_MOBILE: "qyapi_get_member_by_mobile",
}
"""The console permission point (开发者后台 → 权限管理) each API orgctl reads needs."""
OPTIONAL_PERMISSIONS = frozenset({"qyapi_get_member_by_mobile"})
"""Plan and apply work without these (apply uses a mobile lookup only to explain 60104)."""
WRITE_PERMISSION = "qyapi_manage_addresslist"
"""通讯录数据管理权限: every department and user write."""

PERMISSION_ERRCODES = frozenset({60011, 43007})
"""No permission for this API; errcode 88 wraps 60011 as a sub_code (the client turns only
that 88 into a TerminalError: a token 88 is refreshed, any other 88 is a throttle)."""

BURST_MAX = 30
BURST_EXTRA = 3
"""Calls beyond `qps` in the first wave: a bucket may let one or two more through, refilled
while the wave goes out; all of them passing means the limit is higher than `qps`."""
BURST_LATER = 5
BURST_GAP = 0.5
"""The later calls of the burst go this long after the first: a bucket has refilled half."""
LATENCY_SAMPLES = 5
DEFAULT_PROBE_MOBILE = "13800000000"


def is_write(api: str) -> bool:
    return api.rsplit("/", 1)[-1] in ("create", "update", "delete")


def is_permission_error(error: DingTalkError) -> bool:
    if error.errcode in PERMISSION_ERRCODES:
        return True
    return error.errcode == GATEWAY_WRAPPER and not isinstance(error, ThrottledError | TokenError)


# ------------------------------------------------------------------------------ endpoint


class Timings:
    """Round-trip times per API of the calls actually sent (not the limiter's waits)."""

    def __init__(self) -> None:
        self.durations: defaultdict[str, list[float]] = defaultdict(list)


class _TimedTransport(httpx.AsyncBaseTransport):
    def __init__(self, inner: httpx.AsyncBaseTransport, clock: Clock, timings: Timings) -> None:
        self._inner = inner
        self._clock = clock
        self._timings = timings

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        start = self._clock.monotonic()
        response = await self._inner.handle_async_request(request)
        api = request.url.path.strip("/")
        self._timings.durations[api].append(self._clock.monotonic() - start)
        return response

    async def aclose(self) -> None:
        await self._inner.aclose()


class _BurstClient(DingTalkClient):
    """A client that takes a throttled answer as an answer: it does not hold the API back a
    second (as `DingTalkClient` does after a 90018), so every call of a wave leaves when it
    is sent. The tests' sliding-window verdict fails if this stops taking effect."""

    def _after_throttle(self, api: str, error: ThrottledError) -> None:
        pass


@dataclass(frozen=True, kw_only=True)
class Endpoint:
    """How to reach one tenant, so doctor can open clients of its own: one with a wrong secret,
    unpaced ones for the burst. ``transport`` None means the network."""

    app_key: str
    app_secret: str
    base_url: str
    clock: Clock
    transport: Callable[[], httpx.AsyncBaseTransport] | None = None

    def __repr__(self) -> str:  # never the secret
        return f"Endpoint({self.base_url!r}, app_key={self.app_key!r})"

    def client(
        self,
        *,
        qps: float,
        app_secret: str | None = None,
        max_tries: int = 6,
        timings: Timings | None = None,
        burst: bool = False,
    ) -> DingTalkClient:
        transport = self.transport() if self.transport is not None else None
        if timings is not None:
            inner = transport if transport is not None else httpx.AsyncHTTPTransport()
            transport = _TimedTransport(inner, self.clock, timings)
        kind = _BurstClient if burst else DingTalkClient
        return kind(
            app_key=self.app_key,
            app_secret=self.app_secret if app_secret is None else app_secret,
            base_url=self.base_url,
            transport=transport,
            clock=self.clock,
            qps=qps,
            max_tries=max_tries,
            # The burst counts throttled answers: a throttled call is an answer, not resent.
            max_requeues=1 if burst else MAX_REQUEUES,
        )


@dataclass(frozen=True, kw_only=True)
class Options:
    qps: float = 20.0
    write: bool = False
    user_mobile: str | None = None
    desired: Org | None = None
    """The YAML's org, to compare the contact scope with (None: no YAML)."""


Step = Callable[[str], None]
"""``step(name)`` is called before each write step: progress for the CLI, a kill switch for
tests."""


# ------------------------------------------------------------------------------ the run


async def run_doctor(endpoint: Endpoint, options: Options, *, step: Step | None = None) -> Report:
    doctor = _Doctor(endpoint, options, step or (lambda _name: None))
    try:
        await doctor.run()
    finally:
        await doctor.client.aclose()
    return doctor.report


@dataclass(slots=True)
class _Dept:
    dept_id: int
    parent_id: int
    name: str | None = None
    key: str | None = None
    members: int = 0
    out_of_scope: bool = False


class _Doctor:
    def __init__(self, endpoint: Endpoint, options: Options, step: Step) -> None:
        self.endpoint = endpoint
        self.options = options
        self.step = step
        self.clock = endpoint.clock
        self.timings = Timings()
        self.client = endpoint.client(qps=options.qps, timings=self.timings)
        self.report = Report()
        self.traits = TenantTraits()
        self.stamp = datetime.fromtimestamp(self.clock.now(), tz=UTC).strftime("%Y%m%dT%H%M%SZ")
        self.depts: dict[int, _Dept] = {}
        self.nobody = f"{SCRATCH_USER_PREFIX}nobody-{self.stamp}"
        """A userid nobody has: reading it is harmless and tells how DingTalk says 'no one'."""

    async def run(self) -> None:
        try:
            if not await self.check_token():
                return
            await self.check_wrong_secret()
            await self.check_burst()
            permitted = await self.check_read_permissions()
            if permitted:
                await self.check_scope()
            await self.check_latency()
            if self.options.write:
                await self.sweep_leftovers()
                await self.write_checks()
            else:
                self.report.add(
                    "write checks",
                    Status.SKIP,
                    "not run",
                    "run `orgctl doctor --write` to check department writes in a scratch "
                    "department (and --user-mobile for user writes)",
                )
        finally:
            self.report.traits = self.traits
            self.report.latency = latencies(self.timings.durations)

    # -- token -------------------------------------------------------------------------

    async def check_token(self) -> bool:
        try:
            await self.client.call(USER_GET, {"userid": self.nobody})
        except DingTalkError as error:
            if error.api == TOKEN_API:
                self.report.add(
                    "token",
                    Status.FAIL,
                    f"gettoken answered {_code(error)}",
                    "cannot call DingTalk at all",
                    _token_fix(error),
                )
                return False
            # A token was issued: the API's own answer (60121) is checked later.
        self.report.add("token", Status.OK, "issued", "uses it, and a fresh one when it expires")
        return True

    async def check_wrong_secret(self) -> None:
        wrong = self.endpoint.client(
            qps=self.options.qps, app_secret="orgctl-doctor-wrong-secret", max_tries=1
        )
        try:
            async with wrong:
                await wrong.call(LISTSUBID, {"dept_id": ROOT_DEPT_ID})
        except DingTalkError as error:
            if error.api == TOKEN_API and error.errcode is not None:
                self.report.add(
                    "wrong secret",
                    Status.OK,
                    f"gettoken answers {_code(error)}",
                    "stops at once and says: " + (error.hint or str(error)),
                )
            else:
                self.report.add(
                    "wrong secret",
                    Status.WARN,
                    f"answered {error}",
                    "reports it as it comes; a mistyped secret may not be obvious",
                )
            return
        self.report.add(
            "wrong secret",
            Status.WARN,
            "a wrong secret was accepted",
            "cannot tell a mistyped secret from a right one on this endpoint",
            "DINGTALK_BASE_URL may point at a proxy that adds its own credentials",
        )

    # -- rate limit --------------------------------------------------------------------

    async def check_burst(self) -> None:
        qps = int(self.options.qps)
        if qps + BURST_EXTRA + BURST_LATER > BURST_MAX or qps != self.options.qps:
            self.report.add(
                "rate limit",
                Status.SKIP,
                f"not measured: rate_limit.qps {self.options.qps:g} needs more than "
                f"{BURST_MAX} calls",
                "paces every API at rate_limit.qps, spread evenly (works under either limiter)",
            )
            self.traits = replace(self.traits, rate_limit="unknown")
            return
        # listsubid of the root (cheap to answer) has not been called yet: its budget is
        # whole. Any answer but a throttle passed the limiter (60011 is an answer too).
        body = {"dept_id": ROOT_DEPT_ID}
        sent = qps + BURST_EXTRA
        async with self.endpoint.client(qps=1000.0, max_tries=1, burst=True) as client:
            with contextlib.suppress(DingTalkError):  # the token, before the wave
                await client.call(USER_GET, {"userid": self.nobody})
            start = self.clock.monotonic()
            answers = await asyncio.gather(*(_passes(client, LISTSUBID, body) for _ in range(sent)))
            # How far apart the answers came back: with the latency alike, how far apart the
            # calls arrived (a slow network adds to each answer, not to the spread).
            spread = max(at for _, at in answers) - min(at for _, at in answers)
            wait = start + BURST_GAP - self.clock.monotonic()
            if wait > 0:
                await self.clock.sleep(wait)
            later = await asyncio.gather(
                *(_passes(client, LISTSUBID, body) for _ in range(BURST_LATER))
            )
        passed = sum(ok for ok, _ in answers)
        burst = Burst(qps, sent, passed, BURST_LATER, sum(ok for ok, _ in later), spread)
        kind, why = classify_burst(burst, BURST_GAP)
        self.traits = replace(self.traits, rate_limit=kind)
        action = {
            "sliding": f"keeps every API under {qps} calls in any sliding second",
            "bucket": f"paces every API at {qps} QPS; bursts would pass but are not needed",
            "unknown": f"paces every API at {qps} QPS, spread evenly (safe under either)",
        }[kind]
        status = Status.OK if kind != "unknown" else Status.WARN
        fix = ""
        if kind == "unknown":
            if burst.passed < qps:
                fix = (
                    "lower rate_limit.qps in orgctl.yaml, or stop other programs that use "
                    "this app's budget while orgctl runs"
                )
            elif burst.passed == sent:
                fix = "if your DingTalk edition allows more, raise rate_limit.qps in orgctl.yaml"
            else:
                fix = "run doctor again when the network is quiet"
        self.report.add("rate limit", status, f"{kind}: {why}", action, fix)
        # Let the window empty before the next reads, so they are not throttled.
        await self.clock.sleep(1.0 + BURST_GAP)

    # -- permissions -------------------------------------------------------------------

    async def check_read_permissions(self) -> bool:
        """Each API orgctl reads, once. True when the tree can be walked."""
        nobody = self.nobody
        probes: list[tuple[str, dict[str, Any]]] = [
            (LISTSUBID, {"dept_id": ROOT_DEPT_ID}),
            (DEPT_GET, {"dept_id": ROOT_DEPT_ID, "language": "zh_CN"}),
            (USER_LIST, {"dept_id": ROOT_DEPT_ID, "cursor": 0, "size": 1}),
            (USER_GET, {"userid": nobody, "language": "zh_CN"}),
            (USER_BY_MOBILE, {"mobile": self.options.user_mobile or DEFAULT_PROBE_MOBILE}),
        ]
        had: list[str] = []
        missing: list[str] = []
        unknown_user: DingTalkError | None = None
        for api, body in probes:
            point = READ_PERMISSIONS[api]
            try:
                await self.client.call(api, body)
            except DingTalkError as error:
                if is_permission_error(error):
                    if point not in missing:
                        missing.append(point)
                    continue
                if api == USER_GET:
                    unknown_user = error
            if point not in had:
                had.append(point)
        had = [point for point in had if point not in missing]
        self.report.missing_permissions.extend(missing)
        required = [point for point in missing if point not in OPTIONAL_PERMISSIONS]
        if required:
            self.report.add(
                "read permissions",
                Status.FAIL,
                "missing " + ", ".join(missing),
                "cannot read the directory: plan and apply stop at the first call",
                "in the developer console (开发者后台) open the app → 权限管理 and add "
                + ", ".join(missing),
            )
        elif missing:
            self.report.add(
                "read permissions",
                Status.WARN,
                "has " + ", ".join(had) + "; missing " + ", ".join(missing),
                "reads the directory; apply cannot look up who holds a mobile number",
                "add " + ", ".join(missing) + " in 权限管理 (optional)",
            )
        else:
            self.report.add(
                "read permissions", Status.OK, "has " + ", ".join(had), "reads the directory"
            )
        if READ_PERMISSIONS[USER_GET] not in missing:
            await self.unknown_user(nobody, unknown_user)
        return READ_PERMISSIONS[LISTSUBID] not in missing

    async def unknown_user(self, userid: str, error: DingTalkError | None) -> None:
        """Which errcode an unknown userid gets, and whether orgctl's client takes it as
        'no such user' (asked of the client itself, so this row stays true as it changes)."""
        if error is None or error.errcode is None:
            observed = "answered without an error" if error is None else str(error)
            self.report.add(
                "unknown userid",
                Status.WARN,
                f"user/get of an unknown userid {observed}",
                "cannot tell a missing user from an error",
            )
            return
        code = error.errcode
        if code not in (33012, NOT_FOUND):
            self.report.add(
                "unknown userid",
                Status.WARN,
                f"user/get answers {_code(error)}",
                "reports it as an error",
            )
            return
        self.traits = replace(self.traits, unknown_user_errcode=code)
        try:
            understood = await self.client.get_user(userid) is None
        except DingTalkError:
            understood = False
        if understood:
            self.report.add(
                "unknown userid",
                Status.OK,
                f"user/get answers {code}",
                f"reads {code} as 'no such user'",
            )
        else:
            self.report.add(
                "unknown userid",
                Status.WARN,
                f"user/get answers {code}",
                f"takes {code} as an error, not as 'no such user': an apply that checks "
                "whether someone exists stops there",
            )

    # -- contact scope -----------------------------------------------------------------

    async def check_scope(self) -> None:
        """Walk the whole tree (listsubid is not limited by the contact scope) and read every
        department: the ones answering 50004 are outside the app's scope."""
        self.depts[ROOT_DEPT_ID] = _Dept(ROOT_DEPT_ID, ROOT_DEPT_ID)
        level = [ROOT_DEPT_ID]
        try:
            while level:
                # A level's departments are read while their children are listed: the two
                # APIs have a budget each, so both run at the rate limit together.
                children, _ = await asyncio.gather(
                    asyncio.gather(*(self.children(d) for d in level)),
                    asyncio.gather(*(self.read_department(d) for d in level)),
                )
                below: list[int] = []
                for parent, ids in zip(level, children, strict=True):
                    for child in ids:
                        if child < 0 or child in self.depts:
                            continue  # home-school departments; a repeat would loop
                        self.depts[child] = _Dept(child, parent)
                        below.append(child)
                level = below
        except DingTalkError as error:
            self.report.add(
                "contact scope",
                Status.FAIL,
                f"the walk failed: {error}",
                "cannot read the directory",
                error.hint or "run doctor again; if it persists, check the app's settings",
            )
            return
        outside = sorted(d.dept_id for d in self.depts.values() if d.out_of_scope)
        self.report.out_of_scope.extend(outside)
        visible = [d for d in self.depts.values() if not d.out_of_scope]
        desired = self.options.desired
        expected = ""
        if desired is not None:
            live_keys = {d.key for d in visible if d.key}
            unseen = sorted(str(k) for k in desired.departments if str(k) not in live_keys)
            if unseen:
                shown = ", ".join(unseen[:5]) + (" …" if len(unseen) > 5 else "")
                expected = f"; {len(unseen)} YAML departments not seen live ({shown})"
        if outside:
            shown = ", ".join(map(str, outside[:10])) + (" …" if len(outside) > 10 else "")
            self.report.add(
                "contact scope",
                Status.FAIL,
                f"{len(outside)} of {len(self.depts)} departments answer 50004 ({shown})"
                + expected,
                "plan refuses a partial read: it would delete or re-create what it cannot see",
                "in the developer console open the app → 权限管理 → 通讯录权限范围 (contact "
                "scope) and set it to the whole organisation (全部员工)",
            )
        else:
            self.report.add(
                "contact scope",
                Status.OK,
                f"all {len(self.depts)} departments visible" + expected,
                "reads the whole directory",
            )
        counts = [d.members for d in visible]
        p50 = 0.0
        durations = self.timings.durations.get(DEPT_GET) or []
        if durations:
            p50 = sorted(durations)[len(durations) // 2]
        guess = estimate(counts, self.options.qps, p50)
        self.report.estimate = guess
        self.report.add(
            "time at the rate limit",
            Status.OK,
            f"{guess.departments} departments, ≤ {guess.people} people",
            f"a full plan takes ≥ {guess.plan_seconds:.1f} s, a full apply (everything "
            f"written once) ≥ {guess.apply_seconds:.1f} s at {self.options.qps:g} QPS",
        )
        leftovers = [d for d in visible if (d.name or "").startswith(SCRATCH_PREFIX)]
        if leftovers and not self.options.write:
            self.report.add(
                "leftovers",
                Status.WARN,
                f"{len(leftovers)} scratch departments of an interrupted doctor run",
                "plan shows them as live departments absent from the YAML",
                "run `orgctl doctor --write` to remove them",
            )

    async def children(self, dept_id: int) -> list[int]:
        try:
            return await self.client.list_sub_department_ids(dept_id)
        except DingTalkError as error:
            if error.errcode == DEPT_OUT_OF_SCOPE:
                self.depts[dept_id].out_of_scope = True
                return []
            raise

    async def read_department(self, dept_id: int) -> None:
        dept = self.depts[dept_id]
        try:
            result = await self.client.get_department(dept_id)
        except DingTalkError as error:
            if error.errcode == DEPT_OUT_OF_SCOPE:
                dept.out_of_scope = True
                return
            raise
        dept.name = str(result.get("name") or "") or None
        dept.key = str(result.get("source_identifier") or "") or None
        dept.members = parse_int(result.get("owning_member_count")) or 0

    # -- latency -----------------------------------------------------------------------

    async def check_latency(self) -> None:
        """A few calls one at a time, spaced so the limiter never waits: round trips alone."""
        for _ in range(LATENCY_SAMPLES):
            await self.clock.sleep(1.0 / self.options.qps)
            try:
                await self.client.call(LISTSUBID, {"dept_id": ROOT_DEPT_ID})
            except DingTalkError:
                break
        stats = latencies(self.timings.durations)
        if not stats:
            return
        worst = max(stats.items(), key=lambda item: item[1].p95)
        shown = ", ".join(
            f"{_short(api)} {v.p50 * 1000:.0f}/{v.p95 * 1000:.0f}"
            for api, v in sorted(stats.items())
            if api != TOKEN_API
        )
        in_flight = math.ceil(self.options.qps * max(worst[1].p95, 0.001))
        self.report.add(
            "latency p50/p95 ms",
            Status.OK,
            shown or "no calls",
            f"keeps about {in_flight} calls in flight per API to hold {self.options.qps:g} QPS",
        )

    # -- writes ------------------------------------------------------------------------

    async def sweep_leftovers(self) -> None:
        leftovers = [
            d
            for d in self.depts.values()
            if d.parent_id == ROOT_DEPT_ID and (d.name or "").startswith(SCRATCH_PREFIX)
        ]
        removed = 0
        for dept in leftovers:
            try:
                await self.remove_scratch(dept.dept_id)
            except DingTalkError as error:
                self.report.add(
                    "leftovers",
                    Status.FAIL,
                    f"could not remove {dept.name} ({dept.dept_id}): {error}",
                    "leaves it in place",
                    f"delete department {dept.dept_id} ({dept.name}) in the admin console",
                )
                return
            removed += 1
        if removed:
            self.report.add(
                "leftovers",
                Status.OK,
                f"{removed} scratch departments of an interrupted run",
                "removed them",
            )

    async def remove_scratch(self, dept_id: int) -> None:
        """Delete a scratch department and the scratch users in it (nothing else)."""
        users, _ = await self.client.list_users_page(dept_id, 0, 100)
        for item in users:
            userid = str(item.get("userid") or "")
            if not userid.startswith(SCRATCH_USER_PREFIX):
                raise DingTalkError(
                    USER_LIST, None, f"department {dept_id} has a member orgctl did not put there"
                )
            await self.delete_user(userid)
        await self.client.delete_department(dept_id)

    async def delete_user(self, userid: str) -> None:
        try:
            await self.client.delete_user(userid)
        except DingTalkError as error:
            if error.errcode not in (33012, NOT_FOUND):
                raise

    async def write_checks(self) -> None:
        scratch = _Scratch()
        try:
            await self.department_checks(scratch)
            if READ_PERMISSIONS[USER_GET] in self.report.missing_permissions:
                self.report.add(
                    "user checks",
                    Status.SKIP,
                    f"not run: the app lacks {READ_PERMISSIONS[USER_GET]}",
                    "cannot read a user back to see what a write did",
                )
            elif self.options.user_mobile and scratch.dept_id is not None:
                await self.user_checks(scratch)
            elif not self.options.user_mobile:
                self.report.add(
                    "user checks",
                    Status.SKIP,
                    "not run",
                    '--user-mobile M (a number you own) checks whether "" clears a field',
                )
        except DingTalkError as error:
            self.report.add(
                f"write: {scratch.doing}",
                Status.FAIL if is_permission_error(error) and is_write(error.api) else Status.WARN,
                str(error),
                "stopped the write checks and cleaned up",
                _write_fix(error),
            )
            if is_permission_error(error) and is_write(error.api):
                self.report.missing_permissions.append(WRITE_PERMISSION)
        finally:
            await self.cleanup(scratch)

    async def cleanup(self, scratch: _Scratch) -> None:
        """Runs on success, failure and cancellation (Ctrl-C): nothing is left behind."""
        try:
            if scratch.userid is not None:
                await self.delete_user(scratch.userid)
                scratch.userid = None
            if scratch.dept_id is not None:
                await self.client.delete_department(scratch.dept_id)
                scratch.dept_id = None
        except DingTalkError as error:
            self.report.add(
                "cleanup",
                Status.FAIL,
                f"could not delete the scratch department: {error}",
                "the next `orgctl doctor --write` removes it",
                "run `orgctl doctor --write` again",
            )

    async def department_checks(self, scratch: _Scratch) -> None:
        name = f"{SCRATCH_PREFIX}{self.stamp}"
        scratch.doing = "create a hidden scratch department"
        self.step("create department")
        data = await self.client.call(
            DEPT_CREATE,
            {"name": name, "parent_id": ROOT_DEPT_ID, "hide_dept": True, "order": 999999},
            write=True,
        )
        scratch.dept_id = int(data["result"]["dept_id"])
        self.report.add(
            "write permission",
            Status.OK,
            f"created {name} ({scratch.dept_id}), hidden",
            "writes departments",
        )
        dept_id = scratch.dept_id
        checks: list[tuple[str, str, dict[str, Any], str, Any]] = [
            ("rename", "rename it", {"name": f"{name}_renamed"}, "name", f"{name}_renamed"),
            ("reorder", "reorder it", {"order": 999998}, "order", 999998),
            (
                "set source_identifier",
                "set its source_identifier",
                {"source_identifier": f"orgctl-doctor-{self.stamp}"},
                "source_identifier",
                f"orgctl-doctor-{self.stamp}",
            ),
        ]
        for check, doing, fields, field_name, expected in checks:
            scratch.doing = doing
            self.step(check)
            await self.client.update_department(dept_id, **fields)
            got = (await self.client.get_department(dept_id)).get(field_name)
            ok = got == expected or str(got) == str(expected)
            self.report.add(
                check,
                Status.OK if ok else Status.FAIL,
                "read back as written" if ok else f"read back {got!r}, not {expected!r}",
                "updates departments in place" if ok else "cannot trust department updates",
                "" if ok else "report this tenant's answer: orgctl relies on it",
            )
        scratch.doing = "clear its source_identifier"
        self.step("clear source_identifier")
        await self.client.update_department(dept_id, source_identifier="")
        got = (await self.client.get_department(dept_id)).get("source_identifier")
        if not got:
            self.report.add(
                "clear source_identifier",
                Status.OK,
                '"" cleared it',
                "can release a department's key",
            )
        else:
            self.report.add(
                "clear source_identifier",
                Status.WARN,
                '"" left it as it was',
                'never relies on "" to release a key: renames the key instead',
            )

    async def user_checks(self, scratch: _Scratch) -> None:
        assert scratch.dept_id is not None
        assert self.options.user_mobile is not None
        userid = f"{SCRATCH_USER_PREFIX}{self.stamp}".lower()
        email = f"{userid}@example.com"
        telephone = "8" + self.stamp[-7:-1]  # 分机号: unique in the org (40100)
        scratch.doing = "create a scratch user"
        self.step("create user")
        # Known before the call: if the answer is lost, cleanup still deletes whoever exists.
        scratch.userid = userid
        try:
            await self.client.create_user(
                {
                    "userid": userid,
                    "name": "orgctl doctor",
                    "mobile": self.options.user_mobile,
                    "dept_id_list": [scratch.dept_id],
                    "email": email,
                    "telephone": telephone,
                }
            )
        except DingTalkError as error:
            if error.errcode != 40103:  # invited: the user exists, inactive
                raise
        before = await self.client.get_user(userid) or {}
        scratch.doing = 'clear email and telephone with ""'
        self.step("clear with empty string")
        await self.client.update_user(userid, {"email": "", "telephone": ""})
        after = await self.client.get_user(userid) or {}
        clears = _clears(before, after, {"email": email, "telephone": telephone})
        self.traits = replace(self.traits, empty_string_clears=clears)
        if clears is None:
            self.report.add(
                'user field ""',
                Status.WARN,
                "user/get does not show email and telephone: cannot tell",
                'never relies on "": releases values through a placeholder',
                "add the 邮箱等个人信息 permission to see them",
            )
        elif clears:
            self.report.add(
                'user field ""',
                Status.OK,
                '"" clears email and telephone',
                'can clear a field (and release a unique one) with ""',
            )
        else:
            self.report.add(
                'user field ""',
                Status.WARN,
                '"" leaves email and telephone as they were',
                'a clear, or a swap of emails or telephones, that relies on "" does not '
                "take effect here",
                "--save records it (tenant.empty_string_clears: false) for plan and apply",
            )
        scratch.doing = "delete the scratch user"
        self.step("delete user")
        await self.client.delete_user(userid)
        scratch.userid = None
        self.report.add("user writes", Status.OK, "created, updated, deleted", "writes users")


@dataclass(slots=True)
class _Scratch:
    dept_id: int | None = None
    userid: str | None = None
    doing: str = ""


def _clears(
    before: Mapping[str, Any], after: Mapping[str, Any], written: Mapping[str, str]
) -> bool | None:
    """True when every field was shown before and is gone after; False when any survived;
    None when the tenant does not show them (no permission for the sensitive fields)."""
    seen = [name for name, value in written.items() if before.get(name) == value]
    if not seen:
        return None
    return all(not after.get(name) for name in seen)


async def _passes(client: DingTalkClient, api: str, body: Mapping[str, Any]) -> tuple[bool, float]:
    """One call of the burst: False when it was throttled; and when the answer came."""
    try:
        await client.call(api, body)
    except ThrottledError:
        return False, client.clock.monotonic()
    except DingTalkError:
        pass  # answered (60011, …): it passed the limiter
    return True, client.clock.monotonic()


def _short(api: str) -> str:
    """``department/get`` for ``topapi/v2/department/get``."""
    return "/".join(api.split("/")[-2:])


def _code(error: DingTalkError) -> str:
    return f"errcode {error.errcode}" if error.errcode is not None else error.errmsg


def _token_fix(error: DingTalkError) -> str:
    if error.errcode == 60020:
        return (
            "add this machine's egress IP to the app's allow-list (开发者后台 → 开发配置 → "
            "安全中心 → 服务器出口IP)"
        )
    return (
        "check DINGTALK_APP_KEY and DINGTALK_APP_SECRET: the app's Client ID and Client "
        "Secret (开发者后台 → 应用开发 → 凭证与基础信息)"
    )


def _write_fix(error: DingTalkError) -> str:
    if error.errcode == 60104:
        return (
            "give --user-mobile a number no member of the organisation has: DingTalk refuses "
            "a second member with the same mobile (60104)"
        )
    if is_permission_error(error) and is_write(error.api):
        return (
            f"in the developer console open the app → 权限管理 and add {WRITE_PERMISSION} "
            "(通讯录数据管理权限); a read-only app can plan but not apply"
        )
    return error.hint
