"""`Sandbox.handle` over real HTTP on loopback, for `orgctl sandbox serve` and HTTP tests.

Whatever a client sends, it gets an HTTP answer with a JSON body and the server keeps
serving: a Content-Length that is not a number is 400, a body over `max_body` is 413 (and is
never read), an integer no 64-bit column can hold is errcode 40035 (as DingTalk answers an
invalid parameter), JSON nested too deep to parse is 43009, and any other failure inside the
sandbox is HTTP 500 with errcode -1 — never a dropped connection or a traceback on stderr.
"""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from reconciler.sandbox.core import JSON_HEADERS, Sandbox
from reconciler.sandbox.errors import SimulatedTimeout

MAX_BODY = 4 * 1024 * 1024
"""Largest request body read, in bytes. DingTalk's own requests are a few KB (a user with
every field, a list of 100 userids); 4 MiB leaves room without letting one request hold
gigabytes in memory."""

_INT64 = (-(2**63), 2**63 - 1)


class _OutOfRange(ValueError):
    pass


def _int64(text: str) -> int:
    value = int(text)  # ValueError past Python's 4300-digit limit: out of range as well
    if not _INT64[0] <= value <= _INT64[1]:
        raise _OutOfRange(text)
    return value


def _screen(body: bytes) -> dict[str, Any] | None:
    """The error answer for a body the tenant must not see, else None (the tenant parses it
    itself, and answers 43009 for what is not a JSON object)."""
    if not body.strip():
        return None
    try:
        json.loads(body.decode("utf-8"), parse_int=_int64)
    except _OutOfRange:
        # SQLite columns are 64-bit; a bigger number would fail deep inside the tenant.
        return {"errcode": 40035, "errmsg": "不合法的参数：整数超出范围"}
    except ValueError as error:
        if "digits" in str(error):  # int(): "Exceeds the limit (4300 digits)…"
            return {"errcode": 40035, "errmsg": "不合法的参数：整数超出范围"}
        return None  # not JSON: the tenant's 43009
    except RecursionError:
        return {"errcode": 43009, "errmsg": "post参数需要json类型"}
    return None


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address: tuple[str, int], sandbox: Sandbox, max_body: int) -> None:
        self.sandbox = sandbox
        self.max_body = max_body
        self.errors = 0
        """Requests answered 500: a test can tell a contained failure from none."""
        super().__init__(address, _Handler)

    def handle_error(self, request: object, client_address: object) -> None:
        # socketserver prints a traceback per failed connection; only reconciler.cli prints.
        self.errors += 1


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as a real client's connection pool expects
    timeout = 60  # an idle keep-alive connection's thread ends after this
    # Headers and body go out in two writes; with Nagle on, the body waits for the client's
    # delayed ACK (~40 ms per keep-alive answer). DingTalk's servers add no such delay.
    disable_nagle_algorithm = True
    server: _Server

    def do_GET(self) -> None:
        self._serve("GET")

    def do_POST(self) -> None:
        self._serve("POST")

    def _serve(self, method: str) -> None:
        sandbox = self.server.sandbox
        url = urlsplit(self.path)
        raw_length = (self.headers.get("Content-Length") or "0").strip()
        if not raw_length.isdigit():  # "abc", "-1", "1e3", "+5"
            self.close_connection = True  # where this body ends is unknown
            return self._reply(400, {"errcode": 400, "errmsg": "invalid Content-Length"})
        length = int(raw_length)
        if length > self.server.max_body:
            self.close_connection = True  # the body stays unread
            return self._reply(
                413, {"errcode": 413, "errmsg": f"body over {self.server.max_body} bytes"}
            )
        body = self.rfile.read(length) if length > 0 else b""
        if sandbox.faults.latency > 0:
            sandbox.clock.sleep_sync(sandbox.faults.latency)
        query = dict(parse_qsl(url.query, keep_blank_values=True))
        refused = _screen(body)
        if refused is not None:
            return self._reply(200, refused)
        try:
            status, content, headers = sandbox.handle(method, url.path, query, body)
        except SimulatedTimeout:
            # No answer at all: the client sees the connection close after it sent the request
            # (httpx.RemoteProtocolError), an outcome it cannot know, like a read timeout.
            self.close_connection = True
            return None
        except Exception:
            # A bug or an input the tenant did not expect: this request fails, loudly but
            # contained, and the server goes on serving the next one.
            self.server.errors += 1
            return self._reply(500, {"errcode": -1, "errmsg": "系统繁忙"})
        self._send(status, content, headers)
        return None

    def _reply(self, status: int, payload: dict[str, Any]) -> None:
        content = json.dumps(payload, ensure_ascii=False).encode("utf-8")
        self._send(status, content, dict(JSON_HEADERS))

    def _send(self, status: int, content: bytes, headers: dict[str, str]) -> None:
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(content)))
        self.end_headers()
        self.wfile.write(content)

    def version_string(self) -> str:
        return "DingTalk/1.0.0"  # what oapi.dingtalk.com sends [I-SATORI]

    def log_message(self, format: str, *args: object) -> None:
        pass  # only reconciler.cli prints


class ServerHandle:
    """A running sandbox server. `url` is its base URL; `close()` stops it."""

    def __init__(self, server: _Server, thread: threading.Thread) -> None:
        self._server = server
        self._thread = thread
        host, port = server.server_address[:2]
        self.host = str(host)
        self.port = int(port)
        self.url = f"http://{self.host}:{self.port}"

    @property
    def errors(self) -> int:
        """Requests that failed inside the sandbox (answered HTTP 500) so far."""
        return self._server.errors

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()

    def wait(self, timeout: float | None = None) -> bool:
        """Block until the server stops (or `timeout` passes); True if it stopped."""
        self._thread.join(timeout)
        return not self._thread.is_alive()

    def __enter__(self) -> ServerHandle:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def serve(
    sandbox: Sandbox, host: str = "127.0.0.1", port: int = 0, *, max_body: int = MAX_BODY
) -> ServerHandle:
    """Serve `sandbox` on host:port (0 = any free port) from a daemon thread."""
    server = _Server((host, port), sandbox, max_body)
    thread = threading.Thread(
        target=server.serve_forever,
        kwargs={"poll_interval": 0.05},
        name="orgctl-sandbox",
        daemon=True,
    )
    thread.start()
    return ServerHandle(server, thread)
