"""The safe YAML reader: every kind of bad input gets one clear problem, never a traceback,
and the fast line reader agrees exactly with PyYAML wherever it answers."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from reconciler.desired.yamlsafe import (
    MAX_DEPTH,
    MAX_FILE_BYTES,
    Document,
    _FastParser,
    _parse_with_pyyaml,
    line_col,
    parse_yaml,
    read_yaml,
)
from reconciler.errors import ConfigError
from tests.desired.conftest import DATA


def read_problems(path: Path) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        read_yaml(path, path.name)
    return [str(problem) for problem in caught.value.problems]


def parse_problems(text: str) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        parse_yaml(text, "f.yaml")
    return [str(problem) for problem in caught.value.problems]


# --- bytes --------------------------------------------------------------------------------------


def test_a_50_mb_file_is_refused_by_its_size_before_any_byte_is_read(tmp_path):
    big = tmp_path / "big.yaml"
    with open(big, "wb") as handle:
        handle.truncate(50 * 1024 * 1024)  # sparse: costs no disk, reads as NUL bytes
    # Had it been read, the NUL bytes would have been reported as a binary file instead.
    assert read_problems(big) == [
        "big.yaml: file is 50.0 MB; the limit is 32.0 MB per file (split it into several files)"
    ]


def test_the_limit_is_inclusive(tmp_path, monkeypatch):
    monkeypatch.setattr("reconciler.desired.yamlsafe.MAX_FILE_BYTES", 100)
    path = tmp_path / "f.yaml"
    path.write_text("users: []\n" + "#" * 89 + "\n")  # 100 bytes
    assert read_yaml(path, "f.yaml").data == {"users": []}
    path.write_text("users: []\n" + "#" * 90 + "\n")
    assert read_problems(path) == [
        "f.yaml: file is 101 bytes; the limit is 100 bytes per file (split it into several files)"
    ]


def test_the_limit_fits_a_100k_person_file():
    assert MAX_FILE_BYTES >= 100_000 * 200


def test_binary_file_names_the_first_nul_byte(tmp_path):
    path = tmp_path / "logo.yaml"
    path.write_bytes(b"users:\n  - x\n\x89PNG\x00\x00")
    assert read_problems(path) == [
        "logo.yaml: binary file, not YAML (NUL byte at offset 17, line 3)"
    ]


def test_utf16_is_named_as_such(tmp_path):
    path = tmp_path / "u16.yaml"
    path.write_bytes("users: []\n".encode("utf-16"))
    assert read_problems(path) == ["u16.yaml: file is encoded as UTF-16; save it as UTF-8"]


def test_non_utf8_bytes_are_located_by_offset_line_and_column(tmp_path):
    path = tmp_path / "gbk.yaml"
    path.write_bytes(b"users:\n  - name: " + "张三".encode("gbk") + b"\n")
    assert read_problems(path) == [
        "gbk.yaml:2:11: not UTF-8: byte 0xd5 at offset 17; save the file as UTF-8"
    ]


def test_a_utf8_bom_is_accepted(tmp_path):
    path = tmp_path / "bom.yaml"
    path.write_bytes(b"\xef\xbb\xbfusers: []\n")
    assert read_yaml(path, "bom.yaml").data == {"users": []}


def test_control_characters_are_located():
    assert parse_problems("a: b\nc: d\x1be\n") == [
        "f.yaml:2:5: control character U+001B is not allowed in YAML"
    ]


def test_an_unreadable_path_is_a_problem_not_a_traceback(tmp_path):
    assert read_problems(tmp_path / "missing.yaml")[0].startswith("missing.yaml: cannot read: ")


# --- text ---------------------------------------------------------------------------------------


def test_malformed_yaml_says_where_and_what():
    assert parse_problems("users:\n  - name: [a, b\n  - name: c\n") == [
        "f.yaml:3:9: invalid YAML: did not find expected ',' or ']' "
        "(while parsing a flow sequence started at line 2)"
    ]


def test_tab_indentation_gets_a_plain_explanation():
    assert parse_problems("users:\n\t- name: a\n") == [
        "f.yaml:2:1: tab character: YAML indents with spaces only, never tabs"
    ]


def test_duplicate_keys_in_one_mapping_are_refused_with_both_lines():
    text = "users:\n  - userid: a\n    name: A\n    name: B\n"
    assert parse_problems(text) == [
        "f.yaml:4:5: duplicate key 'name' (first at line 3, column 5); YAML keeps only one of them"
    ]


def test_every_duplicate_key_is_reported():
    text = "a: 1\nb: 2\na: 3\nc: {x: 1, x: 2}\n"
    assert parse_problems(text) == [
        "f.yaml:3:1: duplicate key 'a' (first at line 1, column 1); YAML keeps only one of them",
        "f.yaml:4:11: duplicate key 'x' (first at line 4, column 5); YAML keeps only one of them",
    ]


def test_billion_laughs_is_refused_without_expanding(tmp_path):
    levels = ["a0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]"]
    levels += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 10)}]" for i in range(1, 10)]
    assert parse_problems("\n".join(levels) + "\n") == [
        "f.yaml:1:5: YAML anchors and aliases (&name, *name) are not allowed; write the value out"
    ]


def test_an_anchor_alone_is_refused_too():
    assert parse_problems("a: &x 1\n") == [
        "f.yaml:1:4: YAML anchors and aliases (&name, *name) are not allowed; write the value out"
    ]


def test_a_merge_key_is_refused():
    assert parse_problems("a:\n  <<: {b: 1}\n") == [
        "f.yaml:2:3: merge keys (<<) are not allowed; write the fields out"
    ]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("a: !!python/object:os.system x\n", "unsupported YAML tag tag:yaml.org,2002:python/"),
        ("a: !custom x\n", "unsupported YAML tag !custom"),
        ("a: !!binary aGVsbG8=\n", "unsupported YAML tag tag:yaml.org,2002:binary"),
        ("a: !!set {x}\n", "unsupported YAML tag tag:yaml.org,2002:set"),
        ("? [a, b]\n: c\n", "a key must be a plain name"),
        ("a: 1\n---\nb: 2\n", "more than one YAML document"),
        ("a: *nothing\n", "anchors and aliases"),
    ],
)
def test_yaml_features_org_files_never_need_are_refused(text, message):
    problems = parse_problems(text)
    assert len(problems) == 1
    assert message in problems[0]


@pytest.mark.parametrize("opening", ["[", "{"])
def test_deep_flow_nesting_is_refused_before_libyaml_can_crash(opening):
    closing = {"[": "]", "{": "}"}[opening]
    text = "a: " + opening * 100_000 + closing * 100_000 + "\n"  # segfaults CParser unguarded
    assert parse_problems(text) == [f"f.yaml: nested more than {MAX_DEPTH} levels deep (line 1)"]


def test_deep_block_nesting_is_refused():
    text = "a:\n" + "- " * 50_000 + "x\n"
    assert parse_problems(text) == [f"f.yaml: nested more than {MAX_DEPTH} levels deep (line 2)"]


@pytest.mark.parametrize("text", ["", "\n\n", "# only a comment\n", "---\n", "~\n"])
def test_empty_documents_hold_nothing(text):
    assert parse_yaml(text, "f.yaml").data is None


def test_marks_point_at_keys_and_values_one_based():
    text = "users:\n  - userid: zhangsan\n    name:   张三  # comment\n    empty:\n"
    document = parse_yaml(text, "f.yaml")
    user_pos, user_marks = document.marks["users"][2][0]
    assert line_col(user_pos) == (2, 5)
    key_pos, value_pos, raw = user_marks["name"]
    assert (line_col(key_pos), line_col(value_pos), raw) == ((3, 5), (3, 13), None)
    assert line_col(user_marks["empty"][1]) == (4, 11)  # a null sits right after the colon
    assert user_marks["empty"][2] == ""


def test_typed_scalars_keep_their_source_text_for_messages():
    document = parse_yaml("a: 007\nb: no\nc: 2024-01-01\nd: x\n", "f.yaml")
    assert document.data["a"] == 7  # YAML 1.1 octal
    assert {k: v[2] for k, v in document.marks.items()} == {
        "a": "007",
        "b": "no",
        "c": "2024-01-01",
        "d": None,
    }


# --- the fast reader agrees with PyYAML -----------------------------------------------------------


def both(text: str) -> tuple[tuple[object, object, int] | None, Document | None]:
    fast = _FastParser(text).parse()
    try:
        slow: Document | None = _parse_with_pyyaml(text, "f.yaml")
    except ConfigError:
        slow = None
    return fast, slow


def assert_agree(text: str) -> None:
    for variant in (text, text.replace("\n", "\r\n")):  # Windows line ends too
        fast, slow = both(variant)
        if fast is None:
            continue  # the fast reader gave up: PyYAML decides, nothing to compare
        assert slow is not None, f"fast reader accepted what PyYAML refuses: {variant!r}"
        assert fast == (slow.data, slow.marks, slow.root), variant


# Things the fast reader must get exactly right or refuse; each was a plausible mistake.
TRICKY = [
    "a: b\n",
    "a:   b   \n",
    "a: b # c\n",
    "a: b#c\n",
    "a: 'it''s'\n",
    "a: 'x' # c\n",
    "a: 'x'y\n",
    'a: "x\\ty\\u00e9\\x41\\"\\\\"\n',
    'a: "\\e"\n',
    'a: "x" # c\n',
    "a: [x, y, z]\n",
    "a: [x, y,]\n",
    "a: [x,, y]\n",
    "a: []\n",
    "a: [ ]\n",
    "a: [,]\n",
    "a: [x: y]\n",
    "a: [x y, 1, true, ~, 0o7]\n",
    "a: {x: 1, y: two}\n",
    "a: {}\n",
    "a: {x: 1, x: 2}\n",
    "a: {x:1}\n",
    "a: {x : 1}\n",
    "a: {x: a:b}\n",
    "a: [a?b]\n",
    "a: [-x, ?y, :z]\n",
    "a: -x\n",
    "a: - x\n",
    "a: ?x\n",
    "a: :x\n",
    "a: x:\n",
    "a: x: y\n",
    "a: x:y\n",
    "a: http://example.com/a#b\n",
    "a: @x\n",
    "a: `x\n",
    "a: %x\n",
    "a: |\n  text\n",
    "a: >\n  text\n",
    "a: b\n  c\n",
    "a: b\n  # c\nd: e\n",
    "a:\n  b: 1\n  c: 2\n",
    "a:\n    b: 1\n  c: 2\n",
    "a:\n- x\n- y\nb: 1\n",
    "a:\n- x\n  - y\n",
    "- a: 1\n  b: 2\n- c\n",
    "- a: 1\n   b: 2\n",
    "- a: 1\n  - b\n",
    "- a:\n  - x\n  b: 1\n",
    "- a:\n- b\n",
    "-   a: 1\n    b: 2\n",
    "- - a\n",
    "-\n  a\n",
    "- 'x'\n- \"y\"\n- [z]\n",
    "a: 1\nb:\n",
    "a:\nb: 1\n",
    "a:  # c\n  b: 1\n",
    "a:  # c\nb: 1\n",
    "  a: 1\n  b: 2\n",
    "  a: 1\nb: 2\n",
    "a: 1\n b: 2\n",
    "1: x\ntrue: y\nnull: z\n~: w\n",
    "a b: 1\n",
    "a: 1_000\nb: 0x1F\nc: 1:30\nd: .inf\ne: -.5\nf: +12\ng: 1e3\n",
    "a: =\n",
    "a: <b>\n",
    "<<: x\n",
    "a: yes\nb: No\nc: ON\nd: off\ne: y\n",
    "a: 2024-01-01\nb: 2024-01-01 10:00:00\nc: 2024-13-45\n",
    "a: 爱好\n爱好: 旅游\nb: {爱好: 旅游, 英文名: Jian Wang}\n",
    "a: '\n",
    'a: "x\n',
    "a: b\n---\n",
    "--- \na: b\n",
    "a: b\n...\n",
    "%YAML 1.1\n---\na: b\n",
    "a: b\r\nc: d\r\n",
    "a: b\rc: d\r\n",
    "a: 'x\r\n  y'\r\n",
    "a:\n  - b\n  -\n",
    "a: !x y\n",
    "a: &x y\n",
    "a: *x\n",
    "? a\n: b\n",
    "a: 'b'\n'c': d\n",
    '"a": b\n',
    "a: b\n# end\n",
    "scalar only\n",
    "- just\n- a list\n",
    "a: [b, [c]]\n",
    "a: [b, {c: d}]\n",
    "a: {b: [c]}\n",
    "a: [b] x\n",
    "a: {b: c} # d\n",
    "a: [b]]\n",
    "a: 1 # comment: with colon\n",
    "a: 'b: c'\n",
    'a: "b # c"\n',
    "a: b  #c\n",
    "a:b\n",
    "a :b\n",
    "-a: 1\n",
    "a-b: 1\n",
    "a.b: 1\n",
    "$schema: x\n",
    "a: ''\nb: \"\"\n",
    "a: ' x '\n",
]


@pytest.mark.parametrize("text", TRICKY)
def test_fast_reader_agrees_with_pyyaml_or_gives_up(text):
    assert_agree(text)


@pytest.mark.parametrize(
    "text",
    [
        'users:\n  - userid: a\n    mobile: "+86-15951819093"\n    departments: [eng, qa]\n',
        "departments:\n- key: eng\n  name: 研发中心\n  parent: root\n  order: 10\n",
        "users:\n  - userid: 'a'\n    extension: {爱好: 旅游}\n    remark: 'x: y'\n",
    ],
)
def test_fast_reader_handles_the_everyday_style(text):
    assert _FastParser(text).parse() is not None
    assert_agree(text)


def test_fast_reader_reads_the_example_org(repo_root):
    for path in sorted((repo_root / "org").rglob("*.yaml")):
        text = path.read_text(encoding="utf-8")
        assert _FastParser(text).parse() is not None, path
        assert_agree(text)


def test_fast_reader_agrees_on_every_corpus_file():
    for path in sorted(DATA.rglob("*.yaml")):
        try:
            text = path.read_bytes().decode("utf-8")
        except UnicodeDecodeError:
            continue
        if "\x00" in text or "\x07" in text:
            continue
        assert_agree(text)


KEYS = ["a", "b", "userid", "爱好", "1", "true", "null", "-x", "a b", "<<", "'q'", "x:y", ""]
VALUES = [
    "",
    "x",
    "x y",
    " x",
    "7",
    "007",
    "0x1F",
    "1.5",
    "yes",
    "~",
    "null",
    "2024-01-01",
    "+86-1",
    "'q'",
    "'it''s'",
    "'",
    '"d"',
    '"\\n"',
    '"\\q"',
    "[a, b]",
    "[a,]",
    "[]",
    "[a: b]",
    "{k: v}",
    "{}",
    "{k: v, k: w}",
    "a # c",
    "a#c",
    "a: b",
    "a:",
    ":a",
    "-a",
    "- a",
    "? a",
    "&x a",
    "*x",
    "!t a",
    "|",
    ">",
    "@a",
    "`a",
    "%a",
    "=",
    "[a] b",
    "{a: b} # c",
    "爱好",
]


@st.composite
def documents(draw: st.DrawFn) -> str:
    lines = []
    for _ in range(draw(st.integers(1, 12))):
        indent = " " * draw(st.sampled_from([0, 0, 1, 2, 2, 3, 4, 4, 6]))
        kind = draw(
            st.sampled_from(["key", "key-empty", "entry", "entry-key", "dash", "comment", "blank"])
        )
        key = draw(st.sampled_from(KEYS))
        value = draw(st.sampled_from(VALUES))
        lines.append(
            {
                "key": f"{indent}{key}: {value}",
                "key-empty": f"{indent}{key}:",
                "entry": f"{indent}- {value}",
                "entry-key": f"{indent}- {key}: {value}",
                "dash": f"{indent}-",
                "comment": f"{indent}# {value}",
                "blank": indent,
            }[kind]
        )
    return "\n".join(lines) + draw(st.sampled_from(["\n", ""]))


@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(documents())
def test_fast_reader_agrees_with_pyyaml_on_generated_documents(text):
    assert_agree(text)


def test_fast_reader_is_not_used_when_pyyaml_must_report_the_error():
    # A duplicate key makes the fast reader give up, so the slow path can report it.
    assert _FastParser("a: 1\na: 2\n").parse() is None
    assert yaml.safe_load("a: 1\na: 2\n") == {"a": 2}  # what plain PyYAML would have done


def test_os_level_symlink_reads_are_the_loaders_business(tmp_path):
    # read_yaml itself follows what it is given; load.py decides which paths to give it.
    target = tmp_path / "t.yaml"
    target.write_text("a: 1\n")
    link = tmp_path / "l.yaml"
    os.symlink(target, link)
    assert read_yaml(link, "l.yaml").data == {"a": 1}
