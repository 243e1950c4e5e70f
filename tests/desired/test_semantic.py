"""Cross-item checks, one row per rule: what the YAML says → the exact problems reported."""

from __future__ import annotations

import pytest

from reconciler.desired.load import load_desired
from reconciler.errors import ConfigError
from tests.desired.conftest import problems_of

DEPTS = """
departments:
  - {key: eng, name: 研发中心, parent: root}
  - {key: eng-platform, name: 平台部, parent: eng}
"""


def person(userid: str, mobile: str, departments: str = "[eng]", extra: str = "") -> str:
    text = f"  - userid: {userid}\n    name: {userid.title()}\n"
    text += f'    mobile: "{mobile}"\n    departments: {departments}\n'
    return text + "".join(f"    {line}\n" for line in extra.splitlines() if line)


A = "+86-15951819093"
B = "18678657975"
C = "13562527601"

CASES = [
    (
        "unknown parent, with a suggestion",
        {"d.yaml": "departments:\n  - {key: eng, name: 研发, parent: engg}\n"},
        ["org/d.yaml:2:34: departments[0].parent: unknown department 'engg'; did you mean 'eng'?"],
    ),
    (
        "a department that is its own parent",
        {"d.yaml": "departments:\n  - {key: eng, name: 研发, parent: eng}\n"},
        [
            "org/d.yaml:2:34: departments[0].parent: departments form a loop: eng → eng; one "
            "of them must hang from another parent"
        ],
    ),
    (
        "a three-department loop is reported once",
        {
            "d.yaml": "departments:\n  - {key: a, name: A, parent: c}\n"
            "  - {key: b, name: B, parent: a}\n  - {key: c, name: C, parent: b}\n"
        },
        [
            "org/d.yaml:2:31: departments[0].parent: departments form a loop: a → c → b → a; "
            "one of them must hang from another parent"
        ],
    ),
    (
        "user in an unknown department",
        {"d.yaml": DEPTS, "u.yaml": "users:\n" + person("a", A, "[eng, eng-plat]")},
        [
            "org/u.yaml:5:24: users[0].departments[1]: unknown department 'eng-plat'; did you "
            "mean 'eng-platform'?"
        ],
    ),
    (
        "root is a department anyone may belong to",
        {"u.yaml": "users:\n" + person("a", A, "[root]")},
        [],
    ),
    (
        "manager is not a user",
        {"d.yaml": DEPTS, "u.yaml": "users:\n" + person("a", A, extra="manager: nobody")},
        ["org/u.yaml:6:14: users[0].manager: unknown user 'nobody'"],
    ),
    (
        "own manager",
        {"d.yaml": DEPTS, "u.yaml": "users:\n" + person("a", A, extra="manager: a")},
        ["org/u.yaml:6:14: users[0].manager: a person cannot be their own manager"],
    ),
    (
        "manager loop",
        {
            "d.yaml": DEPTS,
            "u.yaml": "users:\n"
            + person("a", A, extra="manager: b")
            + person("b", B, extra="manager: a"),
        },
        ["org/u.yaml:6:14: users[0].manager: managers form a loop: a → b → a"],
    ),
    (
        "department manager who is not a user",
        {
            "d.yaml": "departments:\n  - {key: eng, name: 研发, parent: root, managers: [ghost]}\n",
        },
        ["org/d.yaml:2:51: departments[0].managers[0]: unknown user 'ghost'"],
    ),
    (
        "department manager who is not a member",
        {
            "d.yaml": DEPTS.replace("parent: root}", "parent: root, managers: [a]}"),
            "u.yaml": "users:\n" + person("a", A, "[eng-platform]"),
        },
        [
            "org/d.yaml:2:53: departments[0].managers[0]: 'a' is not a member of 'eng'; add "
            "'eng' to their departments (DingTalk managers must be members)"
        ],
    ),
    (
        "duplicate department key across files: reported at the later one",
        {"a.yaml": DEPTS, "b.yaml": "departments:\n  - {key: eng, name: 工程, parent: root}\n"},
        [
            "org/b.yaml:2:11: departments[0].key: duplicate department key 'eng': also defined "
            "at org/a.yaml:2:11"
        ],
    ),
    (
        "duplicate userid across files",
        {
            "a.yaml": "users:\n" + person("a", A, "[root]"),
            "b.yaml": "users:\n" + person("a", B, "[root]"),
        },
        ["org/b.yaml:2:13: users[0].userid: duplicate userid 'a': also defined at org/a.yaml:2:13"],
    ),
    (
        "the same mobile written two ways",
        {
            "u.yaml": "users:\n"
            + person("a", "+86-15951819093", "[root]")
            + person("b", "159 5181 9093", "[root]")
        },
        [
            "org/u.yaml:8:13: users[1].mobile: same mobile as 'a' (org/u.yaml:4:13); DingTalk "
            "needs it unique"
        ],
    ),
    (
        "emails differing only in case",
        {
            "u.yaml": "users:\n"
            + person("a", A, "[root]", "email: Li@Example.com")
            + person("b", B, "[root]", "email: li@example.com")
        },
        [
            "org/u.yaml:11:12: users[1].email: same email as 'a' (org/u.yaml:6:12); DingTalk "
            "needs it unique"
        ],
    ),
    (
        "job numbers and extensions (telephone)",
        {
            "u.yaml": "users:\n"
            + person("a", A, "[root]", 'job_number: "7"\ntelephone: "8001"')
            + person("b", B, "[root]", 'job_number: "7"\ntelephone: "8001"')
        },
        [
            "org/u.yaml:12:17: users[1].job_number: same job_number as 'a' (org/u.yaml:6:17); "
            "DingTalk needs it unique",
            "org/u.yaml:13:16: users[1].telephone: same telephone as 'a' (org/u.yaml:7:16); "
            "DingTalk needs it unique",
        ],
    ),
    (
        "sibling names equal after whitespace normalisation",
        {
            "d.yaml": "departments:\n  - {key: a, name: 平台 部, parent: root}\n"
            "  - {key: b, name: ' 平台   部', parent: root}\n"
        },
        [
            "org/d.yaml:3:20: departments[1].name: '平台 部' is already the name of 'a' under "
            "the same parent (org/d.yaml:2:20); DingTalk needs sibling names unique "
            "(errcode 60021)"
        ],
    ),
    (
        "the same name under different parents is fine",
        {"d.yaml": DEPTS + "  - {key: x, name: 平台部, parent: root}\n"},
        [],
    ),
    (
        "invalid mobile",
        {"u.yaml": "users:\n" + person("a", "12345", "[root]")},
        ["org/u.yaml:4:13: users[0].mobile: '12345' is not a valid phone number"],
    ),
    (
        "a landline is not a mobile",
        {"u.yaml": "users:\n" + person("a", "010-62345678", "[root]")},
        ["org/u.yaml:4:13: users[0].mobile: '010-62345678' is not a mobile number"],
    ),
    (
        "extension over DingTalk's 2000 characters",
        {"u.yaml": "users:\n" + person("a", A, "[root]", "extension: {k: " + "x" * 2000 + "}")},
        [
            "org/u.yaml:6:16: users[0].extension: is 2008 characters as JSON; DingTalk allows "
            "at most 2000 (errcode 40063)"
        ],
    ),
    (
        "protected user missing from the YAML",
        {
            "orgctl.yaml": "protected_users: [a, ghost]\n",
            "u.yaml": "users:\n" + person("a", A, "[root]"),
        },
        [
            "org/orgctl.yaml:1:22: protected_users[1]: protected user 'ghost' is not defined in "
            "any org file"
        ],
    ),
    (
        "a department inside an unmanaged subtree",
        {
            "orgctl.yaml": "unmanaged_departments: [研发中心]\n",
            "d.yaml": DEPTS,
        },
        [
            "org/d.yaml:2:22: departments[0].name: '研发中心' is listed in unmanaged_departments "
            "(org/orgctl.yaml); orgctl must not manage it: remove one",
            "org/d.yaml:3:31: departments[1].name: '研发中心/平台部' lies inside the unmanaged "
            "subtree '研发中心' (org/orgctl.yaml); orgctl must not manage it: remove one",
        ],
    ),
    (
        "an unmanaged path that is a prefix of a name is not its parent",
        {"orgctl.yaml": "unmanaged_departments: [研发]\n", "d.yaml": DEPTS},
        [],
    ),
]


