"""Which DingTalk tenant a command talks to: a real one, or the embedded sandbox.
I/O: reads the environment, creates the state directory, opens the sandbox database.

    DINGTALK_APP_KEY + DINGTALK_APP_SECRET   a real tenant at DINGTALK_BASE_URL
                                             (default https://oapi.dingtalk.com)
    neither                                  the sandbox tenant in $ORGCTL_HOME/sandbox.db
                                             (default .orgctl/) — refused when CI is set,
                                             unless --sandbox: CI must never "apply" to a
                                             sandbox by mistake
    only one of them                         an error naming the missing one
    --sandbox                                the sandbox, whatever the environment says

Every command prints `Target.description` as its first line, so nobody wonders which tenant a
plan was made against.
"""

from __future__ import annotations

import ipaddress
import os
import re
import sqlite3
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, Self
from urllib.parse import urlsplit

from reconciler.clock import SYSTEM_CLOCK, Clock
from reconciler.dingtalk import DEFAULT_BASE_URL, DingTalkClient
from reconciler.errors import TargetError

if TYPE_CHECKING:
    from reconciler.sandbox import Sandbox

APP_KEY_VAR = "DINGTALK_APP_KEY"
APP_SECRET_VAR = "DINGTALK_APP_SECRET"
BASE_URL_VAR = "DINGTALK_BASE_URL"
HOME_VAR = "ORGCTL_HOME"
DEFAULT_STATE_DIR = ".orgctl"
SANDBOX_DB = "sandbox.db"
SANDBOX_TENANT_ID = "sandbox"


@dataclass(eq=False, kw_only=True)
class Target:
    """A tenant and the client that speaks to it. Close it (``async with``) when done."""

    client: DingTalkClient
    description: str
    sandbox: Sandbox | None = None
    """The embedded tenant the client talks to, or None for a real one."""
    state_dir: Path
    tenant_id: str
    """Stable and secret-free: names the tenant's lock and journal files."""

    @property
    def is_sandbox(self) -> bool:
        return self.sandbox is not None

    def __repr__(self) -> str:
        return f"Target({self.description!r}, tenant_id={self.tenant_id!r})"

    async def aclose(self) -> None:
        await self.client.aclose()
        if self.sandbox is not None:
            self.sandbox.close()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()


def open_target(
    *,
    sandbox: bool = False,
    env: Mapping[str, str] = os.environ,
    state_dir: Path | None = None,
    clock: Clock = SYSTEM_CLOCK,
    concurrency: int | None = None,
) -> Target:
    """Pick the tenant from the environment (see the module docstring) and open a client.
    ``concurrency``: the client's calls in flight at once (`--concurrency`); None: its default.
    The rate limit (``rate_limit.qps``) reaches the client once the policy is read
    (`DingTalkClient.set_qps`)."""
    options: dict[str, Any] = {} if concurrency is None else {"max_in_flight": concurrency}
    home = state_dir if state_dir is not None else Path(env.get(HOME_VAR) or DEFAULT_STATE_DIR)
    app_key = env.get(APP_KEY_VAR, "").strip()
    app_secret = env.get(APP_SECRET_VAR, "").strip()
    if sandbox:
        why = "--sandbox"
        if app_key or app_secret:
            why += f"; {APP_KEY_VAR}/{APP_SECRET_VAR} ignored"
        return _sandbox_target(home, clock, why, options)
    if app_key and app_secret:
        base_url = env.get(BASE_URL_VAR, "")
        return _real_target(home, clock, app_key, app_secret, base_url, options)
    if app_key or app_secret:
        missing = APP_SECRET_VAR if app_key else APP_KEY_VAR
        present = APP_KEY_VAR if app_key else APP_SECRET_VAR
        raise TargetError(
            f"{present} is set but {missing} is not: set both to use a real tenant, "
            "or neither to use the sandbox"
        )
    if _is_ci(env):
        raise TargetError(
            f"CI is set and neither {APP_KEY_VAR} nor {APP_SECRET_VAR} is: refusing to fall "
            "back to the sandbox tenant in CI; pass --sandbox to use it on purpose"
        )
    return _sandbox_target(home, clock, f"no {APP_KEY_VAR} set", options)


def sandbox_client(sandbox: Sandbox, clock: Clock, **options: Any) -> DingTalkClient:
    """A client for a sandbox made with the default credentials, through its in-process
    transport (no sockets). `options` go to `DingTalkClient` (rng, max_tries, …)."""
    from reconciler.sandbox import APP_KEY, APP_SECRET

    return DingTalkClient(
        app_key=APP_KEY,
        app_secret=APP_SECRET,
        base_url=sandbox.base_url,
        transport=sandbox.transport(),
        clock=clock,
        **options,
    )


def _is_ci(env: Mapping[str, str]) -> bool:
    return env.get("CI", "").strip().lower() not in ("", "0", "false", "no")


def _sandbox_target(home: Path, clock: Clock, why: str, options: dict[str, Any]) -> Target:
    from reconciler.sandbox import APP_KEY, APP_SECRET, Sandbox

    db_path = home / SANDBOX_DB
    try:
        sb = Sandbox(db_path=db_path, clock=clock, app_key=APP_KEY, app_secret=APP_SECRET)
    except (OSError, sqlite3.Error) as error:
        raise TargetError(f"cannot open the sandbox tenant at {_show(db_path)}: {error}") from None
    return Target(
        client=sandbox_client(sb, clock, **options),
        description=f"target: sandbox tenant {_show(db_path)} ({why})",
        sandbox=sb,
        state_dir=home,
        tenant_id=SANDBOX_TENANT_ID,
    )


def _real_target(
    home: Path,
    clock: Clock,
    app_key: str,
    app_secret: str,
    base_url: str,
    options: dict[str, Any],
) -> Target:
    base_url = base_url.strip().rstrip("/") or DEFAULT_BASE_URL
    host = _check_base_url(base_url)
    client = DingTalkClient(
        app_key=app_key, app_secret=app_secret, base_url=base_url, clock=clock, **options
    )
    return Target(
        client=client,
        description=f"target: DingTalk {base_url} (app key {app_key})",
        state_dir=home,
        tenant_id=_slug(f"{host}-{app_key}"),
    )


def _check_base_url(base_url: str) -> str:
    """The URL's host. The app secret travels in gettoken's query: never in clear text over
    the network, so plain http is allowed only to loopback (`orgctl sandbox serve`)."""
    parts = urlsplit(base_url)
    host = parts.hostname or ""
    if parts.scheme not in ("http", "https") or not host:
        raise TargetError(f"{BASE_URL_VAR} must be an http(s) URL, not {base_url!r}")
    if parts.scheme == "http" and not _is_loopback(host):
        raise TargetError(
            f"{BASE_URL_VAR} {base_url!r} is plain http to a non-loopback host: use https"
        )
    return host


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", text).strip("._-")[:120] or "tenant"


def _show(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(Path.cwd()))
    except ValueError:
        return str(path)
