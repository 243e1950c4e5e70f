"""The JSON Schema check of org files and the policy, with messages people can act on. Pure.

Two validators, for two jobs:

- `jsonschema_rs` (compiled Rust, ~1 µs per user) says valid or not for every item;
- `jsonschema` (pure Python, ~300 µs per user and ~100 ms to import) explains what the first
  one refused: the keyword, the instance and the schema behind each message. Valid input never
  imports it.

So 100 000 valid people cost ~0.1 s here, and a typo costs one slow check of that item only.
"""

from __future__ import annotations

import difflib
import json
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from importlib.resources import files
from typing import TYPE_CHECKING, Any

import jsonschema_rs

from reconciler.desired.locate import Path, describe, problem_at, raw_text
from reconciler.desired.yamlsafe import Document
from reconciler.errors import Problem
from reconciler.model import ROOT

if TYPE_CHECKING:  # imported when first needed: see _explainer
    from jsonschema import Draft202012Validator, ValidationError


def schema_text(name: str = "org") -> str:
    """The JSON Schema shipped with orgctl: ``org`` (org files) or ``policy`` (orgctl.yaml)."""
    return files("reconciler").joinpath("schemas", f"{name}.schema.json").read_text("utf-8")


@cache
def org_schema() -> dict[str, Any]:
    schema: dict[str, Any] = json.loads(schema_text("org"))
    return schema


@cache
def policy_schema() -> dict[str, Any]:
    schema: dict[str, Any] = json.loads(schema_text("policy"))
    return schema


# --- the fast verdict ---------------------------------------------------------------------------

Check = Callable[[Any], bool]


@dataclass(frozen=True, slots=True)
class OrgChecks:
    """Fast verdicts for an org file: per item, and for the file with its lists emptied."""

    department: Check
    user: Check
    top: Check


def _check(schema: dict[str, Any]) -> Check:
    validator = jsonschema_rs.validator_for(schema)

    def check(instance: Any) -> bool:
        try:
            return bool(validator.is_valid(instance))
        except ValueError:  # a value JSON has no type for (YAML dates): jsonschema explains
            return False

    return check


@cache
def org_checks() -> OrgChecks:
    schema = org_schema()
    defs = schema["$defs"]
    return OrgChecks(
        department=_check({**defs["department"], "$defs": defs}),
        user=_check({**defs["user"], "$defs": defs}),
        top=_check(schema),
    )


@cache
def policy_check() -> Check:
    return _check(policy_schema())


@cache
def _explainer(kind: str) -> Draft202012Validator:
    """jsonschema, for what the fast check refused. Valid input never needs it, so it is
    imported here: importing and checking the schema costs ~100 ms at every start."""
    from jsonschema import Draft202012Validator

    schema = org_schema() if kind == "org" else policy_schema()
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(schema)


def schema_errors(document: Document, kind: str, problems: list[Problem]) -> set[Path]:
    """Append the schema problems of ``document`` (an ``org`` file or the ``policy``); return
    the first two steps of each error's path (``("users", 3)``, ``("timezone",)``).

    A policy the fast check passes never reaches jsonschema. In an org file only items the
    fast check refuses go to it, in a copy of the document whose lists hold just those items
    (indices are mapped back after). An item refused by the fast check that jsonschema passes
    (the two regex engines differ on a few exotic characters) counts as valid.
    """
    data = document.data
    index_maps: dict[str, list[int]] = {}
    if kind == "policy":
        if policy_check()(data):
            return set()
    else:
        checks = org_checks()
        reduced = dict(data)
        for name, check in (("departments", checks.department), ("users", checks.user)):
            entries = data.get(name)
            if isinstance(entries, list):
                index_maps[name] = [i for i, entry in enumerate(entries) if not check(entry)]
                reduced[name] = [entries[i] for i in index_maps[name]]
        if not any(index_maps.values()) and checks.top(reduced):
            return set()
        data = reduced
    broken: set[Path] = set()
    found: set[Problem] = set()  # jsonschema may say the same thing twice
    for error in _explainer(kind).iter_errors(data):
        path = list(error.absolute_path)
        if len(path) >= 2 and path[0] in index_maps and isinstance(path[1], int):
            path[1] = index_maps[str(path[0])][path[1]]
        broken.add(tuple(path[:2]))
        found.update(_describe_error(document, tuple(path), error))
    problems.extend(found)
    return broken


# --- messages -------------------------------------------------------------------------------

