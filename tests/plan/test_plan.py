"""The planner on the cases that must be right, each also run against the rule model."""

from __future__ import annotations

import hashlib
import json
from dataclasses import replace

import pytest

from reconciler.errors import ConfigError, InputError, StalePlanError
from reconciler.model import ROOT, Org
from reconciler.plan.diff import FieldChange
from reconciler.plan.planner import REPLACE_NOTE, Action, Phase, Plan, Step, build_plan, fingerprint
from reconciler.plan.steps import (
    AdoptDepartment,
    CreateDepartment,
    CreateUser,
    SetManagers,
    UpdateDepartment,
    UpdateUser,
)
from reconciler.policy import Policy
from reconciler.reconcile import check_reviewed
from tests.plan.builders import dept, live_dept, mobile, org, user
from tests.plan.sim import SimDingTalk

PRUNE = Policy(prune_users=True, prune_departments=True)


def planned(desired: Org, live: Org, policy: Policy = PRUNE) -> Plan:
    """The plan, after checking it applies cleanly and leaves nothing to do."""
    plan = build_plan(desired, live, policy)
    sim = SimDingTalk.from_org(live)
    sim.apply(plan)
    again = build_plan(desired, sim.to_org(), policy)
    assert again.empty, [s.id for s in again.steps]
    return plan


def ids(plan: Plan) -> list[str]:
    return [s.id for s in plan.steps]


def get(plan: Plan, step_id: str) -> Step:
    return next(s for s in plan.steps if s.id == step_id)


def earlier(plan: Plan, first: str, second: str) -> bool:
    order = ids(plan)
    return order.index(first) < order.index(second)


# -- people -------------------------------------------------------------------------------


def test_no_changes_is_an_empty_plan() -> None:
    live = org(live_dept(2, "研发", key="eng"), user("zs", "张三", "eng", mobile=mobile(1)))
    desired = org(dept("eng", "研发"), user("zs", "张三", "eng", mobile=mobile(1)))
    plan = planned(desired, live)
    assert plan.empty
    assert plan.summary.line() == "Plan: 0 to create, 0 to update, 0 to replace, 0 to delete."


def test_unset_fields_are_unmanaged_and_live_none_is_empty() -> None:
    live = org(
        live_dept(2, "研发", key="eng", order=5, managers=("zs",)),
        user("zs", "张三", "eng", mobile=mobile(1), title="工程师", email=None),
    )
    # title, order and managers left out: unmanaged; email "" equals a live None.
    desired = org(dept("eng", "研发"), user("zs", "张三", "eng", mobile=mobile(1), email=""))
    assert planned(desired, live).empty


def test_field_changes_are_one_update_with_detail() -> None:
    live = org(live_dept(2, "研发", key="eng"), user("zs", "张三", "eng", mobile=mobile(1)))
    desired = org(
        dept("eng", "研发"),
        user("zs", "张三丰", "eng", mobile=mobile(1), title="总监", extension={"爱好": "旅游"}),
    )
    plan = planned(desired, live)
    assert ids(plan) == ["user.update:zs"]
    step = plan.steps[0]
    assert step.changes == (
        FieldChange("name", "张三", "张三丰"),
        FieldChange("title", None, "总监"),
        FieldChange("extension", None, {"爱好": "旅游"}),
    )
    assert step.body == UpdateUser(
        userid="zs", name="张三丰", title="总监", extension={"爱好": "旅游"}
    )
    assert not step.destructive


def test_changed_mobile_is_a_destructive_replace_that_keeps_unmanaged_fields() -> None:
    live = org(
        live_dept(2, "研发", key="eng"),
        user("zs", "张三", "eng", mobile=mobile(1), title="工程师", email="zs@example.com"),
    )
    desired = org(dept("eng", "研发"), user("zs", "张三", "eng", mobile=mobile(2)))
    plan = planned(desired, live)
    assert ids(plan) == ["user.delete:zs", "user.create:zs"]
    delete, create = plan.steps
    assert (delete.phase, create.phase) == (Phase.DELETE_USERS, Phase.CREATE_USERS)
    assert delete.destructive
    assert create.destructive
    assert delete.note == create.note == REPLACE_NOTE
    assert create.requires == ("user.delete:zs",)
    assert create.changes == (FieldChange("mobile", mobile(1), mobile(2)),)
    # title and email are not in the YAML: the new account keeps the live values.
    assert isinstance(create.body, CreateUser)
    assert create.body.title == "工程师"
    assert create.body.email == "zs@example.com"
    assert plan.summary.users.replace == 1
    assert plan.summary.line() == "Plan: 0 to create, 0 to update, 1 to replace, 0 to delete."


