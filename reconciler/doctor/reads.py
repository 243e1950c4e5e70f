"""The read checks of `orgctl doctor`: the token, a wrong secret, the permission of each API
orgctl reads, how an unknown userid is answered, the contact scope (a walk of the whole tree)
and the round-trip times. They only read. I/O: DingTalk calls through the run's client."""

from __future__ import annotations

import asyncio
import math
from dataclasses import replace
from typing import Any

from reconciler.dingtalk.client import TOKEN_API
from reconciler.dingtalk.errcodes import DEPT_OUT_OF_SCOPE, NOT_FOUND, parse_int
from reconciler.doctor.apis import (
    DEPT_GET,
    LISTSUBID,
    OPTIONAL_PERMISSIONS,
    READ_PERMISSIONS,
    SCRATCH_PREFIX,
    USER_BY_MOBILE,
    USER_GET,
    USER_LIST,
    error_code,
    is_permission_error,
)
from reconciler.doctor.context import Dept, Run
from reconciler.doctor.report import Status, estimate, latencies
from reconciler.errors import DingTalkError
from reconciler.model import ROOT_DEPT_ID

LATENCY_SAMPLES = 5
DEFAULT_PROBE_MOBILE = "13800000000"


# -- token -------------------------------------------------------------------------


async def check_token(run: Run) -> bool:
    try:
        await run.client.call(USER_GET, {"userid": run.nobody})
    except DingTalkError as error:
        if error.api == TOKEN_API:
            run.report.add(
                "token",
                Status.FAIL,
                f"gettoken answered {error_code(error)}",
                "cannot call DingTalk at all",
                _token_fix(error),
            )
            return False
        # A token was issued: the API's own answer (60121) is checked later.
    run.report.add("token", Status.OK, "issued", "uses it, and a fresh one when it expires")
    return True


async def check_wrong_secret(run: Run) -> None:
    wrong = run.endpoint.client(
        qps=run.options.qps, app_secret="orgctl-doctor-wrong-secret", max_tries=1
    )
    try:
        async with wrong:
            await wrong.call(LISTSUBID, {"dept_id": ROOT_DEPT_ID})
    except DingTalkError as error:
        if error.api == TOKEN_API and error.errcode is not None:
            run.report.add(
                "wrong secret",
                Status.OK,
                f"gettoken answers {error_code(error)}",
                "stops at once and says: " + (error.hint or str(error)),
            )
        else:
            run.report.add(
                "wrong secret",
                Status.WARN,
                f"answered {error}",
                "reports it as it comes; a mistyped secret may not be obvious",
            )
        return
    run.report.add(
        "wrong secret",
        Status.WARN,
        "a wrong secret was accepted",
        "cannot tell a mistyped secret from a right one on this endpoint",
        "DINGTALK_BASE_URL may point at a proxy that adds its own credentials",
    )


# -- permissions -------------------------------------------------------------------


async def check_read_permissions(run: Run) -> bool:
    """Each API orgctl reads, once. True when the tree can be walked."""
    nobody = run.nobody
    probes: list[tuple[str, dict[str, Any]]] = [
        (LISTSUBID, {"dept_id": ROOT_DEPT_ID}),
        (DEPT_GET, {"dept_id": ROOT_DEPT_ID, "language": "zh_CN"}),
        (USER_LIST, {"dept_id": ROOT_DEPT_ID, "cursor": 0, "size": 1}),
        (USER_GET, {"userid": nobody, "language": "zh_CN"}),
        (USER_BY_MOBILE, {"mobile": run.options.user_mobile or DEFAULT_PROBE_MOBILE}),
    ]
    had: list[str] = []
    missing: list[str] = []
    unknown_user: DingTalkError | None = None
    for api, body in probes:
        point = READ_PERMISSIONS[api]
        try:
            await run.client.call(api, body)
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
    run.report.missing_permissions.extend(missing)
    required = [point for point in missing if point not in OPTIONAL_PERMISSIONS]
    if required:
        run.report.add(
            "read permissions",
            Status.FAIL,
            "missing " + ", ".join(missing),
            "cannot read the directory: plan and apply stop at the first call",
            "in the developer console (开发者后台) open the app → 权限管理 and add "
            + ", ".join(missing),
        )
    elif missing:
        run.report.add(
            "read permissions",
            Status.WARN,
            "has " + ", ".join(had) + "; missing " + ", ".join(missing),
            "reads the directory; apply cannot look up who holds a mobile number",
            "add " + ", ".join(missing) + " in 权限管理 (optional)",
        )
    else:
        run.report.add(
            "read permissions", Status.OK, "has " + ", ".join(had), "reads the directory"
        )
    if READ_PERMISSIONS[USER_GET] not in missing:
        await check_unknown_user(run, nobody, unknown_user)
    return READ_PERMISSIONS[LISTSUBID] not in missing


