"""Desired state: every YAML file under an org directory → `Org` + `Policy`, or every problem.
I/O: reads the files under the org directory; nothing else.

    org/**/*.yaml ─ yamlsafe.read_yaml ─▶ data + marks ─ JSON Schema ─▶ items ─ semantic ─▶ Org
    org/orgctl.yaml ─────────── same ───────────────────────────────────────────────────▶ Policy

`load_desired` raises `ConfigError` carrying *every* problem it found (sorted, each with
file:line:column and a field path such as ``users[3].mobile``), never just the first one.
It does not stop at the first broken file: items that fail the schema are left out of the
cross-file checks, and names they declare still count as declared, so one typo does not
cascade into a page of "unknown department" errors.

Files: every ``*.yaml`` / ``*.yml`` below the directory, in sorted order, skipping names
that start with a dot (editor lock files, .git). ``orgctl.yaml`` at the top is the policy.
Symlinks are never followed: one that leads outside the directory is an error, one inside
is skipped (its target is read under its own name).

The JSON Schema check runs a compiled fast check per item (and on the policy) first; only
what fails it goes through jsonschema (slow: ~200 µs per user, ~100 ms to import and set up)
for exact messages. See `_compile`.
"""

from __future__ import annotations

import difflib
import json
import os
import re
import zoneinfo
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from functools import cache
from importlib.resources import files
from pathlib import Path, PurePosixPath
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from reconciler.desired.yamlsafe import Document, Marks, line_col, read_yaml
from reconciler.errors import ConfigError, Problem
from reconciler.gcpause import gc_paused
from reconciler.model import ROOT, Department, DeptKey, Location, Org, User, UserId
from reconciler.phone import InvalidMobile, normalize_mobile
from reconciler.policy import DEFAULT_POLICY, Policy, Safety

if TYPE_CHECKING:  # imported when first needed: see _validator
    from jsonschema import Draft202012Validator, ValidationError

POLICY_FILE = "orgctl.yaml"
YAML_SUFFIXES = (".yaml", ".yml")
_MAX_SUGGESTIONS = 20
MAX_EXTENSION_CHARS = 2000  # DingTalk: extension ≤ 2000 characters as JSON (errcode 40063)

# --- public API -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Desired:
    """What `load` read: the org, the policy, and the files they came from (as displayed)."""

    org: Org
    policy: Policy
    files: tuple[str, ...]


def load_desired(org_dir: Path) -> tuple[Org, Policy]:
    """Read and validate the desired state under ``org_dir``. Raises ConfigError."""
    desired = load(org_dir)
    return desired.org, desired.policy


def load(org_dir: Path) -> Desired:
    """Like `load_desired`, also saying which files were read (for `orgctl validate`)."""
    with gc_paused():
        return _Loader(org_dir).run()


def load_policy(path: Path, file: str | None = None) -> Policy:
    """Read one policy file on its own (no check that protected users exist)."""
    display = file if file is not None else path.as_posix()
    problems: list[Problem] = []
    document = read_yaml(path, display)
    policy = _read_policy(document, problems)
    if problems:
        raise ConfigError(problems)
    return policy


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


# --- the loader -------------------------------------------------------------------------------


@dataclass(slots=True)
class _Item:
    """One department or user mapping from a file, with the marks of its fields."""

    doc: Document
    path: tuple[str | int, ...]  # ("users", 3)
    data: dict[str, Any]
    marks: dict[str, tuple[int, int, Marks]]
    pos: int

    @property
    def location(self) -> Location:
        line, column = line_col(self.pos)
        return Location(self.doc.file, line, column)

    def at(self, name: str, message: str) -> Problem:
        """A problem about field ``name`` of this item, located at its value."""
        entry = self.marks.get(name)
        packed = self.pos if entry is None else entry[1]
        line, column = line_col(packed)
        return Problem(self.doc.file, line, column, _field(self.path, name), message)

    def at_element(self, name: str, index: int, message: str) -> Problem:
        """A problem about element ``index`` of list field ``name``."""
        entry = self.marks.get(name)
        packed = self.pos if entry is None else entry[1]
        if entry is not None and isinstance(entry[2], list) and index < len(entry[2]):
            packed = entry[2][index][0]
        line, column = line_col(packed)
        return Problem(self.doc.file, line, column, _field(self.path, name, index), message)


@dataclass(slots=True)
class _PolicyRef:
    """Where the policy's list entries are, for problems found after reading it."""

    document: Document | None = None
    protected: dict[str, int] = field(default_factory=dict)  # userid → index in the list
    unmanaged: list[str] = field(default_factory=list)  # valid paths, normalised


