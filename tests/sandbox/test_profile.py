"""Profiles: the named ones, and `--set KEY=VALUE` parsing with clear errors."""

from __future__ import annotations

import pytest

from reconciler.errors import InputError
from reconciler.sandbox import LENIENT, PROFILES, STRICT, Sandbox, profile_from
from reconciler.sandbox.profile import parse_settings


def test_strict_is_the_default_and_takes_the_harder_reading():
    with Sandbox() as sb:
        assert sb.profile is STRICT
    assert PROFILES == {"strict": STRICT, "lenient": LENIENT}
    assert (STRICT.rate_limit, LENIENT.rate_limit) == ("sliding", "bucket")
    assert (STRICT.empty_string_clears, LENIENT.empty_string_clears) == (False, True)
    assert (STRICT.unknown_user_errcode, LENIENT.unknown_user_errcode) == (33012, 60121)
    assert (STRICT.bad_param_errcode, LENIENT.bad_param_errcode) == (400002, 40035)
    assert (STRICT.wrap_token_errors, LENIENT.wrap_token_errors) == (True, False)
    assert (STRICT.strict_create_fields, LENIENT.strict_create_fields) == (True, False)


def test_overrides_parse_per_knob_and_make_a_custom_profile():
    profile = profile_from(
        "Lenient",
        parse_settings(
            [
                "qps=5",
                "rate-limit=sliding",
                "empty_string_clears=no",
                "contact_scope=2,3",
                "monthly_quota=none",
                "missing_permissions=qyapi_get_member",
                "pending_invite_share=0.25",
                "unknown_user_errcode=33012",
            ]
        ),
    )
    assert profile.name == "custom"
    assert profile.qps == 5.0
    assert profile.rate_limit == "sliding"
    assert profile.empty_string_clears is False
    assert profile.contact_scope == (2, 3)
    assert profile.monthly_quota is None
    assert profile.missing_permissions == ("qyapi_get_member",)
    assert profile.pending_invite_share == 0.25
    assert profile.unknown_user_errcode == 33012
    assert profile.bad_param_errcode == 40035  # untouched knobs keep the base profile's value
    assert profile_from("strict", {}) is STRICT


@pytest.mark.parametrize(
    ("name", "settings", "message"),
    [
        ("harsh", [], "unknown sandbox profile 'harsh'"),
        ("strict", ["qsp=5"], "unknown sandbox profile knob 'qsp'"),
        ("strict", ["qps=fast"], "qps='fast': expected a number"),
        ("strict", ["rate_limit=leaky"], "expected sliding or bucket"),
        ("strict", ["wrap_token_errors=maybe"], "expected true or false"),
        ("strict", ["pending_invite_share=2"], "expected a share between 0 and 1"),
        ("strict", ["contact_scope=a,b"], "expected comma-separated department ids"),
        ("strict", ["missing_permissions=root"], "expected permission points among"),
        ("strict", ["qps"], "--set 'qps': expected KEY=VALUE"),
    ],
)
def test_bad_settings_name_the_knob(name: str, settings: list[str], message: str):
    with pytest.raises(InputError) as caught:
        profile_from(name, parse_settings(settings))
    assert message in str(caught.value)


def test_describe_names_every_knob():
    line = STRICT.describe()
    assert line.startswith("strict: rate_limit=sliding qps=20 empty_string_clears=false")
    assert "contact_scope=none" in line
    assert "missing_permissions=-" in line