def test_mobile_swap_deletes_both_before_creating_either() -> None:
    live = org(
        live_dept(2, "研发", key="eng"),
        user("a", "甲", "eng", mobile=mobile(1)),
        user("b", "乙", "eng", mobile=mobile(2)),
    )
    desired = org(
        dept("eng", "研发"),
        user("a", "甲", "eng", mobile=mobile(2)),
        user("b", "乙", "eng", mobile=mobile(1)),
    )
    plan = planned(desired, live)
    assert ids(plan) == ["user.delete:a", "user.delete:b", "user.create:a", "user.create:b"]
    # Each create also waits for whoever held its new mobile (60104), so apply never
    # creates one while the other's delete failed.
    assert set(get(plan, "user.create:a").requires) == {"user.delete:a", "user.delete:b"}
    assert set(get(plan, "user.create:b").requires) == {"user.delete:b", "user.delete:a"}


def test_unreadable_live_mobile_is_never_a_replace() -> None:
    live = org(live_dept(2, "研发", key="eng"), user("zs", "张三", "eng", mobile=None))
    desired = org(dept("eng", "研发"), user("zs", "张三", "eng", mobile=mobile(1)))
    plan = build_plan(desired, live, PRUNE)
    assert plan.empty
    assert plan.warnings == (
        "1 live users have no readable mobile, so their mobiles were not compared (zs)",
    )


def test_new_people_are_created_manager_first() -> None:
    desired = org(
        dept("eng", "研发"),
        user("a", "甲", "eng", mobile=mobile(1), manager="b"),
        user("b", "乙", "eng", mobile=mobile(2), manager="c"),
        user("c", "丙", "eng", mobile=mobile(3)),
    )
    plan = planned(desired, org())
    assert [s.id for s in plan.steps if s.action is Action.CREATE_USER] == [
        "user.create:c",
        "user.create:b",
        "user.create:a",
    ]
    assert "user.create:b" in get(plan, "user.create:a").requires


def test_new_people_who_manage_each_other_get_their_manager_afterwards() -> None:
    desired = org(
        dept("eng", "研发"),
        user("a", "甲", "eng", mobile=mobile(1), manager="b"),
        user("b", "乙", "eng", mobile=mobile(2), manager="a"),
    )
    plan = planned(desired, org())
    created = [s for s in plan.steps if s.action is Action.CREATE_USER]
    first, second = (step.body for step in created)
    assert isinstance(first, CreateUser)
    assert isinstance(second, CreateUser)
    assert first.manager is None
    assert second.manager == created[0].key
    later = get(plan, f"user.update:{created[0].key}")
    assert later.body == UpdateUser(userid=created[0].key, manager=created[1].key)
    assert f"user.create:{created[0].key}" in later.requires


def test_replacing_a_manager_re_links_their_reports() -> None:
    live = org(
        live_dept(2, "研发", key="eng"),
        user("boss", "老板", "eng", mobile=mobile(1)),
        user("zs", "张三", "eng", mobile=mobile(2), manager="boss"),
    )
    desired = org(
        dept("eng", "研发"),
        user("boss", "老板", "eng", mobile=mobile(9)),
        user("zs", "张三", "eng", mobile=mobile(2), manager="boss"),
    )
    plan = planned(desired, live)
    relink = get(plan, "user.update:zs")
    assert relink.body == UpdateUser(userid="zs", manager="boss")
    assert relink.changes == ()
    assert relink.requires == ("user.create:boss",)
    assert "re-links" in relink.note


def test_pruned_user_is_deleted_only_with_prune_users() -> None:
    live = org(live_dept(2, "研发", key="eng"), user("zs", "张三", "eng", mobile=mobile(1)))
    desired = org(dept("eng", "研发"))
    assert build_plan(desired, live, Policy()).empty
    plan = planned(desired, live)
    assert ids(plan) == ["user.delete:zs"]
    assert plan.steps[0].destructive


