"""The loader's shortcut for "+86-1XXXXXXXXXX" / "1XXXXXXXXXX" must agree with
reconciler.phone.normalize_mobile, the single source of truth, for every prefix."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from reconciler.load import _normalize_mobile
from reconciler.phone import InvalidMobile, normalize_mobile


def outcome(function: Callable[[str], str], raw: str) -> str:
    try:
        return function(raw)
    except InvalidMobile:
        return "invalid"


def test_shortcut_agrees_with_normalize_mobile_on_every_four_digit_prefix():
    disagreements = []
    for prefix in range(1000, 2000):
        for suffix in ("0000000", "5555555", "9999999"):
            for raw in (f"{prefix}{suffix}", f"+86-{prefix}{suffix}"):
                if outcome(_normalize_mobile, raw) != outcome(normalize_mobile, raw):
                    disagreements.append(raw)
    assert disagreements == []


@pytest.mark.parametrize("raw", ["+86 159 5181 9093", "+8615951819093", "+1-2025550123", "abc"])
def test_other_spellings_go_through_normalize_mobile(raw):
    assert outcome(_normalize_mobile, raw) == outcome(normalize_mobile, raw)