@pytest.mark.parametrize(("files", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_semantic_rule(write_org, files, expected):
    org_dir = write_org(files)
    if not expected:
        load_desired(org_dir)
        return
    with pytest.raises(ConfigError) as caught:
        load_desired(org_dir)
    assert problems_of(caught.value) == expected


def test_an_item_that_fails_the_schema_still_declares_its_key_and_userid(write_org):
    org_dir = write_org(
        {
            "d.yaml": "departments:\n  - {key: eng, name: 研-发, parent: root}\n",
            "u.yaml": "users:\n" + person("a", A) + person("b", B, extra="manager: a\nmobil: x"),
        }
    )
    with pytest.raises(ConfigError) as caught:
        load_desired(org_dir)
    # Only the two schema problems: no "unknown department 'eng'" or "unknown user" after them.
    assert [p.field for p in caught.value.problems] == ["departments[0].name", "users[1].mobil"]


def test_a_file_that_cannot_be_parsed_silences_unknown_reference_checks(write_org):
    org_dir = write_org(
        {
            "broken.yaml": "departments: [\n",
            "u.yaml": "users:\n" + person("a", A, "[eng]", "manager: ghost\ntitle: 7"),
        }
    )
    with pytest.raises(ConfigError) as caught:
        load_desired(org_dir)
    # eng or ghost may live in the broken file; the schema problem in u.yaml still shows.
    assert [p.field for p in caught.value.problems] == ["", "users[0].title"]
    assert "invalid YAML" in caught.value.problems[0].message


def test_every_problem_is_reported_sorted(write_org):
    org_dir = write_org(
        {
            "b.yaml": "users:\n" + person("x", "1", "[nowhere]"),
            "a.yaml": "departments:\n  - {key: eng, name: 研发, parent: nowhere}\n",
        }
    )
    with pytest.raises(ConfigError) as caught:
        load_desired(org_dir)
    problems = caught.value.problems
    assert [(p.file, p.field) for p in problems] == [
        ("org/a.yaml", "departments[0].parent"),
        ("org/b.yaml", "users[0].mobile"),
        ("org/b.yaml", "users[0].departments[0]"),
    ]
    assert str(caught.value) == "3 problems in the desired state"


def test_an_item_without_a_usable_id_silences_unknown_reference_checks(write_org):
    org_dir = write_org(
        {
            "d.yaml": "departments:\n  - {name: 研发, parent: root}\n",  # which key was meant?
            "u.yaml": "users:\n" + person("a", A, "[eng]"),
        }
    )
    with pytest.raises(ConfigError) as caught:
        load_desired(org_dir)
    assert [p.field for p in caught.value.problems] == ["departments[0].key"]


def test_only_the_first_unknown_names_get_a_suggestion(write_org):
    # Each suggestion scans every known name; 100 000 users x many typos must stay fast.
    users = "users:\n" + person("boss1", A, "[root]")
    for n in range(25):
        users += person(f"u{n}", f"+86-1381234{n:04d}", "[root]", "manager: boss2")
    with pytest.raises(ConfigError) as caught:
        load_desired(write_org({"u.yaml": users}))
    messages = [p.message for p in caught.value.problems]
    assert len(messages) == 25
    assert sum("did you mean 'boss1'?" in m for m in messages) == 20