PATTERN_HINTS = {
    "^[a-z0-9][a-z0-9_-]{0,63}$": "is not a valid key: use 1-64 lowercase letters, digits, "
    "'-' or '_', starting with a letter or digit",
    "^[^\\s,]+$": "is not a valid userid: no spaces or commas",
    "^[^-,，]*[^-,，\\s][^-,，]*$": "is not a valid department name: DingTalk forbids '-', "
    "',' and '，' (errcode 60009), and it must not be blank",
    "\\S": "must not be blank",
    "^[^@\\s]+@[^@\\s]+\\.[^@\\s]+$": "is not an email address",
    "^(sliding|bucket|unknown)$": "is not sliding, bucket or unknown",
    "^[0-9]{4}-[0-9]{2}-[0-9]{2}$": "is not a date: write YYYY-MM-DD, e.g. 2026-12-31",
    "^[^,\\s][^,]*$": "is not a label name GitHub takes: no commas, no leading space",
    "^([A-Za-z0-9][A-Za-z0-9-]*/)?[A-Za-z0-9][A-Za-z0-9_.-]*$": "is not a team: write its "
    "slug (hr-leads) or org/slug",
}

_TYPE_WORDS = {
    "string": "text",
    "integer": "a whole number",
    "number": "a number",
    "boolean": "true or false",
    "array": "a list",
    "object": "a mapping",
    "null": "nothing",
}


def _describe_error(document: Document, path: Path, error: ValidationError) -> list[Problem]:
    keyword = error.validator
    value: Any = error.instance
    schema: Any = error.schema
    if keyword == "additionalProperties" and isinstance(value, dict):
        allowed = sorted(schema.get("properties", {}))
        problems = []
        for name in value:
            if name in allowed:
                continue
            close = difflib.get_close_matches(name, allowed, n=1, cutoff=0.6)
            hint = (
                f"did you mean {close[0]!r}?" if close else f"expected one of: {', '.join(allowed)}"
            )
            problems.append(problem_at(document, (*path, name), f"unknown field; {hint}", key=True))
        return problems
    if keyword == "required" and isinstance(value, dict):
        required: Any = error.validator_value
        return [
            problem_at(document, (*path, name), "required field is missing", container=True)
            for name in required
            if name not in value
        ]
    return [problem_at(document, path, _message(document, path, error))]


def _message(document: Document, path: Path, error: ValidationError) -> str:
    keyword = str(error.validator)
    value: Any = error.instance
    expected: Any = error.validator_value
    if "propertyNames" in error.absolute_schema_path:  # about a key of an extension mapping
        return f"key {value!r}: " + _message_for(keyword, value, expected)
    if keyword == "type":
        is_field = bool(path) and isinstance(path[-1], str)
        return _type_message(value, expected, raw_text(document, path), is_field)
    return _message_for(keyword, value, expected) or error.message


def _message_for(keyword: str, value: Any, expected: Any) -> str:
    if keyword == "pattern":
        hint = PATTERN_HINTS.get(str(expected), f"does not match {expected}")
        return f"{value!r} {hint}"
    if keyword == "minLength":
        return "must not be empty" if value == "" else f"must be at least {expected} characters"
    if keyword == "maxLength":
        return f"is {len(value)} characters long; DingTalk allows at most {expected}"
    if keyword == "minItems":
        return "must not be empty" if not value else f"must list at least {expected}"
    if keyword == "maxItems":
        return f"lists {len(value)} entries; DingTalk allows at most {expected}"
    if keyword == "uniqueItems":
        seen: set[str] = set()
        for item in value:
            if repr(item) in seen:
                return f"lists {item!r} more than once"
            seen.add(repr(item))
        return "has duplicates"
    if keyword == "not" and value == ROOT:
        return "'root' is reserved for DingTalk's root department (dept 1); choose another key"
    if keyword == "dependentRequired" and isinstance(value, dict):
        for name, needs in expected.items():
            missing = [n for n in needs if n not in value]
            if name in value and missing:
                return f"{name} needs {' and '.join(missing)} as well"
    if keyword == "minimum":
        return f"must be at least {expected}, not {value}"
    if keyword == "maximum":
        return f"must be at most {expected}, not {value}"
    if keyword == "exclusiveMinimum":
        return f"must be more than {expected}, not {value}"
    return ""


def _type_message(value: Any, expected: str | list[str], raw: str | None, is_field: bool) -> str:
    wanted = [expected] if isinstance(expected, str) else [t for t in expected if t != "null"]
    words = " or ".join(_TYPE_WORDS.get(t, t) for t in wanted)
    if value is None:
        return f"is empty; expected {words}" + (" (or leave the field out)" if is_field else "")
    got = describe(value)
    if isinstance(value, str) and set(wanted) & {"integer", "number"} and _is_numeral(value):
        return f"expected {words}, got text; remove the quotes"
    if wanted == ["string"] and raw is not None and not isinstance(value, (list, dict)):
        because = " (YAML reads yes/no/on/off as true/false)" if isinstance(value, bool) else ""
        quoted = raw.replace("\\", "\\\\").replace('"', '\\"')
        return f'expected text, got {got}{because}; put it in quotes: "{quoted}"'
    if wanted == ["array"] and isinstance(value, str):
        return f"expected a list, got text; write [{value}]"
    return f"expected {words}, got {got}"


def _is_numeral(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True
