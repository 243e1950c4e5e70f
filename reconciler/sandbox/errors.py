"""What a sandbox route handler raises, and how the sandbox signals an emulated timeout.

Kept apart from `reconciler.errors` on purpose: these are the *server's* errors (an errcode
the emulated DingTalk answers with), not orgctl's. The client turns the answer into one of
orgctl's errors exactly as it would for the real tenant.
"""

from __future__ import annotations


class ApiError(Exception):
    """An answer with a non-zero errcode. Raised inside a handler, it rolls the write back."""

    def __init__(self, errcode: int, errmsg: str) -> None:
        super().__init__(f"errcode {errcode}: {errmsg}")
        self.errcode = errcode
        self.errmsg = errmsg


class ParamError(ApiError):
    """A missing or malformed request parameter: 40035, or 400002 on the v2 pages that
    document it when the profile says so (the router picks; handlers need not know)."""

    def __init__(self, errmsg: str) -> None:
        super().__init__(40035, errmsg)


class SimulatedTimeout(Exception):
    """`Sandbox.handle` raises this when the timeout fault fires: the caller gets no answer.

    The in-process transport turns it into `httpx.ReadTimeout`; the HTTP server closes the
    connection without answering. `applied` says whether the request was executed first
    (a write whose outcome the client cannot know).
    """

    def __init__(self, applied: bool) -> None:
        super().__init__("sandbox: simulated timeout (no answer sent)")
        self.applied = applied
