"""One test per kind of bad input, through `load_desired` and through `orgctl validate`:
each yields exactly the problem a person needs to fix it, and never a traceback."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from typer.testing import CliRunner

from reconciler.cli import app
from reconciler.desired.load import load_desired
from reconciler.errors import ConfigError
from tests.desired.conftest import problems_of

USER = (
    'users:\n  - userid: a\n    name: A\n    mobile: "+86-15951819093"\n    departments: [root]\n'
)


def validate(org_dir: Path) -> list[str]:
    """Problems from the loader; the CLI must print the same lines and exit 1."""
    with pytest.raises(ConfigError) as caught:
        load_desired(org_dir)
    problems = problems_of(caught.value)
    result = CliRunner().invoke(app, ["validate", str(org_dir)])
    assert "Traceback" not in result.output
    assert result.exit_code == 1
    assert result.stderr.splitlines()[:-1] == problems
    return problems


def test_malformed_yaml(write_org):
    org = write_org({"u.yaml": "users:\n  - userid: a\n    name: [A\n"})
    assert validate(org) == [
        "org/u.yaml:4:1: invalid YAML: did not find expected ',' or ']' (while parsing a flow "
        "sequence started at line 3)"
    ]


def test_duplicate_key(write_org):
    org = write_org({"u.yaml": USER + "    name: B\n"})
    assert validate(org) == [
        "org/u.yaml:6:5: duplicate key 'name' (first at line 3, column 5); YAML keeps only "
        "one of them"
    ]


def test_alias_bomb(write_org):
    lines = ["a0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]"]
    lines += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 9)}]" for i in range(1, 12)]
    org = write_org({"lol.yaml": "\n".join(lines) + "\n"})
    assert validate(org) == [
        "org/lol.yaml:1:5: YAML anchors and aliases (&name, *name) are not allowed; write the "
        "value out"
    ]


def test_50_mb_file(write_org):
    org = write_org({"u.yaml": USER})
    with open(org / "huge.yaml", "wb") as handle:
        handle.truncate(50 * 1024 * 1024)  # sparse: no disk, no time
    assert validate(org) == [
        "org/huge.yaml: file is 50.0 MB; the limit is 32.0 MB per file (split it into "
        "several files)"
    ]


def test_binary_file(write_org):
    org = write_org({"photo.yaml": b"\xff\xd8\xff\xe0\x00\x10JFIF\x00"})
    assert validate(org) == ["org/photo.yaml: binary file, not YAML (NUL byte at offset 4, line 1)"]


def test_tabs(write_org):
    org = write_org({"u.yaml": USER.replace("    name", "\tname")})
    assert validate(org) == [
        "org/u.yaml:3:1: tab character: YAML indents with spaces only, never tabs"
    ]


def test_int_mobile(write_org):
    org = write_org({"u.yaml": USER.replace('"+86-15951819093"', "15951819093")})
    assert validate(org) == [
        "org/u.yaml:4:13: users[0].mobile: expected text, got the number 15951819093; put it "
        'in quotes: "15951819093"'
    ]


def test_string_departments(write_org):
    org = write_org({"u.yaml": USER.replace("[root]", "root")})
    assert validate(org) == [
        "org/u.yaml:5:18: users[0].departments: expected a list, got text; write [root]"
    ]


def test_unknown_field(write_org):
    org = write_org({"u.yaml": USER + "    emial: a@example.com\n"})
    assert validate(org) == ["org/u.yaml:6:5: users[0].emial: unknown field; did you mean 'email'?"]


def test_empty_file_is_nothing_not_an_error(write_org):
    org = write_org({"u.yaml": USER, "empty.yaml": "", "blank.yaml": "\n\n# todo\n"})
    loaded, _ = load_desired(org)
    assert list(loaded.users) == ["a"]


def test_list_file(write_org):
    org = write_org({"u.yaml": "- userid: a\n"})
    assert validate(org) == [
        "org/u.yaml:1:1: expected a mapping with 'departments:' and/or 'users:' at the top, "
        "got a list"
    ]


def test_scalar_file(write_org):
    org = write_org({"u.yaml": "42\n"})
    assert validate(org) == [
        "org/u.yaml:1:1: expected a mapping with 'departments:' and/or 'users:' at the top, "
        "got the number 42"
    ]


def test_policy_that_is_not_a_mapping(write_org):
    org = write_org({"u.yaml": USER, "orgctl.yaml": "# policy\n- prune\n"})
    assert validate(org) == [
        "org/orgctl.yaml:2:1: expected a mapping of policy settings, got a list"
    ]


def test_non_utf8(write_org):
    org = write_org({"u.yaml": USER.replace("A", "张三").encode("gb18030")})
    assert validate(org) == [
        "org/u.yaml:3:11: not UTF-8: byte 0xd5 at offset 31; save the file as UTF-8"
    ]


def test_symlink_outside_is_an_error_and_never_read(write_org, tmp_path):
    secret = tmp_path / "secret.yaml"
    secret.write_text("users: [not, even, valid]\n")  # would be a schema error if read
    org = write_org({"u.yaml": USER})
    os.symlink(secret, org / "link.yaml")
    os.symlink(tmp_path, org / "linked-dir")
    assert validate(org) == [
        f"org/link.yaml: symlink to {secret}, outside org/; not followed (copy the file in "
        "instead)",
        f"org/linked-dir: symlink to {tmp_path}, outside org/; not followed (copy the file in "
        "instead)",
    ]
