"""dump_org: pure, stable YAML that reads back as the live Org (modulo generated keys)."""

from __future__ import annotations

import asyncio
import dataclasses
from pathlib import Path
from typing import Any

import yaml

from reconciler.clock import FakeClock
from reconciler.desired.load import load_desired
from reconciler.live.dump import dump_org, generated_keys
from reconciler.live.snapshot import read_live
from reconciler.live.target import sandbox_client
from reconciler.model import ROOT, Department, DeptKey, Org, User, is_unkeyed
from reconciler.sandbox import Sandbox
from tests.live.helpers import seed

LIVE = Org.of(
    [
        Department(key="eng", name="研发中心", parent=ROOT, order=10, managers=("zhangsan",)),
        Department(key="#3", name="平台组", parent="eng", order=1, managers=()),
        Department(key="hr", name="人力资源部", parent=ROOT, order=5, managers=()),
    ],
    [
        User(
            userid="zhangsan",
            name="张三",
            departments=("#3", "eng"),
            mobile="+86-15172391968",
            title="技术总监",
            job_number="0042",
            extension={"爱好": "旅游"},
        ),
        User(userid="boss", name="老板", departments=(ROOT,), mobile="+86-13800000000"),
        User(
            userid="lisi",
            name="Li Si",
            departments=("hr",),
            mobile="+852-51234567",
            remark="line one\nline two",
            manager="boss",
        ),
    ],
)


def test_the_dump_is_the_expected_yaml():
    files = dump_org(LIVE)
    assert list(files) == [
        "departments.yaml",
        "people/eng.yaml",
        "people/hr.yaml",
        "people/root.yaml",
    ]
    header = "# Written by `orgctl dump` from the live directory. Edit, then `orgctl plan`.\n"
    assert files["departments.yaml"] == header + (
        "departments:\n"
        "# 人力资源部\n"
        "- key: hr\n"
        "  name: 人力资源部\n"
        "  parent: root\n"
        "  order: 5\n"
        "# 研发中心\n"
        "- key: eng\n"
        "  name: 研发中心\n"
        "  parent: root\n"
        "  order: 10\n"
        "  managers: [zhangsan]\n"
        "# 研发中心/平台组\n"
        "- key: dept-3\n"
        "  name: 平台组\n"
        "  parent: eng\n"
        "  order: 1\n"
    )
    assert files["people/eng.yaml"] == header + (
        "users:\n"
        "- userid: zhangsan\n"
        "  name: 张三\n"
        "  mobile: +86-15172391968\n"
        "  departments: [dept-3, eng]\n"
        "  title: 技术总监\n"
        "  job_number: '0042'\n"
        "  extension:\n"
        "    爱好: 旅游\n"
    )
    assert files["people/hr.yaml"] == header + (
        "users:\n"
        "- userid: lisi\n"
        "  name: Li Si\n"
        "  mobile: +852-51234567\n"
        "  departments: [hr]\n"
        "  remark: |-\n"
        "    line one\n"
        "    line two\n"
        "  manager: boss\n"
    )
    assert "departments: [root]" in files["people/root.yaml"]


def test_an_empty_directory_dumps_to_an_empty_tree():
    assert dump_org(Org.of()) == {
        "departments.yaml": (
            "# Written by `orgctl dump` from the live directory. Edit, then `orgctl plan`.\n"
            "departments: []\n"
        )
    }


def test_generated_keys_never_collide_with_real_ones():
    live = Org.of(
        [
            Department(key="dept-3", name="甲", parent=ROOT),
            Department(key="#3", name="乙", parent=ROOT),
            Department(key="#12", name="丙", parent="#3"),
        ]
    )
    keys = generated_keys(live)
    assert keys == {ROOT: ROOT, "dept-3": "dept-3", "#3": "dept-3-2", "#12": "dept-12"}
    assert "parent: dept-3-2" in dump_org(live)["departments.yaml"]


