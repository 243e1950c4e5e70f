"""The executor against an in-memory directory: ordering, failures, unknown outcomes."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from reconciler.apply.executor import ApplyReport, Outcome, StepEvent, apply_plan
from reconciler.clock import FakeClock
from reconciler.errors import BusyError, DingTalkError, ThrottledError
from reconciler.plan.diff import FieldChange
from reconciler.plan.document import Plan
from reconciler.plan.steps import (
    CreateDepartment,
    CreateUser,
    DeleteDepartment,
    DeleteUser,
    SetManagers,
    Step,
    UpdateDepartment,
    UpdateUser,
)
from tests.apply.fakes import FakeDirectory, plan, step, terminal, unknown

MOBILE_A = "+86-15172391968"
MOBILE_B = "+86-13800138000"
MOBILE_C = "+86-13912345678"


def run(p: Plan, directory: FakeDirectory, clock: FakeClock, **options: Any) -> ApplyReport:
    live = directory.live()
    return asyncio.run(apply_plan(p, directory, live, clock=clock, **options))


def outcomes(report: ApplyReport) -> dict[str, Outcome]:
    return {r.step_id: r.outcome for r in report.results}


def create_dept(key: str, name: str, parent: str = "root", **kw: Any) -> Step:
    requires = () if parent == "root" else (f"department.create:{parent}",)
    return step(
        f"department.create:{key}",
        1,
        CreateDepartment(key=key, name=name, parent=parent, order=10),
        requires=kw.get("requires", requires),
    )


def create_user(userid: str, mobile: str, departments: tuple[str, ...], **fields: Any) -> Step:
    requires = fields.pop("requires", ())
    body = CreateUser(
        userid=userid, name=userid.title(), mobile=mobile, departments=departments, **fields
    )
    return step(f"user.create:{userid}", 4, body, requires=requires)


def delete_user(userid: str, **kw: Any) -> Step:
    return step(f"user.delete:{userid}", 3, DeleteUser(userid=userid), destructive=True, **kw)


def test_new_departments_get_ids_before_their_children_and_members(clock: FakeClock) -> None:
    directory = FakeDirectory()
    p = plan(
        create_dept("eng", "研发中心"),
        create_dept("platform", "平台组", parent="eng"),
        create_user("zhangsan", MOBILE_A, ("platform",), requires=("department.create:platform",)),
    )
    report = run(p, directory, clock)

    assert report.ok
    assert report.exit_code == 0
    eng, platform = directory.id_of("eng"), directory.id_of("platform")
    assert directory.depts[platform]["parent_id"] == eng
    assert directory.users["zhangsan"]["dept_id_list"] == [platform]
    created = {r.key: r.dept_id for r in report.done if r.action == "create_department"}
    assert created == {"eng": eng, "platform": platform}


def test_a_failed_step_skips_its_dependents_and_nothing_else(clock: FakeClock) -> None:
    directory = FakeDirectory()
    directory.add_department("研发中心", key="taken")  # sibling name clash: 60021
    p = plan(
        create_dept("eng", "研发中心"),
        create_dept("platform", "平台组", parent="eng"),
        create_dept("sales", "销售部"),
        create_user("zhangsan", MOBILE_A, ("platform",), requires=("department.create:platform",)),
        create_user("lisi", MOBILE_B, ("sales",), requires=("department.create:sales",)),
    )
    report = run(p, directory, clock)

    assert outcomes(report) == {
        "department.create:eng": Outcome.FAILED,
        "department.create:platform": Outcome.SKIPPED,
        "user.create:zhangsan": Outcome.SKIPPED,
        "department.create:sales": Outcome.DONE,
        "user.create:lisi": Outcome.DONE,
    }
    failed = report.failed[0]
    assert failed.errcode == 60021
    assert failed.hint == "a sibling department already has this name"
    skipped = {r.step_id: r.message for r in report.skipped}
    assert "department.create:eng failed" in skipped["department.create:platform"]
    assert "department.create:platform was skipped" in skipped["user.create:zhangsan"]
    assert report.exit_code == 1
    assert "lisi" in directory.users
    assert "zhangsan" not in directory.users


def test_mobile_taken_names_the_holder(clock: FakeClock) -> None:
    directory = FakeDirectory()
    directory.add_user("wangwu", "王五", MOBILE_A, [1])
    report = run(plan(create_user("zhangsan", MOBILE_A, ("root",))), directory, clock)

    (failed,) = report.failed
    assert failed.errcode == 60104
    assert failed.hint == "mobile already used by userid wangwu"


def test_invitation_pending_is_not_a_failure(clock: FakeClock) -> None:
    directory = FakeDirectory()
    directory.before.append(
        lambda api, args: terminal(api, 40103, "需要对方同意") if api == "user/create" else None
    )
    directory.add_department("销售部", key="sales")
    p = plan(
        create_user("zhangsan", MOBILE_A, ("sales",)),
        step(
            "department.managers:sales",
            6,
            SetManagers(dept="sales", managers=("zhangsan",)),
            requires=("user.create:zhangsan",),
        ),
    )
    report = run(p, directory, clock)

    assert outcomes(report) == {
        "user.create:zhangsan": Outcome.PENDING,
        "department.managers:sales": Outcome.SKIPPED,
    }
    (pending,) = report.pending
    assert (pending.errcode, pending.message) == (40103, "需要对方同意")
    assert (
        pending.hint == "invitation pending: the person must accept it; the next apply tries again"
    )
    assert report.skipped[0].message == (
        f"skipped: user.create:zhangsan is pending ({pending.hint})"
    )
    assert report.ok
    assert report.exit_code == 0


def test_replace_whose_create_fails_reports_the_person_absent(clock: FakeClock) -> None:
    directory = FakeDirectory()
    directory.add_user("zhangsan", "张三", MOBILE_A, [1])
    directory.add_user("wangwu", "王五", MOBILE_B, [1])  # holds the new mobile
    p = plan(
        delete_user("zhangsan"),
        create_user("zhangsan", MOBILE_B, ("root",), requires=("user.delete:zhangsan",)),
    )
    report = run(p, directory, clock)

    assert outcomes(report)["user.delete:zhangsan"] is Outcome.DONE
    assert outcomes(report)["user.create:zhangsan"] is Outcome.FAILED
    (absent,) = report.absent
    assert absent.userid == "zhangsan"
    assert "mobile already used by userid wangwu" in absent.reason
    assert not report.ok


def test_swapped_mobiles_are_freed_before_they_are_taken(clock: FakeClock) -> None:
    directory = FakeDirectory()
    directory.add_user("zhangsan", "张三", MOBILE_A, [1])
    directory.add_user("lisi", "李四", MOBILE_B, [1])
    # Plan order alone is enough sequentially; the executor must keep it under concurrency.
    p = plan(
        delete_user("zhangsan"),
        delete_user("lisi"),
        create_user("zhangsan", MOBILE_B, ("root",), requires=("user.delete:zhangsan",)),
        create_user("lisi", MOBILE_A, ("root",), requires=("user.delete:lisi",)),
    )
    report = run(p, directory, clock, concurrency=8)

    assert report.ok, report.failed
    assert directory.users["zhangsan"]["mobile"] == MOBILE_B
    assert directory.users["lisi"]["mobile"] == MOBILE_A


# ------------------------------------------------------------------ unknown outcomes


def lose_answer_once(api_name: str) -> Any:
    """A fault for `after`: the first write on ``api_name`` happens, its answer is lost."""
    state = {"fired": False}

    def fault(api: str, args: tuple[Any, ...]) -> DingTalkError | None:
        if api == api_name and not state["fired"]:
            state["fired"] = True
            return unknown(api)
        return None

    return fault


def test_create_department_whose_answer_was_lost_is_adopted_not_repeated(
    clock: FakeClock,
) -> None:
    directory = FakeDirectory()
    directory.after.append(lose_answer_once("department/create"))
    p = plan(
        create_dept("eng", "研发中心"),
        create_user("zhangsan", MOBILE_A, ("eng",), requires=("department.create:eng",)),
    )
    report = run(p, directory, clock)

    assert report.ok
    creates = [a for a in directory.attempts if a[0] == "department/create"]
    assert len(creates) == 1  # read, found it, never sent again
    assert ("department/listsubid", 1) in directory.reads
    eng = directory.id_of("eng")
    assert directory.users["zhangsan"]["dept_id_list"] == [eng]
    assert "re-reading shows it applied" in report.done[0].message


def test_busy_answer_after_the_client_retries_is_checked_by_reading_not_resent(
    clock: FakeClock,
) -> None:
    # -1 "busy" that outlived the client's retries: the create may have happened (here it
    # did), so the executor reads before sending it again, like a lost answer.
    directory = FakeDirectory()
    state = {"fired": False}

    def busy_once(api: str, args: tuple[Any, ...]) -> DingTalkError | None:
        if api == "user/create" and not state["fired"]:
            state["fired"] = True
            return BusyError(api, -1, "系统繁忙")
        return None

    directory.after.append(busy_once)
    events: list[StepEvent] = []
    report = run(
        plan(create_user("zhangsan", MOBILE_A, ("root",))), directory, clock, on_event=events.append
    )

    assert report.ok
    assert [a[0] for a in directory.attempts] == ["user/create"]  # never sent twice
    assert [e.kind for e in events] == ["start", "verify", "done"]
    assert "re-reading shows it applied" in report.done[0].message
    assert clock.sleeps == []  # a read settles it: no backoff


@pytest.mark.parametrize(
    ("api", "step"),
    [
        ("user/create", create_user("zhangsan", MOBILE_C, ("root",))),
        ("user/delete", delete_user("lisi")),
        (
            "user/update",
            step(
                "user.update:lisi",
                5,
                UpdateUser(userid="lisi", name="李四四"),
                changes=(FieldChange("name", "李四", "李四四"),),
            ),
        ),
        (
            "department/delete",
            step("department.delete:old", 7, DeleteDepartment(dept="old")),
        ),
        (
            "department/update",
            step(
                "department.update:old",
                2,
                UpdateDepartment(dept="old", name="新部门"),
                changes=(FieldChange("name", "旧部门", "新部门"),),
            ),
        ),
    ],
)
def test_lost_answers_are_checked_by_reading_never_resent(
    clock: FakeClock, api: str, step: Step
) -> None:
    directory = FakeDirectory()
    directory.add_department("旧部门", key="old")
    directory.add_user("lisi", "李四", MOBILE_B, [1])
    directory.after.append(lose_answer_once(api))
    report = run(plan(step), directory, clock)

    assert report.ok, report.failed
    assert [a for a in directory.attempts if a[0] == api] == [
        w for w in directory.writes if w[0] == api
    ]
    assert len(directory.attempts) == 1


def test_a_write_that_never_arrived_is_sent_again_after_the_read(clock: FakeClock) -> None:
    directory = FakeDirectory()
    directory.add_user("lisi", "李四", MOBILE_B, [1])
    state = {"n": 0}

    def drop_first(api: str, args: tuple[Any, ...]) -> DingTalkError | None:
        state["n"] += 1
        return unknown(api) if state["n"] == 1 else None

    directory.before.append(drop_first)
    update = step(
        "user.update:lisi",
        5,
        UpdateUser(userid="lisi", title="工程师"),
        changes=(FieldChange("title", None, "工程师"),),
    )
    events: list[StepEvent] = []
    report = run(plan(update), directory, clock, on_event=events.append)

    assert report.ok
    assert directory.users["lisi"]["title"] == "工程师"
    assert [e.kind for e in events] == ["start", "verify", "retry", "done"]
    assert report.done[0].attempts == 2


def test_unknown_outcomes_are_bounded(clock: FakeClock) -> None:
    directory = FakeDirectory()
    directory.before.append(lambda api, args: unknown(api))
    report = run(plan(create_user("zhangsan", MOBILE_A, ("root",))), directory, clock)

    (failed,) = report.failed
    assert failed.attempts == 3
    assert len(directory.attempts) == 3
    assert directory.users == {}


def test_throttles_that_escape_the_client_back_off_on_the_clock(clock: FakeClock) -> None:
    directory = FakeDirectory()
    throttles = iter([ThrottledError("user/create", 90018, "too fast")] * 2)
    directory.before.append(lambda api, args: next(throttles, None))
    report = run(plan(create_user("zhangsan", MOBILE_A, ("root",))), directory, clock)

    assert report.ok
    assert report.done[0].attempts == 3
    assert len(clock.sleeps) == 2
    assert 1.0 <= clock.sleeps[0] < 1.5 <= 2.0 <= clock.sleeps[1]


# ------------------------------------------------------------------ scheduling


def test_concurrency_one_runs_strictly_in_plan_order(clock: FakeClock) -> None:
    # Phase 5 mixes APIs: user updates (user/update) and a manager list taken off first
    # (department/update), in plan order.
    directory = FakeDirectory()
    eng = directory.add_department("研发中心", key="eng")
    for i in range(6):
        directory.add_user(f"u{i}", "人", f"+86-1380013{i:04d}", [1])
    steps = [
        step(f"user.update:u{i}", 5, UpdateUser(userid=f"u{i}", title="工程师")) for i in range(6)
    ]
    steps.insert(3, step("department.clear-managers:eng", 5, SetManagers(dept="eng", managers=())))
    report = run(plan(*steps), directory, clock, concurrency=1)

    assert report.ok
    assert directory.max_total_in_flight == 1
    started = [arg for kind, _, arg in directory.timeline if kind == "start"]
    assert [a["userid"] if "userid" in a else a["dept_id"] for a in started] == [
        "u0",
        "u1",
        "u2",
        eng,
        "u3",
        "u4",
        "u5",
    ]


def test_independent_steps_on_different_apis_overlap_within_the_bound(clock: FakeClock) -> None:
    directory = FakeDirectory()
    for i in range(10):
        directory.add_user(f"old{i}", "x", f"+86-1390013{i:04d}", [1])
    steps = [delete_user(f"old{i}") for i in range(10)]
    steps += [create_user(f"u{i}", f"+86-1380013{i:04d}", ("root",)) for i in range(10)]
    report = run(plan(*steps), directory, clock, concurrency=4)

    assert report.ok
    assert directory.max_total_in_flight == 4
    # Fair between APIs: user creates did not wait for the deletes' phase to finish.
    assert directory.max_in_flight["user/create"] >= 2
    assert directory.max_in_flight["user/delete"] >= 2


def test_cancelling_stops_the_run_and_the_journal_says_how_far_it_got(clock: FakeClock) -> None:
    directory = FakeDirectory()
    steps = [create_user(f"u{i}", f"+86-1380013{i:04d}", ("root",)) for i in range(20)]

    class Recorder:
        def __init__(self) -> None:
            self.records: list[tuple[str, dict[str, object]]] = []

        def write(self, event: str, **fields: object) -> None:
            self.records.append((event, fields))

    journal = Recorder()

    async def main() -> None:
        task = asyncio.create_task(
            apply_plan(
                plan(*steps),
                directory,
                directory.live(),
                clock=clock,
                journal=journal,
                concurrency=2,
            )
        )
        while len(directory.writes) < 5:
            await asyncio.sleep(0)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(main())
    assert 5 <= len(directory.users) < 20
    event, fields = journal.records[-1]
    assert event == "end"
    assert fields["not_run"] == 20 - int(str(fields["done"]))


# ------------------------------------------------------------------ derived orderings


def _scenario_swap(d: FakeDirectory) -> Plan:
    d.add_user("a", "甲", MOBILE_A, [1])
    d.add_user("b", "乙", MOBILE_B, [1])
    return plan(
        step("user.delete:a", 3, DeleteUser(userid="a")),
        step("user.delete:b", 3, DeleteUser(userid="b")),
        step(
            "user.create:a",
            4,
            CreateUser(userid="a", name="甲", mobile=MOBILE_B, departments=("root",)),
        ),
        step(
            "user.create:b",
            4,
            CreateUser(userid="b", name="乙", mobile=MOBILE_A, departments=("root",)),
        ),
    )


def _scenario_email(d: FakeDirectory) -> Plan:
    d.add_user("old", "旧", MOBILE_A, [1], email="x@example.com")
    return plan(
        step("user.delete:old", 3, DeleteUser(userid="old")),
        step(
            "user.create:new",
            4,
            CreateUser(
                userid="new",
                name="新",
                mobile=MOBILE_B,
                departments=("root",),
                email="x@example.com",
            ),
        ),
    )


def _scenario_empty_before_delete(d: FakeDirectory) -> Plan:
    doomed = d.add_department("旧部门", key="old")
    d.add_department("新部门", key="new")
    for n in range(4):
        d.add_user(f"u{n}", "人", f"+86-1380013{n:04d}", [doomed])
    return plan(
        *[
            step(f"user.update:u{n}", 5, UpdateUser(userid=f"u{n}", departments=("new",)))
            for n in range(4)
        ],
        step("department.delete:old", 7, DeleteDepartment(dept="old")),
    )


def _scenario_move_under_moved(d: FakeDirectory) -> Plan:
    a = d.add_department("甲", key="a")
    d.add_department("乙", a, key="b")  # live: a > b; desired: b > a
    return plan(
        step("department.update:b", 2, UpdateDepartment(dept="b", parent="root")),
        step("department.update:a", 2, UpdateDepartment(dept="a", parent="b")),
    )


def _scenario_child_of_new(d: FakeDirectory) -> Plan:
    return plan(
        step("department.create:p", 1, CreateDepartment(key="p", name="父", parent="root")),
        step("department.create:c", 1, CreateDepartment(key="c", name="子", parent="p")),
        step(
            "user.create:u",
            4,
            CreateUser(userid="u", name="人", mobile=MOBILE_A, departments=("c",)),
        ),
    )


def _scenario_manager_joins_first(d: FakeDirectory) -> Plan:
    d.add_department("部门", key="x")
    d.add_user("boss", "老板", MOBILE_A, [1])
    return plan(
        step("user.update:boss", 5, UpdateUser(userid="boss", departments=("root", "x"))),
        step("department.set_managers:x", 6, SetManagers(dept="x", managers=("boss",))),
    )


def _scenario_names_rotate(d: FakeDirectory) -> Plan:
    d.add_department("甲", key="x")
    d.add_department("乙", key="y")
    return plan(
        step("department.update:x", 2, UpdateDepartment(dept="x", name="丙")),
        step("department.update:y", 2, UpdateDepartment(dept="y", name="甲")),
    )


@pytest.mark.parametrize(
    "scenario",
    [
        _scenario_swap,
        _scenario_email,
        _scenario_empty_before_delete,
        _scenario_move_under_moved,
        _scenario_child_of_new,
        _scenario_manager_joins_first,
        _scenario_names_rotate,
    ],
)
def test_orderings_dingtalk_needs_hold_even_without_requires(clock: FakeClock, scenario) -> None:
    """Plans whose only ordering is their step order still run correctly at full concurrency:
    the executor derives the orderings from what the steps touch. Each scenario runs under
    several interleavings (the fake's jitter seed)."""
    for seed in range(12):
        directory = FakeDirectory(seed)
        p = scenario(directory)
        assert all(not s.requires for s in p.steps)
        report = run(p, directory, clock, concurrency=16)
        assert report.ok, (seed, [(r.step_id, r.errcode) for r in report.failed])
        assert len(report.done) == len(p.steps)


def test_steps_naming_a_person_whose_create_failed_are_skipped_not_sent(clock: FakeClock) -> None:
    directory = FakeDirectory()
    directory.add_department("研发中心", key="eng")
    directory.add_user("holder", "占用者", MOBILE_A, [1])  # holds the boss's mobile
    p = plan(
        create_user("boss", MOBILE_A, ("eng",)),
        create_user("dev", MOBILE_B, ("eng",), manager="boss"),  # no requires: order only
        step("department.set_managers:eng", 6, SetManagers(dept="eng", managers=("boss",))),
    )
    report = run(p, directory, clock, concurrency=4)

    assert outcomes(report) == {
        "user.create:boss": Outcome.FAILED,
        "user.create:dev": Outcome.SKIPPED,
        "department.set_managers:eng": Outcome.SKIPPED,
    }
    assert all("user.create:boss failed" in r.message for r in report.skipped)
    assert [a for a in directory.attempts if a[0] != "user/create"] == []
