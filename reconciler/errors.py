"""The one error hierarchy of orgctl. Pure: no I/O.

    OrgctlError                      anything orgctl reports to its user (exit 1 unless noted)
    ├── ConfigError                  invalid desired YAML or policy: carries every Problem
    ├── TargetError                  no usable target (CI without credentials, bad base URL)
    ├── DingTalkError                an API call failed; .api, .errmsg, .errcode (None when
    │                                DingTalk gave none: transport failure, HTTP 5xx, IP ban)
    │   ├── RetryableError           worth retrying with backoff
    │   │   ├── ThrottledError       90018 90002 90005 90006 90019, 88-throttle, IP ban body
    │   │   ├── BusyError            -1 "系统繁忙", HTTP 5xx
    │   │   └── TransportError       connection failed before a request was sent
    │   ├── TokenError               40014 42001 40001 33001 41001, 88/40014: refresh and retry once
    │   ├── OutcomeUnknownError      a write timed out or the connection dropped after sending:
    │   │                            it may or may not have happened; read before retrying
    │   └── TerminalError            retrying cannot help (60003, 60104, 50004, …)
    │       ├── QuotaExhaustedError  90020: the monthly API quota is spent
    │       └── MissingPermissionError  60011, 88/60011: .permission names what the app lacks
    ├── SnapshotError                the live directory could not be read completely
    ├── UnsafePlanError              a safety rule refused the plan (exit 3)
    ├── StalePlanError               a saved plan no longer matches live state (exit 4)
    ├── LockedError                  another apply holds the tenant's lock
    ├── InputError                   bad command-line input (dates, CSV rows, selectors)
    └── GitHubError                  a GitHub API call of `orgctl gh` failed (status, message)

Only `reconciler.cli` turns these into messages and exit codes.
"""

from __future__ import annotations

from dataclasses import dataclass

from reconciler.model import Location


@dataclass(frozen=True, slots=True, order=True)
class Problem:
    """One thing wrong with the desired state, located as precisely as we can."""

    file: str
    line: int
    column: int
    field: str  # JSON-pointer-like path, e.g. "users[3].mobile"
    message: str

    @classmethod
    def at(cls, location: Location | None, field: str, message: str) -> Problem:
        if location is None:
            return cls("<unknown>", 0, 0, field, message)
        return cls(location.file, location.line, location.column, field, message)

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}:{self.column}" if self.line else self.file
        what = f"{self.field}: {self.message}" if self.field else self.message
        return f"{where}: {what}"


class OrgctlError(Exception):
    """Base of every error orgctl reports to its user."""

    exit_code = 1


class ConfigError(OrgctlError):
    """``problems``: the first ``limit`` of them in sorted order; ``omitted``: how many more."""

    def __init__(self, problems: list[Problem], *, limit: int | None = None) -> None:
        ordered = sorted(problems)
        self.problems = ordered if limit is None else ordered[:limit]
        self.omitted = len(ordered) - len(self.problems)
        noun = "problem" if len(ordered) == 1 else "problems"
        super().__init__(f"{len(ordered)} {noun} in the desired state")


class TargetError(OrgctlError):
    pass


class DingTalkError(OrgctlError):
    def __init__(self, api: str, errcode: int | None, errmsg: str, hint: str = "") -> None:
        self.api = api
        self.errcode = errcode
        self.errmsg = errmsg
        self.hint = hint
        text = f"{api}: {errmsg}" if errcode is None else f"{api}: errcode {errcode}: {errmsg}"
        super().__init__(f"{text} ({hint})" if hint else text)


class RetryableError(DingTalkError):
    pass


class ThrottledError(RetryableError):
    def __init__(self, api: str, errcode: int | None, errmsg: str, wait: float = 0.0) -> None:
        super().__init__(api, errcode, errmsg)
        self.wait = wait  # seconds the server asked us to wait (IP-ban body "wait")


class BusyError(RetryableError):
    pass


class TransportError(RetryableError):
    pass


class TokenError(DingTalkError):
    pass


class OutcomeUnknownError(DingTalkError):
    pass


class TerminalError(DingTalkError):
    pass


class QuotaExhaustedError(TerminalError):
    pass


class MissingPermissionError(TerminalError):
    def __init__(self, api: str, errcode: int | None, errmsg: str, permission: str) -> None:
        super().__init__(
            api, errcode, errmsg, f"the app lacks the permission {permission}: add it (权限管理)"
        )
        self.permission = permission


class SnapshotError(OrgctlError):
    pass


class UnsafePlanError(OrgctlError):
    exit_code = 3


class StalePlanError(OrgctlError):
    exit_code = 4


class LockedError(OrgctlError):
    pass


class InputError(OrgctlError):
    pass


class GitHubError(OrgctlError):
    pass
