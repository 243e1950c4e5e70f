"""Mobile numbers in one canonical form, and PII masking."""

from __future__ import annotations

import pytest

from reconciler.phone import InvalidMobile, mask_email, mask_mobile, normalize_mobile


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