class _Loader:
    def __init__(self, org_dir: Path) -> None:
        self.org_dir = org_dir
        self.problems: list[Problem] = []
        self.display_dir = org_dir.as_posix().rstrip("/") or "."
        self.files: list[str] = []
        self.complete = True  # every file parsed: cross-file "unknown X" checks are sound
        self.declared_keys: set[str] = set()
        self.declared_userids: set[str] = set()
        self.policy_ref = _PolicyRef()

    def display(self, relative: PurePosixPath) -> str:
        return f"{self.display_dir}/{relative}" if self.display_dir != "." else str(relative)

    def fail(self, file: str, message: str) -> None:
        self.problems.append(Problem(file, 0, 0, "", message))

    def run(self) -> Desired:
        if not self.org_dir.is_dir():
            what = "is not a directory" if self.org_dir.exists() else "does not exist"
            raise ConfigError([Problem(self.display_dir, 0, 0, "", f"{what}")])
        org_files, policy_path = self.discover()
        policy = DEFAULT_POLICY
        if policy_path is not None:
            policy = self.read_policy(policy_path)
        departments: list[_Item] = []
        users: list[_Item] = []
        for path, display in org_files:
            self.files.append(display)
            try:
                document = read_yaml(path, display)
            except ConfigError as exc:
                self.problems.extend(exc.problems)
                self.complete = False
                continue
            items = self.check_file(document)
            departments.extend(i for i in items if i.path[0] == "departments")
            users.extend(i for i in items if i.path[0] == "users")
        if not org_files and not self.problems:
            self.fail(self.display_dir, "no org files (*.yaml) here: is this the right directory?")
        org = _Semantics(self, departments, users, policy).run()
        if self.problems:
            raise ConfigError(self.problems)
        return Desired(org, policy, tuple(sorted(self.files)))

    # --- files --------------------------------------------------------------------------------

    def discover(self) -> tuple[list[tuple[Path, str]], Path | None]:
        """The org files (path, display name) in sorted order, and the policy file if any."""
        root = self.org_dir
        real_root = os.path.realpath(root)
        found: list[tuple[Path, str]] = []
        policy: Path | None = None
        for current, dirnames, filenames in os.walk(root, followlinks=False):
            here = Path(current)
            relative_dir = PurePosixPath(here.relative_to(root).as_posix())
            dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
            for name in list(dirnames):
                if os.path.islink(here / name):
                    dirnames.remove(name)  # os.walk would not descend; say why if it matters
                    self.check_symlink(here / name, relative_dir / name, real_root)
            for name in sorted(filenames):
                if name.startswith(".") or not name.endswith(YAML_SUFFIXES):
                    continue
                path = here / name
                relative = relative_dir / name
                display = self.display(relative)
                if os.path.islink(path):
                    self.check_symlink(path, relative, real_root)
                    if name == POLICY_FILE and relative_dir == PurePosixPath("."):
                        self.fail(display, "the policy file must be a regular file, not a symlink")
                    continue
                if name in (POLICY_FILE, "orgctl.yml"):
                    if relative_dir != PurePosixPath("."):
                        self.fail(
                            display,
                            f"{POLICY_FILE} belongs at the top of "
                            f"{self.display_dir}/, not in a subdirectory",
                        )
                    elif name == "orgctl.yml":
                        self.fail(display, f"name the policy file {POLICY_FILE}")
                    else:
                        policy = path
                        self.files.append(display)
                    continue
                found.append((path, display))
        # Display order, so "first defined at" means first in the sorted problem list too.
        return sorted(found, key=lambda pair: pair[1]), policy

    def check_symlink(self, path: Path, relative: PurePosixPath, real_root: str) -> None:
        display = self.display(relative)
        target = os.path.realpath(path)
        if not os.path.exists(target):
            self.fail(display, f"broken symlink (to {os.readlink(path)})")
        elif os.path.commonpath([real_root, target]) != real_root:
            self.fail(
                display,
                f"symlink to {os.readlink(path)}, outside "
                f"{self.display_dir}/; not followed (copy the file in instead)",
            )
        # A symlink inside the directory: its target is read under its own name.

    def read_policy(self, path: Path) -> Policy:
        display = self.display(PurePosixPath(POLICY_FILE))
        try:
            document = read_yaml(path, display)
        except ConfigError as exc:
            self.problems.extend(exc.problems)
            return DEFAULT_POLICY
        self.policy_ref.document = document
        return _read_policy(document, self.problems, self.policy_ref)

    # --- one org file -------------------------------------------------------------------------

    def check_file(self, document: Document) -> list[_Item]:
        """Schema-check one org file; return its items that passed."""
        data = document.data
        if data is None:
            return []  # an empty file (or only comments) declares nothing
        if not isinstance(data, dict):
            self.problems.append(
                _problem_at(
                    document,
                    (),
                    f"expected a mapping with 'departments:' and/or 'users:' at the top, got "
                    f"{_describe(data)}",
                )
            )
            return []
        broken = _schema_errors(document, "org", self.problems)
        items: list[_Item] = []
        for kind, declared, id_field in (
            ("departments", self.declared_keys, "key"),
            ("users", self.declared_userids, "userid"),
        ):
            entries = data.get(kind)
            if not isinstance(entries, list):
                # What it declares is unknown, so "unknown department" elsewhere may be wrong.
                self.complete = self.complete and entries is None
                continue
            kind_marks = document.marks[kind][2]
            for index, entry in enumerate(entries):
                if isinstance(entry, dict) and isinstance(entry.get(id_field), str):
                    declared.add(entry[id_field])
                else:
                    self.complete = False
                if (kind, index) in broken or not isinstance(entry, dict):
                    continue
                entry_pos, entry_marks = kind_marks[index]
                items.append(_Item(document, (kind, index), entry, entry_marks, entry_pos))
        return items