def read_back(files: dict[str, str]) -> Org:
    """The dump parsed as plain YAML into an Org (what the loader does, minus validation)."""
    departments: list[Department] = []
    users: list[User] = []
    for text in files.values():
        data: dict[str, Any] = yaml.safe_load(text)
        for d in data.get("departments") or []:
            departments.append(
                Department(
                    key=d["key"],
                    name=d["name"],
                    parent=d["parent"],
                    order=d.get("order"),
                    managers=tuple(d.get("managers", ())),
                )
            )
        for u in data.get("users") or []:
            users.append(User(**{**u, "departments": tuple(u["departments"])}))
    return Org.of(departments, users)


def rekey(live: Org, keys: dict[DeptKey, DeptKey]) -> Org:
    return Org.of(
        [
            Department(
                key=keys[d.key],
                name=d.name,
                parent=keys[d.parent],
                order=d.order,
                managers=d.managers,
            )
            for d in live.departments.values()
        ],
        [
            User(
                **{
                    **{f: getattr(u, f) for f in User.__dataclass_fields__ if f != "location"},
                    "departments": tuple(sorted(keys[k] for k in u.departments)),
                }
            )
            for u in live.users.values()
        ],
    )


def test_a_sandbox_snapshot_dumps_and_reads_back_unchanged(clock: FakeClock):
    sb = Sandbox(clock=clock)
    seed(sb.tenant, departments=60, users=400)

    async def go() -> Org:
        async with sandbox_client(sb, clock) as client:
            return await read_live(client)

    live = asyncio.run(go())
    sb.close()
    files = dump_org(live)
    assert files == dump_org(live)  # stable
    assert sum(1 for key in live.departments if is_unkeyed(key)) == 12
    assert read_back(files) == rekey(live, generated_keys(live))
    # every user is written exactly once, in the file of their first department's top level
    userids = [
        u["userid"]
        for name, text in files.items()
        if name.startswith("people/")
        for u in yaml.safe_load(text)["users"]
    ]
    assert sorted(userids) == sorted(live.users)


def test_identifiers_the_schema_refuses_get_valid_keys():
    live = Org.of(
        [
            Department(key="HR 001", name="人事", parent=ROOT, dept_id=7),
            Department(key="研发", name="研发", parent="HR 001", dept_id=8),
            Department(key="Root", name="总部", parent=ROOT, dept_id=9),
            Department(key="hr-001", name="已有", parent=ROOT, dept_id=10),
        ]
    )
    keys = generated_keys(live)
    assert keys == {
        ROOT: ROOT,
        "hr-001": "hr-001",
        "HR 001": "hr-001-2",
        "研发": "dept-8",
        "Root": "dept-9",
    }
    assert "parent: hr-001-2" in dump_org(live)["departments.yaml"]


def test_the_dump_passes_the_loader_and_loads_as_the_live_org(tmp_path: Path, clock: FakeClock):
    sb = Sandbox(clock=clock)
    seed(sb.tenant, departments=30, users=200)
    hk = sb.tenant.add_department("香港办事处", order=99)  # unkeyed
    sb.tenant.add_user(
        "chan.taiman",
        "Chan  Tai Man",
        "+852-51234567",
        [hk, 1],
        job_number="007",
        telephone="010-86123456-2345",
        work_place="中环 1 号",
        remark="第一行\n第二行",
        extension={"爱好": "旅游", "年龄": "24"},
    )

    async def go() -> Org:
        async with sandbox_client(sb, clock) as client:
            return await read_live(client)

    live = asyncio.run(go())
    sb.close()
    out = tmp_path / "org"
    for name, text in dump_org(live).items():
        (out / name).parent.mkdir(parents=True, exist_ok=True)
        (out / name).write_text(text, encoding="utf-8")
    desired, _ = load_desired(out)
    expected = rekey(live, generated_keys(live))
    # A department without managers is dumped without the field: unmanaged, like every
    # field the live directory leaves empty.
    expected = Org.of(
        [
            dataclasses.replace(d, managers=d.managers or None)
            for d in expected.departments.values()
        ],
        list(expected.users.values()),
    )
    assert desired == expected
    assert desired.users["chan.taiman"].job_number == "007"
    assert desired.users["chan.taiman"].name == "Chan Tai Man"
