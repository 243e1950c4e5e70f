"""`Sandbox.handle` over real HTTP on loopback, for `orgctl sandbox serve` and HTTP tests."""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from urllib.parse import parse_qsl, urlsplit

from reconciler.sandbox.core import Sandbox
from reconciler.sandbox.errors import SimulatedTimeout


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address: tuple[str, int], sandbox: Sandbox) -> None:
        self.sandbox = sandbox
        super().__init__(address, _Handler)


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
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length > 0 else b""
        if sandbox.faults.latency > 0:
            sandbox.clock.sleep_sync(sandbox.faults.latency)
        query = dict(parse_qsl(url.query, keep_blank_values=True))
        try:
            status, content, headers = sandbox.handle(method, url.path, query, body)
        except SimulatedTimeout:
            # No answer at all: the client sees the connection close after it sent the request
            # (httpx.RemoteProtocolError), an outcome it cannot know, like a read timeout.
            self.close_connection = True
            return
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


def serve(sandbox: Sandbox, host: str = "127.0.0.1", port: int = 0) -> ServerHandle:
    """Serve `sandbox` on host:port (0 = any free port) from a daemon thread."""
    server = _Server((host, port), sandbox)
    thread = threading.Thread(
        target=server.serve_forever,
        kwargs={"poll_interval": 0.05},
        name="orgctl-sandbox",
        daemon=True,
    )
    thread.start()
    return ServerHandle(server, thread)
