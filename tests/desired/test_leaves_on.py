"""`leaves_on` in the org files: read as a date quoted or not, every bad date named by
file:line:field, kept by dump, never part of the live comparison."""

from __future__ import annotations

import datetime

import pytest

from reconciler.desired.load import load_desired
from reconciler.errors import ConfigError
from reconciler.live.dump import dump_org
from reconciler.model import Org, User
from reconciler.policy import Lifecycle
from tests.desired.conftest import problems_of

USER = (
    'users:\n  - userid: a\n    name: A\n    mobile: "+86-15951819093"\n    departments: [root]\n'
)


@pytest.mark.parametrize("text", ["2026-12-01", '"2026-12-01"', "'2026-12-01'"])
def test_leaves_on_is_read_as_a_date(write_org, text):
    org, _ = load_desired(write_org({"u.yaml": USER + f"    leaves_on: {text}\n"}))
    assert org.users["a"].leaves_on == datetime.date(2026, 12, 1)


def test_no_leaves_on_is_none(write_org):
    org, _ = load_desired(write_org({"u.yaml": USER}))
    assert org.users["a"].leaves_on is None


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        (
            "2026-13-01",
            "org/u.yaml:6:16: leaves_on: cannot read '2026-13-01' as a date (YYYY-MM-DD): "
            "month must be in 1..12",
        ),
        (
            '"2026-02-30"',
            "org/u.yaml:6:16: users[0].leaves_on: '2026-02-30' is not a date: day is out of "
            "range for month",
        ),
        (
            "2026-12-01 10:00",
            "org/u.yaml:6:16: users[0].leaves_on: '2026-12-01 10:00' is not a date: write "
            "YYYY-MM-DD, e.g. 2026-12-31",
        ),
        (
            "next friday",
            "org/u.yaml:6:16: users[0].leaves_on: 'next friday' is not a date: write "
            "YYYY-MM-DD, e.g. 2026-12-31",
        ),
    ],
)
def test_a_bad_date_names_file_line_and_field(write_org, text, problem):
    with pytest.raises(ConfigError) as caught:
        load_desired(write_org({"u.yaml": USER + f"    leaves_on: {text}\n"}))
    assert problems_of(caught.value) == [problem]


def test_leaves_on_is_not_compared_with_live():
    base = User(userid="a", name="A", departments=("root",), mobile="+86-15951819093")
    dated = User(
        userid="a",
        name="A",
        departments=("root",),
        mobile="+86-15951819093",
        leaves_on=datetime.date(2026, 12, 1),
    )
    assert dated == base  # live never has the field: equal people stay out of the diff


def test_dump_keeps_leaves_on_and_reads_back(write_org):
    user = User(
        userid="a",
        name="A",
        departments=("root",),
        mobile="+86-15951819093",
        leaves_on=datetime.date(2026, 12, 1),
    )
    files = dump_org(Org.of([], [user]))
    people = next(text for name, text in files.items() if name.startswith("people/"))
    assert "leaves_on: '2026-12-01'" in people
    org, _ = load_desired(write_org({"u.yaml": people}))
    assert org.users["a"].leaves_on == datetime.date(2026, 12, 1)


def test_the_lifecycle_policy_is_read_and_its_holding_department_must_exist(write_org):
    org_dir = write_org(
        {
            "u.yaml": "departments:\n  - {key: hold, name: 过渡, parent: root}\n" + USER,
            "orgctl.yaml": "lifecycle:\n  holding_department: hold\n  hold_days: 7\n"
            "  pending_invitations: {max_age_days: 30, action: delete}\n",
        }
    )
    _, policy = load_desired(org_dir)
    assert policy.lifecycle == Lifecycle(
        holding_department="hold",
        hold_days=7,
        invitation_max_days=30,
        stale_invitations="delete",
    )
    (org_dir / "orgctl.yaml").write_text(
        "lifecycle:\n  holding_department: leavers\n  hold_days: 7\n", encoding="utf-8"
    )
    with pytest.raises(ConfigError) as caught:
        load_desired(org_dir)
    assert problems_of(caught.value) == [
        "org/orgctl.yaml:2:23: lifecycle.holding_department: unknown department 'leavers'; "
        "the holding department must be defined in an org file"
    ]