def test_mobile_held_by_someone_the_plan_keeps_is_a_config_error() -> None:
    live = org(live_dept(2, "研发", key="eng"), user("old", "旧", "eng", mobile=mobile(1)))
    desired = org(dept("eng", "研发"), user("new", "新", "eng", mobile=mobile(1)))
    with pytest.raises(ConfigError) as caught:
        build_plan(desired, live, Policy())  # prune_users off: "old" stays
    assert "already used by live user old" in caught.value.problems[0].message


# -- departments ----------------------------------------------------------------------------


def test_create_tree_parents_first_with_managers_after_members() -> None:
    desired = org(
        dept("eng", "研发中心", order=10, managers=("zs",)),
        dept("eng-web", "前端组", "eng"),
        dept("eng-web-x", "X组", "eng-web"),
        user("zs", "张三", "eng", mobile=mobile(1)),
    )
    plan = planned(desired, org())
    assert ids(plan) == [
        "department.create:eng",
        "department.create:eng-web",
        "department.create:eng-web-x",
        "user.create:zs",
        "department.managers:eng",
    ]
    assert get(plan, "department.create:eng").body == CreateDepartment(
        key="eng", name="研发中心", parent=ROOT, order=10
    )
    web = get(plan, "department.create:eng-web").body
    assert isinstance(web, CreateDepartment)
    assert web.parent == "eng"
    assert get(plan, "department.create:eng-web").requires == ("department.create:eng",)
    assert set(get(plan, "department.managers:eng").requires) == {
        "department.create:eng",
        "user.create:zs",
    }


def test_unkeyed_live_department_is_adopted_by_parent_and_name() -> None:
    live = org(live_dept(2, "研发"), live_dept(3, "平台", "#2"))
    desired = org(dept("eng", "研发"), dept("plat", "平台", "eng", order=3))
    plan = planned(desired, live)
    assert ids(plan) == ["department.adopt:eng", "department.adopt:plat"]
    adopt = get(plan, "department.adopt:plat")
    assert adopt.action is Action.ADOPT_DEPARTMENT
    assert adopt.body == AdoptDepartment(dept="#3", order=3, source_identifier="plat")
    assert adopt.changes == (
        FieldChange("order", None, 3),
        FieldChange("source_identifier", None, "plat"),
    )
    # A name that differs is not a match: that is a new department (and a prune).
    renamed = build_plan(org(dept("eng", "研发"), dept("plat", "平台组", "eng")), live, PRUNE)
    assert "department.create:plat" in ids(renamed)


def test_renamed_key_in_yaml_re_keys_the_live_department() -> None:
    live = org(live_dept(2, "研发", key="rd"))
    desired = org(dept("eng", "研发"))
    plan = planned(desired, live)
    assert ids(plan) == ["department.adopt:eng"]
    assert plan.steps[0].changes == (FieldChange("source_identifier", "rd", "eng"),)


def test_department_deleted_after_its_members_moved_out() -> None:
    live = org(
        live_dept(2, "研发", key="eng"),
        live_dept(3, "旧组", "eng", key="old"),
        user("zs", "张三", "old", mobile=mobile(1)),
    )
    desired = org(dept("eng", "研发"), user("zs", "张三", "eng", mobile=mobile(1)))
    plan = planned(desired, live)
    assert ids(plan) == ["user.update:zs", "department.delete:old"]
    assert get(plan, "department.delete:old").requires == ("user.update:zs",)
    assert get(plan, "department.delete:old").destructive


def test_pruned_user_whose_every_department_goes() -> None:
    live = org(
        live_dept(2, "旧部门", key="old"),
        live_dept(3, "旧组", "old", key="old-team"),
        user("zs", "张三", "old-team", "old", mobile=mobile(1)),
    )
    plan = planned(org(), live)
    assert ids(plan) == ["user.delete:zs", "department.delete:old-team", "department.delete:old"]
    assert get(plan, "department.delete:old-team").requires == ("user.delete:zs",)
    assert set(get(plan, "department.delete:old").requires) == {
        "department.delete:old-team",
        "user.delete:zs",
    }