async def check_unknown_user(run: Run, userid: str, error: DingTalkError | None) -> None:
    """Which errcode an unknown userid gets, and whether orgctl's client takes it as
    'no such user' (asked of the client itself, so this row stays true as it changes)."""
    if error is None or error.errcode is None:
        observed = "answered without an error" if error is None else str(error)
        run.report.add(
            "unknown userid",
            Status.WARN,
            f"user/get of an unknown userid {observed}",
            "cannot tell a missing user from an error",
        )
        return
    code = error.errcode
    if code not in (33012, NOT_FOUND):
        run.report.add(
            "unknown userid",
            Status.WARN,
            f"user/get answers {error_code(error)}",
            "reports it as an error",
        )
        return
    run.traits = replace(run.traits, unknown_user_errcode=code)
    try:
        understood = await run.client.get_user(userid) is None
    except DingTalkError:
        understood = False
    if understood:
        run.report.add(
            "unknown userid",
            Status.OK,
            f"user/get answers {code}",
            f"reads {code} as 'no such user'",
        )
    else:
        run.report.add(
            "unknown userid",
            Status.WARN,
            f"user/get answers {code}",
            f"takes {code} as an error, not as 'no such user': an apply that checks "
            "whether someone exists stops there",
        )


# -- contact scope -----------------------------------------------------------------


