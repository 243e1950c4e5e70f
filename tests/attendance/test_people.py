"""Attendance selectors (--department / --user) resolved to userids on a live Org."""

from __future__ import annotations

import pytest

from reconciler.attendance.people import select_people, subtree, user_departments
from reconciler.errors import InputError
from reconciler.model import ROOT, Department, Org, User


def org() -> Org:
    return Org.of(
        departments=[
            Department(key="eng", name="研发中心", parent=ROOT),
            Department(key="eng-platform", name="平台组", parent="eng"),
            Department(key="eng-platform-db", name="数据库", parent="eng-platform"),
            Department(key="sales", name="销售部", parent=ROOT),
        ],
        users=[
            User(userid="zhangsan", name="张三", departments=("eng",)),
            User(userid="lisi", name="李四", departments=("eng-platform-db",)),
            User(userid="wangwu", name="王五", departments=("sales",)),
            User(userid="boss", name="老板", departments=(ROOT,)),
            User(userid="both", name="两栖", departments=("eng-platform", "sales")),
        ],
    )


def test_everyone_by_default() -> None:
    assert select_people(org()) == ("boss", "both", "lisi", "wangwu", "zhangsan")


def test_a_department_selects_its_whole_subtree() -> None:
    assert subtree(org(), "eng") == {"eng", "eng-platform", "eng-platform-db"}
    assert select_people(org(), departments=["eng"]) == ("both", "lisi", "zhangsan")
    assert select_people(org(), departments=["eng-platform-db"]) == ("lisi",)


def test_selectors_add_up() -> None:
    assert select_people(org(), departments=["sales"], users=["lisi"]) == ("both", "lisi", "wangwu")


def test_root_selects_everyone() -> None:
    assert select_people(org(), departments=[ROOT]) == select_people(org())


def test_every_unknown_selector_is_reported_at_once() -> None:
    with pytest.raises(InputError) as caught:
        select_people(org(), departments=["eng-platfrom", "hr"], users=["zhangsna"])
    message = str(caught.value)
    assert "--department eng-platfrom" in message
    assert "did you mean eng-platform" in message
    assert "--department hr" in message
    assert "--user zhangsna" in message


def test_department_paths_of_a_person() -> None:
    assert user_departments(org(), "lisi") == "研发中心/平台组/数据库"
    assert user_departments(org(), "both") == "研发中心/平台组; 销售部"
    assert user_departments(org(), "boss") == "/"
