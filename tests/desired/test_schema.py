"""The JSON Schemas: well-formed, shipped in the package, in step with the model, and the
loader's fast verdict (jsonschema-rs) agrees with jsonschema, which writes the messages."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from jsonschema import Draft202012Validator

from reconciler.desired.schema import (
    PATTERN_HINTS,
    org_checks,
    org_schema,
    policy_check,
    policy_schema,
    schema_text,
)
from reconciler.desired.yamlsafe import parse_yaml
from reconciler.model import DEPARTMENT_FIELDS, USER_FIELDS


@pytest.mark.parametrize("name", ["org", "policy"])
def test_no_schema_object_repeats_a_key(name: str) -> None:
    """json.loads keeps the last of two equal keys: a second `notify` or `limits` left by a
    merge would silently replace the first."""
    repeated: list[str] = []

    def pairs(items: list[tuple[str, Any]]) -> dict[str, Any]:
        keys = [k for k, _ in items]
        repeated.extend(k for k in set(keys) if keys.count(k) > 1)
        return dict(items)

    json.loads(schema_text(name), object_pairs_hook=pairs)
    assert repeated == []


@pytest.mark.parametrize("schema", [org_schema(), policy_schema()], ids=["org", "policy"])
def test_schemas_are_valid_draft_2020_12(schema):
    Draft202012Validator.check_schema(schema)
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"


def all_subschemas(node: Any) -> list[dict[str, Any]]:
    found = []
    if isinstance(node, dict):
        found.append(node)
        for value in node.values():
            found.extend(all_subschemas(value))
    elif isinstance(node, list):
        for value in node:
            found.extend(all_subschemas(value))
    return found


@pytest.mark.parametrize("schema", [org_schema(), policy_schema()], ids=["org", "policy"])
def test_every_object_forbids_unknown_fields(schema):
    objects = [s for s in all_subschemas(schema) if s.get("type") == "object" and "properties" in s]
    assert objects
    assert all(s.get("additionalProperties") is False for s in objects)


def test_every_pattern_has_a_human_explanation():
    patterns = {
        s["pattern"]
        for schema in (org_schema(), policy_schema())
        for s in all_subschemas(schema)
        if "pattern" in s
    }
    assert patterns <= set(PATTERN_HINTS)


def test_the_policy_schema_spells_userid_like_the_org_schema():
    assert policy_schema()["$defs"]["userid"] == org_schema()["$defs"]["userid"]


def test_schema_fields_match_the_model():
    defs = org_schema()["$defs"]
    # leaves_on: orgctl-only, never a live field
    assert set(defs["user"]["properties"]) == {"userid", "leaves_on", *USER_FIELDS}
    assert set(defs["department"]["properties"]) == {"key", *DEPARTMENT_FIELDS}


def test_the_schemas_ship_inside_the_package(repo_root):
    assert schema_text("org") == (repo_root / "schemas" / "org.schema.json").read_text("utf-8")
    assert schema_text("policy") == (repo_root / "schemas" / "policy.schema.json").read_text(
        "utf-8"
    )


def test_every_example_file_names_the_right_schema(repo_root):
    org = repo_root / "org"
    for path in sorted(org.rglob("*.yaml")):
        first = path.read_text(encoding="utf-8").splitlines()[0]
        match = re.fullmatch(r"# yaml-language-server: \$schema=(\S+)", first)
        assert match, path
        target = (path.parent / match.group(1)).resolve()
        expected = "policy.schema.json" if path.name == "orgctl.yaml" else "org.schema.json"
        assert target == (repo_root / "schemas" / expected).resolve(), path


def test_dingtalk_limits_are_in_the_schema():
    user = org_schema()["$defs"]["user"]["properties"]
    department = org_schema()["$defs"]["department"]["properties"]
    assert {
        name: user[name].get("maxLength")
        for name in ("name", "title", "email", "job_number", "telephone", "work_place", "remark")
    } == {
        "name": 80,
        "title": 200,
        "email": 50,
        "job_number": 50,
        "telephone": 50,
        "work_place": 100,
        "remark": 2000,
    }
    assert department["name"]["maxLength"] == 64
    assert org_schema()["$defs"]["userid"]["maxLength"] == 64


def test_the_fast_check_passes_every_item_of_the_example(repo_root):
    checks = org_checks()
    refused: list[str] = []
    checked = 0
    for path in sorted((repo_root / "org").rglob("*.yaml")):
        if path.name == "orgctl.yaml":
            continue
        data = parse_yaml(path.read_text(encoding="utf-8"), str(path)).data
        for name, check in (("departments", checks.department), ("users", checks.user)):
            for index, item in enumerate(data.get(name) or []):
                checked += 1
                if not check(item):
                    refused.append(f"{path.name}: {name}[{index}]")
    assert refused == []
    assert checked == 16 + 26  # every department and user of the example, not none of them


SCALARS = st.one_of(
    st.sampled_from(
        [
            "",
            " ",
            "a",
            "zhangsan",
            "root",
            "eng-platform",
            "Eng",
            "研发-中心",
            "研发中心",
            "a,b",
            "a b",
            "x@example.com",
            "not-an-email",
            "+86-15951819093",
            "x" * 65,
            "x" * 81,
            "x" * 201,
            "爱好",
        ]
    ),
    st.integers(-3, 3),
    st.sampled_from([1.0, 0.5, 2**31, -(2**31) - 1]),
    st.booleans(),
    st.none(),
)
VALUES = st.recursive(
    SCALARS,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3),
        st.dictionaries(st.sampled_from(["k", "爱好", "", "x" * 65]), inner, max_size=2),
    ),
    max_leaves=6,
)
USER_KEYS = ["userid", *USER_FIELDS, "mobil"]  # every managed field, and a typo
DEPT_KEYS = ["key", *DEPARTMENT_FIELDS, "parnet"]
VALIDATOR = Draft202012Validator(org_schema())


def items(keys: list[str]) -> st.SearchStrategy[dict[str, Any]]:
    return st.dictionaries(st.sampled_from(keys), VALUES, max_size=len(keys))


@st.composite
def plausible_users(draw: st.DrawFn) -> dict[str, Any]:
    user: dict[str, Any] = {"userid": "a", "name": "A", "mobile": "1", "departments": ["eng"]}
    user.update(draw(items(USER_KEYS)))
    return user


@settings(max_examples=500, deadline=None)
@given(st.one_of(items(USER_KEYS), plausible_users()))
def test_fast_user_check_agrees_with_jsonschema(user):
    assert org_checks().user(user) == VALIDATOR.is_valid({"users": [user]})


@settings(max_examples=300, deadline=None)
@given(items(DEPT_KEYS))
def test_fast_department_check_agrees_with_jsonschema(department):
    assert org_checks().department(department) == VALIDATOR.is_valid({"departments": [department]})


@settings(max_examples=200, deadline=None)
@given(st.dictionaries(st.sampled_from(["departments", "users", "employees"]), VALUES))
def test_fast_top_level_check_agrees_with_jsonschema(document):
    assert org_checks().top(document) == VALIDATOR.is_valid(document)


def test_schema_command_output_is_the_schema():
    assert json.loads(schema_text("org"))["title"] == "orgctl org file"


POLICY_KEYS = [
    "prune",
    "protected_users",
    "unmanaged_departments",
    "safety",
    "rate_limit",
    "timezone",
    "prunes",
]
POLICY_INNER = [
    "users",
    "departments",
    "max_user_delete_fraction",
    "max_department_delete_fraction",
    "min_existing",
    "qps",
    "user",
]
POLICY_VALUES = st.one_of(
    VALUES,
    st.dictionaries(st.sampled_from(POLICY_INNER), SCALARS, max_size=3),
    st.lists(st.sampled_from(["a", "外包/华东", "", "a b", "x" * 65]), max_size=3),
)
POLICY_VALIDATOR = Draft202012Validator(policy_schema())


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(st.sampled_from(POLICY_KEYS), POLICY_VALUES))
def test_fast_policy_check_agrees_with_jsonschema(policy):
    assert policy_check()(policy) == POLICY_VALIDATOR.is_valid(policy)


def test_the_fast_policy_check_passes_the_example_policy(repo_root):
    text = (repo_root / "org" / "orgctl.yaml").read_text(encoding="utf-8")
    policy = parse_yaml(text, "orgctl.yaml").data
    assert len(policy) == 8
    assert policy_check()(policy)
    assert not policy_check()({**policy, "rate_limit": {"qps": 0}})
