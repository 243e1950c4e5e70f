"""The YAML edit library on its own: each edit changes its lines and no others."""

from __future__ import annotations

import difflib
import shutil
from pathlib import Path

import pytest
import yaml

from reconciler.desired.edit import AddEntry, OrgFiles, RemoveEntry, SetField
from reconciler.desired.load import load_desired
from reconciler.errors import InputError

PEOPLE = """\
# People of 研发中心.
users:
  # 平台部
  - userid: lisi   # team lead
    name: 李四
    mobile: '18678657975'
    departments: [eng-platform, eng]
    title: 负责人

  - userid: zhaolei
    name: 赵磊
    mobile: "+86-18743231948"
    departments: [eng-sre]
    # the office moves in 2027
    work_place: 望京

  # 产品研发部
  - userid: chenjing
    name: 陈静
    mobile: "13689555979"
    departments: [eng-product]
"""

# Written the way ruamel would not write it back byte for byte.
LOOSE = """\
users:
- userid: a
  name:   张三
  mobile: '13800000000'
  departments: [ eng ]
  title: x
- userid: b
  name: B
  mobile: "13800000001"
  departments:
  - eng
  - hr
"""


def tree(tmp_path: Path, **files: str) -> OrgFiles:
    for name, text in files.items():
        path = tmp_path / name.replace("__", "/")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return OrgFiles.load(tmp_path)


def changed_lines(before: str, after: str) -> list[str]:
    return [
        line
        for line in difflib.unified_diff(before.splitlines(), after.splitlines(), n=0, lineterm="")
        if line[:1] in "+-" and line[:3] not in ("+++", "---")
    ]


def test_setting_fields_changes_only_their_lines_and_keeps_quotes_and_flow_lists(
    tmp_path: Path,
) -> None:
    files = tree(tmp_path, people__eng="")  # a directory of several files
    files = tree(tmp_path, **{"people/eng.yaml": PEOPLE})
    files.apply(
        [
            SetField("users", "lisi", "mobile", "13911112222"),
            SetField("users", "lisi", "departments", ["eng", "eng-sre"]),
            SetField("users", "zhaolei", "work_place", "酒仙桥"),
        ]
    )
    (name, text), *_ = files.changed().items()
    assert name == "people/eng.yaml"
    assert changed_lines(PEOPLE, text) == [
        "-    mobile: '18678657975'",
        "-    departments: [eng-platform, eng]",
        "+    mobile: '13911112222'",
        "+    departments: [eng, eng-sre]",  # eng keeps its place, eng-sre is appended
        "-    work_place: 望京",
        "+    work_place: 酒仙桥",
    ]


def test_removing_an_entry_keeps_the_comments_around_it(tmp_path: Path) -> None:
    files = tree(tmp_path, **{"eng.yaml": PEOPLE})
    files.apply([RemoveEntry("users", "zhaolei")])
    text = files.changed()["eng.yaml"]
    assert "# the office moves in 2027" not in text  # inside the entry: goes with it
    assert "  # 产品研发部\n  - userid: chenjing" in text
    assert "负责人\n\n  # 产品研发部\n" in text  # one blank line, not two
    assert yaml.safe_load(text)["users"][1]["userid"] == "chenjing"


def test_removing_the_first_and_the_last_entries(tmp_path: Path) -> None:
    files = tree(tmp_path, **{"eng.yaml": PEOPLE})
    files.apply([RemoveEntry("users", "lisi"), RemoveEntry("users", "chenjing")])
    text = files.changed()["eng.yaml"]
    assert text.startswith("# People of 研发中心.\nusers:\n  # 平台部\n  - userid: zhaolei\n")
    assert text.endswith("    work_place: 望京\n\n  # 产品研发部\n")
    files.apply([RemoveEntry("users", "zhaolei")])
    assert yaml.safe_load(files.changed()["eng.yaml"]) == {"users": []}


def test_adding_follows_the_files_spacing_and_indentation(tmp_path: Path) -> None:
    files = tree(tmp_path, **{"eng.yaml": PEOPLE, "loose.yaml": LOOSE})
    entry = {"userid": "new", "name": "新人", "mobile": "+86-13700000000", "departments": ["eng"]}
    files.apply(
        [
            AddEntry("users", entry, "eng.yaml", after="lisi"),
            AddEntry("users", {**entry, "userid": "first"}, "eng.yaml", after=None),
            AddEntry("users", {**entry, "userid": "c"}, "loose.yaml", after="b"),
        ]
    )
    text = files.changed()["eng.yaml"]
    assert (
        "    title: 负责人\n\n"
        "  - userid: new\n"
        "    name: 新人\n"
        '    mobile: "+86-13700000000"\n'
        "    departments: [eng]\n\n"
        "  - userid: zhaolei\n"
    ) in text
    assert "  # 平台部\n  - userid: first\n" in text
    assert [u["userid"] for u in yaml.safe_load(text)["users"]] == [
        "first",
        "lisi",
        "new",
        "zhaolei",
        "chenjing",
    ]
    assert files.changed()["loose.yaml"].endswith("  - hr\n- userid: c\n  name: 新人\n"
        '  mobile: "+86-13700000000"\n  departments: [eng]\n')  # fmt: skip


