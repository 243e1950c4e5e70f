"""Each check against the sandbox, and each check's failure with the message a person needs."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from reconciler.clock import FakeClock
from reconciler.doctor.apis import DEPT_GET, LISTSUBID, SCRATCH_PREFIX, USER_LIST
from reconciler.doctor.context import Options
from reconciler.doctor.probe import run_doctor
from reconciler.doctor.report import Check, Report, Status
from reconciler.model import ROOT, Department, DeptKey, Org
from reconciler.sandbox import (
    LENIENT,
    READONLY_APP_KEY,
    READONLY_APP_SECRET,
    STRICT,
    Profile,
    Sandbox,
)
from tests.doctor.conftest import Answer, endpoint

MOBILE = "13900001111"


def run(sb: Sandbox, options: Options | None = None, **kwargs: Any) -> Report:
    return asyncio.run(run_doctor(endpoint(sb, **kwargs), options or Options()))


def check(report: Report, name: str) -> Check:
    found = [c for c in report.checks if c.name == name]
    assert found, f"no check {name!r} in {[c.name for c in report.checks]}"
    return found[0]


def seed(sb: Sandbox) -> dict[str, int]:
    tenant = sb.tenant
    eng = tenant.add_department("研发中心", source_identifier="eng")
    platform = tenant.add_department("平台部", eng, source_identifier="eng-platform")
    sales = tenant.add_department("销售部", source_identifier="sales")
    tenant.add_user("zhangsan", "张三", "+86-13800138000", [eng])
    tenant.add_user("lisi", "李四", "+86-13800138001", [platform, sales])
    return {"eng": eng, "eng-platform": platform, "sales": sales}


def assert_nothing_left(sb: Sandbox, before: list[dict[str, Any]]) -> None:
    assert sb.tenant.departments() == before
    # 40103: invited, and created all the same (inactive until the person accepts).
    created = [w for w in sb.writes() if w.api.endswith("/create") and w.errcode in (0, 40103)]
    deleted = [w for w in sb.writes() if w.api.endswith("/delete") and w.errcode == 0]
    assert len(created) == len(deleted)


# ---------------------------------------------------------------------------- profiles


KNOBS = [
    STRICT,
    LENIENT,
    replace(STRICT, name="strict+bucket", rate_limit="bucket"),
    replace(LENIENT, name="lenient+sliding", rate_limit="sliding"),
    replace(STRICT, name="strict+clears", empty_string_clears=True),
    replace(LENIENT, name="lenient+33012", unknown_user_errcode=33012),
    replace(STRICT, name="strict+bare-tokens", wrap_token_errors=False),
    replace(STRICT, name="strict+pending", pending_invite_share=1.0),
    replace(STRICT, name="strict-no-lookup", missing_permissions=("qyapi_get_member_by_mobile",)),
    replace(LENIENT, name="lenient-no-member", missing_permissions=("qyapi_get_member",)),
    replace(
        STRICT, name="strict-no-attendance", missing_permissions=("qyapi_get_attendance_data",)
    ),
]
READS = {
    "qyapi_get_department_list",
    "qyapi_get_department_member",
    "qyapi_get_member",
    "qyapi_get_member_by_mobile",
}


@pytest.mark.parametrize("profile", KNOBS, ids=lambda p: p.name)
def test_doctor_reports_exactly_the_profile(
    clock: FakeClock, tmp_path: Path, profile: Profile
) -> None:
    db = tmp_path / "tenant.db"
    with Sandbox(db, clock=clock) as sb:
        seed(sb)
        before = sb.tenant.departments()
    with Sandbox(db, clock=clock, profile=profile) as sb:
        report = run(sb, Options(write=True, user_mobile=MOBILE))
        assert report.traits.rate_limit == profile.rate_limit
        missing = [p for p in profile.missing_permissions if p in READS]
        assert report.missing_permissions == missing
        if "qyapi_get_member" in missing:
            assert report.traits.unknown_user_errcode is None
            assert report.exit_code == 1
        else:
            assert report.traits.unknown_user_errcode == profile.unknown_user_errcode
            assert report.traits.empty_string_clears is profile.empty_string_clears
            assert report.exit_code == 0, report.blocking
        # Nothing left behind: the same departments and people, every create undone.
        assert_nothing_left(sb, before)
        assert {u["userid"] for u in _users(sb)} == {"zhangsan", "lisi"}


@pytest.mark.parametrize(
    ("profile", "expected"), [(STRICT, "sliding"), (LENIENT, "bucket")], ids=["strict", "lenient"]
)
def test_the_burst_tells_the_profiles_rate_limit(
    clock: FakeClock, profile: Profile, expected: str
) -> None:
    with Sandbox(clock=clock, profile=profile) as sb:
        report = run(sb)
        assert report.traits.rate_limit == expected
        assert check(report, "rate limit").status is Status.OK
        # At most 30 calls on the burst's API, on the fake clock (no test waits).
        arrivals = sb.limiter.arrivals
        burst = [at for (_, api), seen in arrivals.items() if api == LISTSUBID for at, _ in seen]
        first_other_use = min(
            at
            for (_, api), seen in arrivals.items()
            if api == LISTSUBID
            for at, ok in seen
            if at > burst[0] + 1.0
        )
        assert len([at for at in burst if at < first_other_use]) <= 30


def test_a_limit_above_qps_is_unknown_not_guessed(clock: FakeClock) -> None:
    with Sandbox(clock=clock, qps=40) as sb:
        report = run(sb)
        assert report.traits.rate_limit == "unknown"
        rate = check(report, "rate limit")
        assert rate.status is Status.WARN
        assert "above 20 QPS" in rate.observed
        assert "rate_limit.qps" in rate.fix


def test_a_clean_tenant_blocks_nothing(sandbox: Sandbox) -> None:
    seed(sandbox)
    report = run(sandbox)
    assert report.exit_code == 0, report.blocking
    assert report.missing_permissions == []
    assert report.out_of_scope == []
    assert check(report, "token").status is Status.OK
    assert check(report, "wrong secret").observed == "gettoken answers errcode 40089"
    assert report.estimate is not None
    assert report.estimate.departments == 3
    assert report.estimate.people == 3  # lisi counts in both of her departments
    assert set(report.latency) >= {DEPT_GET, USER_LIST}
    assert check(report, "write checks").status is Status.SKIP


@pytest.mark.parametrize(("profile", "code"), [(STRICT, 33012), (LENIENT, 60121)])
def test_unknown_userid_errcode_is_observed(clock: FakeClock, profile: Profile, code: int) -> None:
    with Sandbox(clock=clock, profile=profile) as sb:
        report = run(sb)
    assert report.traits.unknown_user_errcode == code
    unknown = check(report, "unknown userid")
    assert unknown.observed == f"user/get answers {code}"
    assert str(code) in unknown.action


def test_the_scope_is_compared_with_the_yaml(sandbox: Sandbox) -> None:
    seed(sandbox)
    desired = Org(
        departments={
            DeptKey(k): Department(key=DeptKey(k), name=k, parent=ROOT)
            for k in ("eng", "sales", "hr")
        },
        users={},
    )
    report = run(sandbox, Options(desired=desired))
    scope = check(report, "contact scope")
    assert scope.status is Status.OK
    assert "1 YAML departments not seen live (hr)" in scope.observed


# ---------------------------------------------------------------------------- failures


def test_wrong_secret_blocks_with_the_credentials_named(sandbox: Sandbox) -> None:
    report = run(sandbox, app_secret="not-the-secret")
    token = check(report, "token")
    assert token.status is Status.FAIL
    assert token.observed == "gettoken answered errcode 40089"
    assert "DINGTALK_APP_KEY and DINGTALK_APP_SECRET" in token.fix
    assert report.exit_code == 1
    assert [c.name for c in report.checks] == ["token"]  # nothing else can be checked


def test_missing_permission_is_named_with_its_console_point(clock: FakeClock) -> None:
    profile = replace(STRICT, missing_permissions=("qyapi_get_department_member",))
    with Sandbox(clock=clock, profile=profile) as sb:
        report = run(sb)
    assert report.missing_permissions == ["qyapi_get_department_member"]
    permissions = check(report, "read permissions")
    assert permissions.status is Status.FAIL
    assert permissions.observed == "missing qyapi_get_department_member"
    assert "权限管理" in permissions.fix
    assert "qyapi_get_department_member" in permissions.fix
    assert report.exit_code == 1
    assert report.as_json()["missing_permissions"] == ["qyapi_get_department_member"]


def test_missing_permission_as_a_bare_60011_too(sandbox: Sandbox) -> None:
    def no_member_read(api: str, body: Mapping[str, Any]) -> Answer | None:
        if api == USER_LIST:
            return {"errcode": 60011, "errmsg": "没有调用该接口的权限"}
        return None

    report = run(sandbox, rules=[no_member_read])
    assert report.missing_permissions == ["qyapi_get_department_member"]
    assert check(report, "read permissions").status is Status.FAIL


def test_partial_scope_lists_the_departments_answering_50004(
    clock: FakeClock, tmp_path: Path
) -> None:
    db = tmp_path / "tenant.db"
    with Sandbox(db, clock=clock) as sb:
        ids = seed(sb)
    with Sandbox(db, clock=clock, profile=replace(STRICT, contact_scope=(ids["eng"],))) as sb:
        report = run(sb, Options(write=True))
        departments = sb.tenant.departments()
    assert report.out_of_scope == [1, ids["sales"]]
    scope = check(report, "contact scope")
    assert scope.status is Status.FAIL
    assert scope.observed.startswith("2 of 4 departments answer 50004 (1, ")
    assert "通讯录权限范围" in scope.fix
    assert "全部员工" in scope.fix
    assert report.exit_code == 1
    # The scratch department cannot be created under a root outside the scope: said, and
    # nothing was created.
    assert "50004" in check(report, "write: create a hidden scratch department").observed
    assert len(departments) == 4


def test_a_read_only_app_lacks_the_write_permission(sandbox: Sandbox) -> None:
    before = sandbox.tenant.departments()
    report = run(
        sandbox,
        Options(write=True),
        app_key=READONLY_APP_KEY,
        app_secret=READONLY_APP_SECRET,
    )
    assert "qyapi_manage_addresslist" in report.missing_permissions
    failed = report.blocking
    assert [c.name for c in failed] == ["write: create a hidden scratch department"]
    assert "qyapi_manage_addresslist" in failed[0].fix
    assert "read-only app can plan but not apply" in failed[0].fix
    assert sandbox.tenant.departments() == before


# ---------------------------------------------------------------------------- writes


def test_write_and_user_checks_leave_nothing_behind(sandbox: Sandbox) -> None:
    seed(sandbox)
    before = sandbox.tenant.departments()
    report = run(sandbox, Options(write=True, user_mobile=MOBILE))
    assert report.exit_code == 0, report.blocking
    for name in ("rename", "reorder", "set source_identifier", "clear source_identifier"):
        assert check(report, name).status is Status.OK
    assert_nothing_left(sandbox, before)
    assert sandbox.tenant.departments() == before
    assert {u["userid"] for u in _users(sandbox)} == {"zhangsan", "lisi"}


def test_ctrl_c_mid_run_cleans_up(sandbox: Sandbox) -> None:
    before = sandbox.tenant.departments()
    steps: list[str] = []

    def interrupt(name: str) -> None:
        steps.append(name)
        if name == "clear with empty string":
            task = asyncio.current_task()
            assert task is not None
            task.cancel()  # what asyncio.run does on Ctrl-C

    with pytest.raises(asyncio.CancelledError):
        asyncio.run(
            run_doctor(endpoint(sandbox), Options(write=True, user_mobile=MOBILE), step=interrupt)
        )
    assert "create user" in steps
    assert_nothing_left(sandbox, before)
    assert _users(sandbox) == []


def test_a_failed_step_still_cleans_up(sandbox: Sandbox) -> None:
    before = sandbox.tenant.departments()

    def refuse_rename(api: str, body: Mapping[str, Any]) -> Answer | None:
        if api.endswith("department/update") and "name" in body:
            return {"errcode": 60009, "errmsg": "部门名称含有非法字符"}
        return None

    report = run(sandbox, Options(write=True), rules=[refuse_rename])
    failed = check(report, "write: rename it")
    assert failed.status is Status.WARN
    assert "60009" in failed.observed
    assert_nothing_left(sandbox, before)


def test_a_killed_runs_leftover_is_removed_next_time(sandbox: Sandbox) -> None:
    seed(sandbox)
    before = sandbox.tenant.departments()
    # What a run killed after its user checks began leaves behind.
    leftover = sandbox.tenant.add_department(f"{SCRATCH_PREFIX}20260101T000000Z_renamed")
    sandbox.tenant.add_user("orgctl-doctor-20260101t000000z", "orgctl doctor", MOBILE, [leftover])

    warned = run(sandbox)
    assert check(warned, "leftovers").status is Status.WARN
    assert "orgctl doctor --write" in check(warned, "leftovers").fix

    report = run(sandbox, Options(write=True))
    assert check(report, "leftovers").status is Status.OK
    assert sandbox.tenant.departments() == before
    assert {u["userid"] for u in _users(sandbox)} == {"zhangsan", "lisi"}


def test_a_leftover_with_someone_elses_member_is_not_touched(sandbox: Sandbox) -> None:
    dept = sandbox.tenant.add_department(f"{SCRATCH_PREFIX}20260101T000000Z")
    sandbox.tenant.add_user("wangwu", "王五", "+86-13800138002", [dept])
    report = run(sandbox, Options(write=True))
    leftovers = check(report, "leftovers")
    assert leftovers.status is Status.FAIL
    assert f"delete department {dept}" in leftovers.fix
    assert {u["userid"] for u in _users(sandbox)} == {"wangwu"}


def _users(sb: Sandbox) -> list[dict[str, Any]]:
    with sb.tenant.lock:
        rows = sb.tenant.db.execute("SELECT userid FROM users ORDER BY userid").fetchall()
    return [dict(row) for row in rows]


def test_the_optional_mobile_lookup_only_warns(sandbox: Sandbox) -> None:
    def no_lookup(api: str, body: Mapping[str, Any]) -> Answer | None:
        if api == "topapi/v2/user/getbymobile":
            return {"errcode": 60011, "errmsg": "没有调用该接口的权限"}
        return None

    report = run(sandbox, rules=[no_lookup])
    permissions = check(report, "read permissions")
    assert permissions.status is Status.WARN
    assert "missing qyapi_get_member_by_mobile" in permissions.observed
    assert report.missing_permissions == ["qyapi_get_member_by_mobile"]
    assert report.exit_code == 0


def test_a_members_mobile_is_refused_with_the_reason(sandbox: Sandbox) -> None:
    seed(sandbox)
    before = sandbox.tenant.departments()
    report = run(sandbox, Options(write=True, user_mobile="+86-13800138000"))  # zhangsan's
    failed = check(report, "write: create a scratch user")
    assert failed.status is Status.WARN
    assert "no member of the organisation has" in failed.fix
    assert report.traits.empty_string_clears is None
    assert_nothing_left(sandbox, before)
