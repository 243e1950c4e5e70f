"""The shared value types: Org, Department, User, unkeyed departments."""

from __future__ import annotations

from reconciler.model import ROOT, Department, Org, User, is_unkeyed, unkeyed


def _org() -> Org:
    return Org.of(
        departments=[
            Department(key="eng", name="研发中心", parent=ROOT),
            Department(key="platform", name="平台组", parent="eng"),
            Department(key="infra", name="基础设施", parent="platform"),
        ],
        users=[
            User(userid="zhangsan", name="张三", departments=("eng", "platform")),
            User(userid="lisi", name="李四", departments=("infra",)),
        ],
    )


def test_depth_ancestors_and_path_follow_parents():
    org = _org()
    assert [org.depth(k) for k in ("eng", "platform", "infra")] == [1, 2, 3]
    assert list(org.ancestors("infra")) == ["platform", "eng"]
    assert org.path("infra") == "研发中心/平台组/基础设施"
    assert org.members("platform") == ("zhangsan",)


def test_depth_stops_on_a_cycle_instead_of_looping():
    org = Org.of(
        departments=[
            Department(key="a", name="A", parent="b"),
            Department(key="b", name="B", parent="a"),
        ]
    )
    assert org.depth("a") == 2
    assert list(org.ancestors("a")) == ["b"]


def test_live_only_fields_do_not_affect_equality():
    desired = Department(key="eng", name="研发中心", parent=ROOT, order=1)
    live = Department(
        key="eng", name="研发中心", parent=ROOT, order=1, dept_id=42, source_identifier="eng"
    )
    assert desired == live
    assert desired != Department(key="eng", name="研发中心", parent=ROOT, order=2)


def test_unkeyed_keys_cannot_collide_with_yaml_keys():
    assert unkeyed(7) == "#7"
    assert is_unkeyed(unkeyed(7))
    assert not is_unkeyed("eng")