def test_department_with_members_the_plan_keeps_is_kept_with_a_warning() -> None:
    live = org(
        live_dept(2, "旧部门", key="old"),
        live_dept(3, "旧组", "old", key="team"),
        user("zs", "张三", "team", mobile=mobile(1)),
    )
    plan = planned(org(), live, Policy(prune_departments=True))  # prune_users off
    assert plan.empty
    assert plan.warnings == (
        "keeping department old (旧部门): its sub-department team is kept",
        "keeping department team (旧部门/旧组): 1 member not in the YAML stays "
        "(prune_users is off)",
    )


def test_manager_comes_off_the_list_before_leaving_the_department() -> None:
    live = org(
        live_dept(2, "研发", key="eng", managers=("zs", "ls")),
        live_dept(3, "销售", key="sales"),
        user("zs", "张三", "eng", mobile=mobile(1)),
        user("ls", "李四", "eng", mobile=mobile(2)),
    )
    desired = org(
        dept("eng", "研发"),  # managers unmanaged: still zs must go off before leaving
        dept("sales", "销售"),
        user("zs", "张三", "sales", mobile=mobile(1)),
        user("ls", "李四", "eng", mobile=mobile(2)),
    )
    plan = planned(desired, live)
    assert ids(plan) == ["department.clear-managers:eng", "user.update:zs"]
    clear = plan.steps[0]
    assert (clear.phase, clear.action) == (Phase.UPDATE_USERS, Action.SET_MANAGERS)
    assert clear.body == SetManagers(dept="eng", managers=("ls",))
    assert get(plan, "user.update:zs").requires == ("department.clear-managers:eng",)


def test_rename_into_a_siblings_name_while_it_renames_away() -> None:
    live = org(live_dept(2, "甲", key="a"), live_dept(3, "乙", key="b"))
    desired = org(dept("a", "乙"), dept("b", "丙"))
    plan = planned(desired, live)
    # a goes first (key order) and finds 乙 taken: b is parked under a temporary name.
    assert ids(plan) == ["department.park:b", "department.update:a", "department.update:b"]
    park = plan.steps[0]
    assert park.body == UpdateDepartment(dept="b", name="乙_orgctl_tmp1")
    assert "60021" in park.note
    assert get(plan, "department.update:a").requires == ("department.park:b",)
    assert get(plan, "department.update:b").body == UpdateDepartment(dept="b", name="丙")


def test_freeing_step_first_needs_no_temporary_name() -> None:
    live = org(live_dept(2, "甲", key="a"), live_dept(3, "乙", key="b"))
    desired = org(dept("a", "丙"), dept("b", "甲"))  # a frees 甲 before b wants it
    plan = planned(desired, live)
    assert ids(plan) == ["department.update:a", "department.update:b"]
    assert get(plan, "department.update:b").requires == ("department.update:a",)


def test_name_swap_between_siblings() -> None:
    live = org(live_dept(2, "甲", key="a"), live_dept(3, "乙", key="b"))
    desired = org(dept("a", "乙"), dept("b", "甲"))
    plan = planned(desired, live)
    assert ids(plan) == ["department.park:b", "department.update:a", "department.update:b"]
    assert set(get(plan, "department.update:b").requires) == {
        "department.park:b",
        "department.update:a",
    }


def test_move_into_a_parent_whose_same_named_child_is_deleted() -> None:
    live = org(
        live_dept(2, "研发", key="eng"),
        live_dept(3, "平台", "eng", key="old"),
        live_dept(4, "销售", key="sales"),
        live_dept(5, "平台", "sales", key="plat"),
    )
    desired = org(dept("eng", "研发"), dept("sales", "销售"), dept("plat", "平台", "eng"))
    plan = planned(desired, live)
    assert ids(plan) == ["department.park:old", "department.update:plat", "department.delete:old"]
    assert get(plan, "department.update:plat").body == UpdateDepartment(dept="plat", parent="eng")


