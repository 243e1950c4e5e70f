"""The diff engine on its own: which objects change, how, field by field (no ordering)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest

from reconciler.model import Org, User
from reconciler.plan.diff import Diff, FieldChange, diff, gives_up, same, unmanaged_keys
from reconciler.policy import Policy
from tests.plan.builders import dept, live_dept, mobile, org, user

PRUNE = Policy(prune_users=True, prune_departments=True)
ENG = live_dept(2, "研发", key="eng")


@dataclass(frozen=True)
class Case:
    name: str
    desired: Org
    live: Org
    users: dict[str, tuple[str, tuple[FieldChange, ...]]] = field(default_factory=dict)
    """userid → (kind, changes): exactly the users the diff reports."""
    departments: dict[str, tuple[str, tuple[FieldChange, ...]]] = field(default_factory=dict)
    policy: Policy = PRUNE


def person(userid: str = "zs", n: int = 1, name: str = "张三", **fields: Any) -> User:
    return user(userid, name, "eng", mobile=mobile(n), **fields)


CASES = [
    Case("equal users: nothing", org(dept("eng", "研发"), person()), org(ENG, person())),
    Case(
        "a managed field that differs",
        org(dept("eng", "研发"), person(title="总监")),
        org(ENG, person(title="工程师")),
        users={"zs": ("update", (FieldChange("title", "工程师", "总监"),))},
    ),
    Case(
        "a field the YAML leaves out is not managed",
        org(dept("eng", "研发"), person()),
        org(ENG, person(title="工程师", email="zs@example.com", telephone="8001")),
    ),
    Case(
        "an empty desired value equals a live one that is absent",
        org(dept("eng", "研发"), person(title="", extension={})),
        org(ENG, person()),
    ),
    Case(
        "an empty desired value clears a live one",
        org(dept("eng", "研发"), person(title="")),
        org(ENG, person(title="工程师")),
        users={"zs": ("update", (FieldChange("title", "工程师", ""),))},
    ),
    Case(
        "the same mobile is no change",
        org(dept("eng", "研发"), person(n=7)),
        org(ENG, person(n=7)),
    ),
    Case(
        "another mobile is a replace (DingTalk cannot update one)",
        org(dept("eng", "研发"), person(n=2)),
        org(ENG, person(n=1)),
        users={"zs": ("replace", (FieldChange("mobile", mobile(1), mobile(2)),))},
    ),
    Case(
        "a live mobile that cannot be read never causes a replace",
        org(dept("eng", "研发"), person(n=2)),
        org(ENG, user("zs", "张三", "eng")),
    ),
    Case(
        "extension: the same pairs in another order are no change",
        org(dept("eng", "研发"), person(extension={"爱好": "旅游", "工位": "A1"})),
        org(ENG, person(extension={"工位": "A1", "爱好": "旅游"})),
    ),
    Case(
        "extension: compared and written as a whole (DingTalk overwrites it), keys sorted",
        org(dept("eng", "研发"), person(extension={"爱好": "读书", "工位": "A1"})),
        org(ENG, person(extension={"爱好": "旅游", "工位": "A1", "旧": "x"})),
        users={
            "zs": (
                "update",
                (
                    FieldChange(
                        "extension",
                        {"工位": "A1", "旧": "x", "爱好": "旅游"},
                        {"工位": "A1", "爱好": "读书"},
                    ),
                ),
            )
        },
    ),
    Case(
        "extension: an empty mapping clears the live one; None leaves it alone",
        org(dept("eng", "研发"), person(extension={}), person("ls", 2, name="李四")),
        org(
            ENG,
            person(extension={"爱好": "旅游"}),
            person("ls", 2, name="李四", extension={"a": "b"}),
        ),
        users={"zs": ("update", (FieldChange("extension", {"爱好": "旅游"}, {}),))},
    ),
    Case(
        "memberships compare as a set of idents",
        org(
            dept("eng", "研发"),
            dept("web", "前端"),
            user("zs", "张三", "web", "eng", mobile=mobile(1)),
        ),
        org(
            ENG, live_dept(3, "前端", key="web"), user("zs", "张三", "eng", "web", mobile=mobile(1))
        ),
    ),
    Case(
        "a move between departments",
        org(dept("eng", "研发"), dept("web", "前端"), user("zs", "张三", "web", mobile=mobile(1))),
        org(ENG, live_dept(3, "前端", key="web"), person()),
        users={"zs": ("update", (FieldChange("departments", ("eng",), ("web",)),))},
    ),
    Case(
        "a new person: every field they are created with",
        org(dept("eng", "研发"), person(title="工程师")),
        org(ENG),
        users={
            "zs": (
                "create",
                (
                    FieldChange("name", None, "张三"),
                    FieldChange("mobile", None, mobile(1)),
                    FieldChange("departments", None, ("eng",)),
                    FieldChange("title", None, "工程师"),
                ),
            )
        },
    ),
    Case(
        "someone not in the YAML is deleted with prune_users",
        org(dept("eng", "研发")),
        org(ENG, person()),
        users={"zs": ("delete", ())},
    ),
    Case(
        "someone not in the YAML stays without prune_users",
        org(dept("eng", "研发")),
        org(ENG, person()),
        policy=Policy(prune_departments=True),
    ),
    Case(
        "someone only in an unmanaged subtree is ignored",
        org(dept("eng", "研发")),
        org(ENG, live_dept(3, "外包", key="vendor"), user("x", "外", "vendor", mobile=mobile(3))),
        policy=Policy(prune_users=True, unmanaged_departments=("外包",)),
    ),
    Case(
        "someone also in an unmanaged subtree is pruned from the managed part only",
        org(dept("eng", "研发")),
        org(
            ENG,
            live_dept(3, "外包", key="vendor"),
            user("x", "外", "eng", "vendor", mobile=mobile(3)),
        ),
        users={"x": ("prune", (FieldChange("departments", ("eng",), ()),))},
        policy=Policy(prune_users=True, unmanaged_departments=("外包",)),
    ),
    Case(
        "a department renamed, its order unmanaged",
        org(dept("eng", "研发中心")),
        org(live_dept(2, "研发", key="eng", order=5)),
        departments={"eng": ("update", (FieldChange("name", "研发", "研发中心"),))},
    ),
    Case(
        "a department reordered and moved",
        org(dept("a", "甲"), dept("b", "乙", "a", order=3)),
        org(live_dept(2, "甲", key="a"), live_dept(3, "乙", key="b", order=1)),
        departments={
            "b": ("update", (FieldChange("parent", "root", "a"), FieldChange("order", 1, 3)))
        },
    ),
    Case(
        "an unkeyed live department is adopted by parent and name",
        org(dept("eng", "研发")),
        org(live_dept(2, "研发")),
        departments={"eng": ("adopt", (FieldChange("source_identifier", None, "eng"),))},
    ),
    Case(
        "a department not in the YAML is deleted only with prune_departments",
        org(dept("eng", "研发")),
        org(ENG, live_dept(3, "旧", key="old")),
        departments={"old": ("delete", ())},
    ),
    Case(
        "a department not in the YAML stays without prune_departments",
        org(dept("eng", "研发")),
        org(ENG, live_dept(3, "旧", key="old")),
        policy=Policy(),
    ),
]


Reported = dict[str, tuple[str, tuple[FieldChange, ...]]]


def reported(result: Diff) -> tuple[Reported, Reported]:
    users: Reported = {u: (c.kind, c.changes) for u, c in result.users.items()}
    departments: Reported = {k: (c.kind, c.changes) for k, c in result.departments.items()}
    return users, departments


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_what_the_diff_reports(case: Case) -> None:
    result = diff(case.desired, case.live, case.policy)
    assert result.problems == ()
    assert reported(result) == (case.users, case.departments)


def test_an_unreadable_mobile_is_a_warning_not_a_change() -> None:
    result = diff(org(dept("eng", "研发"), person(n=2)), org(ENG, user("zs", "张三", "eng")), PRUNE)
    assert result.users == {}
    assert result.warnings == (
        "1 live users have no readable mobile, so their mobiles were not compared (zs)",
    )


def test_managers_are_set_apart_from_the_department_fields() -> None:
    desired = org(dept("eng", "研发", managers=("ls",)), person(), person("ls", 2, name="李四"))
    live = org(
        live_dept(2, "研发", key="eng", managers=("zs",)), person(), person("ls", 2, name="李四")
    )
    change = diff(desired, live, PRUNE).departments["eng"]
    assert (change.kind, change.changes) == ("update", ())
    assert change.managers == FieldChange("managers", ("zs",), ("ls",))


def test_managers_after_drops_people_deleted_or_leaving() -> None:
    desired = org(
        dept("eng", "研发"), dept("web", "前端"), user("ls", "李四", "web", mobile=mobile(2))
    )
    live = org(
        live_dept(2, "研发", key="eng", managers=("ls", "zs", "ww")),
        live_dept(3, "前端", key="web"),
        person(),
        user("ls", "李四", "eng", mobile=mobile(2)),
        user("ww", "王五", "eng", mobile=mobile(3)),
    )
    result = diff(desired, live, Policy(prune_users=True))
    assert result.live_managers_after["eng"] == ()
    result = diff(desired, live, Policy())  # zs and ww stay: not pruned
    assert result.live_managers_after["eng"] == ("ww", "zs")


def test_a_taken_email_held_by_someone_kept_is_a_problem_with_its_place() -> None:
    desired = org(dept("eng", "研发"), person(email="x@example.com"))
    live = org(ENG, person(), user("ls", "李四", "eng", mobile=mobile(2), email="X@example.com"))
    result = diff(desired, live, Policy())
    (problem,) = result.problems
    assert problem.field == "users.zs.email"
    assert "used by live user ls" in problem.message
    assert "60106" in problem.message


@pytest.mark.parametrize(
    ("old", "new", "released"),
    [
        ("a@example.com", "b@example.com", True),
        ("a@example.com", "", True),
        ("Ann@Example.com", "ann@example.com", False),  # a change of case keeps the address
    ],
)
def test_gives_up(old: str, new: str, released: bool) -> None:
    result = diff(org(dept("eng", "研发"), person(email=new)), org(ENG, person(email=old)), PRUNE)
    assert gives_up(result.users["zs"], "email") is released


@pytest.mark.parametrize(
    ("desired", "live", "equal"),
    [
        ("", None, True),
        ((), None, True),
        ({}, None, True),
        ({"a": "1"}, {"a": "1"}, True),
        ({"a": "1"}, {"a": "2"}, False),
        ("x", None, False),
        ("x", "x", True),
    ],
)
def test_same(desired: object, live: object, equal: bool) -> None:
    assert same(desired, live) is equal


def test_unmanaged_keys_are_whole_subtrees_by_name_path() -> None:
    live = org(
        live_dept(2, "外包", key="v"),
        live_dept(3, "华东", "v", key="ve"),
        live_dept(4, "外包部", key="other"),  # a longer name is not below "外包"
    )
    assert unmanaged_keys(live, ["外包"]) == {"v", "ve"}
    assert unmanaged_keys(live, ["/外包/华东/"]) == {"ve"}
    assert unmanaged_keys(live, ["", "/"]) == frozenset()
