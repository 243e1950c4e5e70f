"""Mobile numbers in one canonical form, and PII masking."""

from __future__ import annotations

import pytest

from reconciler.phone import (
    InvalidMobile,
    _parse_mobile,
    mask_email,
    mask_mobile,
    normalize_mobile,
)


@pytest.mark.parametrize(
    ("raw", "state_code", "canonical"),
    [
        ("+86-15172391968", None, "+86-15172391968"),
        ("15172391968", None, "+86-15172391968"),
        ("+8615172391968", None, "+86-15172391968"),
        (" 151 7239 1968 ", None, "+86-15172391968"),
        ("18513027676", "86", "+86-18513027676"),  # DingTalk returns mainland numbers bare
        ("+1-4155552671", None, "+1-4155552671"),
        ("4155552671", "1", "+1-4155552671"),
        ("+852-51234567", None, "+852-51234567"),
    ],
)
def test_every_spelling_of_a_number_has_one_canonical_form(raw, state_code, canonical):
    assert normalize_mobile(raw, state_code) == canonical


@pytest.mark.parametrize("raw", ["123", "abc", "", "+86-01012345678", "1517239196"])
def test_invalid_or_non_mobile_numbers_are_rejected(raw):
    with pytest.raises(InvalidMobile):
        normalize_mobile(raw)


def test_masking_keeps_enough_to_recognise_but_not_to_call():
    assert mask_mobile("+86-15172391968") == "+86-151****1968"
    assert "5172391" not in mask_mobile("+86-15172391968")
    assert mask_email("zhangsan@example.com") == "z***@example.com"
    assert mask_email("not-an-email") == "***"


def outcome(raw: str, state_code: str | None = None) -> str:
    try:
        return normalize_mobile(raw, state_code)
    except InvalidMobile:
        return "invalid"


def parsed(raw: str, state_code: str | None = None) -> str:
    """What the full phonenumbers parse says, without normalize_mobile's shortcut."""
    text = raw.strip()
    if state_code and not text.startswith("+"):
        text = f"+{state_code}-{text}"
    try:
        return _parse_mobile(raw, text)
    except InvalidMobile:
        return "invalid"


def test_shortcut_agrees_with_the_full_parse_on_every_four_digit_prefix():
    disagreements = []
    shortcut_answers = set()
    for prefix in range(1000, 2000):
        for suffix in ("0000000", "5555555", "9999999"):
            for raw, state_code in (
                (f"{prefix}{suffix}", None),
                (f"+86-{prefix}{suffix}", None),
                (f"{prefix}{suffix}", "86"),
            ):
                got = outcome(raw, state_code)
                shortcut_answers.add(got)
                if got != parsed(raw, state_code):
                    disagreements.append((raw, state_code))
    assert disagreements == []
    # Both valid and refused numbers were among them, so the comparison covered both ways.
    assert "invalid" in shortcut_answers
    assert len(shortcut_answers) > 1000


@pytest.mark.parametrize(
    "raw", ["１５１７２３９１９６８", "1٥١٧٢٣٩١٩٦٨", "+86-1５172391968", " +86-15172391968 "]
)
def test_digits_of_other_scripts_come_out_as_ascii(raw):
    assert normalize_mobile(raw) == "+86-15172391968"
