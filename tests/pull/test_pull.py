"""Console changes → `pull` → the YAML describes DingTalk: plan is empty, every comment is
kept, and `git diff` shows the changed entries and nothing else."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from reconciler.desired.load import load_desired
from reconciler.live.pull import Scope
from tests.pull.conftest import Tenant


def comments(org: Path) -> list[str]:
    """Every comment line and end-of-line comment of every org file, with its file."""
    found = []
    for path in sorted(org.rglob("*.yaml")):
        for line in path.read_text(encoding="utf-8").splitlines():
            if "#" in line:
                found.append(f"{path.relative_to(org)}: {line[line.index('#') :]}")
    return found


def diff_lines(tenant: Tenant) -> tuple[list[str], list[str]]:
    """(removed, added) lines of `git diff`, each as 'file: text'."""
    tenant.git("add", "-A", "-N")
    removed: list[str] = []
    added: list[str] = []
    current = ""
    for line in tenant.git("diff", "-U0").splitlines():
        if line.startswith("+++ "):
            current = line[6:]
        elif line.startswith("--- "):
            current = line[6:] if line != "--- /dev/null" else current
        elif line.startswith("-") and not line.startswith("---"):
            removed.append(f"{current}: {line[1:]}")
        elif line.startswith("+") and not line.startswith("+++"):
            added.append(f"{current}: {line[1:]}")
    return removed, added


def entry_lines(org: Path, file: str, ident_line: str) -> list[str]:
    """The lines of one list entry as the file has them (from its `- ` line to its last)."""
    lines = (org / file).read_text(encoding="utf-8").splitlines()
    start = lines.index(ident_line)
    end = start + 1
    while end < len(lines) and lines[end].startswith("    "):
        end += 1
    return [f"{file}: {line}" for line in lines[start:end]]


def test_console_changes_come_back_as_the_smallest_diff(tenant: Tenant) -> None:
    t = tenant.sb.tenant
    before_comments = comments(tenant.org)
    removed_entry = entry_lines(tenant.org, "people/engineering.yaml", "  - userid: qianwei")
    # In the console: rename 移动端组, move 基础架构组 under 研发中心, a new title, a new
    # mobile (the console can change one; the API cannot), someone leaves, someone joins.
    t.update_department(tenant.dept_id("eng-mobile"), {"name": "移动开发组"})
    t.update_department(tenant.dept_id("eng-infra"), {"parent_id": tenant.dept_id("eng")})
    t.update_user("lisi", {"title": "平台部总监"})
    with t.transaction() as db:
        db.execute("UPDATE users SET mobile = ? WHERE userid = ?", ("+86-13911112222", "zhaolei"))
        db.execute("UPDATE users SET mobile = ? WHERE userid = ?", ("+86-13911113333", "lisi"))
    t.delete_user("qianwei")
    t.add_user(
        "newdev",
        "新同事",
        "+86-13700001111",
        [tenant.dept_id("eng-sre")],
        title="SRE工程师",
        email="newdev@xinghe.example",
    )
    assert not tenant.plan().empty

    result = tenant.pull()

    assert tenant.plan().empty, [str(s) for s in tenant.plan().steps]
    assert comments(tenant.org) == before_comments
    removed, added = diff_lines(tenant)
    expected_removed = sorted(
        [
            "departments.yaml:     name: 移动端组",
            "departments.yaml:     parent: eng-platform",
            "people/engineering.yaml:     title: 平台部负责人",
            'people/engineering.yaml:     mobile: "+86-18743231948"',
            'people/engineering.yaml:     mobile: "18678657975"',
            "people/engineering.yaml: ",  # the blank line that separated qianwei
            *removed_entry,
        ]
    )
    new_entry = [
        "  - userid: newdev",
        "    name: 新同事",
        '    mobile: "+86-13700001111"',
        "    departments: [eng-sre]",
        "    title: SRE工程师",
        "    email: newdev@xinghe.example",
    ]
    expected_added = sorted(
        [
            "departments.yaml:     name: 移动开发组",
            "departments.yaml:     parent: eng",
            "people/engineering.yaml:     title: 平台部总监",
            # Each mobile keeps its spelling: quoted, with or without +86.
            'people/engineering.yaml:     mobile: "+86-13911112222"',
            'people/engineering.yaml:     mobile: "13911113333"',
            "people/engineering.yaml: ",
            *(f"people/engineering.yaml: {line}" for line in new_entry),
        ]
    )
    # git may pair a line of the removed entry with the same line of the new one, so the
    # diff can be smaller than the edits, never larger or elsewhere.
    assert len(removed) + len(added) <= len(expected_removed) + len(expected_added)
    assert set(removed) <= set(expected_removed)
    assert set(added) <= set(expected_added)
    assert "departments.yaml:     name: 移动开发组" in added
    assert 'people/engineering.yaml:     mobile: "13911113333"' in added
    # The new person follows the last person of their department, where dump's rule puts
    # them (the file of 研发中心's people).
    text = (tenant.org / "people/engineering.yaml").read_text(encoding="utf-8")
    assert (
        text.index("userid: zhaolei") < text.index("userid: newdev") < text.index("userid: michael")
    )
    described = [change.describe() for change in result.changes]
    assert "person qianwei removed (people/engineering.yaml)" in described
    assert "new person newdev (people/engineering.yaml)" in described
    mobile_line = next(line for line in described if line.startswith("person zhaolei"))
    assert "13911112222" not in mobile_line
    assert "+86-139****2222" in mobile_line


def test_pull_twice_changes_nothing_the_second_time(tenant: Tenant) -> None:
    tenant.sb.tenant.update_user("zhangsan", {"title": "CTO"})
    first = tenant.pull()
    assert [c.ident for c in first.changes] == ["zhangsan"]
    tenant.git("commit", "-qam", "pulled")
    second = tenant.pull()
    assert second.changes == ()
    assert tenant.git("status", "--porcelain") == ""


def test_a_field_the_yaml_leaves_out_stays_out(tenant: Tenant) -> None:
    # qianwei has no email in the YAML: a console email is not managed, so not pulled.
    tenant.sb.tenant.update_user("qianwei", {"email": "qw@xinghe.example", "title": "SRE"})
    tenant.pull()
    text = (tenant.org / "people/engineering.yaml").read_text(encoding="utf-8")
    assert "qw@xinghe.example" not in text
    assert "    title: SRE\n" in text
    assert tenant.plan().empty


def test_a_cleared_field_stays_managed_as_empty(tenant: Tenant) -> None:
    tenant.sb.tenant.update_user("michael", {"extension": {}, "work_place": ""})
    with tenant.sb.tenant.transaction() as db:  # what clearing a title in the console does
        db.execute(
            "UPDATE users SET fields = json_remove(fields, '$.title') WHERE userid = 'michael'"
        )
    tenant.pull()
    desired, _ = load_desired(tenant.org)
    assert desired.users["michael"].title == ""
    assert desired.users["michael"].extension == {}
    assert tenant.plan().empty


@pytest.mark.parametrize(
    ("scope", "expected"),
    [
        (Scope(only="users"), {"zhangsan"}),
        (Scope(only="departments"), {"eng-web"}),
        (Scope(subtree="sales"), {"sunli"}),
        (Scope(subtree="eng-product"), {"eng-web"}),
    ],
)
def test_only_and_a_subtree_limit_what_pull_touches(
    tenant: Tenant, scope: Scope, expected: set[str]
) -> None:
    t = tenant.sb.tenant
    t.update_user("zhangsan", {"title": "CTO"})
    t.update_user("sunli", {"title": "销售总裁"})
    t.update_department(tenant.dept_id("eng-web"), {"name": "前端组"})
    result = tenant.pull(scope)
    changed = {c.ident for c in result.changes}
    if scope.only == "users":
        expected = expected | {"sunli"}
    assert changed == expected
    plan = tenant.plan()
    assert not plan.empty  # what was out of scope is still drift


def test_a_console_made_department_and_its_people_are_added_where_dump_puts_them(
    tenant: Tenant,
) -> None:
    t = tenant.sb.tenant
    new_id = t.add_department("数据组", tenant.dept_id("eng-platform"), order=15)
    t.add_user("data01", "数据工程师", "+86-13700002222", [new_id])
    result = tenant.pull()
    departments = yaml.safe_load((tenant.org / "departments.yaml").read_text(encoding="utf-8"))
    keys = [d["key"] for d in departments["departments"]]
    new_key = f"dept-{new_id}"
    # Depth first, siblings by order: after 运维组 (10), before 基础架构组 (20).
    assert keys.index("eng-sre") + 1 == keys.index(new_key) == keys.index("eng-infra") - 1
    people = yaml.safe_load((tenant.org / "people/engineering.yaml").read_text(encoding="utf-8"))
    assert {"userid": "data01", "name": "数据工程师", "mobile": "+86-13700002222",
            "departments": [new_key]} in people["users"]  # fmt: skip
    assert f"new department {new_key} (departments.yaml)" in [c.describe() for c in result.changes]
    assert any(new_key in note and "next apply" in note for note in result.notes)
    # The only step left writes the new key into DingTalk (adopt).
    assert [(s.action.value, s.key) for s in tenant.plan().steps] == [("adopt_department", new_key)]


def test_a_removed_department_and_person_leave_no_dangling_reference(tenant: Tenant) -> None:
    t = tenant.sb.tenant
    for userid in t.member_ids(tenant.dept_id("sales-hangzhou")):
        t.delete_user(userid)
    t.delete_department(tenant.dept_id("sales-hangzhou"))
    tenant.pull()
    text = (tenant.org / "departments.yaml").read_text(encoding="utf-8")
    assert "sales-hangzhou" not in text
    assert tenant.plan().empty
    assert re.search(r"\n\n\n", text) is None  # no double blank line where it was
