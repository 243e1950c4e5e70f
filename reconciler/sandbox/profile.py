"""How strictly the sandbox reads DingTalk's documents: one `Profile` of knobs per tenant.
Pure: no I/O.

Where DingTalk's pages allow two readings, `STRICT` (the default everywhere) takes the harder
one and `LENIENT` the easier one, so orgctl can be tried against both:

- rate limit: at most `qps` calls per API in any sliding second ("20 次/秒" read literally), or
  a token bucket that lets a burst of `qps` through at once;
- ``""`` in ``user/update``: left as it was (DingTalk's own SDKs drop empty strings before
  sending; the update page documents clearing only through ``force_update_fields``), or cleared;
- unknown userid on ``user/get`` / ``user/delete``: 33012 (those pages) or 60121 (the FAQ);
- a bad parameter on the v2 pages that list 400002: 400002, or 40035;
- token errors: wrapped by the TOP gateway as errcode 88 with ``sub_code`` 40014, or bare;
- ``department/create``: only its documented fields (``dept_manager_userid_list`` and
  ``auto_add_user`` are update-only), or whatever update accepts;
- a work notice (``asyncsend_v2``) to at most 100 userids (the TOP SDK and the older page), or
  5,000 (the current page, for an internal app).

The other knobs describe a tenant rather than a reading (who must accept an invitation, the
app's contact scope and permission points, the monthly quota): both profiles leave them at
the tenant-neutral value, except the monthly quota, which STRICT sets to the standard
edition's documented 5,000 metered calls.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal, get_args

from reconciler.errors import InputError

RateLimitKind = Literal["sliding", "bucket"]

PERMISSIONS = (
    "qyapi_manage_addresslist",  # contacts writes
    "qyapi_get_department_list",  # department reads
    "qyapi_get_member",  # user/get
    "qyapi_get_department_member",  # user/list, user/listid
    "qyapi_get_member_by_mobile",  # user/getbymobile
    "qyapi_get_attendance_data",  # attendance reads
    "Pro.AttendanceRecord.Write",  # attendance uploads
)
"""The permission points the sandbox knows (`missing_permissions` may name only these)."""
WRITE_PERMISSIONS = frozenset({"qyapi_manage_addresslist", "Pro.AttendanceRecord.Write"})
"""What the read-only app lacks."""
_PERMISSION_OF = {
    "topapi/v2/department/create": "qyapi_manage_addresslist",
    "topapi/v2/department/update": "qyapi_manage_addresslist",
    "topapi/v2/department/delete": "qyapi_manage_addresslist",
    "topapi/v2/user/create": "qyapi_manage_addresslist",
    "topapi/v2/user/update": "qyapi_manage_addresslist",
    "topapi/v2/user/delete": "qyapi_manage_addresslist",
    "topapi/v2/department/get": "qyapi_get_department_list",
    "topapi/v2/department/listsub": "qyapi_get_department_list",
    "topapi/v2/department/listsubid": "qyapi_get_department_list",
    "topapi/v2/user/get": "qyapi_get_member",
    "topapi/v2/user/list": "qyapi_get_department_member",
    "topapi/user/listid": "qyapi_get_department_member",
    "topapi/v2/user/getbymobile": "qyapi_get_member_by_mobile",
    "attendance/list": "qyapi_get_attendance_data",
    "attendance/listRecord": "qyapi_get_attendance_data",
    "topapi/attendance/record/upload": "Pro.AttendanceRecord.Write",
}


def permission_for(api: str) -> str | None:
    """The permission point an API path needs (None: gettoken, which needs none)."""
    return _PERMISSION_OF.get(api)


@dataclass(frozen=True, slots=True)
class Profile:
    """Every knob of the emulated tenant. Frozen: derive variants with `dataclasses.replace`."""

    name: str
    """"strict", "lenient", or "custom" once a knob was changed."""
    rate_limit: RateLimitKind = "sliding"
    """sliding: at most `qps` accepted calls per (app, API) in any sliding one-second window of
    arrival times; bucket: a token bucket of capacity `qps`, refilled at `qps` per second."""
    qps: float = 20.0
    """Calls per second per app and API before 90018; 0 or infinity disables the limit."""
    empty_string_clears: bool = False
    """False: ``""`` for a field in ``user/update`` leaves the field as it was."""
    unknown_user_errcode: int = 33012
    """What ``user/get`` and ``user/delete`` answer for an unknown userid (33012 or 60121)."""
    bad_param_errcode: int = 400002
    """A missing or malformed parameter on the v2 pages that document 400002 (else 40035)."""
    wrap_token_errors: bool = True
    """Token errors (40014, 42001) as ``{"errcode": 88, "sub_code": "40014", …}``."""
    pending_invite_share: float = 0.0
    """Share of ``user/create`` calls answered 40103; those users exist with active false.
    Chosen by a seeded hash of the mobile, so the same people are pending on every run."""
    strict_create_fields: bool = True
    """``department/create`` refuses the update-only fields with 40035 (its page's errcode)."""
    contact_scope: tuple[int, ...] | None = None
    """Department ids whose subtrees the app sees; None = the whole org. Outside it, department
    calls answer 50004 and user calls 50002."""
    monthly_quota: int | None = 5000
    """Metered (attendance) calls per calendar month before 90020; None = no quota."""
    max_notice_recipients: int = 100
    """userids per ``asyncsend_v2`` call before 40035: 100 (SDK, older page) or 5,000."""
    missing_permissions: tuple[str, ...] = ()
    """Permission points the app lacks; calls needing one answer 60011 (wrapped in 88 when
    `wrap_token_errors`, as the gateway does)."""

    def describe(self) -> str:
        """One line naming the profile and every knob, for `orgctl sandbox serve` to print."""
        knobs = " ".join(
            f"{field.name}={_show(getattr(self, field.name))}"
            for field in dataclasses.fields(self)
            if field.name != "name"
        )
        return f"{self.name}: {knobs}"


STRICT = Profile(name="strict")
LENIENT = Profile(
    name="lenient",
    rate_limit="bucket",
    empty_string_clears=True,
    unknown_user_errcode=60121,
    bad_param_errcode=40035,
    wrap_token_errors=False,
    pending_invite_share=0.0,
    strict_create_fields=False,
    monthly_quota=None,
    max_notice_recipients=5000,
)
PROFILES: dict[str, Profile] = {"strict": STRICT, "lenient": LENIENT}


def _show(value: object) -> str:
    if value is None:
        return "none"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, tuple):
        return ",".join(str(v) for v in value) or "-"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