# --- the policy file --------------------------------------------------------------------------


def _read_policy(
    document: Document, problems: list[Problem], ref: _PolicyRef | None = None
) -> Policy:
    data = document.data
    if data is None:
        return DEFAULT_POLICY
    if not isinstance(data, dict):
        problems.append(
            _problem_at(
                document, (), f"expected a mapping of policy settings, got {_describe(data)}"
            )
        )
        return DEFAULT_POLICY
    before = len(problems)
    broken = {path[0] for path in _schema_errors(document, "policy", problems) if path}
    # Check what the schema passed, so one bad setting does not hide problems in the others.
    data = {key: value for key, value in data.items() if key not in broken}
    timezone = data.get("timezone", DEFAULT_POLICY.timezone)
    if "timezone" in data and not _valid_timezone(timezone):
        problems.append(
            _problem_at(
                document,
                ("timezone",),
                f"unknown time zone {timezone!r}; use an IANA name such as Asia/Shanghai",
            )
        )
    unmanaged: list[str] = []
    for index, raw in enumerate(data.get("unmanaged_departments") or ()):
        path = "/".join(name.strip() for name in raw.split("/"))
        reason = _bad_department_path(path)
        if reason:
            problems.append(
                _problem_at(document, ("unmanaged_departments", index), f"{raw!r} {reason}")
            )
            continue
        unmanaged.append(path)
        if ref is not None:
            ref.unmanaged.append(path)
    protected = data.get("protected_users") or []
    if ref is not None:
        ref.protected = {userid: index for index, userid in enumerate(protected)}
    if len(problems) > before:
        return DEFAULT_POLICY
    prune = data.get("prune") or {}
    safety = data.get("safety") or {}
    default_safety = DEFAULT_POLICY.safety
    return Policy(
        prune_users=prune.get("users", DEFAULT_POLICY.prune_users),
        prune_departments=prune.get("departments", DEFAULT_POLICY.prune_departments),
        protected_users=tuple(sorted(protected)),
        unmanaged_departments=tuple(sorted(unmanaged)),
        safety=Safety(
            max_user_delete_fraction=float(
                safety.get("max_user_delete_fraction", default_safety.max_user_delete_fraction)
            ),
            max_department_delete_fraction=float(
                safety.get(
                    "max_department_delete_fraction", default_safety.max_department_delete_fraction
                )
            ),
            min_existing=safety.get("min_existing", default_safety.min_existing),
        ),
        qps=float((data.get("rate_limit") or {}).get("qps", DEFAULT_POLICY.qps)),
        timezone=timezone,
        require_ci=(data.get("apply") or {}).get("require_ci", DEFAULT_POLICY.require_ci),
    )


def _valid_timezone(name: str) -> bool:
    try:
        zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError, OSError):
        return False
    return True


_FORBIDDEN_IN_NAME = re.compile("[-,，]")


def _bad_department_path(path: str) -> str:
    """Why ``path`` is not a name path like ``外包/华东`` ('' when it is one)."""
    if path.startswith("/") or path.endswith("/"):
        return (
            "is not a department path: write names from the top, like 外包/华东, "
            "without a leading or trailing '/'"
        )
    for name in path.split("/"):
        if not name:
            return "has an empty department name between '/'s"
        if _FORBIDDEN_IN_NAME.search(name):
            return f"names {name!r}; DingTalk forbids '-', ',' and '，' in names"
        if len(name) > 64:
            return f"names a department longer than 64 characters ({name[:20]}…)"
    return ""


# --- JSON Schema ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Checks:
    """Compiled fast checks for an org file: per item, and for the file without its items."""

    department: Callable[[Any], bool]
    user: Callable[[Any], bool]
    top: Callable[[Any], bool]


