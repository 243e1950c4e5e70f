"""`orgctl dump`: target line first, files written, non-empty directories refused, no secrets."""

from __future__ import annotations

import functools
import logging
import os
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

import reconciler.cli.dump as cli_dump
from reconciler.cli import app
from reconciler.clock import FakeClock
from reconciler.live.target import open_target
from reconciler.sandbox import APP_KEY, Sandbox, serve


@pytest.fixture(autouse=True)
def _fake_clock(monkeypatch: pytest.MonkeyPatch, clock: FakeClock) -> None:
    """The command's limiter and the sandbox pace themselves on the fake clock: no waiting."""
    monkeypatch.setattr(cli_dump, "open_target", functools.partial(open_target, clock=clock))


@pytest.fixture
def home(clock: FakeClock) -> Path:
    """The embedded sandbox (in $ORGCTL_HOME, set per test by tests/conftest.py), seeded."""
    path = Path(os.environ["ORGCTL_HOME"]) / "sandbox.db"
    with Sandbox(path, clock=clock) as sb:
        eng = sb.tenant.add_department("研发中心", order=1, source_identifier="eng")
        plat = sb.tenant.add_department("平台组", eng, order=2)
        sb.tenant.add_user("zhangsan", "张三", "+86-15172391968", [eng, plat], title="总监")
        sb.tenant.add_user("boss", "老板", "+86-13800000000", [1])
    return path


def dump(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, ["dump", *args])
    return result.exit_code, result.output


def test_ci_without_credentials_refuses_the_sandbox(tmp_path: Path, home: Path):
    code, output = dump("--out", str(tmp_path / "org"))
    assert code == 1
    assert "refusing" in output
    assert "--sandbox" in output
    assert not (tmp_path / "org").exists()


def test_dump_writes_the_tree_and_people_and_says_where_it_read_them(
    tmp_path: Path, home: Path, clock: FakeClock
):
    with Sandbox(home, clock=clock) as sb:
        plat = next(d["dept_id"] for d in sb.tenant.departments() if d["name"] == "平台组")
    code, output = dump("--sandbox", "--out", str(tmp_path / "org"))
    assert code == 0, output
    lines = output.splitlines()
    assert lines[0].startswith("target: sandbox tenant ")
    assert lines[0].endswith("(--sandbox)")
    assert "2 departments, 2 users" in lines[1]
    assert "1 departments have no usable source_identifier" in output
    written = sorted(
        str(p.relative_to(tmp_path / "org")) for p in (tmp_path / "org").rglob("*.yaml")
    )
    assert written == ["departments.yaml", "people/eng.yaml", "people/root.yaml"]
    tree = yaml.safe_load((tmp_path / "org" / "departments.yaml").read_text(encoding="utf-8"))
    # the unkeyed 平台组 gets the generated key dept-<its dept_id>, under eng
    assert [(d["key"], d["parent"]) for d in tree["departments"]] == [
        ("eng", "root"),
        (f"dept-{plat}", "eng"),
    ]


def test_a_non_empty_directory_is_refused_without_force(tmp_path: Path, home: Path):
    out_dir = tmp_path / "org"
    (out_dir / "people").mkdir(parents=True)
    (out_dir / "people" / "old.yaml").write_text("users: []\n", encoding="utf-8")
    (out_dir / "orgctl.yaml").write_text("prune_users: false\n", encoding="utf-8")
    code, output = dump("--sandbox", "--out", str(out_dir))
    assert code == 1
    assert "--force" in output
    assert (out_dir / "people" / "old.yaml").exists()
    assert not (out_dir / "departments.yaml").exists()

    code, output = dump("--sandbox", "--out", str(out_dir), "--force")
    assert code == 0, output
    assert not (out_dir / "people" / "old.yaml").exists()  # a stale file would duplicate users
    assert (out_dir / "orgctl.yaml").read_text(encoding="utf-8") == "prune_users: false\n"
    assert (out_dir / "departments.yaml").exists()
    assert "replaced 1 YAML files" in output


def test_managers_are_read_on_request(tmp_path: Path, home: Path, clock: FakeClock):
    with Sandbox(home, clock=clock) as sb:
        sb.tenant.update_user("zhangsan", {"manager_userid": "boss"})
    code, output = dump("--sandbox", "--out", str(tmp_path / "a"))
    assert code == 0, output
    assert "manager:" not in (tmp_path / "a" / "people" / "eng.yaml").read_text(encoding="utf-8")
    assert "--managers reads them" in output
    code, output = dump("--sandbox", "--out", str(tmp_path / "b"), "--managers")
    assert code == 0, output
    people = yaml.safe_load((tmp_path / "b" / "people" / "eng.yaml").read_text(encoding="utf-8"))
    assert people["users"][0]["manager"] == "boss"


def test_no_secret_or_token_in_output_or_logs_against_a_real_target(
    tmp_path: Path,
    clock: FakeClock,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
):
    caplog.set_level(logging.DEBUG)
    secret = "cli-app-secret-4e1b9a"
    sb = Sandbox(clock=clock, app_secret=secret)
    sb.tenant.add_department("研发中心", source_identifier="eng")
    with serve(sb) as server:
        monkeypatch.setenv("DINGTALK_APP_KEY", APP_KEY)
        monkeypatch.setenv("DINGTALK_APP_SECRET", secret)
        monkeypatch.setenv("DINGTALK_BASE_URL", server.url)
        code, output = dump("--out", str(tmp_path / "org"))
    tokens = [row["token"] for row in sb.tenant.db.execute("SELECT token FROM tokens")]
    sb.close()
    assert code == 0, output
    assert output.splitlines()[0] == f"target: DingTalk {server.url} (app key {APP_KEY})"
    assert tokens  # the client did get a token …
    assert any("access_token=" in r.getMessage() for r in caplog.records)  # … and httpx logged
    files = "".join(p.read_text(encoding="utf-8") for p in (tmp_path / "org").rglob("*"))
    for leaked in (secret, *tokens):
        assert leaked not in output
        assert leaked not in caplog.text
        assert leaked not in files


def test_the_progress_line_on_a_terminal_is_cleared_before_the_summary(
    tmp_path: Path, home: Path, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setattr(cli_dump, "is_terminal", lambda: True)
    code, output = dump("--sandbox", "--out", str(tmp_path / "org"))
    assert code == 0, output
    assert "\rreading: tree 1/" in output
    # the summary starts on a cleared line, not after the last "reading: …" text (click
    # drops the erase-line escape when the stream is not a real terminal)
    assert "\rwrote 3 files to " in output
