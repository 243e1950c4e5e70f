"""DingTalk client fixtures: a scripted fake DingTalk on the fake clock."""

from __future__ import annotations

import pytest

from tests.dingtalk.fakes import FakeDingTalk


@pytest.fixture
def fake() -> FakeDingTalk:
    tenant = FakeDingTalk()
    tenant.add_department(2, "研发中心", order=10, source_identifier="eng")
    tenant.add_user("zhangsan", "张三", "15172391968", [2])
    return tenant
