"""Checks across items and files, then the model: desired items → `Org`. Pure.

What one item cannot show on its own: repeated ids, mobiles, emails and names among
siblings; references to departments and people that nobody declared; loops in the
department tree and in manager chains; managers who are not members; the policy's protected
users and unmanaged subtrees against the org. Each problem names the item's file, line,
column and field.
"""

from __future__ import annotations

import datetime
import difflib
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from types import MappingProxyType

from reconciler.desired.locate import Item, problem_at
from reconciler.desired.policy_file import PolicyRef
from reconciler.errors import Problem
from reconciler.model import ROOT, Department, DeptKey, Org, User, UserId
from reconciler.phone import InvalidMobile, normalize_mobile

_MAX_SUGGESTIONS = 20
MAX_EXTENSION_CHARS = 2000  # DingTalk: extension ≤ 2000 characters as JSON (errcode 40063)


@dataclass(slots=True)
class Declared:
    """Every department key and userid some file declares, and whether every file was read."""

    keys: set[str] = field(default_factory=set)
    userids: set[str] = field(default_factory=set)
    complete: bool = True


class Semantics:
    """Checks that need more than one item, and building the model.

    ``declared`` holds every department key and userid any file declared, including items
    the schema refused (so one typo does not cascade into "unknown department" elsewhere);
    ``complete`` is False when some file could not be read, and "unknown X" is then unsound.
    """

    def __init__(
        self,
        declared: Declared,
        departments: list[Item],
        users: list[Item],
        policy_ref: PolicyRef,
        problems: list[Problem],
    ) -> None:
        self.declared = declared
        self.problems = problems
        self.department_items = departments
        self.user_items = users
        self.policy_ref = policy_ref
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

    def unique(self, items: list[Item], id_field: str, what: str) -> dict[str, Item]:
        """Items by id; a repeated id is reported at every occurrence after the first."""
        by_id: dict[str, Item] = {}
        for item in items:
            ident = item.data[id_field]
            first = by_id.get(ident)
            if first is None:
                by_id[ident] = item
            else:
                self.problems.append(
                    item.at(
                        id_field,
                        f"duplicate {what} {ident!r}: also defined at {first.where(id_field)}",
                    )
                )
        return by_id

    # --- users --------------------------------------------------------------------------------

    def check_users(self, users: dict[str, Item]) -> dict[UserId, str]:
        """Validate mobiles (→ canonical form), extension size, references to others."""
        mobiles: dict[UserId, str] = {}
        declared_keys = self.declared.keys | {ROOT}
        declared_userids = self.declared.userids
        complete = self.declared.complete
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
            leaves_on = data.get("leaves_on")
            if leaves_on is not None:
                try:
                    datetime.date.fromisoformat(leaves_on)
                except ValueError as exc:  # the schema's pattern lets 2026-02-30 through
                    self.problems.append(
                        item.at("leaves_on", f"{leaves_on!r} is not a date: {exc}")
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

    def check_manager_cycles(self, users: dict[str, Item]) -> None:
        """A manager chain that loops can never be created: each needs the other first."""
        managers: dict[str, str | None] = {}
        for userid, item in users.items():
            manager = item.data.get("manager")
            managers[userid] = manager if manager != userid else None  # reported on its own
        for loop in _loops(managers):
            cycle = " → ".join(loop)
            self.problems.append(users[loop[0]].at("manager", f"managers form a loop: {cycle}"))

    def check_unique_fields(self, users: dict[str, Item], mobiles: dict[UserId, str]) -> None:
        """DingTalk refuses a second user with the same mobile (60104), email (60106/40101)
        or extension number (40100). Job numbers it does not police, but a repeated one is
        a copy-paste mistake that HR exports would inherit."""
        owners: dict[tuple[str, str], Item] = {}
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
                            f"({first.where(name)}); DingTalk needs it unique",
                        )
                    )

    # --- departments --------------------------------------------------------------------------

    def check_departments(self, departments: dict[str, Item], users: dict[str, Item]) -> None:
        declared_keys = self.declared.keys
        parents = declared_keys | {ROOT}
        declared_userids = self.declared.userids
        complete = self.declared.complete
        siblings: dict[tuple[str, str], Item] = {}
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
                        f"same parent ({first.where('name')}); DingTalk needs sibling "
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

    def check_cycles(self, departments: dict[str, Item]) -> None:
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

    def check_policy(self, departments: dict[str, Item]) -> None:
        ref = self.policy_ref
        document = ref.document
        if document is None:
            return
        if self.declared.complete:
            for userid, index in ref.protected.items():
                if userid not in self.declared.userids:
                    self.problems.append(
                        problem_at(
                            document,
                            ("protected_users", index),
                            f"protected user {userid!r} is not defined in any org file",
                        )
                    )
        holding = ref.holding
        if holding is not None and self.declared.complete and holding not in self.declared.keys:
            self.problems.append(
                problem_at(
                    document,
                    ("lifecycle", "holding_department"),
                    f"unknown department {holding!r}; the holding department must be "
                    "defined in an org file",
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
    def department(item: Item) -> Department:
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
    def user(item: Item, mobile: str | None) -> User:
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
            leaves_on=_date(data.get("leaves_on")),
            location=item.location,
        )


def _date(text: str | None) -> datetime.date | None:
    if text is None:
        return None
    try:
        return datetime.date.fromisoformat(text)
    except ValueError:  # reported by check_users; the org is not returned then
        return None


def _department_paths(departments: dict[str, Item]) -> dict[DeptKey, str]:
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
