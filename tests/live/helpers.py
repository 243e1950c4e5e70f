"""Seed a sandbox tenant directly (no API calls) and say which live Org it must read back."""

from __future__ import annotations

import random
from typing import Any

from reconciler.model import ROOT, Department, DeptKey, Org, User, unkeyed
from reconciler.sandbox import Tenant

SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何林罗高"
GIVEN = "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚"
ROOT_INDEX = -1


def seed(
    tenant: Tenant,
    *,
    departments: int,
    users: int,
    seed: int = 1,
    unkeyed_every: int = 5,
    fanout: int = 6,
) -> Org:
    """A tree of ``departments`` (up to ``fanout`` children each; every ``unkeyed_every``-th
    without a source_identifier, none if 0; every third managed by its first member) and
    ``users`` spread over them, every 7th in two departments, every 50th in the root. Returns
    the Org a correct snapshot reads."""
    rng = random.Random(seed)
    # People first (by department index), so managers can be chosen among members.
    people: list[dict[str, Any]] = []
    for n in range(users):
        home = rng.randrange(departments) if departments and n % 50 else ROOT_INDEX
        depts = [home]
        if departments and n % 7 == 0:
            depts.append(rng.randrange(departments))
        people.append(
            {
                "userid": f"user{n:05d}",
                "name": rng.choice(SURNAMES) + rng.choice(GIVEN) + (rng.choice(GIVEN) * (n % 2)),
                "mobile": f"+86-13{n % 10}{n:08d}",
                "depts": list(dict.fromkeys(depts)),
                "title": rng.choice(["工程师", "经理", None]),
                "email": f"user{n:05d}@example.com" if n % 3 else None,
                "extension": {"工位": f"A{n % 40}"} if n % 4 == 0 else None,
            }
        )
    first_member: dict[int, str] = {}
    for person in people:
        for index in person["depts"]:
            first_member.setdefault(index, person["userid"])

    ids: dict[int, int] = {ROOT_INDEX: 1}
    keys: dict[int, DeptKey] = {ROOT_INDEX: ROOT}
    expected_depts: list[Department] = []
    for n in range(departments):
        parent = ROOT_INDEX if n < fanout else (n - fanout) // fanout
        keyed = not unkeyed_every or n % unkeyed_every != 0
        managers = (first_member[n],) if n % 3 == 0 and n in first_member else ()
        order = rng.randint(1, 1000)
        ids[n] = tenant.add_department(
            f"部门{n}",
            ids[parent],
            order=order,
            source_identifier=f"d{n}" if keyed else None,
            managers=managers,
        )
        keys[n] = f"d{n}" if keyed else unkeyed(ids[n])
        expected_depts.append(
            Department(
                key=keys[n], name=f"部门{n}", parent=keys[parent], order=order, managers=managers
            )
        )
    expected_users: list[User] = []
    for person in people:
        fields = {k: person[k] for k in ("title", "email", "extension") if person[k] is not None}
        tenant.add_user(
            person["userid"],
            person["name"],
            person["mobile"],
            [ids[i] for i in person["depts"]],
            **fields,
        )
        expected_users.append(
            User(
                userid=person["userid"],
                name=person["name"],
                departments=tuple(sorted(keys[i] for i in person["depts"])),
                mobile=person["mobile"],
                title=person["title"],
                email=person["email"],
                extension=person["extension"],
            )
        )
    return Org.of(expected_depts, expected_users)
