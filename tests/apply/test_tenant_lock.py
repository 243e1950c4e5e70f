"""The apply lock is keyed by the tenant, not by how it is reached or where state lives; and
the policy can keep applies to a real tenant inside CI."""

from __future__ import annotations

import functools
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

import reconciler.cli.apply as cli_apply
from reconciler.apply.lock import (
    TenantLock,
    check_apply_place,
    default_lock_dir,
    tenant_lock_key,
)
from reconciler.cli import app
from reconciler.clock import FakeClock
from reconciler.errors import LockedError, TargetError
from reconciler.live.target import open_target
from reconciler.sandbox import APP_KEY, APP_SECRET, Sandbox, ServerHandle, serve


def real_env(url: str, home: Path) -> dict[str, str]:
    return {
        "DINGTALK_APP_KEY": APP_KEY,
        "DINGTALK_APP_SECRET": APP_SECRET,
        "DINGTALK_BASE_URL": url,
        "ORGCTL_HOME": str(home),
    }


def test_two_spellings_of_one_host_and_two_state_folders_share_one_lock(
    tmp_path: Path, sb: Sandbox, clock: FakeClock
) -> None:
    with serve(sb, "127.0.0.1") as server:
        one = open_target(env=real_env(server.url, tmp_path / "a"), clock=clock)
        other_url = f"http://localhost:{server.port}"
        two = open_target(env=real_env(other_url, tmp_path / "b"), clock=clock)
        lock_dir = tmp_path / "locks"
        with (
            TenantLock.for_target(one, lock_dir=lock_dir, clock=clock),
            pytest.raises(LockedError, match="another apply is running"),
        ):
            TenantLock.for_target(two, lock_dir=lock_dir, clock=clock).acquire()
        with TenantLock.for_target(two, lock_dir=lock_dir, clock=clock):
            pass  # released: free again


def test_a_real_tenant_is_its_app_key_whatever_the_host() -> None:
    official = tenant_lock_key(app_key="ding123", base_url="https://oapi.dingtalk.com")
    other = tenant_lock_key(app_key="ding123", base_url="https://OAPI.dingtalk.com:443/")
    assert official == other
    assert official != tenant_lock_key(app_key="ding456", base_url="https://oapi.dingtalk.com")
    assert "ding123" not in official  # the key is hashed: lock file names say nothing
    # Two sandbox servers on loopback share an app key: their ports tell them apart.
    assert tenant_lock_key(app_key="k", base_url="http://127.0.0.1:8001") != tenant_lock_key(
        app_key="k", base_url="http://127.0.0.1:8002"
    )
    assert tenant_lock_key(app_key="k", base_url="http://127.0.0.1:8001") == tenant_lock_key(
        app_key="k", base_url="http://localhost:8001"
    )


def test_the_embedded_sandbox_is_its_database_file(tmp_path: Path, clock: FakeClock) -> None:
    home = tmp_path / "home"
    (tmp_path / "alias").symlink_to(home, target_is_directory=True)
    one = open_target(sandbox=True, env={"ORGCTL_HOME": str(home)}, clock=clock)
    two = open_target(sandbox=True, env={"ORGCTL_HOME": str(tmp_path / "alias")}, clock=clock)
    elsewhere = open_target(sandbox=True, env={"ORGCTL_HOME": str(tmp_path / "c")}, clock=clock)
    try:
        lock_dir = tmp_path / "locks"
        with TenantLock.for_target(one, lock_dir=lock_dir):
            with pytest.raises(LockedError):
                TenantLock.for_target(two, lock_dir=lock_dir).acquire()
            with TenantLock.for_target(elsewhere, lock_dir=lock_dir):
                pass  # another tenant: no wait
    finally:
        for target in (one, two, elsewhere):
            assert target.sandbox is not None
            target.sandbox.close()


def test_the_lock_directory_is_per_machine_not_per_state_folder(tmp_path: Path) -> None:
    assert default_lock_dir({"ORGCTL_HOME": str(tmp_path / "x")}) == default_lock_dir({})
    assert default_lock_dir({"ORGCTL_LOCK_DIR": str(tmp_path)}) == tmp_path


@pytest.mark.parametrize(
    ("require_ci", "sandbox", "local", "ci", "refused"),
    [
        (True, False, False, "", True),
        (True, False, False, "false", True),
        (True, False, True, "", False),
        (True, True, False, "", False),
        (True, False, False, "true", False),
        (False, False, False, "", False),
    ],
)
def test_require_ci_refuses_only_a_local_apply_to_a_real_tenant(
    require_ci: bool, sandbox: bool, local: bool, ci: str, refused: bool
) -> None:
    env = {"CI": ci} if ci else {}
    if refused:
        with pytest.raises(TargetError, match=r"outside CI.*--local"):
            check_apply_place(require_ci=require_ci, is_sandbox=sandbox, local=local, env=env)
    else:
        check_apply_place(require_ci=require_ci, is_sandbox=sandbox, local=local, env=env)


@pytest.fixture
def server(
    sb: Sandbox, monkeypatch: pytest.MonkeyPatch, clock: FakeClock
) -> Iterator[ServerHandle]:
    monkeypatch.setattr(cli_apply, "open_target", functools.partial(open_target, clock=clock))
    with serve(sb, "127.0.0.1") as handle:
        for name, value in real_env(handle.url, Path(os.environ["ORGCTL_HOME"])).items():
            monkeypatch.setenv(name, value)
        yield handle


def test_apply_outside_ci_says_why_it_refuses_and_runs_with_local(
    tmp_path: Path, sb: Sandbox, server: ServerHandle, monkeypatch: pytest.MonkeyPatch
) -> None:
    org = tmp_path / "org"
    org.mkdir()
    (org / "orgctl.yaml").write_text("apply:\n  require_ci: true\n", encoding="utf-8")
    (org / "org.yaml").write_text(
        "departments:\n  - {key: eng, name: 研发中心, parent: root}\n", encoding="utf-8"
    )
    monkeypatch.delenv("CI")
    result = CliRunner().invoke(app, ["apply", str(org), "--yes"])
    assert result.exit_code == 1
    assert "refusing to apply outside CI" in result.output
    assert "apply.require_ci" in result.output
    assert sb.writes() == []
    result = CliRunner().invoke(app, ["apply", str(org), "--yes", "--local"])
    assert result.exit_code == 0, result.output
    assert [w.api for w in sb.writes()] == ["topapi/v2/department/create"]
