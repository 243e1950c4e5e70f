"""DingTalk errcodes → the one error hierarchy."""

from __future__ import annotations

from typing import Any

import pytest

from reconciler.dingtalk import errcodes
from reconciler.dingtalk.redact import register_secret
from reconciler.errors import (
    BusyError,
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
        ({"errcode": 88, "sub_code": "60011", "errmsg": "没有调用该接口的权限"}, TerminalError, 88),
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
