"""Fixtures every test shares.

Each test runs as CI does: `CI=true`, no DingTalk credentials in the environment, and a fresh
ORGCTL_HOME, so a test that works on a laptop cannot fail on CI because of the developer's
shell, and no test can touch a real tenant or another test's sandbox.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from reconciler.clock import FakeClock
from reconciler.sandbox import STRICT, Sandbox

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(autouse=True)
def _isolated_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in (
        "DINGTALK_APP_KEY",
        "DINGTALK_APP_SECRET",
        "DINGTALK_BASE_URL",
        "GITHUB_TOKEN",
        "GITHUB_REPOSITORY",
        "GITHUB_API_URL",
        "GITHUB_ACTIONS",  # would switch `validate` to annotations
        "GITHUB_STEP_SUMMARY",  # would make plan write a job summary
    ):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("CI", "true")
    monkeypatch.setenv("ORGCTL_HOME", str(tmp_path / ".orgctl"))
    monkeypatch.setenv("ORGCTL_LOCK_DIR", str(tmp_path / ".orgctl-locks"))


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def sb(clock: FakeClock, request: pytest.FixtureRequest) -> Iterator[Sandbox]:
    """An embedded tenant with DingTalk's 20 QPS per API, on the fake clock (so no waiting).
    tests/sandbox overrides it with an unlimited one for rule tests.

    The strict profile, as everywhere; a test module that needs another one says so in one
    line, ``SANDBOX_PROFILE = LENIENT  # <the knob, and why>``.
    """
    sandbox = Sandbox(clock=clock, profile=getattr(request.module, "SANDBOX_PROFILE", STRICT))
    yield sandbox
    sandbox.close()


@pytest.fixture
def repo_root() -> Path:
    return REPO
