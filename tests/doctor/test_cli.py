"""`orgctl doctor` as a person runs it: exit codes, JSON, --save, against the sandbox."""

from __future__ import annotations

import functools
import json
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

import reconciler.cli.doctor as cli_doctor
from reconciler.cli import app
from reconciler.clock import FakeClock
from reconciler.desired.load import load_policy
from reconciler.live.target import open_target
from tests.conftest import REPO


@pytest.fixture(autouse=True)
def _fake_clock(monkeypatch: pytest.MonkeyPatch, clock: FakeClock) -> None:
    monkeypatch.setattr(cli_doctor, "open_target", functools.partial(open_target, clock=clock))


def doctor(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, ["doctor", *args])
    return result.exit_code, result.stdout, result.stderr


def test_json_output_has_the_documented_keys(tmp_path: Path) -> None:
    code, stdout, stderr = doctor(str(tmp_path / "none"), "--sandbox", "--format", "json")
    assert code == 0, stderr
    assert stderr.startswith("target: sandbox tenant")
    data = json.loads(stdout)
    for key in ("empty_string_clears", "unknown_user_errcode", "rate_limit"):
        assert key in data
    assert data["rate_limit"] == "sliding"  # the sandbox's default, strict profile
    assert data["missing_permissions"] == []
    assert {c["name"] for c in data["checks"]} >= {"token", "rate limit", "contact scope"}


def test_save_writes_what_plan_reads(tmp_path: Path) -> None:
    org = tmp_path / "org"
    shutil.copytree(REPO / "org", org)
    code, stdout, stderr = doctor(
        str(org), "--sandbox", "--write", "--user-mobile", "13900001111", "--save"
    )
    assert code == 0, stderr
    assert "Nothing blocks orgctl on this tenant." in stdout
    assert f"tenant traits written to {org / 'orgctl.yaml'}" in stderr
    tenant = load_policy(org / "orgctl.yaml").tenant
    assert tenant.rate_limit == "sliding"
    assert tenant.unknown_user_errcode is not None
    assert tenant.empty_string_clears is not None

    # A later run without --user-mobile keeps what only the user checks can observe.
    code, _, stderr = doctor(str(org), "--sandbox", "--save")
    assert code == 0, stderr
    assert load_policy(org / "orgctl.yaml").tenant == tenant


def test_user_mobile_needs_write() -> None:
    code, _, stderr = doctor("--sandbox", "--user-mobile", "13900001111")
    assert code == 1
    assert "--user-mobile needs --write" in stderr


def test_exit_1_with_the_fix_when_something_blocks(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, clock: FakeClock
) -> None:
    from reconciler.sandbox import READONLY_APP_KEY, READONLY_APP_SECRET, Sandbox, serve

    with Sandbox(tmp_path / "t.db", clock=clock) as sb, serve(sb, "127.0.0.1") as server:
        monkeypatch.setenv("DINGTALK_BASE_URL", server.url)
        monkeypatch.setenv("DINGTALK_APP_KEY", READONLY_APP_KEY)
        monkeypatch.setenv("DINGTALK_APP_SECRET", READONLY_APP_SECRET)
        code, stdout, stderr = doctor(str(tmp_path / "none"), "--write")
    assert code == 1, stderr
    assert "fix (write: create a hidden scratch department)" in stdout
    assert "qyapi_manage_addresslist" in stdout
    assert "1 check blocks orgctl" in stdout
    assert READONLY_APP_SECRET not in stdout + stderr