_TRUE = frozenset({"true", "yes", "on", "1"})
_FALSE = frozenset({"false", "no", "off", "0"})
_NONE = frozenset({"none", "null", "", "-"})


def _parse(key: str, raw: str) -> object:
    text = raw.strip()
    low = text.lower()
    try:
        if key == "rate_limit":
            if low not in get_args(RateLimitKind):
                raise ValueError("sliding or bucket")
            return low
        if key in ("empty_string_clears", "wrap_token_errors", "strict_create_fields"):
            if low in _TRUE:
                return True
            if low in _FALSE:
                return False
            raise ValueError("true or false")
        if key == "qps":
            qps = float(text)
            if math.isnan(qps) or qps < 0:
                raise ValueError("a number ≥ 0 (0 = no limit)")
            return qps
        if key in ("unknown_user_errcode", "bad_param_errcode"):
            return int(text)
        if key == "max_notice_recipients":
            count = int(text)
            if count < 1:
                raise ValueError("a count ≥ 1")
            return count
        if key == "pending_invite_share":
            share = float(text)
            if not 0.0 <= share <= 1.0:
                raise ValueError("a share between 0 and 1")
            return share
        if key == "monthly_quota":
            if low in _NONE:
                return None
            quota = int(text)
            if quota < 0:
                raise ValueError("a count ≥ 0, or none")
            return quota
        if key == "contact_scope":
            if low in _NONE:
                return None
            return tuple(int(part) for part in text.split(",") if part.strip())
        if key == "missing_permissions":
            if low in _NONE:
                return ()
            names = tuple(part.strip() for part in text.split(",") if part.strip())
            unknown = [n for n in names if n not in PERMISSIONS]
            if unknown:
                raise ValueError(f"permission points among {', '.join(PERMISSIONS)}")
            return names
    except ValueError as error:
        detail = str(error) if key != "unknown_user_errcode" else "an integer errcode"
        if "invalid literal" in detail or "could not convert" in detail:
            detail = "a number" if key != "contact_scope" else "comma-separated department ids"
        raise InputError(f"sandbox profile: {key}={raw!r}: expected {detail}") from None
    raise InputError(f"sandbox profile: unknown knob {key!r}")  # pragma: no cover - guarded


def profile_from(name: str, overrides: Mapping[str, str]) -> Profile:
    """The named profile with `overrides` (knob → text, as given to ``--set KEY=VALUE``) applied.

    Raises InputError naming the profile or knob for an unknown name, unknown knob or a value
    that does not parse. With any override the result is named "custom".
    """
    base = PROFILES.get(name.strip().lower())
    if base is None:
        raise InputError(
            f"unknown sandbox profile {name!r}: expected one of {', '.join(sorted(PROFILES))}"
        )
    knobs = [f.name for f in dataclasses.fields(Profile) if f.name != "name"]
    changes: dict[str, object] = {}
    for key, raw in overrides.items():
        knob = key.strip().lower().replace("-", "_")
        if knob not in knobs:
            raise InputError(
                f"unknown sandbox profile knob {key!r}: expected one of {', '.join(knobs)}"
            )
        changes[knob] = _parse(knob, raw)
    if not changes:
        return base
    return dataclasses.replace(base, name="custom", **changes)  # type: ignore[arg-type]


def parse_settings(settings: list[str] | tuple[str, ...]) -> dict[str, str]:
    """``["qps=5", "rate_limit=bucket"]`` → ``{"qps": "5", "rate_limit": "bucket"}``."""
    parsed: dict[str, str] = {}
    for setting in settings:
        key, sep, value = setting.partition("=")
        if not sep or not key.strip():
            raise InputError(f"--set {setting!r}: expected KEY=VALUE")
        parsed[key.strip()] = value
    return parsed
