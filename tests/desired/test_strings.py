"""Control, bidi and zero-width characters are refused in every string and key, after YAML
unescaping, whichever reader (fast or PyYAML) read the file."""

from __future__ import annotations

import pytest

from reconciler.desired.load import load, load_policy
from reconciler.desired.strings import HOSTILE
from reconciler.desired.yamlsafe import _MAY_HIDE, _NON_PRINTABLE, _FastParser
from reconciler.errors import ConfigError
from tests.desired.conftest import problems_of

USER = (
    'users:\n  - userid: a\n    name: {name}\n    mobile: "+86-15951819093"\n'
    "    departments: [root]\n"
)


@pytest.mark.parametrize(
    ("name", "code", "fast"),
    [
        ('"a\\x07b"', "U+0007", False),  # the fast reader leaves such escapes to PyYAML
        ('"a\\eb"', "U+001B", False),
        ('"a\\x7fb"', "U+007F", False),
        ('"a\\u009bb"', "U+009B", False),
        ('"a\\u202eb"', "U+202E", True),
        ("a\u202eb", "U+202E", True),  # written raw
        ("a\u2069b", "U+2069", True),
        ('"a\\u200db"', "U+200D", True),
        ("a\u2060b", "U+2060", True),
        ("'a\u200bb'", "U+200B", True),
    ],
)
def test_either_reader_refuses_them(write_org, name, code, fast):
    text = USER.format(name=name)
    assert (_FastParser(text).parse() is not None) == fast
    org_dir = write_org({"u.yaml": text})
    with pytest.raises(ConfigError) as caught:
        load(org_dir)
    [problem] = problems_of(caught.value)
    assert problem.startswith(f"org/u.yaml:3:11: users[0].name: contains {code}")


def test_tabs_and_line_feeds_in_text_are_fine(write_org):
    org_dir = write_org(
        {"u.yaml": USER.format(name="A") + '    remark: "one\\n\\ttwo"\n    title: "x\\ty"\n'}
    )
    assert load(org_dir).org.users["a"].remark == "one\n\ttwo"


def test_the_policy_file_is_checked_as_well(write_org):
    org_dir = write_org({"orgctl.yaml": 'protected_users: ["a\\u200b"]\n'})
    with pytest.raises(ConfigError) as caught:
        load_policy(org_dir / "orgctl.yaml")
    assert problems_of(caught.value) == [
        "org/orgctl.yaml:1:19: protected_users[0]: contains U+200B (ZERO WIDTH SPACE), an "
        "invisible character: names that look the same would differ; remove it"
    ]


def test_every_refused_character_is_seen_by_the_reader_or_its_prefilter():
    # A document is walked string by string only when the reader's prefilter (_MAY_HIDE)
    # fires; every other refused character must be refused before parsing.
    hostile = [chr(c) for c in [*range(0x3000), 0xFEFF] if HOSTILE.match(chr(c))]
    assert len(hostile) == 30 + 1 + 32 + 3 + 1 + 5 + 4 + 1  # C0, DEL, C1, zero-width, bidi
    missed = [
        f"U+{ord(c):04X}"
        for c in hostile
        if not _MAY_HIDE.match(c) and not (_NON_PRINTABLE.match(c) and c not in "\t\n\r")
    ]
    assert missed == ["U+000D"]  # a raw CR is a line break to YAML; "\r" needs a backslash
