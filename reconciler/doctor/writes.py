"""The write checks of `orgctl doctor --write`, in one scratch department created for the purpose
(hidden, named ``orgctl_doctor_<UTC time>``) and deleted at the end — on failure and on Ctrl-C
(cancellation) too; a scratch department left by a run that was killed is found by its name on
the next run and removed. ``user_mobile`` adds one scratch user in it.
I/O: DingTalk calls through the run's client."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

from reconciler.dingtalk.errcodes import NOT_FOUND
from reconciler.doctor.apis import (
    DEPT_CREATE,
    READ_PERMISSIONS,
    SCRATCH_PREFIX,
    SCRATCH_USER_PREFIX,
    USER_GET,
    USER_LIST,
    WRITE_PERMISSION,
    is_permission_error,
    is_write,
)
from reconciler.doctor.context import Run
from reconciler.doctor.report import Status
from reconciler.errors import DingTalkError
from reconciler.model import ROOT_DEPT_ID


@dataclass(slots=True)
class Scratch:
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


# -- writes ------------------------------------------------------------------------


async def sweep_leftovers(run: Run) -> None:
    leftovers = [
        d
        for d in run.depts.values()
        if d.parent_id == ROOT_DEPT_ID and (d.name or "").startswith(SCRATCH_PREFIX)
    ]
    removed = 0
    for dept in leftovers:
        try:
            await remove_scratch(run, dept.dept_id)
        except DingTalkError as error:
            run.report.add(
                "leftovers",
                Status.FAIL,
                f"could not remove {dept.name} ({dept.dept_id}): {error}",
                "leaves it in place",
                f"delete department {dept.dept_id} ({dept.name}) in the admin console",
            )
            return
        removed += 1
    if removed:
        run.report.add(
            "leftovers",
            Status.OK,
            f"{removed} scratch departments of an interrupted run",
            "removed them",
        )


async def remove_scratch(run: Run, dept_id: int) -> None:
    """Delete a scratch department and the scratch users in it (nothing else)."""
    users, _ = await run.client.list_users_page(dept_id, 0, 100)
    for item in users:
        userid = str(item.get("userid") or "")
        if not userid.startswith(SCRATCH_USER_PREFIX):
            raise DingTalkError(
                USER_LIST, None, f"department {dept_id} has a member orgctl did not put there"
            )
        await delete_user(run, userid)
    await run.client.delete_department(dept_id)


async def delete_user(run: Run, userid: str) -> None:
    try:
        await run.client.delete_user(userid)
    except DingTalkError as error:
        if error.errcode not in (33012, NOT_FOUND):
            raise


async def write_checks(run: Run) -> None:
    scratch = Scratch()
    try:
        await department_checks(run, scratch)
        if READ_PERMISSIONS[USER_GET] in run.report.missing_permissions:
            run.report.add(
                "user checks",
                Status.SKIP,
                f"not run: the app lacks {READ_PERMISSIONS[USER_GET]}",
                "cannot read a user back to see what a write did",
            )
        elif run.options.user_mobile and scratch.dept_id is not None:
            await user_checks(run, scratch)
        elif not run.options.user_mobile:
            run.report.add(
                "user checks",
                Status.SKIP,
                "not run",
                '--user-mobile M (a number you own) checks whether "" clears a field',
            )
    except DingTalkError as error:
        run.report.add(
            f"write: {scratch.doing}",
            Status.FAIL if is_permission_error(error) and is_write(error.api) else Status.WARN,
            str(error),
            "stopped the write checks and cleaned up",
            _write_fix(error),
        )
        if is_permission_error(error) and is_write(error.api):
            run.report.missing_permissions.append(WRITE_PERMISSION)
    finally:
        await cleanup(run, scratch)


async def cleanup(run: Run, scratch: Scratch) -> None:
    """Runs on success, failure and cancellation (Ctrl-C): nothing is left behind."""
    try:
        if scratch.userid is not None:
            await delete_user(run, scratch.userid)
            scratch.userid = None
        if scratch.dept_id is not None:
            await run.client.delete_department(scratch.dept_id)
            scratch.dept_id = None
    except DingTalkError as error:
        run.report.add(
            "cleanup",
            Status.FAIL,
            f"could not delete the scratch department: {error}",
            "the next `orgctl doctor --write` removes it",
            "run `orgctl doctor --write` again",
        )


async def department_checks(run: Run, scratch: Scratch) -> None:
    name = f"{SCRATCH_PREFIX}{run.stamp}"
    scratch.doing = "create a hidden scratch department"
    run.step("create department")
    data = await run.client.call(
        DEPT_CREATE,
        {"name": name, "parent_id": ROOT_DEPT_ID, "hide_dept": True, "order": 999999},
        write=True,
    )
    scratch.dept_id = int(data["result"]["dept_id"])
    run.report.add(
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
            {"source_identifier": f"orgctl-doctor-{run.stamp}"},
            "source_identifier",
            f"orgctl-doctor-{run.stamp}",
        ),
    ]
    for check, doing, fields, field_name, expected in checks:
        scratch.doing = doing
        run.step(check)
        await run.client.update_department(dept_id, **fields)
        got = (await run.client.get_department(dept_id)).get(field_name)
        ok = got == expected or str(got) == str(expected)
        run.report.add(
            check,
            Status.OK if ok else Status.FAIL,
            "read back as written" if ok else f"read back {got!r}, not {expected!r}",
            "updates departments in place" if ok else "cannot trust department updates",
            "" if ok else "report this tenant's answer: orgctl relies on it",
        )
    scratch.doing = "clear its source_identifier"
    run.step("clear source_identifier")
    await run.client.update_department(dept_id, source_identifier="")
    got = (await run.client.get_department(dept_id)).get("source_identifier")
    if not got:
        run.report.add(
            "clear source_identifier",
            Status.OK,
            '"" cleared it',
            "can release a department's key",
        )
    else:
        run.report.add(
            "clear source_identifier",
            Status.WARN,
            '"" left it as it was',
            'never relies on "" to release a key: renames the key instead',
        )


async def user_checks(run: Run, scratch: Scratch) -> None:
    assert scratch.dept_id is not None
    assert run.options.user_mobile is not None
    userid = f"{SCRATCH_USER_PREFIX}{run.stamp}".lower()
    email = f"{userid}@example.com"
    telephone = "8" + run.stamp[-7:-1]  # 分机号: unique in the org (40100)
    scratch.doing = "create a scratch user"
    run.step("create user")
    # Known before the call: if the answer is lost, cleanup still deletes whoever exists.
    scratch.userid = userid
    try:
        await run.client.create_user(
            {
                "userid": userid,
                "name": "orgctl doctor",
                "mobile": run.options.user_mobile,
                "dept_id_list": [scratch.dept_id],
                "email": email,
                "telephone": telephone,
            }
        )
    except DingTalkError as error:
        if error.errcode != 40103:  # invited: the user exists, inactive
            raise
    before = await run.client.get_user(userid) or {}
    scratch.doing = 'clear email and telephone with ""'
    run.step("clear with empty string")
    await run.client.update_user(userid, {"email": "", "telephone": ""})
    after = await run.client.get_user(userid) or {}
    clears = _clears(before, after, {"email": email, "telephone": telephone})
    run.traits = replace(run.traits, empty_string_clears=clears)
    if clears is None:
        run.report.add(
            'user field ""',
            Status.WARN,
            "user/get does not show email and telephone: cannot tell",
            'never relies on "": releases values through a placeholder',
            "add the 邮箱等个人信息 permission to see them",
        )
    elif clears:
        run.report.add(
            'user field ""',
            Status.OK,
            '"" clears email and telephone',
            'can clear a field (and release a unique one) with ""',
        )
    else:
        run.report.add(
            'user field ""',
            Status.WARN,
            '"" leaves email and telephone as they were',
            'a clear, or a swap of emails or telephones, that relies on "" does not '
            "take effect here",
            "--save records it (tenant.empty_string_clears: false) for plan and apply",
        )
    scratch.doing = "delete the scratch user"
    run.step("delete user")
    await run.client.delete_user(userid)
    scratch.userid = None
    run.report.add("user writes", Status.OK, "created, updated, deleted", "writes users")


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
