"""Desired state: every YAML file under an org directory → `Org` + `Policy`, or every problem.
I/O: reads the files under the org directory; nothing else.

    files.find_files ─▶ paths ─ yamlsafe.read_yaml ─▶ data + marks ─ schema ─▶ items ─┐
                                        └─ strings (hostile characters) ─────────────┤
    org/orgctl.yaml ─ read_yaml ─ policy_file.read_policy ─▶ Policy ──── semantic ───┴─▶ Org

`load_desired` raises `ConfigError` carrying *every* problem it found (sorted, each with
file:line:column and a field path such as ``users[3].mobile``; past `MAX_PROBLEMS` only a
count of the rest), never just the first one. It does not stop at the first broken file:
items that fail the schema are left out of the cross-file checks, and names they declare
still count as declared, so one typo does not cascade into a page of "unknown department"
errors.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from reconciler.desired.files import POLICY_FILE, YAML_SUFFIXES, display_name, find_files
from reconciler.desired.locate import Item, describe, problem_at
from reconciler.desired.policy_file import PolicyRef, read_policy
from reconciler.desired.schema import schema_errors, schema_text
from reconciler.desired.semantic import Declared, Semantics
from reconciler.desired.strings import hostile_strings
from reconciler.desired.yamlsafe import Document, read_yaml
from reconciler.errors import ConfigError, Problem
from reconciler.gcpause import gc_paused
from reconciler.model import Org
from reconciler.policy import DEFAULT_POLICY, Policy

__all__ = [
    "MAX_PROBLEMS",
    "POLICY_FILE",
    "YAML_SUFFIXES",
    "Desired",
    "load",
    "load_desired",
    "load_policy",
    "schema_text",
]

MAX_PROBLEMS = 200
"""Problems a ConfigError lists; the rest are counted. 100 000 repeated keys would otherwise
print 100 000 lines, and after the first screenful nobody reads on."""


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
    document = read_yaml(path, display)
    problems = hostile_strings(document)
    policy = read_policy(document, problems)
    if problems:
        raise _config_error(problems)
    return policy


def _dates_as_text(data: dict[str, Any]) -> None:
    """YAML 1.1 reads an unquoted ``leaves_on: 2026-12-31`` as a date, a type JSON Schema has
    not got: give the schema (and the model) the ISO text, quoted or not. A date with a time
    becomes ``2026-12-31T09:00:00``, which the schema's pattern refuses."""
    users = data.get("users")
    if not isinstance(users, list):
        return
    for entry in users:
        if isinstance(entry, dict):
            value = entry.get("leaves_on")
            if isinstance(value, datetime.date):
                entry["leaves_on"] = value.isoformat()


def _config_error(problems: list[Problem]) -> ConfigError:
    return ConfigError(problems, limit=MAX_PROBLEMS)


class _Loader:
    def __init__(self, org_dir: Path) -> None:
        self.org_dir = org_dir
        self.problems: list[Problem] = []
        self.display_dir = display_name(org_dir)
        self.files: list[str] = []
        self.declared = Declared()
        self.policy_ref = PolicyRef()

    def run(self) -> Desired:
        if not self.org_dir.is_dir():
            what = "is not a directory" if self.org_dir.exists() else "does not exist"
            raise ConfigError([Problem(self.display_dir, 0, 0, "", what)])
        found = find_files(self.org_dir)
        self.problems.extend(found.problems)
        policy = DEFAULT_POLICY
        if found.policy is not None:
            path, display = found.policy
            self.files.append(display)
            policy = self.read_policy(path, display)
        if found.total_bytes > policy.max_org_bytes:
            raise _config_error([*self.problems, self.too_big(found.total_bytes, policy)])
        departments: list[Item] = []
        users: list[Item] = []
        for path, display in found.org_files:
            self.files.append(display)
            try:
                document = read_yaml(path, display)
            except ConfigError as exc:
                self.problems.extend(exc.problems)
                self.declared.complete = False
                continue
            self.problems.extend(hostile_strings(document))
            for item in self.check_file(document):
                (departments if item.path[0] == "departments" else users).append(item)
        if not found.org_files and not self.problems:
            self.problems.append(
                Problem(
                    self.display_dir,
                    0,
                    0,
                    "",
                    "no org files (*.yaml) here: is this the right directory?",
                )
            )
        org = Semantics(self.declared, departments, users, self.policy_ref, self.problems).run()
        if self.problems:
            raise _config_error(self.problems)
        return Desired(org, policy, tuple(sorted(self.files)))

    def too_big(self, total: int, policy: Policy) -> Problem:
        mb = 1024 * 1024
        return Problem(
            self.display_dir,
            0,
            0,
            "",
            f"the org files add up to {total / mb:.1f} MB; the limit is "
            f"{policy.max_org_bytes / mb:.0f} MB (raise limits.org_files_mb in {POLICY_FILE} "
            "if this really is the org); nothing was read",
        )

    def read_policy(self, path: Path, display: str) -> Policy:
        try:
            document = read_yaml(path, display)
        except ConfigError as exc:
            self.problems.extend(exc.problems)
            return DEFAULT_POLICY
        self.problems.extend(hostile_strings(document))
        self.policy_ref.document = document
        return read_policy(document, self.problems, self.policy_ref)

    def check_file(self, document: Document) -> list[Item]:
        """Schema-check one org file; return its items that passed."""
        data: Any = document.data
        if data is None:
            return []  # an empty file (or only comments) declares nothing
        if not isinstance(data, dict):
            self.problems.append(
                problem_at(
                    document,
                    (),
                    f"expected a mapping with 'departments:' and/or 'users:' at the top, got "
                    f"{describe(data)}",
                )
            )
            return []
        _dates_as_text(data)
        broken = schema_errors(document, "org", self.problems)
        items: list[Item] = []
        declared = self.declared
        for kind, names, id_field in (
            ("departments", declared.keys, "key"),
            ("users", declared.userids, "userid"),
        ):
            entries = data.get(kind)
            if not isinstance(entries, list):
                # What it declares is unknown, so "unknown department" elsewhere may be wrong.
                declared.complete = declared.complete and entries is None
                continue
            kind_marks = document.marks[kind][2]
            for index, entry in enumerate(entries):
                if isinstance(entry, dict) and isinstance(entry.get(id_field), str):
                    names.add(entry[id_field])
                else:
                    declared.complete = False
                if (kind, index) in broken or not isinstance(entry, dict):
                    continue
                entry_pos, entry_marks = kind_marks[index]
                items.append(Item(document, (kind, index), entry, entry_marks, entry_pos))
        return items
