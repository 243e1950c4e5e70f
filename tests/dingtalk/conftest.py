"""DingTalk client fixtures: a scripted fake DingTalk on the fake clock."""

from __future__ import annotations

import random

import pytest

from reconciler.clock import FakeClock
from reconciler.dingtalk import DingTalkClient
from tests.dingtalk.fakes import APP_KEY, APP_SECRET, FakeDingTalk


@pytest.fixture
def fake() -> FakeDingTalk:
    tenant = FakeDingTalk()
    tenant.add_department(2, "研发中心", order=10, source_identifier="eng")
    tenant.add_user("zhangsan", "张三", "15172391968", [2])
    return tenant


def make_client(fake: FakeDingTalk, clock: FakeClock, **options: object) -> DingTalkClient:
    kwargs: dict[str, object] = {
        "app_key": APP_KEY,
        "app_secret": APP_SECRET,
        "base_url": "https://oapi.example.invalid",
        "transport": fake.transport(),
        "clock": clock,
        "rng": random.Random(7),
    }
    kwargs.update(options)
    return DingTalkClient(**kwargs)  # type: ignore[arg-type]