async def check_scope(run: Run) -> None:
    """Walk the whole tree (listsubid is not limited by the contact scope) and read every
    department: the ones answering 50004 are outside the app's scope."""
    run.depts[ROOT_DEPT_ID] = Dept(ROOT_DEPT_ID, ROOT_DEPT_ID)
    level = [ROOT_DEPT_ID]
    try:
        while level:
            # A level's departments are read while their children are listed: the two
            # APIs have a budget each, so both run at the rate limit together.
            children, _ = await asyncio.gather(
                asyncio.gather(*(list_children(run, d) for d in level)),
                asyncio.gather(*(read_department(run, d) for d in level)),
            )
            below: list[int] = []
            for parent, ids in zip(level, children, strict=True):
                for child in ids:
                    if child < 0 or child in run.depts:
                        continue  # home-school departments; a repeat would loop
                    run.depts[child] = Dept(child, parent)
                    below.append(child)
            level = below
    except DingTalkError as error:
        run.report.add(
            "contact scope",
            Status.FAIL,
            f"the walk failed: {error}",
            "cannot read the directory",
            error.hint or "run doctor again; if it persists, check the app's settings",
        )
        return
    outside = sorted(d.dept_id for d in run.depts.values() if d.out_of_scope)
    run.report.out_of_scope.extend(outside)
    visible = [d for d in run.depts.values() if not d.out_of_scope]
    desired = run.options.desired
    expected = ""
    if desired is not None:
        live_keys = {d.key for d in visible if d.key}
        unseen = sorted(str(k) for k in desired.departments if str(k) not in live_keys)
        if unseen:
            shown = ", ".join(unseen[:5]) + (" …" if len(unseen) > 5 else "")
            expected = f"; {len(unseen)} YAML departments not seen live ({shown})"
    if outside:
        shown = ", ".join(map(str, outside[:10])) + (" …" if len(outside) > 10 else "")
        run.report.add(
            "contact scope",
            Status.FAIL,
            f"{len(outside)} of {len(run.depts)} departments answer 50004 ({shown})" + expected,
            "plan refuses a partial read: it would delete or re-create what it cannot see",
            "in the developer console open the app → 权限管理 → 通讯录权限范围 (contact "
            "scope) and set it to the whole organisation (全部员工)",
        )
    else:
        run.report.add(
            "contact scope",
            Status.OK,
            f"all {len(run.depts)} departments visible" + expected,
            "reads the whole directory",
        )
    counts = [d.members for d in visible]
    p50 = 0.0
    durations = run.timings.durations.get(DEPT_GET) or []
    if durations:
        p50 = sorted(durations)[len(durations) // 2]
    guess = estimate(counts, run.options.qps, p50)
    run.report.estimate = guess
    run.report.add(
        "time at the rate limit",
        Status.OK,
        f"{guess.departments} departments, ≤ {guess.people} people",
        f"a full plan takes ≥ {guess.plan_seconds:.1f} s, a full apply (everything "
        f"written once) ≥ {guess.apply_seconds:.1f} s at {run.options.qps:g} QPS",
    )
    leftovers = [d for d in visible if (d.name or "").startswith(SCRATCH_PREFIX)]
    if leftovers and not run.options.write:
        run.report.add(
            "leftovers",
            Status.WARN,
            f"{len(leftovers)} scratch departments of an interrupted doctor run",
            "plan shows them as live departments absent from the YAML",
            "run `orgctl doctor --write` to remove them",
        )


async def list_children(run: Run, dept_id: int) -> list[int]:
    try:
        return await run.client.list_sub_department_ids(dept_id)
    except DingTalkError as error:
        if error.errcode == DEPT_OUT_OF_SCOPE:
            run.depts[dept_id].out_of_scope = True
            return []
        raise


async def read_department(run: Run, dept_id: int) -> None:
    dept = run.depts[dept_id]
    try:
        result = await run.client.get_department(dept_id)
    except DingTalkError as error:
        if error.errcode == DEPT_OUT_OF_SCOPE:
            dept.out_of_scope = True
            return
        raise
    dept.name = str(result.get("name") or "") or None
    dept.key = str(result.get("source_identifier") or "") or None
    dept.members = parse_int(result.get("owning_member_count")) or 0


# -- latency -----------------------------------------------------------------------


async def check_latency(run: Run) -> None:
    """A few calls one at a time, spaced so the limiter never waits: round trips alone."""
    for _ in range(LATENCY_SAMPLES):
        await run.clock.sleep(1.0 / run.options.qps)
        try:
            await run.client.call(LISTSUBID, {"dept_id": ROOT_DEPT_ID})
        except DingTalkError:
            break
    stats = latencies(run.timings.durations)
    if not stats:
        return
    worst = max(stats.items(), key=lambda item: item[1].p95)
    shown = ", ".join(
        f"{_short(api)} {v.p50 * 1000:.0f}/{v.p95 * 1000:.0f}"
        for api, v in sorted(stats.items())
        if api != TOKEN_API
    )
    in_flight = math.ceil(run.options.qps * max(worst[1].p95, 0.001))
    run.report.add(
        "latency p50/p95 ms",
        Status.OK,
        shown or "no calls",
        f"keeps about {in_flight} calls in flight per API to hold {run.options.qps:g} QPS",
    )


def _short(api: str) -> str:
    """``department/get`` for ``topapi/v2/department/get``."""
    return "/".join(api.split("/")[-2:])


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
