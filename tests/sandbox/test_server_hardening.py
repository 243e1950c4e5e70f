"""The sandbox's HTTP server under hostile requests, over a real loopback socket: every
request gets an HTTP answer with a JSON body, nothing is printed, and the server goes on."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from typing import Any

import pytest

from reconciler.sandbox import Sandbox, ServerHandle, serve
from tests.sandbox.helpers import Api


def exchange(server: ServerHandle, request: bytes) -> tuple[int, dict[str, Any]]:
    """Send raw bytes, read one answer: (HTTP status, JSON body)."""
    with socket.create_connection((server.host, server.port), timeout=10) as conn:
        conn.sendall(request)
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = conn.recv(65536)
            assert chunk, f"connection closed without an answer: {data!r}"
            data += chunk
        head, _, rest = data.partition(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split()[1])
        headers = {k.lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
        length = int(headers["content-length"])
        while len(rest) < length:
            chunk = conn.recv(65536)
            assert chunk, "connection closed mid-body"
            rest += chunk
    assert headers["content-type"].startswith("application/json")
    body: dict[str, Any] = json.loads(rest[:length])
    return status, body


def post(path: str, body: bytes, length: str | None = None) -> bytes:
    size = str(len(body)) if length is None else length
    return (
        f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        f"Content-Length: {size}\r\n\r\n"
    ).encode() + body


@pytest.fixture
def small_server(sb: Sandbox) -> Iterator[ServerHandle]:
    with serve(sb, max_body=1024) as handle:
        yield handle


def still_serving(server: ServerHandle, http_api: Api | None = None) -> None:
    status, body = exchange(
        server, b"GET /gettoken?appkey=x&appsecret=y HTTP/1.1\r\nHost: h\r\n\r\n"
    )
    assert (status, body["errcode"]) == (200, 40089)


@pytest.mark.parametrize("length", ["abc", "-1", "1e3", "+5", "12 34"])
def test_a_content_length_that_is_not_a_number_is_400(
    server: ServerHandle, length: str, capfd: pytest.CaptureFixture[str]
) -> None:
    status, body = exchange(server, post("/topapi/v2/user/get", b"{}", length))
    assert status == 400
    assert body["errcode"] == 400
    assert "Content-Length" in body["errmsg"]
    still_serving(server)
    assert capfd.readouterr().err == ""


def test_a_body_over_the_cap_is_413_and_never_read(small_server: ServerHandle) -> None:
    # 50 GB announced, nothing sent: an answer comes at once, the body is never waited for.
    status, body = exchange(small_server, post("/topapi/v2/user/get", b"", str(50 * 10**9)))
    assert (status, body["errcode"]) == (413, 413)
    status, _ = exchange(small_server, post("/topapi/v2/user/get", b"{}" + b" " * 1022))
    assert status == 200  # exactly at the cap is fine
    still_serving(small_server)


@pytest.mark.parametrize(
    "number", [str(2**63), str(-(2**63) - 1), "9" * 5000], ids=["2^63", "-2^63-1", "5000 digits"]
)
def test_an_integer_no_64_bit_column_holds_is_40035(
    server: ServerHandle, http_api: Api, number: str
) -> None:
    token = http_api.token()
    body = f'{{"dept_id": {number}, "cursor": 0, "size": 10}}'.encode()
    status, answer = exchange(server, post(f"/topapi/v2/user/list?access_token={token}", body))
    assert (status, answer["errcode"]) == (200, 40035)
    assert server.errors == 0


def test_the_largest_64_bit_integer_reaches_the_tenant(server: ServerHandle, http_api: Api) -> None:
    token = http_api.token()
    body = f'{{"dept_id": {2**63 - 1}, "cursor": 0, "size": 10}}'.encode()
    status, answer = exchange(server, post(f"/topapi/v2/user/list?access_token={token}", body))
    assert status == 200
    assert answer["errcode"] not in (-1, 40035)  # the tenant's own answer (no such dept)


def test_deeply_nested_json_is_refused_not_a_crash(server: ServerHandle, http_api: Api) -> None:
    token = http_api.token()
    deep = b"[" * 100_000 + b"]" * 100_000
    status, answer = exchange(server, post(f"/topapi/v2/user/get?access_token={token}", deep))
    assert (status, answer["errcode"]) == (200, 43009)
    still_serving(server)


def test_any_failure_inside_the_sandbox_is_a_json_500_without_a_traceback(
    sb: Sandbox,
    server: ServerHandle,
    monkeypatch: pytest.MonkeyPatch,
    capfd: pytest.CaptureFixture[str],
) -> None:
    def broken(*args: object) -> object:
        raise RuntimeError("a bug in a handler")

    monkeypatch.setattr(sb, "handle", broken)
    status, body = exchange(server, post("/topapi/v2/user/get", b"{}"))
    assert (status, body["errcode"]) == (500, -1)
    assert "bug" not in json.dumps(body)  # nothing of the internals in the answer
    assert server.errors == 1
    monkeypatch.undo()
    still_serving(server)
    assert capfd.readouterr().err == ""
