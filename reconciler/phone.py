"""Mobile numbers in one canonical form, so plans never show a change apply cannot remove.
Pure: no I/O.

DingTalk writes numbers outside mainland China as ``+cc-national`` and returns a mainland
number bare (``18513027676``) with ``state_code`` "86". YAML authors write ``+86-151…``,
``+8615172391968``, ``151 7239 1968`` … All of these become ``+86-15172391968``.
Parsing and validity come from `phonenumbers` (libphonenumber's metadata), not from a regex.
"""

from __future__ import annotations

import re

import phonenumbers

DEFAULT_REGION = "CN"
_MOBILE_TYPES = (
    phonenumbers.PhoneNumberType.MOBILE,
    phonenumbers.PhoneNumberType.FIXED_LINE_OR_MOBILE,
)
# ASCII digits only: "\d" would also take fullwidth or Arabic-Indic digits, which
# phonenumbers reads as digits but this shortcut would copy into the result unchanged.
_CANONICAL_CN_MOBILE = re.compile(r"(?:\+86-)?(1[0-9]{10})")


class InvalidMobile(ValueError):
    pass


def normalize_mobile(raw: str, state_code: str | None = None) -> str:
    """Return ``+<country code>-<national number>`` or raise InvalidMobile.

    phonenumbers.parse costs ~50 µs (5 s for 100 000 users in the loader or a snapshot).
    For "+86-1XXXXXXXXXX" and a bare "1XXXXXXXXXX", the forms nearly every file and DingTalk
    use, the parse result is known (country 86, that national number), so only the type
    check runs; for +86 (one region) a mobile type implies a valid number. Anything else,
    and anything the shortcut doubts, is parsed. tests/core/test_phone.py checks both
    agree across every 4-digit prefix.
    """
    text = raw.strip()
    if state_code and not text.startswith("+"):
        text = f"+{state_code.lstrip('+')}-{text}"
    match = _CANONICAL_CN_MOBILE.fullmatch(text)
    if match:
        national = match.group(1)
        number = phonenumbers.PhoneNumber(country_code=86, national_number=int(national))
        if phonenumbers.number_type(number) in _MOBILE_TYPES:
            return f"+86-{national}"
    return _parse_mobile(raw, text)


def _parse_mobile(raw: str, text: str) -> str:
    """The full parse of ``text`` (``raw`` once stripped and given its state code)."""
    try:
        number = phonenumbers.parse(text, DEFAULT_REGION)
    except phonenumbers.NumberParseException as exc:
        raise InvalidMobile(f"{raw!r} is not a phone number ({exc})") from None
    if not phonenumbers.is_valid_number(number):
        raise InvalidMobile(f"{raw!r} is not a valid phone number")
    if phonenumbers.number_type(number) not in _MOBILE_TYPES:
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