@cache
def _org_checks() -> _Checks:
    schema = org_schema()
    return _Checks(
        department=_compile(schema["$defs"]["department"], schema),
        user=_compile(schema["$defs"]["user"], schema),
        top=_compile(schema, schema),
    )


@cache
def _policy_check() -> Callable[[Any], bool]:
    schema = policy_schema()
    return _compile(schema, schema)


@cache
def _validator(kind: str) -> Draft202012Validator:
    """jsonschema, for what the fast checks refuse. Valid input never needs it, so it is
    imported here: importing and checking the schema costs ~100 ms at every start."""
    from jsonschema import Draft202012Validator

    schema = org_schema() if kind == "org" else policy_schema()
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(schema)


def _schema_errors(
    document: Document, kind: str, problems: list[Problem]
) -> set[tuple[str | int, ...]]:
    """Append the schema problems of ``document`` (an ``org`` file or the ``policy``); return
    the first two steps of each error's path (``("users", 3)``, ``("timezone",)``).

    A policy the fast check passes never reaches jsonschema. In an org file only items the
    fast check rejects go to it, in a copy of the document whose lists hold just those
    items (indices are mapped back after).
    """
    data = document.data
    index_maps: dict[str, list[int]] = {}
    if kind == "policy":
        if _policy_check()(data):
            return set()
    else:
        checks = _org_checks()
        reduced = dict(data)
        for name, check in (("departments", checks.department), ("users", checks.user)):
            entries = data.get(name)
            if isinstance(entries, list):
                index_maps[name] = [i for i, entry in enumerate(entries) if not check(entry)]
                reduced[name] = [entries[i] for i in index_maps[name]]
        if not any(index_maps.values()) and checks.top(reduced):
            return set()
        data = reduced
    broken: set[tuple[str | int, ...]] = set()
    found: set[Problem] = set()  # jsonschema may say the same thing twice
    for error in _validator(kind).iter_errors(data):
        path = list(error.absolute_path)
        if len(path) >= 2 and path[0] in index_maps and isinstance(path[1], int):
            path[1] = index_maps[str(path[0])][path[1]]
        broken.add(tuple(path[:2]))
        found.update(_describe_error(document, tuple(path), error))
    problems.extend(found)
    return broken


