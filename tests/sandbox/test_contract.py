"""The sandbox answers in the shapes of the published samples (`samples.py`): same keys and
types."""

from __future__ import annotations

from typing import Any

import pytest

from reconciler.sandbox import LENIENT, Sandbox
from tests.sandbox import samples
from tests.sandbox.helpers import Api


def shape(value: Any) -> Any:
    """Keys and value types, recursively; a list is described by its first element."""
    if isinstance(value, dict):
        return {key: shape(item) for key, item in value.items()}
    if isinstance(value, list):
        return [shape(value[0])] if value else []
    return type(value).__name__


def seed_team(sb: Sandbox) -> int:
    dept_id = sb.tenant.add_department("golang", order=1, source_identifier="golang")
    sb.tenant.add_user(
        "zhangsan",
        "张三",
        "+86-18513027676",
        [dept_id],
        title="技术总监",
        email="test@xxx.com",
        org_email="test@xxx.com",
        job_number="4",
        telephone="010-86123456-2345",
        work_place="未来park",
        remark="备注备注",
        hired_date=1597573616828,
        extension={"爱好": "旅游", "年龄": "24"},
        dept_orders={dept_id: 1},
    )
    sb.tenant.add_user("lisi", "李四", "+86-15172391968", [dept_id])
    return dept_id


def test_gettoken_answers_s1_key_for_key(api: Api):
    answer = api.gettoken()
    assert shape(answer) == shape(samples.S1_GETTOKEN)
    assert list(answer) == list(samples.S1_GETTOKEN)  # even the key order
    assert answer["expires_in"] == 7200


@pytest.mark.parametrize("sb", [LENIENT], indirect=True)  # bare token errors
def test_an_invalid_token_answers_s3_exactly(api: Api):
    answer = api.call("topapi/v2/department/get", {"dept_id": 1}, token="not-a-token")
    assert answer == samples.S3_INVALID_TOKEN  # no request_id on token errors, like S3


def test_department_create_answers_s9(api: Api):
    answer = api.call("topapi/v2/department/create", {"name": "golang", "parent_id": 1})
    assert shape(answer) == shape(samples.S9_DEPARTMENT_CREATE)
    assert len(answer["request_id"]) == len(samples.S9_DEPARTMENT_CREATE["request_id"])


def test_department_get_answers_s10_plus_three_documented_fields(api: Api, sb: Sandbox):
    dept_id = seed_team(sb)
    # S10's department has a group chat, is hidden and is an "outer" department; the fields
    # those switch on are returned only then [DG], so set them the way S10 has them.
    api.ok(
        "topapi/v2/department/update",
        {
            "dept_id": dept_id,
            "create_dept_group": True,
            "hide_dept": True,
            "user_permits": "zhangsan,lisi",
            "outer_dept": True,
            "outer_permit_depts": "1",
            "dept_manager_userid_list": "zhangsan",
            "org_dept_owner": "zhangsan",
        },
    )
    answer = api.ok("topapi/v2/department/get", {"dept_id": dept_id})
    result, sample = answer["result"], samples.S10_DEPARTMENT_GET["result"]
    # Nothing of S10 is omitted. The sandbox adds what the current department/get page
    # documents and the older fixture lacks: source_identifier (the reconciler's key) and
    # member_count / owning_member_count (the snapshot skips departments with no members).
    assert set(result) - set(sample) == {"source_identifier", "member_count", "owning_member_count"}
    assert shape({k: v for k, v in result.items() if k in sample}) == shape(sample)
    assert set(answer) == set(samples.S10_DEPARTMENT_GET)
    assert (result["member_count"], result["owning_member_count"]) == (2, 2)


def test_user_list_answers_s11_item_for_item(api: Api, sb: Sandbox):
    dept_id = seed_team(sb)
    answer = api.ok("topapi/v2/user/list", {"dept_id": dept_id, "cursor": 0, "size": 1})
    # request_id is extra: every topapi answer carries one (§1.2); the fixture was trimmed.
    assert set(answer) - set(samples.S11_USER_LIST) == {"request_id"}
    sample_result = samples.S11_USER_LIST["result"]
    assert set(answer["result"]) == set(sample_result)
    (item,) = answer["result"]["list"]
    sample_item = sample_result["list"][0]
    # No omissions: with every field set, a user/list item has exactly S11's keys and types.
    assert shape(item) == shape(sample_item)
    assert shape(answer["result"]["next_cursor"]) == shape(sample_result["next_cursor"])
    assert item["mobile"] == "18513027676"  # +86 numbers come back bare, with state_code "86"
    assert item["state_code"] == "86"
    assert item["extension"] == '{"爱好":"旅游","年龄":"24"}'  # a JSON string, as in S11


def test_user_update_answers_s15(api: Api, sb: Sandbox):
    seed_team(sb)
    answer = api.call("topapi/v2/user/update", {"userid": "zhangsan", "title": "CTO"})
    assert shape(answer) == shape(samples.S15_USER_UPDATE)  # no errmsg, like S15


def test_errcodes_are_ints_but_the_docs_also_show_strings(api: Api):
    # The sandbox keeps ints; a client must still accept "0" (STRING_ERRCODE) and normalise.
    answer = api.call("topapi/v2/department/get", {"dept_id": 424242})
    assert isinstance(answer["errcode"], int)
    assert answer["errcode"] == 60003  # an unknown department, as a number
    assert isinstance(samples.STRING_ERRCODE["errcode"], str)
    assert int(samples.STRING_ERRCODE["errcode"]) == 0
