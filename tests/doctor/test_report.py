"""The pure verdicts: burst → limiter kind, timings → percentiles, size → time, table, JSON."""

from __future__ import annotations

import pytest

from reconciler.doctor.report import (
    Burst,
    Report,
    Status,
    classify_burst,
    estimate,
    percentile,
    render_table,
)
from reconciler.policy import TenantTraits


@pytest.mark.parametrize(
    ("burst", "kind", "why"),
    [
        (Burst(20, 23, 20, 5, 0), "sliding", "0 of 5 passed 0.5 s later"),
        (Burst(20, 23, 21, 5, 5), "bucket", "all 5 passed 0.5 s later"),
        (Burst(20, 23, 23, 5, 5), "unknown", "the limit is above 20 QPS"),
        (Burst(20, 23, 12, 5, 0), "unknown", "below 20 QPS, or another client"),
        (Burst(20, 23, 20, 5, 2), "unknown", "neither a sliding window nor a bucket"),
        (Burst(20, 23, 20, 5, 0, 0.7), "unknown", "did not arrive together"),
    ],
)
def test_classify_burst(burst: Burst, kind: str, why: str) -> None:
    got_kind, got_why = classify_burst(burst)
    assert got_kind == kind
    assert why in got_why


def test_percentile_is_nearest_rank() -> None:
    values = [0.05, 0.01, 0.02, 0.03, 0.04]
    assert percentile(values, 0.5) == 0.03
    assert percentile(values, 0.95) == 0.05
    assert percentile([0.2], 0.95) == 0.2


def test_estimate_counts_the_snapshots_calls() -> None:
    # root with 3 direct members, then 250, 0 and 100 members
    guess = estimate([3, 250, 0, 100], qps=20)
    assert guess.departments == 3
    assert guess.people == 353
    assert guess.plan_calls == {
        "topapi/v2/department/listsubid": 4,
        "topapi/v2/department/get": 3,
        "topapi/v2/user/list": 1 + 3 + 1,
    }
    assert guess.plan_seconds == pytest.approx(5 / 20)
    assert guess.apply_seconds == pytest.approx(5 / 20 + 3 / 20 + 353 / 20)


def _report() -> Report:
    report = Report(traits=TenantTraits(unknown_user_errcode=33012, rate_limit="sliding"))
    report.add("token", Status.OK, "issued", "uses it")
    report.add(
        "read permissions",
        Status.FAIL,
        "missing qyapi_get_member",
        "cannot read",
        "add qyapi_get_member in 权限管理",
    )
    report.missing_permissions.append("qyapi_get_member")
    return report


def test_a_failed_check_blocks_and_its_fix_is_printed() -> None:
    report = _report()
    assert report.exit_code == 1
    table = render_table(report)
    assert "fix (read permissions): add qyapi_get_member in 权限管理" in table
    assert "1 check blocks orgctl" in table
    ok = Report()
    ok.add("token", Status.OK, "issued", "uses it")
    assert ok.exit_code == 0
    assert "Nothing blocks orgctl" in render_table(ok)


def test_table_columns_line_up_with_chinese_text() -> None:
    report = Report()
    report.add("scope", Status.OK, "研发中心 visible", "reads it")
    report.add("token", Status.OK, "issued", "uses it")
    lines = render_table(report).splitlines()
    # "reads it" and "uses it" start in the same terminal column (CJK is two columns wide).
    assert lines[2].index("reads it") + 4 == lines[3].index("uses it")


def test_json_has_the_documented_keys() -> None:
    data = _report().as_json()
    assert data["empty_string_clears"] is None
    assert data["unknown_user_errcode"] == 33012
    assert data["rate_limit"] == "sliding"
    assert data["missing_permissions"] == ["qyapi_get_member"]
    assert [c["name"] for c in data["checks"]] == ["token", "read permissions"]
    assert data["checks"][1]["status"] == "fail"
    assert data["ok"] is False
