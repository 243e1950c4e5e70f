"""The live directory as desired-state YAML files: what `orgctl dump` writes. Pure.

Layout (any number of files, so CODEOWNERS can give each department its own):

    departments.yaml          every department, depth first, siblings in DingTalk's order
    people/<top-level>.yaml   the users whose first department lies under that top-level
                              department (people/root.yaml: users only in the root)

Output is stable: the same live state dumps to the same bytes (no timestamps, sorted), so a
re-dump diffs cleanly in git. Only fields with a value are written: a field left out of YAML is
unmanaged, and writing ``title: null`` would mean something else.

Live departments without a ``source_identifier`` get a generated key, ``dept-<dept_id>`` (and
one whose identifier the schema would refuse gets a slug of it). A plan from the dump then
shows an *adopt* step that writes that key into DingTalk — correct: it is what makes the
department's identity stable. A tenant orgctl created has every key, so its dump plans to no
changes.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

import yaml

from reconciler.model import ROOT, USER_FIELDS, Department, DeptKey, Org, User, is_unkeyed

DEPARTMENTS_FILE = "departments.yaml"
PEOPLE_DIR = "people"
HEADER = "# Written by `orgctl dump` from the live directory. Edit, then `orgctl plan`.\n"

USER_FIELD_ORDER = ("userid", *USER_FIELDS, "leaves_on")
"""The order fields are written in: the identity, the managed fields in display order, then
``leaves_on`` (orgctl-only: a live user never has one, but a dumped desired org keeps it)."""


def dump_org(live: Org) -> dict[str, str]:
    """Relative file name → YAML text, for every file of the dump (sorted by name)."""
    keys = generated_keys(live)
    files = {DEPARTMENTS_FILE: _departments_yaml(live, keys)}
    for name, users in _people_files(live, keys).items():
        files[name] = _users_yaml(users, keys)
    return dict(sorted(files.items()))


KEY_PATTERN = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")
"""What the schema allows as a department key (schemas/org.schema.json ``$defs.key``)."""


def generated_keys(live: Org) -> dict[DeptKey, DeptKey]:
    """live key → dumped key. A key the schema accepts stays. An unkeyed department gets
    ``dept-<dept_id>``; a ``source_identifier`` set by another tool that is not a valid key
    (``HR 001``) becomes a slug of it (``hr-001``) or ``dept-<dept_id>``. Either way the next
    plan adopts the department, writing the new key into DingTalk. Collisions get ``-2``, ``-3``
    …, assigned in dept_id order so the result is the same every time."""
    keys: dict[DeptKey, DeptKey] = {ROOT: ROOT}
    taken = {key for key in live.departments if KEY_PATTERN.match(key) and key != ROOT}
    renamed = sorted(
        (d for d in live.departments.values() if d.key not in taken),
        key=lambda d: (d.dept_id if d.dept_id is not None else -1, d.key),
    )
    for key in taken:
        keys[key] = key
    for dept in renamed:
        ident = str(dept.dept_id) if dept.dept_id is not None else dept.key.lstrip("#")
        base = f"dept-{ident}" if is_unkeyed(dept.key) else _slug(dept.key, ident)
        candidate, n = base, 1
        while candidate in taken:
            n += 1
            candidate = f"{base}-{n}"
        taken.add(candidate)
        keys[dept.key] = candidate
    return keys


def _slug(key: DeptKey, ident: str) -> DeptKey:
    slug = re.sub(r"[^a-z0-9_-]+", "-", key.lower()).strip("-_")[:60].strip("-_")
    return slug if KEY_PATTERN.match(slug) and slug != ROOT else f"dept-{ident}"


def _key(keys: Mapping[DeptKey, DeptKey], key: DeptKey) -> DeptKey:
    if key in keys:
        return keys[key]
    return f"dept-{key[1:]}" if is_unkeyed(key) else key  # a department outside the read


def _children(live: Org) -> dict[DeptKey, list[Department]]:
    children: dict[DeptKey, list[Department]] = {}
    for dept in live.departments.values():
        children.setdefault(dept.parent, []).append(dept)
    for siblings in children.values():
        # DingTalk shows smaller order first; departments without one go last, then by name.
        siblings.sort(key=lambda d: (d.order is None, d.order or 0, d.name, d.key))
    return children


def _depth_first(live: Org) -> list[Department]:
    children = _children(live)
    ordered: list[Department] = []
    seen: set[DeptKey] = set()

    def visit(parent: DeptKey) -> None:
        for dept in children.get(parent, []):
            if dept.key not in seen:
                seen.add(dept.key)
                ordered.append(dept)
                visit(dept.key)

    visit(ROOT)
    # Anything not reachable from the root (a dangling parent) still gets dumped, at the end,
    # so the loader can report it instead of the dump silently dropping it.
    rest = sorted((d for d in live.departments.values() if d.key not in seen), key=lambda d: d.key)
    return ordered + rest


def _departments_yaml(live: Org, keys: Mapping[DeptKey, DeptKey]) -> str:
    parts = [HEADER, "departments:\n"]
    for dept in _depth_first(live):
        entry: dict[str, Any] = {
            "key": _key(keys, dept.key),
            "name": dept.name,
            "parent": _key(keys, dept.parent),
        }
        if dept.order is not None:
            entry["order"] = dept.order
        if dept.managers:
            entry["managers"] = _Inline(sorted(dept.managers))
        parts.append(f"# {live.path(dept.key)}\n")
        parts.append(_item(entry))
    if len(parts) == 2:
        parts[1] = "departments: []\n"
    return "".join(parts)


def _top_level(live: Org, key: DeptKey) -> DeptKey:
    """The top-level department above ``key`` (``key`` itself for one, the root or a key
    outside the read)."""
    return [key, *live.ancestors(key)][-1]


def _people_files(live: Org, keys: Mapping[DeptKey, DeptKey]) -> dict[str, list[User]]:
    groups: dict[DeptKey, list[User]] = {}
    for user in live.users.values():
        # Prefer a real department over the root as the user's home file.
        home = next((key for key in user.departments if key != ROOT), ROOT)
        groups.setdefault(_key(keys, _top_level(live, home)), []).append(user)
    files: dict[str, list[User]] = {}
    used: set[str] = set()
    for top in sorted(groups):
        stem = _file_stem(top)
        name, n = f"{PEOPLE_DIR}/{stem}.yaml", 1
        while name in used:
            n += 1
            name = f"{PEOPLE_DIR}/{stem}-{n}.yaml"
        used.add(name)
        files[name] = sorted(groups[top], key=lambda u: u.userid)
    return files


_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


def _file_stem(key: DeptKey) -> str:
    """A key as a file name: keys are slugs, but a source_identifier set by another tool may
    hold anything."""
    stem = _UNSAFE.sub("_", key).strip("._") or "department"
    return stem[:100]


def _users_yaml(users: Iterable[User], keys: Mapping[DeptKey, DeptKey]) -> str:
    parts = [HEADER, "users:\n"]
    for user in users:
        entry: dict[str, Any] = {}
        for name in USER_FIELD_ORDER:
            value = getattr(user, name)
            if name == "departments":
                value = _Inline(sorted(_key(keys, k) for k in value))
            elif name == "extension" and value is not None:
                value = dict(sorted(value.items()))
            elif name == "leaves_on" and value is not None:
                value = value.isoformat()  # quoted by yaml.dump; the loader reads either form
            if value is None or value == "":
                continue
            entry[name] = value
        parts.append(_item(entry))
    return "".join(parts)


class _Dumper(yaml.SafeDumper):
    pass


class _Inline(list[str]):
    """A list of scalars written on one line: ``departments: [eng, hr]``."""


def _inline(dumper: yaml.SafeDumper, value: _Inline) -> yaml.SequenceNode:
    return dumper.represent_sequence("tag:yaml.org,2002:seq", value, flow_style=True)


def _str(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    # Several lines (a remark) read best as a literal block.
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _str)
_Dumper.add_representer(_Inline, _inline)


def _item(entry: Mapping[str, Any]) -> str:
    """One ``- key: value`` list item, in block style but for `_Inline` lists."""
    return yaml.dump(
        [dict(entry)],
        Dumper=_Dumper,
        allow_unicode=True,
        sort_keys=False,
        default_flow_style=False,
        width=100,
    )
