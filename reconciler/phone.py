"""Mobile numbers in one canonical form, so plans never show a change apply cannot remove.
Pure: no I/O.

DingTalk writes numbers outside mainland China as ``+cc-national`` and returns a mainland
number bare (``18513027676``) with ``state_code`` "86". YAML authors write ``+86-151…``,
``+8615172391968``, ``151 7239 1968`` … All of these become ``+86-15172391968``.
Parsing and validity come from `phonenumbers` (libphonenumber's metadata), not from a regex.
"""

from __future__ import annotations

import phonenumbers

DEFAULT_REGION = "CN"


class InvalidMobile(ValueError):
    pass


def normalize_mobile(raw: str, state_code: str | None = None) -> str:
    """Return ``+<country code>-<national number>`` or raise InvalidMobile."""
    text = raw.strip()
    if state_code and not text.startswith("+"):
        text = f"+{state_code.lstrip('+')}-{text}"
    try:
        number = phonenumbers.parse(text, DEFAULT_REGION)
    except phonenumbers.NumberParseException as exc:
        raise InvalidMobile(f"{raw!r} is not a phone number ({exc})") from None
    if not phonenumbers.is_valid_number(number):
        raise InvalidMobile(f"{raw!r} is not a valid phone number")
    kind = phonenumbers.number_type(number)
    if kind not in (
        phonenumbers.PhoneNumberType.MOBILE,
        phonenumbers.PhoneNumberType.FIXED_LINE_OR_MOBILE,
    ):
        raise InvalidMobile(f"{raw!r} is not a mobile number")
    return f"+{number.country_code}-{number.national_number}"


def mask_mobile(mobile: str) -> str:
    """``+86-15172391968`` → ``+86-151****1968``: enough to recognise, not to call."""
    cc, _, national = mobile.rpartition("-")
    if len(national) <= 4:
        masked = "*" * len(national)
    else:
        keep_head = 3 if len(national) >= 9 else 1
        masked = national[:keep_head] + "*" * (len(national) - keep_head - 4) + national[-4:]
    return f"{cc}-{masked}" if cc else masked


def mask_email(email: str) -> str:
    """``zhangsan@example.com`` → ``z***@example.com``."""
    local, at, domain = email.partition("@")
    if not at:
        return "***"
    return f"{local[:1]}***@{domain}"
