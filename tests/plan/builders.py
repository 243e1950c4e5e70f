"""Short builders for departments, users and orgs, so cases read like the YAML they model."""

from __future__ import annotations

import datetime
from collections.abc import Mapping

from reconciler.model import ROOT, Department, DeptKey, Org, User, unkeyed


def dept(
    key: DeptKey,
    name: str,
    parent: DeptKey = ROOT,
    *,
    order: int | None = None,
    managers: tuple[str, ...] | None = None,
    dept_id: int | None = None,
) -> Department:
    """A department; with ``dept_id`` it is live (keyed unless ``key`` is ``#<id>``)."""
    source = None if key.startswith("#") else key if dept_id is not None else None
    return Department(
        key=key,
        name=name,
        parent=parent,
        order=order,
        managers=tuple(sorted(managers)) if managers is not None else None,
        dept_id=dept_id,
        source_identifier=source,
    )


def live_dept(
    dept_id: int,
    name: str,
    parent: DeptKey = ROOT,
    *,
    key: DeptKey | None = None,
    order: int | None = None,
    managers: tuple[str, ...] = (),
) -> Department:
    """A live department, unkeyed (``#<id>``) unless ``key`` is given."""
    return dept(
        key or unkeyed(dept_id), name, parent, order=order, managers=managers, dept_id=dept_id
    )


def user(
    userid: str,
    name: str,
    *departments: DeptKey,
    mobile: str | None = None,
    title: str | None = None,
    email: str | None = None,
    telephone: str | None = None,
    manager: str | None = None,
    extension: Mapping[str, str] | None = None,
    leaves_on: datetime.date | None = None,
) -> User:
    return User(
        userid=userid,
        name=name,
        departments=tuple(sorted(departments)),
        mobile=mobile,
        title=title,
        email=email,
        telephone=telephone,
        manager=manager,
        extension=extension,
        leaves_on=leaves_on,
    )


def org(*items: Department | User) -> Org:
    return Org.of(
        [i for i in items if isinstance(i, Department)], [i for i in items if isinstance(i, User)]
    )


def mobile(n: int) -> str:
    """A distinct, valid-looking mainland mobile for person n."""
    return f"+86-1380013{n:04d}"
