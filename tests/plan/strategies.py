"""Hypothesis strategies: small random live and desired orgs that collide often.

Few names, keys, userids and mobiles, so renames into a sibling's name, swaps, moves under a
former child, mobile swaps, adoptions and prunes all come up within a few hundred examples.
Emails and telephones come from small pools too, and are sometimes rotated among people who
keep their accounts (swaps, three-way rotations), sometimes re-cased, sometimes handed to a
new or re-created person. The desired side is valid as the loader would accept it (unique
sibling names, mobiles, emails ignoring case and telephones; known parents and departments,
managers among members).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from hypothesis import strategies as st

from reconciler.model import ROOT, Department, DeptKey, Org, User, unkeyed
from reconciler.plan.document import Plan
from reconciler.policy import Policy, TenantTraits
from reconciler.sandbox import LENIENT, STRICT
from reconciler.sandbox.profile import Profile

NAMES = ("甲", "乙", "丙", "丁")
KEYS = ("a", "b", "c", "d", "e")
USERIDS = ("u0", "u1", "u2", "u3", "u4", "u5")
MOBILES = tuple(f"+86-1380013{n:04d}" for n in range(8))
TITLES = (None, "工程师", "经理")
EMAILS = ("a@example.com", "b@example.com", "c@example.com", "d@example.com")
TELEPHONES = ("8001", "8002", "8003", "8004")


@dataclass(frozen=True)
class Scenario:
    desired: Org
    live: Org
    policy: Policy


def _name(draw: st.DrawFn, taken: set[tuple[DeptKey, str]], parent: DeptKey) -> str | None:
    free = [n for n in NAMES if (parent, n) not in taken]
    if not free:
        return None
    name = draw(st.sampled_from(free))
    taken.add((parent, name))
    return name


@st.composite
def scenarios(draw: st.DrawFn) -> Scenario:
    # Live departments: a forest, parents drawn among earlier ones; some keyed, some not.
    live_depts: list[Department] = []
    taken: set[tuple[DeptKey, str]] = set()
    used_keys: set[str] = set()
    for i in range(draw(st.integers(0, 6))):
        dept_id = i + 2
        parent = draw(st.sampled_from([ROOT, *(d.key for d in live_depts)]))
        name = _name(draw, taken, parent)
        if name is None:
            continue
        source = draw(st.sampled_from((*KEYS, None, None)))
        if source in used_keys:
            source = None
        if source is not None:
            used_keys.add(source)
        live_depts.append(
            Department(
                key=source or unkeyed(dept_id),
                name=name,
                parent=parent,
                order=draw(st.sampled_from((None, 1, 2))),
                dept_id=dept_id,
                source_identifier=source,
            )
        )
    # Sometimes a vendor's subtree (外包 > 华东) hangs somewhere in the live tree; it is
    # unmanaged, and its people may also belong to managed departments.
    vendor: list[Department] = []
    if draw(st.booleans()):
        parent = draw(st.sampled_from([ROOT, *(d.key for d in live_depts)]))
        vendor = [
            Department(key=unkeyed(90), name="外包", parent=parent, dept_id=90),
            Department(key=unkeyed(91), name="华东", parent=unkeyed(90), dept_id=91),
        ]
    live_keys = [ROOT, *(d.key for d in live_depts), *(d.key for d in vendor)]
    live_depts += vendor

    # Desired departments.
    desired_depts: list[Department] = []
    taken = set()
    keys = draw(st.permutations(KEYS))[: draw(st.integers(0, len(KEYS)))]
    for key in keys:
        parent = draw(st.sampled_from([ROOT, *(d.key for d in desired_depts)]))
        name = _name(draw, taken, parent)
        if name is None:
            continue
        desired_depts.append(
            Department(key=key, name=name, parent=parent, order=draw(st.sampled_from((None, 1, 2))))
        )
    desired_keys = [ROOT, *(d.key for d in desired_depts)]

    # Live users: unique mobiles, at least one department, managers among live users.
    live_ids = draw(st.lists(st.sampled_from(USERIDS), unique=True, max_size=len(USERIDS)))
    mobiles = draw(st.permutations(MOBILES))
    live_emails = _unique_values(draw, len(live_ids), EMAILS)
    live_telephones = _unique_values(draw, len(live_ids), TELEPHONES)
    live_users: list[User] = []
    for n, userid in enumerate(live_ids):
        depts = draw(st.lists(st.sampled_from(live_keys), min_size=1, max_size=3, unique=True))
        live_users.append(
            User(
                userid=userid,
                name=f"人{userid}",
                departments=tuple(sorted(depts)),
                mobile=mobiles[n],
                title=draw(st.sampled_from(TITLES)),
                email=live_emails[n],
                telephone=live_telephones[n],
                manager=draw(st.sampled_from((None, *live_ids))) if live_ids else None,
            )
        )
    members: dict[DeptKey, list[str]] = {}
    for u in live_users:
        for k in u.departments:
            members.setdefault(k, []).append(u.userid)
    live_depts = [
        _with_managers(
            d,
            draw(st.lists(st.sampled_from(members[d.key]), unique=True, max_size=2))
            if d.key in members
            else [],
        )
        for d in live_depts
    ]

    # Desired users: mobiles mostly kept, sometimes changed or swapped; unique.
    desired_ids = draw(st.lists(st.sampled_from(USERIDS), unique=True, max_size=len(USERIDS)))
    live_by_id = {u.userid: u for u in live_users}
    used_mobiles: set[str] = set()
    desired_users: list[User] = []
    for userid in desired_ids:
        have = live_by_id.get(userid)
        mobile = draw(st.sampled_from(MOBILES))
        if have is not None and have.mobile and draw(st.booleans()):
            mobile = have.mobile
        if mobile in used_mobiles:
            mobile = next(m for m in MOBILES if m not in used_mobiles)
        used_mobiles.add(mobile)
        depts = draw(st.lists(st.sampled_from(desired_keys), min_size=1, max_size=3, unique=True))
        desired_users.append(
            User(
                userid=userid,
                name=draw(st.sampled_from((f"人{userid}", f"新{userid}"))),
                departments=tuple(sorted(depts)),
                mobile=mobile,
                title=draw(st.sampled_from(TITLES)),
                manager=draw(st.sampled_from((None, "", *desired_ids))),
            )
        )
    desired_users = _contact_values(draw, desired_users, live_by_id)
    members = {}
    for u in desired_users:
        for k in u.departments:
            members.setdefault(k, []).append(u.userid)
    managed: list[Department] = []
    for d in desired_depts:
        if draw(st.booleans()):
            managers = draw(
                st.lists(st.sampled_from(members.get(d.key, ["-"])), unique=True, max_size=2)
            )
            managed.append(_with_managers(d, [m for m in managers if m != "-"]))
        else:
            managed.append(d)

    live_org = Org.of(live_depts, live_users)
    unmanaged: tuple[str, ...] = ()
    if vendor:
        unmanaged = (live_org.path(unkeyed(90)),)
    elif live_depts and draw(st.integers(0, 3)) == 0:
        paths = sorted({live_org.path(d.key) for d in live_depts})
        unmanaged = (draw(st.sampled_from(paths)),)  # anywhere: under managed parents too
    policy = Policy(
        prune_users=draw(st.booleans()),
        prune_departments=draw(st.booleans()),
        unmanaged_departments=unmanaged,
    )
    return Scenario(Org.of(managed, desired_users), live_org, policy)


def _unique_values(draw: st.DrawFn, n: int, pool: tuple[str, ...]) -> list[str | None]:
    """n values, each from the pool or None, no value twice."""
    values: list[str | None] = []
    for value in draw(st.lists(st.sampled_from((None, *pool)), min_size=n, max_size=n)):
        values.append(None if value in values else value)
    return values


def _contact_values(draw: st.DrawFn, desired: list[User], live: dict[str, User]) -> list[User]:
    """Emails and telephones for the desired people: each one kept, left unmanaged (None),
    cleared, or drawn from the pool (often a value someone else holds live); then, often,
    the live values of some who stay are rotated among them (a swap, a three-way rotation).
    Duplicates (emails ignoring case) are then dropped to None, as the loader would refuse
    them."""
    result = list(desired)
    for name, pool in (("email", EMAILS), ("telephone", TELEPHONES)):
        values: list[str | None] = []
        for want in result:
            have = live.get(want.userid)
            held = getattr(have, name) if have is not None else None
            choice = draw(st.sampled_from(("keep", "keep", "none", "clear", "pool")))
            value: str | None
            if choice == "keep":
                value = held
            elif choice == "none":
                value = None
            elif choice == "clear":
                value = ""
            else:
                value = draw(st.sampled_from(pool))
            if value and name == "email" and draw(st.integers(0, 5)) == 0:
                value = value.upper()  # the same address to DingTalk and the loader
            values.append(value)
        # Mostly among people who keep their account (a swap of updates needs a release
        # step), sometimes with a re-created one in the ring (a create must wait).
        kept_only = draw(st.integers(0, 2)) > 0
        holders = [
            i
            for i, want in enumerate(result)
            if (have := live.get(want.userid)) is not None
            and getattr(have, name)
            and (want.mobile == have.mobile or not kept_only)
        ]
        if len(holders) >= 2 and draw(st.booleans()):
            ring = draw(st.lists(st.sampled_from(holders), min_size=2, unique=True))
            for i, j in zip(ring, ring[1:] + ring[:1], strict=True):
                values[i] = getattr(live[result[j].userid], name)
        seen: set[str] = set()
        for i, value in enumerate(values):
            key = value.casefold() if value else ""
            if key in seen:
                values[i] = None
            elif key:
                seen.add(key)
        pairs = zip(result, values, strict=True)
        if name == "email":
            result = [replace(want, email=v) for want, v in pairs]
        else:
            result = [replace(want, telephone=v) for want, v in pairs]
    return result


def _with_managers(d: Department, managers: list[str]) -> Department:
    return Department(
        key=d.key,
        name=d.name,
        parent=d.parent,
        order=d.order,
        managers=tuple(sorted(managers)),
        dept_id=d.dept_id,
        source_identifier=d.source_identifier,
    )


@st.composite
def handoff_scenarios(draw: st.DrawFn) -> Scenario:
    """One department, a few people who keep, change, clear, swap and rotate emails and
    telephones; sometimes one is re-created (new mobile), pruned, or joined by a newcomer.
    Dense where `scenarios` is broad: most examples hand a value from one person to another."""
    live_ids = USERIDS[: draw(st.integers(2, len(USERIDS)))]
    emails = _unique_values(draw, len(live_ids), EMAILS)
    telephones = _unique_values(draw, len(live_ids), TELEPHONES)
    live_users = [
        User(
            userid=userid,
            name=f"人{userid}",
            departments=("a",),
            mobile=MOBILES[n],
            email=emails[n],
            telephone=telephones[n],
        )
        for n, userid in enumerate(live_ids)
    ]
    desired_users: list[User] = []
    for n, have in enumerate(live_users):
        if draw(st.integers(0, 7)) == 0:
            continue  # pruned (or left alone when prune_users is off)
        new_mobile = f"+86-1390013{n:04d}"  # a new mobile: delete + create
        desired_users.append(
            replace(have, mobile=new_mobile if draw(st.integers(0, 4)) == 0 else have.mobile)
        )
    for n in range(draw(st.integers(0, 2))):
        desired_users.append(
            User(
                userid=f"new{n}",
                name=f"新{n}",
                departments=("a",),
                mobile=f"+86-1370013{n:04d}",
            )
        )
    live_by_id = {u.userid: u for u in live_users}
    desired_users = _contact_values(draw, desired_users, live_by_id)
    department = Department(key="a", name="甲", parent=ROOT)
    live_department = Department(key="a", name="甲", parent=ROOT, dept_id=2, source_identifier="a")
    return Scenario(
        Org.of([department], desired_users),
        Org.of([live_department], live_users),
        Policy(prune_users=draw(st.booleans())),
    )


# -- the two readings of "" ------------------------------------------------------------------

READINGS: dict[str, tuple[Profile, bool | None]] = {
    "strict": (STRICT, None),
    "lenient": (LENIENT, True),
}
"""Both readings of "" in user/update: a strict tenant ignores it (releases write a
placeholder), a lenient one clears with it (and `orgctl doctor` saved so)."""


def read_as(s: Scenario, reading: str) -> tuple[Scenario, Profile]:
    """The scenario planned for a tenant of that reading, and the tenant's profile."""
    profile, clears = READINGS[reading]
    tenant = TenantTraits(empty_string_clears=clears)
    return replace(s, policy=replace(s.policy, tenant=tenant)), profile


def left(plan: Plan, again: Plan) -> list[str]:
    """What a second plan still does, less the clears the first plan warned "" may not do
    (a tenant that ignores "" keeps the value; the plan says so, naming person and field)."""
    warned = set()
    for warning in plan.warnings:
        userid, _, rest = warning.partition(": the YAML clears the ")
        if rest:
            warned.add((userid, rest.split(",")[0]))
    return [
        step.id
        for step in again.steps
        if not all((step.key, change.name) in warned for change in step.changes)
    ]
