"""`orgctl sandbox serve|reset|writes`."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

import reconciler.cli.sandbox as cli_sandbox
from reconciler.cli import app
from reconciler.sandbox import APP_KEY, APP_SECRET, Sandbox, ServerHandle, serve


def test_serve_prints_the_export_lines_and_serves_the_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    path = tmp_path / "sb.db"
    with Sandbox(path) as seeded:
        seeded.tenant.add_department("研发中心")
    seen: dict[str, object] = {}

    def answer_one_request_then_stop(handle: ServerHandle) -> None:
        # Stands in for "wait for Ctrl-C": talk to the live server once, then return.
        with httpx.Client(base_url=handle.url) as client:
            credentials = {"appkey": APP_KEY, "appsecret": APP_SECRET}
            token = client.get("/gettoken", params=credentials).json()["access_token"]
            listed = client.post(
                "/topapi/v2/department/listsub",
                params={"access_token": token},
                json={"dept_id": 1},
            )
        seen["url"] = handle.url
        seen["names"] = [d["name"] for d in listed.json()["result"]]

    monkeypatch.setattr(cli_sandbox, "_wait", answer_one_request_then_stop)
    result = CliRunner().invoke(
        app, ["sandbox", "serve", "--port", "0", "--latency", "0", "--db", str(path)]
    )
    assert result.exit_code == 0, result.output
    assert seen["names"] == ["研发中心"]
    assert result.stdout.splitlines() == [
        f"export DINGTALK_BASE_URL={seen['url']}",
        f"export DINGTALK_APP_KEY={APP_KEY}",
        f"export DINGTALK_APP_SECRET={APP_SECRET}",
    ]
    assert f"listening on {seen['url']}" in result.stderr
    assert "profile strict: rate_limit=sliding qps=20 " in result.stderr  # the default


def test_serve_takes_a_profile_and_knobs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    seen: dict[str, object] = {}

    def probe(handle: ServerHandle) -> None:
        with httpx.Client(base_url=handle.url) as client:
            credentials = {"appkey": APP_KEY, "appsecret": APP_SECRET}
            token = client.get("/gettoken", params=credentials).json()["access_token"]
            unknown = client.post(
                "/topapi/v2/user/get", params={"access_token": token}, json={"userid": "x"}
            )
            forged = client.post(
                "/topapi/v2/department/get", params={"access_token": "forged"}, json={}
            )
        seen["unknown"] = unknown.json()["errcode"]
        seen["forged"] = forged.json()["errcode"]

    monkeypatch.setattr(cli_sandbox, "_wait", probe)
    args = ["sandbox", "serve", "--port", "0", "--latency", "0", "--db", str(tmp_path / "s.db")]
    result = CliRunner().invoke(
        app, [*args, "--profile", "lenient", "--set", "unknown_user_errcode=33012", "--qps", "7"]
    )
    assert result.exit_code == 0, result.output
    assert seen == {"unknown": 33012, "forged": 40014}  # the knob, and lenient's bare 40014
    assert "profile custom: rate_limit=bucket qps=7 empty_string_clears=true" in result.stderr


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--profile", "harsh"], "unknown sandbox profile 'harsh'"),
        (["--set", "qps"], "expected KEY=VALUE"),
        (["--set", "nope=1"], "unknown sandbox profile knob 'nope'"),
    ],
)
def test_serve_refuses_a_bad_profile(tmp_path: Path, extra: list[str], message: str):
    args = ["sandbox", "serve", "--port", "0", "--db", str(tmp_path / "s.db")]
    result = CliRunner().invoke(app, [*args, *extra])
    assert result.exit_code == 1
    assert message in result.stderr


def test_serve_refuses_a_port_in_use(tmp_path: Path):
    with Sandbox() as other, serve(other) as busy:
        result = CliRunner().invoke(
            app, ["sandbox", "serve", "--port", str(busy.port), "--db", str(tmp_path / "sb.db")]
        )
    assert result.exit_code == 1
    assert "cannot listen" in result.stderr


def test_writes_prints_one_line_per_write_and_reset_empties_the_tenant(tmp_path: Path):
    path = tmp_path / "sb.db"
    with Sandbox(path) as sb, httpx.Client(base_url=sb.base_url, transport=sb.transport()) as c:
        token = c.get("/gettoken", params={"appkey": APP_KEY, "appsecret": APP_SECRET}).json()
        for name in ("研发中心", "研发中心"):
            c.post(
                "/topapi/v2/department/create",
                params={"access_token": token["access_token"]},
                json={"name": name, "parent_id": 1},
            )
    runner = CliRunner()
    lines = runner.invoke(app, ["sandbox", "writes", "--db", str(path)]).stdout.splitlines()
    assert len(lines) == 2
    assert "topapi/v2/department/create errcode=0 " in lines[0]
    assert lines[0].endswith('{"name":"研发中心","parent_id":1}')
    assert "errcode=60021" in lines[1]

    assert runner.invoke(app, ["sandbox", "reset", "--db", str(path)]).exit_code == 0
    with Sandbox(path) as sb:
        assert [d["dept_id"] for d in sb.tenant.departments()] == [1]
        assert sb.writes() == []
    assert runner.invoke(app, ["sandbox", "writes", "--db", str(path)]).stdout == ""


def test_writes_without_a_tenant_is_an_error_and_creates_nothing(tmp_path: Path):
    path = tmp_path / "missing.db"
    result = CliRunner().invoke(app, ["sandbox", "writes", "--db", str(path)])
    assert result.exit_code == 1
    assert "no sandbox tenant" in result.stderr
    assert not path.exists()


def test_reset_defaults_to_orgctl_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("ORGCTL_HOME", str(tmp_path / "home"))
    path = tmp_path / "home" / "sandbox.db"
    with Sandbox(path) as seeded:
        seeded.tenant.add_department("研发中心")
    result = CliRunner().invoke(app, ["sandbox", "reset"])
    assert result.exit_code == 0, result.output
    assert f"reset the sandbox tenant at {path}" in result.stderr
    with Sandbox(path) as sb:  # the tenant under $ORGCTL_HOME is the one that was emptied
        assert [d["dept_id"] for d in sb.tenant.departments()] == [1]