def test_create_where_the_name_is_still_taken_uses_a_temporary_name() -> None:
    live = org(live_dept(2, "研发", key="a"))
    # "a" gives up 研发 only in phase 2; "eng" is created in phase 1.
    desired = org(dept("a", "研发一部"), dept("eng", "研发"))
    plan = planned(desired, live)
    assert ids(plan) == ["department.create:eng", "department.update:a", "department.update:eng"]
    created = get(plan, "department.create:eng").body
    assert isinstance(created, CreateDepartment)
    assert created.name == "研发_orgctl_tmp1"
    rename = get(plan, "department.update:eng")
    assert rename.body == UpdateDepartment(dept="eng", name="研发")
    assert set(rename.requires) == {"department.create:eng", "department.update:a"}
    assert plan.summary.departments.create == 1
    assert plan.summary.departments.update == 1


def test_name_held_by_a_department_the_plan_keeps_is_a_config_error() -> None:
    live = org(live_dept(2, "研发", key="other"), live_dept(3, "销售", key="eng"))
    desired = org(dept("eng", "研发"))
    with pytest.raises(ConfigError) as caught:
        build_plan(desired, live, Policy())  # prune_departments off: "other" stays
    assert "held by live department other" in caught.value.problems[0].message


def test_inverting_parent_and_child_never_makes_a_cycle() -> None:
    live = org(live_dept(2, "甲", key="x"), live_dept(3, "乙", "x", key="y"))
    desired = org(dept("y", "乙"), dept("x", "甲", "y"))
    plan = planned(desired, live)
    assert ids(plan) == ["department.update:y", "department.update:x"]
    assert get(plan, "department.update:x").requires == ("department.update:y",)


def test_a_move_waits_for_every_moving_ancestor_not_just_its_parent() -> None:
    # live: x > g > p ; desired: g at the top, p under g, x under p. Moving x under p before g
    # has left x would close the loop x > g > p > x (60010), though p itself never moves.
    live = org(
        live_dept(2, "甲", key="x"),
        live_dept(3, "乙", "x", key="g"),
        live_dept(4, "丙", "g", key="p"),
    )
    desired = org(dept("g", "乙"), dept("p", "丙", "g"), dept("x", "甲", "p"))
    plan = planned(desired, live)
    assert ids(plan) == ["department.update:g", "department.update:x"]
    assert get(plan, "department.update:x").requires == ("department.update:g",)


# -- scope ----------------------------------------------------------------------------------


def test_unmanaged_subtree_and_its_people_are_never_touched() -> None:
    live = org(
        live_dept(2, "外包", key="vendor"),
        live_dept(3, "华东", "vendor"),
        live_dept(4, "研发", key="eng"),
        user("c1", "外包一", "#3", mobile=mobile(1)),
        user("zs", "张三", "eng", "#3", mobile=mobile(2)),
    )
    policy = Policy(prune_users=True, prune_departments=True, unmanaged_departments=("外包",))
    desired = org(dept("eng", "研发"), user("zs", "张三丰", "eng", mobile=mobile(2)))
    plan = planned(desired, live, policy)
    assert ids(plan) == ["user.update:zs"]
    # DingTalk overwrites dept_id_list: the unmanaged membership goes along.
    assert plan.steps[0].body == UpdateUser(userid="zs", name="张三丰")
    assert plan.existing_users == 1
    assert plan.existing_departments == 1


def test_pruning_someone_also_in_an_unmanaged_department_only_removes_managed_ones() -> None:
    live = org(
        live_dept(2, "外包", key="vendor"),
        live_dept(4, "研发", key="eng"),
        user("zs", "张三", "eng", "vendor", mobile=mobile(2)),
    )
    policy = Policy(prune_users=True, unmanaged_departments=("外包",))
    plan = planned(org(dept("eng", "研发")), live, policy)
    assert ids(plan) == ["user.update:zs"]
    assert plan.steps[0].body == UpdateUser(userid="zs", departments=("vendor",))
    assert plan.steps[0].changes == (FieldChange("departments", ("eng",), ()),)


def test_desired_department_inside_an_unmanaged_subtree_is_a_config_error() -> None:
    live = org(live_dept(2, "外包", key="vendor"))
    desired = org(dept("x", "外包"))
    with pytest.raises(ConfigError):
        build_plan(desired, live, Policy(unmanaged_departments=("外包",)))


# -- the artefact ---------------------------------------------------------------------------


