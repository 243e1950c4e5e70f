"""The fake clock tests rely on, and the UTC stamps journals and locks use."""

from __future__ import annotations

import asyncio

from reconciler.clock import FakeClock, utc_stamp


def test_fake_clock_moves_only_when_slept_on_and_records_sleeps():
    clock = FakeClock()
    start_wall, start_mono = clock.now(), clock.monotonic()
    asyncio.run(clock.sleep(1.5))
    clock.sleep_sync(0.5)
    clock.sleep_sync(-3)  # a negative sleep is no sleep
    assert clock.sleeps == [1.5, 0.5, 0.0]
    assert clock.now() - start_wall == 2.0
    assert clock.monotonic() - start_mono == 2.0


def test_utc_stamp_is_iso_8601_with_a_z():
    assert utc_stamp(1_767_225_600.0) == "2026-01-01T00:00:00Z"
    assert utc_stamp(1_767_225_600.25, "milliseconds") == "2026-01-01T00:00:00.250Z"
