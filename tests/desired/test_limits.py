"""The loader's guards against input that is not an org: a total size over all org files
(checked before reading any) and a cap on the problems one error lists."""

from __future__ import annotations

from pathlib import Path

import pytest

from reconciler.desired.load import MAX_PROBLEMS, load
from reconciler.errors import ConfigError
from reconciler.policy import DEFAULT_POLICY
from tests.desired.conftest import problems_of

MB = 1024 * 1024


def sparse(path: Path, size: int) -> None:
    """A file of ``size`` NUL bytes that takes no disk: reading it would say 'binary file'."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as handle:
        handle.truncate(size)


def test_org_files_over_the_default_total_are_refused_before_reading(write_org):
    org_dir = write_org({"orgctl.yaml": "prune: {users: true}\n"})
    half = DEFAULT_POLICY.max_org_bytes // 2 + 1
    sparse(org_dir / "a.yaml", half)
    sparse(org_dir / "people" / "b.yaml", half)
    with pytest.raises(ConfigError) as caught:
        load(org_dir)
    assert problems_of(caught.value) == [
        "org: the org files add up to 64.0 MB; the limit is 64 MB (raise limits.org_files_mb "
        "in orgctl.yaml if this really is the org); nothing was read"
    ]


def test_the_total_is_set_in_the_policy(write_org):
    org_dir = write_org({"orgctl.yaml": "limits: {org_files_mb: 1}\n"})
    sparse(org_dir / "a.yaml", MB + 1)
    with pytest.raises(ConfigError) as caught:
        load(org_dir)
    assert "the limit is 1 MB" in problems_of(caught.value)[0]

    (org_dir / "orgctl.yaml").write_text("limits: {org_files_mb: 2}\n", encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load(org_dir)
    assert "binary file" in problems_of(caught.value)[0]  # under the limit: it was read


def test_policy_settings_reach_the_policy(write_org):
    org_dir = write_org(
        {
            "orgctl.yaml": "rate_limit: {qps: 7.5}\nlimits: {org_files_mb: 3}\n",
            "u.yaml": 'users:\n  - {userid: a, name: A, mobile: "13800138000", '
            "departments: [root]}\n",
        }
    )
    policy = load(org_dir).policy
    assert policy.qps == 7.5 != DEFAULT_POLICY.qps
    assert policy.max_org_bytes == 3 * MB != DEFAULT_POLICY.max_org_bytes


def test_an_error_lists_at_most_max_problems_and_counts_the_rest(write_org):
    users = "".join(
        f'  - {{userid: u{i}, name: U, mobile: "+86-1380013{i:04d}", departments: [nowhere]}}\n'
        for i in range(MAX_PROBLEMS + 30)
    )
    org_dir = write_org({"u.yaml": "users:\n" + users})
    with pytest.raises(ConfigError) as caught:
        load(org_dir)
    error = caught.value
    assert len(error.problems) == MAX_PROBLEMS
    assert error.omitted == 30
    assert str(error) == f"{MAX_PROBLEMS + 30} problems in the desired state"
    assert error.problems[0].line == 2  # the first ones in file order are the ones kept