def test_fingerprint_ignores_order_and_locations_but_not_ids() -> None:
    a = org(
        live_dept(2, "甲", key="a"),
        live_dept(3, "乙", key="b"),
        user("u", "人", "a", "b", mobile=mobile(1)),
    )
    reordered = Org.of(list(a.departments.values())[::-1], list(a.users.values()))
    assert fingerprint(a) == fingerprint(reordered)
    moved_id = org(
        live_dept(9, "甲", key="a"),
        live_dept(3, "乙", key="b"),
        user("u", "人", "a", "b", mobile=mobile(1)),
    )
    assert fingerprint(a) != fingerprint(moved_id)
    assert fingerprint(a).startswith("sha256:")
    assert len(fingerprint(a)) == 71


def test_plan_json_round_trip_and_refusals() -> None:
    live = org(live_dept(2, "研发", key="eng"), user("zs", "张三", "eng", mobile=mobile(1)))
    desired = org(
        dept("eng", "研发中心"), user("zs", "张三", "eng", mobile=mobile(2), extension={"k": "v"})
    )
    plan = build_plan(desired, live, PRUNE)
    text = plan.to_json()
    assert Plan.from_json(text) == plan
    assert '"schema_version": 2' in text
    assert mobile(2) in text  # the apply artefact keeps real values
    masked = plan.masked()
    assert masked.pii_masked
    assert mobile(2) not in masked.to_json()
    assert Plan.from_json(masked.to_json()) == masked
    with pytest.raises(InputError, match="schema_version 1"):
        Plan.from_json(text.replace('"schema_version": 2', '"schema_version": 1'))
    with pytest.raises(InputError, match="not a plan file"):
        Plan.from_json("[1, 2]")
    with pytest.raises(InputError, match="summary does not match"):
        Plan.from_json(text.replace('"replace": 1', '"replace": 7', 1))


def test_plan_refuses_requirements_that_do_not_come_earlier() -> None:
    step = Step(
        id="user.create:a",
        phase=Phase.CREATE_USERS,
        key="a",
        body=CreateUser(userid="a", name="甲", departments=("root",)),
        label="甲",
        requires=("user.delete:a",),
    )
    with pytest.raises(ValueError, match="does not precede it"):
        Plan((step,), 0, 0, "sha256:x", "sha256:y")


def test_renaming_above_an_unmanaged_subtree_must_carry_its_path_along() -> None:
    live = org(
        live_dept(2, "研发", key="eng"),
        live_dept(3, "外包", "eng"),
        user("c1", "外包一", "#3", mobile=mobile(1)),
    )
    desired = org(dept("eng", "研发中心"))
    old_path_only = Policy(
        prune_users=True, prune_departments=True, unmanaged_departments=("研发/外包",)
    )
    with pytest.raises(ConfigError) as caught:
        build_plan(desired, live, old_path_only)
    (problem,) = caught.value.problems
    assert problem.file == "orgctl.yaml"
    assert "'研发/外包' to '研发中心/外包'" in problem.message
    # Naming the new path in the same change: the subtree and its people stay untouched
    # now, and after the rename the live path is the listed one.
    new_path = Policy(
        prune_users=True, prune_departments=True, unmanaged_departments=("研发中心/外包",)
    )
    plan = planned(desired, live, new_path)
    assert ids(plan) == ["department.update:eng"]


def test_new_account_taking_a_pruned_persons_email_waits_for_the_delete() -> None:
    live = org(
        live_dept(2, "研发", key="eng"),
        user("old", "旧", "eng", mobile=mobile(1), email="team@example.com"),
    )
    desired = org(
        dept("eng", "研发"), user("new", "新", "eng", mobile=mobile(2), email="team@example.com")
    )
    plan = planned(desired, live)
    assert get(plan, "user.create:new").requires == ("user.delete:old",)
    with pytest.raises(ConfigError) as caught:
        build_plan(desired, live, Policy())  # "old" stays: 60106
    assert "the email is already used by live user old" in caught.value.problems[0].message


