"""open_target: the CI / credential matrix. Every test passes its own env (CI runs with CI=true)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from reconciler.clock import FakeClock
from reconciler.dingtalk import DEFAULT_BASE_URL
from reconciler.errors import TargetError
from reconciler.live.target import Target, open_target
from reconciler.sandbox import APP_KEY, APP_SECRET, Sandbox, serve

SECRET = "real-app-secret-value-9f2c"


def close(target: Target) -> None:
    asyncio.run(target.aclose())


@pytest.mark.parametrize("ci", [None, "", "false", "0", "no"])
def test_no_credentials_outside_ci_means_the_sandbox(tmp_path: Path, ci: str | None):
    env = {} if ci is None else {"CI": ci}
    target = open_target(env=env, state_dir=tmp_path / "state", clock=FakeClock())
    try:
        assert target.is_sandbox
        assert target.sandbox is not None
        assert target.tenant_id == "sandbox"
        assert target.state_dir == tmp_path / "state"
        assert target.description.startswith("target: sandbox tenant ")
        assert target.description.endswith("sandbox.db (no DINGTALK_APP_KEY set)")
        assert (tmp_path / "state" / "sandbox.db").exists()
    finally:
        close(target)


def test_the_state_dir_defaults_to_orgctl_home(tmp_path: Path):
    target = open_target(env={"ORGCTL_HOME": str(tmp_path / "home")}, clock=FakeClock())
    try:
        assert target.state_dir == tmp_path / "home"
        assert (tmp_path / "home" / "sandbox.db").exists()
    finally:
        close(target)


@pytest.mark.parametrize("ci", ["true", "1", "yes", "True"])
def test_ci_without_credentials_is_refused_unless_sandbox_is_asked_for(tmp_path: Path, ci: str):
    with pytest.raises(TargetError, match="--sandbox"):
        open_target(env={"CI": ci}, state_dir=tmp_path)
    assert not (tmp_path / "sandbox.db").exists()
    target = open_target(sandbox=True, env={"CI": ci}, state_dir=tmp_path, clock=FakeClock())
    try:
        assert target.is_sandbox
        assert target.description.endswith("(--sandbox)")
    finally:
        close(target)


@pytest.mark.parametrize("ci", [{}, {"CI": "true"}])
def test_credentials_select_the_real_tenant(tmp_path: Path, ci: dict[str, str]):
    env = {**ci, "DINGTALK_APP_KEY": "dingabc123", "DINGTALK_APP_SECRET": SECRET}
    target = open_target(env=env, state_dir=tmp_path)
    try:
        assert not target.is_sandbox
        assert target.sandbox is None
        assert target.client.base_url == DEFAULT_BASE_URL
        assert target.description == f"target: DingTalk {DEFAULT_BASE_URL} (app key dingabc123)"
        assert target.tenant_id == "oapi.dingtalk.com-dingabc123"
        for text in (target.description, target.tenant_id, repr(target), repr(target.client)):
            assert SECRET not in text
        assert not (tmp_path / "sandbox.db").exists()
    finally:
        close(target)


def test_the_base_url_comes_from_the_environment(tmp_path: Path):
    env = {
        "DINGTALK_APP_KEY": "k",
        "DINGTALK_APP_SECRET": SECRET,
        "DINGTALK_BASE_URL": "https://oapi.example.com/",
    }
    target = open_target(env=env, state_dir=tmp_path)
    try:
        assert target.client.base_url == "https://oapi.example.com"
        assert "https://oapi.example.com" in target.description
    finally:
        close(target)


@pytest.mark.parametrize(
    ("present", "missing"),
    [("DINGTALK_APP_KEY", "DINGTALK_APP_SECRET"), ("DINGTALK_APP_SECRET", "DINGTALK_APP_KEY")],
)
@pytest.mark.parametrize("ci", [{}, {"CI": "true"}])
def test_only_one_credential_is_an_error_naming_the_missing_one(
    tmp_path: Path, present: str, missing: str, ci: dict[str, str]
):
    with pytest.raises(TargetError) as caught:
        open_target(env={**ci, present: SECRET}, state_dir=tmp_path)
    message = str(caught.value)
    assert f"{missing} is not" in message
    assert SECRET not in message
    # --sandbox still works: the credentials are not used at all
    target = open_target(
        sandbox=True, env={**ci, present: SECRET}, state_dir=tmp_path, clock=FakeClock()
    )
    try:
        assert target.is_sandbox
        assert target.description.endswith(
            "(--sandbox; DINGTALK_APP_KEY/DINGTALK_APP_SECRET ignored)"
        )
    finally:
        close(target)


@pytest.mark.parametrize(
    "url", ["ftp://oapi.dingtalk.com", "oapi.dingtalk.com", "http://oapi.dingtalk.com"]
)
def test_a_bad_or_clear_text_base_url_is_refused(tmp_path: Path, url: str):
    env = {"DINGTALK_APP_KEY": "k", "DINGTALK_APP_SECRET": SECRET, "DINGTALK_BASE_URL": url}
    with pytest.raises(TargetError, match="DINGTALK_BASE_URL"):
        open_target(env=env, state_dir=tmp_path)


def test_a_real_target_can_be_a_sandbox_served_on_loopback(tmp_path: Path, clock: FakeClock):
    sb = Sandbox(clock=clock)
    dept_id = sb.tenant.add_department("研发中心", source_identifier="eng")
    with serve(sb) as server:
        env = {
            "DINGTALK_APP_KEY": APP_KEY,
            "DINGTALK_APP_SECRET": APP_SECRET,
            "DINGTALK_BASE_URL": server.url,
            "CI": "true",
        }
        target = open_target(env=env, state_dir=tmp_path, clock=clock)

        async def go() -> list[int]:
            async with target:
                return await target.client.list_sub_department_ids(1)

        assert asyncio.run(go()) == [dept_id]
        assert not target.is_sandbox
    sb.close()


def test_an_unusable_state_dir_is_a_target_error(tmp_path: Path):
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("a file where the state directory should be", encoding="utf-8")
    with pytest.raises(TargetError, match="cannot open the sandbox tenant"):
        open_target(env={}, state_dir=blocker, clock=FakeClock())