_PATTERN_HINTS = {
    "^[a-z0-9][a-z0-9_-]{0,63}$": "is not a valid key: use 1-64 lowercase letters, digits, "
    "'-' or '_', starting with a letter or digit",
    "^[^\\s,]+$": "is not a valid userid: no spaces or commas",
    "^[^-,，]*[^-,，\\s][^-,，]*$": "is not a valid department name: DingTalk forbids '-', "
    "',' and '，' (errcode 60009), and it must not be blank",
    "\\S": "must not be blank",
    "^[^@\\s]+@[^@\\s]+\\.[^@\\s]+$": "is not an email address",
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


def _describe_error(
    document: Document, path: tuple[str | int, ...], error: ValidationError
) -> list[Problem]:
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
            problems.append(
                _problem_at(document, (*path, name), f"unknown field; {hint}", key=True)
            )
        return problems
    if keyword == "required" and isinstance(value, dict):
        required: Any = error.validator_value
        return [
            _problem_at(document, (*path, name), "required field is missing", container=True)
            for name in required
            if name not in value
        ]
    return [_problem_at(document, path, _message(document, path, error))]


def _message(document: Document, path: tuple[str | int, ...], error: ValidationError) -> str:
    keyword = str(error.validator)
    value: Any = error.instance
    expected: Any = error.validator_value
    if "propertyNames" in error.absolute_schema_path:  # about a key of an extension mapping
        return f"key {value!r}: " + _message_for(keyword, value, expected)
    if keyword == "type":
        is_field = bool(path) and isinstance(path[-1], str)
        return _type_message(value, expected, _raw_text(document, path), is_field)
    return _message_for(keyword, value, expected) or error.message


def _message_for(keyword: str, value: Any, expected: Any) -> str:
    if keyword == "pattern":
        hint = _PATTERN_HINTS.get(str(expected), f"does not match {expected}")
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
    got = _describe(value)
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


def _describe(value: Any) -> str:
    if value is None:
        return "nothing"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return f"the number {value}"
    if isinstance(value, str):
        return "text"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "a mapping"
    return f"a {type(value).__name__}"  # a date or a time: YAML 1.1 reads 2024-01-01 as one


# --- locating paths ---------------------------------------------------------------------------


def _field(path: tuple[str | int, ...], *more: str | int) -> str:
    """("users", 3, "mobile") → "users[3].mobile"."""
    text = ""
    for part in (*path, *more):
        if isinstance(part, int):
            text += f"[{part}]"
        elif re.fullmatch(r"[^\s.\[\]\"]+", part):
            text += f".{part}" if text else part
        else:
            text += f"[{json.dumps(part, ensure_ascii=False)}]"
    return text


def _walk_marks(document: Document, path: tuple[str | int, ...]) -> tuple[int, int | None, Marks]:
    """(value pos, key pos or None, marks) of the value at ``path``, or of its nearest
    ancestor that exists."""
    packed, key_pos, marks = document.root, None, document.marks
    for part in path:
        if isinstance(marks, dict) and isinstance(part, str) and part in marks:
            key_pos, packed, marks = marks[part]
        elif isinstance(marks, list) and isinstance(part, int) and part < len(marks):
            packed, marks = marks[part]
            key_pos = None
        else:
            break
    return packed, key_pos, marks


def _raw_text(document: Document, path: tuple[str | int, ...]) -> str | None:
    marks = _walk_marks(document, path)[2]
    return marks if isinstance(marks, str) else None


def _problem_at(
    document: Document,
    path: tuple[str | int, ...],
    message: str,
    *,
    key: bool = False,
    container: bool = False,
) -> Problem:
    """A problem at the value at ``path`` (at its key with ``key``; at the mapping holding
    it with ``container``, for a field that is missing)."""
    packed, key_pos, _ = _walk_marks(document, path[:-1] if container else path)
    if key and key_pos is not None:
        packed = key_pos
    line, column = line_col(packed)
    return Problem(document.file, line, column, _field(path), message)


# --- the fast schema check --------------------------------------------------------------------

_IGNORED_KEYWORDS = frozenset(
    {"$schema", "$id", "$defs", "$comment", "title", "description", "examples", "default"}
)
_TYPE_TESTS = {
    "string": "type({v}) is str",
    "integer": "type({v}) is int",
    "number": "(type({v}) is int or type({v}) is float)",
    "boolean": "type({v}) is bool",
    "array": "type({v}) is list",
    "object": "type({v}) is dict",
    "null": "{v} is None",
}
_MISSING = object()


def _unique_strings(items: list[Any]) -> bool:
    return all(type(item) is str for item in items) and len(set(items)) == len(items)


def _compile(schema: dict[str, Any], root: dict[str, Any]) -> Callable[[Any], bool]:
    """A predicate that is True only for instances jsonschema also finds valid.

    jsonschema interprets the schema for every value (~200 µs per user: 20 s for 100 000).
    This turns the keywords our schemas use into one Python function per schema, in the
    manner of fastjsonschema, at ~5 µs per user. It may be stricter than jsonschema (1.0
    is no integer here): False only sends the item to jsonschema for the verdict and the
    message. An unsupported keyword raises ValueError, so a schema edit cannot silently
    weaken the check; tests/load/test_schema.py compares it with jsonschema on generated
    items.
    """
    generator = _CheckGenerator(root)
    name = generator.function(schema)
    namespace = dict(generator.namespace)
    exec("\n".join(generator.source), namespace)  # the source comes from our own schema
    check: Callable[[Any], bool] = namespace[name]
    return check


class _CheckGenerator:
    def __init__(self, root: dict[str, Any]) -> None:
        self.root = root
        self.source: list[str] = []
        self.namespace: dict[str, Any] = {"MISSING": _MISSING, "unique": _unique_strings}
        self.refs: dict[str, str] = {}
        self.counter = 0

    def fresh(self, prefix: str) -> str:
        self.counter += 1
        return f"{prefix}{self.counter}"

    def constant(self, value: Any) -> str:
        name = self.fresh("C")
        self.namespace[name] = value
        return name

    def function(self, schema: dict[str, Any]) -> str:
        name = self.fresh("check")
        body: list[str] = []
        self.emit(schema, "v", body, 1)
        self.source += [f"def {name}(v):", *body, "    return True", ""]
        return name

    def emit(self, schema: dict[str, Any], v: str, out: list[str], depth: int) -> None:
        """Append statements that `return False` when ``v`` breaks ``schema``."""
        pad = "    " * depth
        for keyword, value in schema.items():
            if keyword in _IGNORED_KEYWORDS:
                continue
            if keyword == "type":
                names = [value] if isinstance(value, str) else list(value)
                test = " or ".join(_TYPE_TESTS[n].format(v=v) for n in names)
                out.append(f"{pad}if not ({test}): return False")
            elif keyword == "$ref":
                out.append(f"{pad}if not {self.ref(value)}({v}): return False")
            elif keyword == "properties":
                out.append(f"{pad}if type({v}) is dict:")
                for prop, sub in value.items():
                    x = self.fresh("x")
                    out.append(f"{pad}    {x} = {v}.get({prop!r}, MISSING)")
                    out.append(f"{pad}    if {x} is not MISSING:")
                    inner: list[str] = []
                    self.emit(sub, x, inner, depth + 2)
                    out.extend(inner or [f"{pad}        pass"])
            elif keyword == "additionalProperties":
                known = self.constant(frozenset(schema.get("properties", {})))
                if value is False:
                    out.append(
                        f"{pad}if type({v}) is dict and not {known}.issuperset({v}): return False"
                    )
                else:
                    k, x = self.fresh("k"), self.fresh("x")
                    out.append(f"{pad}if type({v}) is dict:")
                    out.append(f"{pad}    for {k}, {x} in {v}.items():")
                    out.append(f"{pad}        if {k} not in {known}:")
                    self.emit(value, x, out, depth + 3)
            elif keyword == "propertyNames":
                k = self.fresh("k")
                out.append(f"{pad}if type({v}) is dict:")
                out.append(f"{pad}    for {k} in {v}:")
                self.emit(value, k, out, depth + 2)
            elif keyword == "required":
                present = " and ".join(f"{name!r} in {v}" for name in value) or "True"
                out.append(f"{pad}if type({v}) is dict and not ({present}): return False")
            elif keyword == "items":
                x = self.fresh("x")
                out.append(f"{pad}if type({v}) is list:")
                out.append(f"{pad}    for {x} in {v}:")
                self.emit(value, x, out, depth + 2)
            elif keyword == "pattern":
                search = self.constant(re.compile(value).search)
                out.append(f"{pad}if type({v}) is str and {search}({v}) is None: return False")
            elif keyword in ("minLength", "maxLength", "minItems", "maxItems"):
                kind = "str" if keyword.endswith("Length") else "list"
                op = "<" if keyword.startswith("min") else ">"
                out.append(
                    f"{pad}if type({v}) is {kind} and len({v}) {op} {int(value)}: return False"
                )
            elif keyword == "uniqueItems":
                if value:
                    out.append(f"{pad}if type({v}) is list and not unique({v}): return False")
            elif keyword in ("minimum", "maximum", "exclusiveMinimum"):
                op = {"minimum": ">=", "maximum": "<=", "exclusiveMinimum": ">"}[keyword]
                bound = self.constant(value)
                out.append(
                    f"{pad}if (type({v}) is int or type({v}) is float) and not ({v} {op} "
                    f"{bound}): return False"
                )
            elif keyword == "allOf":
                for sub in value:
                    self.emit(sub, v, out, depth)
            elif keyword == "not" and set(value) == {"const"} and isinstance(value["const"], str):
                forbidden = self.constant(value["const"])
                out.append(f"{pad}if not (type({v}) is str and {v} != {forbidden}): return False")
            else:
                raise ValueError(
                    f"the fast schema check does not support {keyword!r}: extend _CheckGenerator"
                )

    def ref(self, pointer: str) -> str:
        if not pointer.startswith("#/$defs/"):
            raise ValueError(f"unsupported $ref {pointer}")
        if pointer not in self.refs:
            self.refs[pointer] = self.fresh("check")  # reserved first: a $ref may recurse
            target = self.root["$defs"][pointer.removeprefix("#/$defs/")]
            body: list[str] = []
            self.emit(target, "v", body, 1)
            self.source += [f"def {self.refs[pointer]}(v):", *body, "    return True", ""]
        return self.refs[pointer]


# --- semantic checks --------------------------------------------------------------------------


class _Semantics:
    """Checks that need more than one item, and building the model."""

    def __init__(
        self, loader: _Loader, departments: list[_Item], users: list[_Item], policy: Policy
    ) -> None:
        self.loader = loader
        self.problems = loader.problems
        self.department_items = departments
        self.user_items = users
        self.policy = policy
        self.suggestions_left = _MAX_SUGGESTIONS

    def suggest(self, word: str, known: set[str]) -> str:
        """ "; did you mean 'x'?" for a close known name. Each costs a scan of every name
        (100 000 userids: ~0.5 s), so only the first few unknown names get one."""
        if self.suggestions_left <= 0:
            return ""
        self.suggestions_left -= 1
        close = difflib.get_close_matches(word, list(known), n=1, cutoff=0.75)
        return f"; did you mean {close[0]!r}?" if close else ""

    def run(self) -> Org:
        departments = self.unique(self.department_items, "key", "department key")
        users = self.unique(self.user_items, "userid", "userid")
        mobiles = self.check_users(users)
        self.check_unique_fields(users, mobiles)
        self.check_departments(departments, users)
        self.check_policy(departments)
        built_departments = [self.department(item) for item in departments.values()]
        built_users = [self.user(item, mobiles.get(userid)) for userid, item in users.items()]
        built_departments.sort(key=lambda d: d.key)
        built_users.sort(key=lambda u: u.userid)
        return Org.of(built_departments, built_users)

    def unique(self, items: list[_Item], id_field: str, what: str) -> dict[str, _Item]:
        """Items by id; a repeated id is reported at every occurrence after the first."""
        by_id: dict[str, _Item] = {}
        for item in items:
            ident = item.data[id_field]
            first = by_id.get(ident)
            if first is None:
                by_id[ident] = item
            else:
                self.problems.append(
                    item.at(
                        id_field,
                        f"duplicate {what} {ident!r}: also defined at {_where(first, id_field)}",
                    )
                )
        return by_id

    # --- users --------------------------------------------------------------------------------

    def check_users(self, users: dict[str, _Item]) -> dict[UserId, str]:
        """Validate mobiles (→ canonical form), extension size, references to others."""
        mobiles: dict[UserId, str] = {}
        declared_keys = self.loader.declared_keys | {ROOT}
        declared_userids = self.loader.declared_userids
        complete = self.loader.complete
        for userid, item in users.items():
            data = item.data
            raw = data["mobile"]
            try:
                mobiles[userid] = normalize_mobile(raw)
            except InvalidMobile as exc:
                self.problems.append(item.at("mobile", str(exc)))
            extension = data.get("extension")
            if extension:
                size = len(json.dumps(extension, ensure_ascii=False, separators=(",", ":")))
                if size > MAX_EXTENSION_CHARS:
                    self.problems.append(
                        item.at(
                            "extension",
                            f"is {size} characters as JSON; DingTalk allows at most "
                            f"{MAX_EXTENSION_CHARS} (errcode 40063)",
                        )
                    )
            if complete:
                for index, key in enumerate(data["departments"]):
                    if key not in declared_keys:
                        self.problems.append(
                            item.at_element(
                                "departments",
                                index,
                                f"unknown department {key!r}{self.suggest(key, declared_keys)}",
                            )
                        )
            manager = data.get("manager")
            if manager is not None:
                if manager == userid:
                    self.problems.append(item.at("manager", "a person cannot be their own manager"))
                elif complete and manager not in declared_userids:
                    self.problems.append(
                        item.at(
                            "manager",
                            f"unknown user {manager!r}{self.suggest(manager, declared_userids)}",
                        )
                    )
        self.check_manager_cycles(users)
        return mobiles

    def check_manager_cycles(self, users: dict[str, _Item]) -> None:
        """A manager chain that loops can never be created: each needs the other first."""
        managers: dict[str, str | None] = {}
        for userid, item in users.items():
            manager = item.data.get("manager")
            managers[userid] = manager if manager != userid else None  # reported on its own
        for loop in _loops(managers):
            cycle = " → ".join(loop)
            self.problems.append(users[loop[0]].at("manager", f"managers form a loop: {cycle}"))

    def check_unique_fields(self, users: dict[str, _Item], mobiles: dict[UserId, str]) -> None:
        """DingTalk refuses a second user with the same mobile (60104), email (60106/40101)
        or extension number (40100). Job numbers it does not police, but a repeated one is
        a copy-paste mistake that HR exports would inherit."""
        owners: dict[tuple[str, str], _Item] = {}
        for userid, item in users.items():
            data = item.data
            values = [
                ("mobile", mobiles.get(userid)),
                ("email", (data.get("email") or "").casefold() or None),
                ("job_number", data.get("job_number") or None),
                ("telephone", data.get("telephone") or None),
            ]
            for name, value in values:
                if value is None:
                    continue
                first = owners.setdefault((name, value), item)
                if first is not item:
                    self.problems.append(
                        item.at(
                            name,
                            f"same {name} as {first.data['userid']!r} "
                            f"({_where(first, name)}); DingTalk needs it unique",
                        )
                    )

    # --- departments --------------------------------------------------------------------------

    def check_departments(self, departments: dict[str, _Item], users: dict[str, _Item]) -> None:
        declared_keys = self.loader.declared_keys
        parents = declared_keys | {ROOT}
        declared_userids = self.loader.declared_userids
        complete = self.loader.complete
        siblings: dict[tuple[str, str], _Item] = {}
        for key, item in departments.items():
            data = item.data
            parent = data["parent"]
            if parent != ROOT and parent not in declared_keys and complete:
                self.problems.append(
                    item.at(
                        "parent",
                        f"unknown department {parent!r}{self.suggest(parent, parents)}",
                    )
                )
            name = " ".join(data["name"].split())
            first = siblings.setdefault((parent, name), item)
            if first is not item:
                self.problems.append(
                    item.at(
                        "name",
                        f"{name!r} is already the name of {first.data['key']!r} under the "
                        f"same parent ({_where(first, 'name')}); DingTalk needs sibling "
                        "names unique (errcode 60021)",
                    )
                )
            for index, manager in enumerate(data.get("managers") or ()):
                if manager in users:
                    if key not in users[manager].data["departments"]:
                        self.problems.append(
                            item.at_element(
                                "managers",
                                index,
                                f"{manager!r} is not a member of {key!r}; add {key!r} to their "
                                "departments (DingTalk managers must be members)",
                            )
                        )
                elif complete and manager not in declared_userids:
                    self.problems.append(
                        item.at_element(
                            "managers",
                            index,
                            f"unknown user {manager!r}{self.suggest(manager, declared_userids)}",
                        )
                    )
        self.check_cycles(departments)

    def check_cycles(self, departments: dict[str, _Item]) -> None:
        parents: dict[str, str | None] = {k: item.data["parent"] for k, item in departments.items()}
        for loop in _loops(parents):
            self.problems.append(
                departments[loop[0]].at(
                    "parent",
                    f"departments form a loop: {' → '.join(loop)}; one of them must hang "
                    "from another parent",
                )
            )

    # --- policy against the org ---------------------------------------------------------------

    def check_policy(self, departments: dict[str, _Item]) -> None:
        ref = self.loader.policy_ref
        document = ref.document
        if document is None:
            return
        if self.loader.complete:
            for userid, index in ref.protected.items():
                if userid not in self.loader.declared_userids:
                    self.problems.append(
                        _problem_at(
                            document,
                            ("protected_users", index),
                            f"protected user {userid!r} is not defined in any org file",
                        )
                    )
        if not ref.unmanaged:
            return
        paths = _department_paths(departments)
        for key, item in departments.items():
            path = paths.get(key)
            if path is None:
                continue
            for unmanaged in ref.unmanaged:
                if path == unmanaged:
                    where = f"is listed in unmanaged_departments ({document.file})"
                elif path.startswith(unmanaged + "/"):
                    where = f"lies inside the unmanaged subtree {unmanaged!r} ({document.file})"
                else:
                    continue
                self.problems.append(
                    item.at("name", f"{path!r} {where}; orgctl must not manage it: remove one")
                )

    # --- building the model -------------------------------------------------------------------

    @staticmethod
    def department(item: _Item) -> Department:
        data = item.data
        managers = data.get("managers")
        return Department(
            key=data["key"],
            name=data["name"].strip(),
            parent=data["parent"],
            order=data.get("order"),
            managers=tuple(sorted(managers)) if managers is not None else None,
            location=item.location,
        )

    @staticmethod
    def user(item: _Item, mobile: str | None) -> User:
        data = item.data
        extension = data.get("extension")
        return User(
            userid=data["userid"],
            name=data["name"].strip(),
            departments=tuple(sorted(data["departments"])),
            mobile=mobile,
            title=data.get("title"),
            email=data.get("email"),
            job_number=data.get("job_number"),
            telephone=data.get("telephone"),
            work_place=data.get("work_place"),
            remark=data.get("remark"),
            manager=data.get("manager"),
            extension=(
                MappingProxyType(dict(sorted(extension.items()))) if extension is not None else None
            ),
            location=item.location,
        )


def _department_paths(departments: dict[str, _Item]) -> dict[DeptKey, str]:
    """Name paths from the root, for departments whose parent chain reaches it."""
    paths: dict[DeptKey, str] = {}

    def path_of(key: DeptKey, depth: int) -> str | None:
        if key in paths:
            return paths[key]
        item = departments.get(key)
        if item is None or depth > len(departments):
            return None
        name = item.data["name"].strip()
        parent = item.data["parent"]
        if parent == ROOT:
            result: str | None = name
        else:
            above = path_of(parent, depth + 1)
            result = None if above is None else f"{above}/{name}"
        if result is not None:
            paths[key] = result
        return result

    for key in departments:
        try:
            path_of(key, 0)
        except RecursionError:  # a chain deeper than Python's stack: no path, no check
            continue
    return paths


def _loops(links: dict[str, str | None]) -> Iterator[list[str]]:
    """Each loop of ``links`` (member → next member, None or an outsider ends a chain) once,
    starting and ending at its smallest member: ``["a", "b", "a"]``."""
    state: dict[str, int] = {}  # 1 = on the current chain, 2 = done
    for start in sorted(links):
        chain: list[str] = []
        node: str | None = start
        while node is not None and node in links and node not in state:
            state[node] = 1
            chain.append(node)
            node = links[node]
        if node is not None and state.get(node) == 1:
            loop = chain[chain.index(node) :]
            first = loop.index(min(loop))
            yield [*loop[first:], *loop[:first], loop[first]]
        for member in chain:
            state[member] = 2


def _where(item: _Item, name: str) -> str:
    problem = item.at(name, "")
    return f"{problem.file}:{problem.line}:{problem.column}"