def test_a_file_ruamel_would_reformat_changes_only_where_edited(tmp_path: Path) -> None:
    files = tree(tmp_path, **{"loose.yaml": LOOSE})
    files.apply(
        [SetField("users", "a", "title", "y"), SetField("users", "b", "departments", ["eng"])]
    )
    assert changed_lines(LOOSE, files.changed()["loose.yaml"]) == [
        "-  title: x",
        "+  title: y",
        "-  - hr",
    ]


def test_new_files_and_empty_lists_get_entries(tmp_path: Path) -> None:
    files = tree(tmp_path, **{"empty.yaml": "# nobody yet\nusers: []\n"})
    entry = {"userid": "a", "name": "A", "mobile": "+86-13700000000", "departments": ["eng"]}
    files.apply(
        [
            AddEntry("users", entry, "empty.yaml"),
            AddEntry("users", {**entry, "userid": "b"}, "people/new.yaml"),
        ]
    )
    changed = files.changed()
    assert changed["empty.yaml"].startswith("# nobody yet\nusers:\n  - userid: a\n")
    assert yaml.safe_load(changed["people/new.yaml"])["users"][0]["userid"] == "b"
    assert files.write() == ["empty.yaml", "people/new.yaml"]
    assert (tmp_path / "people/new.yaml").read_text(encoding="utf-8") == changed["people/new.yaml"]
    assert files.changed() == {}


def test_edits_name_entries_that_exist(tmp_path: Path) -> None:
    files = tree(tmp_path, **{"eng.yaml": PEOPLE})
    with pytest.raises(InputError, match="no user 'nobody'"):
        files.apply([SetField("users", "nobody", "title", "x")])
    with pytest.raises(InputError, match=r"already in eng\.yaml"):
        files.apply([AddEntry("users", {"userid": "lisi", "name": "x"}, "other.yaml")])
    assert files.changed() == {}


def test_the_policy_file_is_never_an_org_file(tmp_path: Path) -> None:
    files = tree(tmp_path, **{"orgctl.yaml": "prune: {users: true}\n", "eng.yaml": PEOPLE})
    assert files.names() == ["eng.yaml"]


def test_an_edit_of_one_file_never_parses_or_writes_the_others(tmp_path: Path) -> None:
    org = tmp_path / "org"
    shutil.copytree(Path(__file__).parents[2] / "org", org)
    before = {p: p.stat().st_mtime_ns for p in org.rglob("*.yaml")}
    desired, _ = load_desired(org)
    files = OrgFiles.load(org, desired)
    assert files.parsed() == {}, "loading with the loader's locations parses nothing"
    target = files.file_of("users", "lisi")
    assert target is not None
    edits = [
        SetField("users", "lisi", "title", "架构师"),
        SetField("users", "zhaolei", "title", ""),
    ]
    files.apply(edits)
    assert files.write() == [target]
    assert list(files.parsed()) == [target]
    for path, mtime in before.items():
        if path.relative_to(org).as_posix() != target:
            assert path.stat().st_mtime_ns == mtime, path
    assert "架构师" in (org / target).read_text(encoding="utf-8")
    assert load_desired(org)[0].users["lisi"].title == "架构师"
    assert load_desired(org)[0].users["zhaolei"].title == ""


TIGHT = """\
users:
  # 平台部
  - userid: a
    name: A
  # leaves in March
  # (kept on until the handover)
  - userid: b
    name: B
  - userid: c
    name: C
"""


@pytest.mark.parametrize(
    "header",
    [
        "",
        # A flow-style list in the same file: the round-trip path, not the line patch.
        "departments: [{key: eng, name: 研发, parent: root}]\n",
    ],
)
def test_a_comment_written_right_above_a_removed_entry_goes_with_it(
    tmp_path: Path, header: str
) -> None:
    files = tree(tmp_path, **{"eng.yaml": header + TIGHT})
    files.apply([RemoveEntry("users", "b")])
    text = files.changed()["eng.yaml"]
    assert text == header + TIGHT.replace(
        "  # leaves in March\n  # (kept on until the handover)\n  - userid: b\n    name: B\n", ""
    )
    # A comment under the list's key (or under a blank line) heads a group: it stays.
    files.apply([RemoveEntry("users", "a")])
    left = header + "users:\n  # 平台部\n  - userid: c\n    name: C\n"
    assert files.changed()["eng.yaml"] == left
