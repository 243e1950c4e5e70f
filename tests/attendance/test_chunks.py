"""Cutting an export into API-sized calls (≤50 people × ≤7 dates) and its cost estimate."""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import given
from hypothesis import strategies as st

from reconciler.attendance.chunks import (
    MAX_USERS_PER_CALL,
    Chunk,
    batches,
    estimate_calls,
    plan_chunks,
)
from reconciler.attendance.window import MAX_WINDOW_DAYS, Window

MONDAY = dt.date(2025, 12, 1)


def people(n: int) -> list[str]:
    return [f"u{i:04d}" for i in range(n)]


def week(days: int = 7) -> Window:
    return Window(MONDAY, MONDAY + dt.timedelta(days=days - 1))


@pytest.mark.parametrize(("n", "sizes"), [(1, [1]), (50, [50]), (51, [50, 1]), (100, [50, 50])])
def test_batches_hold_at_most_fifty_people(n: int, sizes: list[int]) -> None:
    assert [len(b) for b in batches(people(n))] == sizes


def test_batches_sort_and_deduplicate() -> None:
    assert batches(["b", "a", "b"]) == (("a", "b"),)


def test_fifty_one_people_over_eight_days_make_four_chunks() -> None:
    chunks = plan_chunks(people(51), week(8))
    assert [(len(c.userids), c.window.days) for c in chunks] == [(50, 7), (50, 1), (1, 7), (1, 1)]


def test_fifty_people_over_seven_days_make_one_chunk() -> None:
    assert plan_chunks(people(50), week(7)) == (Chunk(tuple(people(50)), week(7)),)


@given(
    n=st.integers(min_value=1, max_value=130),
    days=st.integers(min_value=1, max_value=40),
)
def test_chunks_cover_every_person_and_date_exactly_once(n: int, days: int) -> None:
    window = Window(MONDAY, MONDAY + dt.timedelta(days=days - 1))
    chunks = plan_chunks(people(n), window)
    pairs = [(u, d) for c in chunks for u in c.userids for d in c.window.dates()]
    assert len(pairs) == len(set(pairs)) == n * days
    assert all(len(c.userids) <= MAX_USERS_PER_CALL for c in chunks)
    assert all(c.window.days <= MAX_WINDOW_DAYS for c in chunks)


def test_a_chunk_of_exactly_fifty_records_is_one_page() -> None:
    # 5 people × 5 weekdays × 2 check points = 50 records = one full page.
    assert Chunk(tuple(people(5)), week(7)).expected_pages() == 1
    assert Chunk(tuple(people(6)), week(7)).expected_pages() == 2


def test_an_empty_chunk_still_costs_one_call() -> None:
    weekend = Window(dt.date(2025, 12, 6), dt.date(2025, 12, 7))
    assert Chunk(("a",), weekend).expected_pages() == 1


def test_estimate_matches_the_references_worked_example() -> None:
    # Reference §10.7: 50 users × a week ≈ 500 records ≈ 10 calls; 500 users ≈ 100 calls.
    assert estimate_calls(plan_chunks(people(50), week())) == 10
    assert estimate_calls(plan_chunks(people(500), week())) == 100
