"""DingTalk errcodes → the one error hierarchy."""

from __future__ import annotations

from typing import Any

import pytest

from reconciler.dingtalk import errcodes
from reconciler.dingtalk.redact import register_secret
from reconciler.errors import (
    BusyError,
    MissingPermissionError,
    QuotaExhaustedError,
    TerminalError,
    ThrottledError,
    TokenError,
)

API = "topapi/v2/user/list"


@pytest.mark.parametrize(
    ("body", "kind", "errcode"),
    [
        ({"errcode": -1, "errmsg": "系统繁忙"}, BusyError, -1),
        ({"errcode": "-1", "errmsg": "系统繁忙"}, BusyError, -1),
        ({"errcode": 90018, "errmsg": "qps"}, ThrottledError, 90018),
        ({"errcode": "90002"}, ThrottledError, 90002),
        ({"errcode": 90005}, ThrottledError, 90005),
        ({"errcode": 90006}, ThrottledError, 90006),
        ({"errcode": 90019}, ThrottledError, 90019),
        ({"errcode": 40014, "errmsg": "不合法的access_token"}, TokenError, 40014),
        ({"errcode": "42001"}, TokenError, 42001),
        ({"errcode": 40001}, TokenError, 40001),
        ({"errcode": 33001}, TokenError, 33001),
        ({"errcode": 41001}, TokenError, 41001),
        ({"errcode": 88, "sub_code": "40014", "errmsg": "x"}, TokenError, 88),
        ({"errcode": 88, "errmsg": "ding talk error[subcode=42001,submsg=超时]"}, TokenError, 88),
        (
            {"errcode": 88, "sub_code": "60011", "errmsg": "没有调用该接口的权限"},
            MissingPermissionError,
            88,
        ),
        ({"errcode": 60011, "errmsg": "没有调用该接口的权限"}, MissingPermissionError, 60011),
        ({"errcode": 400002, "errmsg": "参数错误"}, TerminalError, 400002),
        ({"errcode": 33012, "errmsg": "无效的userId"}, TerminalError, 33012),
        ({"errcode": 88, "sub_code": "90018", "errmsg": "too fast"}, ThrottledError, 88),
        ({"errcode": 90020, "errmsg": "本月api调用量已超过限制"}, QuotaExhaustedError, 90020),
        ({"errcode": 50004, "errmsg": "部门不在授权范围内"}, TerminalError, 50004),
        ({"errcode": "60121", "errmsg": "找不到该用户"}, TerminalError, 60121),
        ({"errcode": "oops"}, TerminalError, None),
        ({"errcode": None}, TerminalError, None),
    ],
)
def test_errcodes_map_onto_the_error_hierarchy(
    body: dict[str, Any], kind: type, errcode: int | None
):
    error = errcodes.classify(API, body)
    assert type(error) is kind
    assert error is not None
    assert error.errcode == errcode
    assert error.api == API


@pytest.mark.parametrize("errcode", [0, "0", " 0 "])
def test_errcode_zero_as_int_or_string_is_success(errcode: object):
    assert errcodes.classify(API, {"errcode": errcode, "errmsg": "ok"}) is None


def test_ip_ban_body_waits_its_minutes():
    body = {"status": 1111, "wait": 5, "source": "x5", "punish": "deny", "uuid": "u"}
    error = errcodes.classify(API, body)
    assert isinstance(error, ThrottledError)
    assert error.wait == 300.0
    assert "5 min" in str(error)


def test_scope_and_quota_errors_say_what_to_do():
    scope = errcodes.classify(API, {"errcode": 50004, "errmsg": "部门不在授权范围内"})
    assert scope is not None
    assert "可使用范围" in str(scope)
    assert isinstance(errcodes.classify(API, {"errcode": 90020}), QuotaExhaustedError)


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ({"sub_code": 40014}, "40014"),
        ({"errmsg": "ding talk error[subcode=60011,submsg=没有权限]"}, "60011"),
        ({"errmsg": "ding talk error[subcode=42001]"}, "42001"),
        ({"errmsg": "plain"}, ""),
    ],
)
def test_sub_code_comes_from_the_field_or_the_errmsg(body: dict[str, Any], expected: str):
    assert errcodes.sub_code_of(body) == expected


def test_a_secret_echoed_in_errmsg_is_masked_in_the_error():
    register_secret("tok-echoed-by-the-gateway-1234")
    body = {"errcode": 60003, "errmsg": "bad dept; token tok-echoed-by-the-gateway-1234"}
    error = errcodes.classify(API, body)
    assert error is not None
    assert "tok-echoed-by-the-gateway-1234" not in str(error)
    assert error.errmsg == "bad dept; token ***"


@pytest.mark.parametrize(
    ("value", "expected"),
    [(7, 7), ("7", 7), (" -3 ", -3), (True, None), (1.5, None), ("²", None), ("x", None)],
)
def test_type_erased_integers_parse_and_nothing_else_does(value: object, expected: int | None):
    # "²".isdigit() is True but int("²") raises: the snapshot's own parser used to crash on it.
    assert errcodes.parse_int(value) == expected


@pytest.mark.parametrize(
    ("api", "errcode", "not_found"),
    [
        ("topapi/v2/user/get", 60121, True),
        ("topapi/v2/user/get", 33012, True),  # what the user/get page documents
        ("topapi/v2/user/delete", 33012, True),
        ("/topapi/v2/user/delete/", 60121, True),
        ("topapi/v2/user/getbymobile", 60121, True),
        ("topapi/v2/user/getbymobile", 33012, False),
        ("topapi/v2/user/update", 33012, False),  # elsewhere 33012 is a malformed userid
        ("topapi/v2/user/get", 400002, False),
        ("topapi/v2/user/get", None, False),
    ],
)
def test_not_found_reads_both_documented_errcodes_where_documented(
    api: str, errcode: int | None, not_found: bool
):
    assert errcodes.is_not_found(api, errcode) is not_found


@pytest.mark.parametrize("errcode", [40035, 400002])
def test_both_bad_parameter_errcodes_are_terminal(errcode: int):
    assert errcode in errcodes.BAD_PARAMETER_ERRCODES
    error = errcodes.classify("topapi/v2/department/get", {"errcode": errcode, "errmsg": "x"})
    assert type(error) is TerminalError


@pytest.mark.parametrize(
    ("api", "body", "permission"),
    [
        # named by the API when the answer does not say
        ("topapi/v2/user/create", {"errcode": 88, "sub_code": "60011"}, "qyapi_manage_addresslist"),
        (
            "topapi/v2/user/get",
            {"errcode": 60011, "errmsg": "没有调用该接口的权限"},
            "qyapi_get_member",
        ),
        (
            "topapi/v2/department/get",
            {
                "errcode": 88,
                "sub_code": "60011",
                "sub_msg": "应用尚未开通所需的权限：[qyapi_get_department_list]",
                "errmsg": "ding talk error[subcode=60011,submsg=没有调用该接口的权限]",
            },
            "qyapi_get_department_list",
        ),
        # named by the answer, even on an API we have no table entry for
        (
            "topapi/v2/other",
            {
                "errcode": 88,
                "errmsg": "ding talk error[subcode=60011,submsg=requires Contact.User.Read]",
            },
            "Contact.User.Read",
        ),
    ],
)
def test_a_missing_permission_is_named(api: str, body: dict[str, Any], permission: str):
    error = errcodes.classify(api, body)
    assert isinstance(error, MissingPermissionError)
    assert error.permission == permission
    assert permission in str(error)