def test_step_digests_pin_the_writes_not_the_wording_and_survive_masking() -> None:
    live = org(live_dept(2, "研发", key="eng"), user("zs", "张三", "eng", mobile=mobile(1)))
    desired = org(
        dept("eng", "研发中心"),
        user("zs", "张三", "eng", mobile=mobile(2), email="zs@example.com"),
    )
    plan = build_plan(desired, live, PRUNE)
    masked = plan.masked()
    assert [s.digest for s in masked.steps] == [s.digest for s in plan.steps]
    assert masked.digest == plan.digest
    assert len({s.digest for s in plan.steps}) == len(plan.steps)
    step = get(plan, "user.create:zs")
    assert replace(step, label="another label", note="another note").digest == step.digest
    assert replace(step, requires=()).digest != step.digest
    assert isinstance(step.body, CreateUser)
    assert replace(step, body=replace(step.body, email="other@example.com")).digest != step.digest
    assert replace(step, changes=()).digest != step.digest
    # A masked plan file keeps the real digests; an unmasked one must match its content.
    assert Plan.from_json(masked.to_json()).digest == plan.digest
    edited = plan.to_json().replace(mobile(2), mobile(3))
    with pytest.raises(InputError, match="digest does not match its content"):
        Plan.from_json(edited)
    data = json.loads(masked.to_json())
    data["digest"] = "sha256:0"
    with pytest.raises(InputError, match="its digest does not match its steps"):
        Plan.from_json(json.dumps(data))


def test_a_fresh_plan_is_compared_with_a_saved_one_step_by_step() -> None:
    live = org(live_dept(2, "研发", key="eng"), user("zs", "张三", "eng", mobile=mobile(1)))
    desired = org(dept("eng", "研发中心"), user("zs", "张三丰", "eng", mobile=mobile(1)))
    saved = build_plan(desired, live, PRUNE).masked()
    assert saved.difference(build_plan(desired, live, PRUNE)).empty
    check_reviewed(saved, build_plan(desired, live, PRUNE), "plan.json")  # no error
    # An unmanaged field edited live: the same steps.
    drifted = org(
        live_dept(2, "研发", key="eng"), user("zs", "张三", "eng", mobile=mobile(1), title="x")
    )
    assert build_plan(desired, drifted, PRUNE).live_fingerprint != saved.live_fingerprint
    check_reviewed(saved, build_plan(desired, drifted, PRUNE), "plan.json")
    # A managed field edited live, a step more, a step fewer.
    renamed = org(live_dept(2, "研发部", key="eng"), user("zs", "张三丰", "eng", mobile=mobile(1)))
    difference = saved.difference(build_plan(desired, renamed, PRUNE))
    assert (difference.added, difference.removed, difference.changed) == (
        (),
        ("user.update:zs",),
        ("department.update:eng",),
    )
    desired_more = org(
        dept("eng", "研发中心"),
        user("zs", "张三丰", "eng", mobile=mobile(1)),
        user("ls", "李四", "eng", mobile=mobile(2)),
    )
    with pytest.raises(StalePlanError) as caught:
        check_reviewed(saved, build_plan(desired_more, live, PRUNE), "plan.json")
    assert str(caught.value) == (
        "stale plan: the YAML changed since plan.json was made, and the steps planned now "
        "differ from it; nothing was written; re-plan and review:\n"
        "  + user.create:ls  (new)"
    )


def test_the_digest_is_sha256_of_the_sorted_compact_json_of_the_real_step() -> None:
    # A replace carries the live extension over in whatever order it was read.
    live = org(
        live_dept(2, "研发", key="eng"),
        user("zs", "张三", "eng", mobile=mobile(1), extension={"b": "1", "a": "2"}),
    )
    desired = org(dept("eng", "研发"), user("zs", "张三", "eng", mobile=mobile(2)))
    plan = build_plan(desired, live, PRUNE)
    create = get(plan, "user.create:zs")
    assert isinstance(create.body, CreateUser)
    assert list(create.body.extension or {}) == ["b", "a"]
    text = plan.to_json()
    data = json.loads(text)
    assert text == json.dumps(data, ensure_ascii=False, indent=2, sort_keys=True) + "\n"
    for step, stored in zip(plan.steps, data["steps"], strict=True):
        content = {k: v for k, v in stored.items() if k not in ("digest", "label", "note")}
        canonical = json.dumps(content, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
        expected = "sha256:" + hashlib.sha256(canonical.encode()).hexdigest()
        assert step.digest == stored["digest"] == expected
    joined = "\n".join(s["digest"] for s in data["steps"])
    assert data["digest"] == "sha256:" + hashlib.sha256(joined.encode()).hexdigest()
