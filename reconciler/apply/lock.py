"""One apply at a time per tenant: an exclusive `flock` on ``<lock dir>/locks/<tenant>.lock``.
I/O: the lock file; `check_apply_place` reads nothing but what it is given.

Two applies against one tenant would each plan from a read the other is busy invalidating
(one deletes a department the other is moving people into). CI has a concurrency group, but
a person running `orgctl apply` by hand next to it does not, so the tool enforces it itself.

The lock is keyed by the tenant itself, not by how it was reached: a hash of the app key
(plus the port for a loopback sandbox server), or of the embedded sandbox's database file.
`localhost` and `127.0.0.1`, or two `$ORGCTL_HOME` folders, are one tenant and one lock. It
lives in one directory per machine (`default_lock_dir`), not under `$ORGCTL_HOME`. A lock
cannot reach another machine: that a laptop does not apply next to CI is the policy's
``apply.require_ci`` (`check_apply_place`).

`flock` is released by the kernel when the holding process dies, so a killed apply never
leaves a stale lock behind; the holder details written inside the file are only for the
message a blocked apply prints. The lock is taken with ``LOCK_NB``: a second apply fails fast
with `LockedError` naming the holder instead of queueing behind it.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import re
import socket
import tempfile
from collections.abc import Mapping
from pathlib import Path
from types import TracebackType
from typing import IO, TYPE_CHECKING
from urllib.parse import urlsplit

from reconciler.clock import SYSTEM_CLOCK, Clock, utc_stamp
from reconciler.errors import LockedError, TargetError
from reconciler.live.target import _is_loopback

if TYPE_CHECKING:
    from reconciler.live.target import Target

_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")
LOCK_DIR_VAR = "ORGCTL_LOCK_DIR"


def default_lock_dir(env: Mapping[str, str] | None = None) -> Path:
    """One directory per machine, whatever $ORGCTL_HOME says: ``$ORGCTL_LOCK_DIR``, else
    ``<temp dir>/orgctl``."""
    env = os.environ if env is None else env
    configured = env.get(LOCK_DIR_VAR, "").strip()
    return Path(configured) if configured else Path(tempfile.gettempdir()) / "orgctl"


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def tenant_lock_key(*, app_key: str = "", base_url: str = "", sandbox_db: str = "") -> str:
    """The tenant, secret-free and independent of how it is spelled or reached.

    A real tenant is its app key (an internal app belongs to one corp); the host is left out,
    so another spelling of DingTalk's address or a proxy is the same tenant. A sandbox server
    on loopback is its port and app key (every sandbox has the same key). The embedded sandbox
    is its database file, resolved."""
    if sandbox_db:
        return f"sandbox-{_digest(str(Path(sandbox_db).resolve()))}"
    parts = urlsplit(base_url)
    if parts.hostname and _is_loopback(parts.hostname):
        return f"loopback-{_digest(f'{parts.port}:{app_key}')}"
    return f"dingtalk-{_digest(app_key)}"


def lock_key_for(target: Target) -> str:
    if target.sandbox is not None:
        row = target.sandbox.tenant.db.execute("PRAGMA database_list").fetchone()
        path = str(row[2] or "") if row is not None else ""
        # An in-memory tenant lives in this process only: nobody else can apply to it.
        return tenant_lock_key(sandbox_db=path or f"memory-{id(target.sandbox)}")
    return tenant_lock_key(app_key=target.client.app_key, base_url=target.client.base_url)


def check_apply_place(
    *, require_ci: bool, is_sandbox: bool, local: bool, env: Mapping[str, str]
) -> None:
    """Refuse an apply to a real tenant from outside CI when the policy says applies come
    from CI only, unless the operator says `--local`. Against accidents, not attackers: the
    write credentials themselves live in CI's protected environment."""
    if not require_ci or is_sandbox or local:
        return
    if env.get("CI", "").strip().lower() not in ("", "0", "false", "no"):
        return
    raise TargetError(
        "refusing to apply outside CI: the policy (orgctl.yaml, apply.require_ci) says changes "
        "reach DingTalk through the reviewed workflow, so a run from a workstation cannot race "
        "it or apply an unreviewed org/. Pass --local if you mean to (an emergency, a first "
        "adoption)"
    )


def tenant_file_name(tenant_id: str) -> str:
    """``tenant_id`` made safe for a file name (lock files and journals both use it)."""
    return _UNSAFE.sub("_", tenant_id).strip("._") or "tenant"


def lock_path(lock_dir: Path, tenant_id: str) -> Path:
    """Where the lock for ``tenant_id`` lives."""
    return lock_dir / "locks" / f"{tenant_file_name(tenant_id)}.lock"


class TenantLock:
    """Context manager holding the tenant's apply lock; raises `LockedError` if it is held.

    ``with TenantLock(state_dir, tenant_id): ...`` — re-entrant use of one instance is a bug.
    """

    def __init__(self, lock_dir: Path, tenant_id: str, *, clock: Clock = SYSTEM_CLOCK) -> None:
        self.path = lock_path(lock_dir, tenant_id)
        self.tenant_id = tenant_id
        self._clock = clock
        self._file: IO[str] | None = None

    @classmethod
    def for_target(
        cls, target: Target, *, clock: Clock = SYSTEM_CLOCK, lock_dir: Path | None = None
    ) -> TenantLock:
        """The lock of `target`'s tenant, in the machine's lock directory."""
        return cls(lock_dir or default_lock_dir(), lock_key_for(target), clock=clock)

    @property
    def held(self) -> bool:
        return self._file is not None

    def acquire(self) -> None:
        if self._file is not None:
            raise RuntimeError("TenantLock.acquire() called twice")
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            # "a+" so opening never truncates the current holder's details before we own it.
            handle = self.path.open("a+", encoding="utf-8")
        except OSError as error:
            raise TargetError(
                f"cannot create the lock file {self.path}: {error.strerror or error}; "
                f"check {LOCK_DIR_VAR}"
            ) from None
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _describe_holder(handle)
            handle.close()
            raise LockedError(
                f"another apply is running against tenant {self.tenant_id} ({holder}); "
                f"wait for it to finish (lock file {self.path})"
            ) from None
        except BaseException:
            handle.close()
            raise
        holder_info = {
            "pid": os.getpid(),
            "host": socket.gethostname(),
            "since": utc_stamp(self._clock.now()),
        }
        handle.seek(0)
        handle.truncate()
        handle.write(json.dumps(holder_info) + "\n")
        handle.flush()
        self._file = handle

    def release(self) -> None:
        handle, self._file = self._file, None
        if handle is None:
            return
        with contextlib.suppress(OSError):
            handle.seek(0)
            handle.truncate()  # an unheld lock file says nothing about a holder
            handle.flush()
        fcntl.flock(handle.fileno(), fcntl.LOCK_UN)
        handle.close()

    def __enter__(self) -> TenantLock:
        self.acquire()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.release()


def _describe_holder(handle: IO[str]) -> str:
    try:
        handle.seek(0)
        data = json.loads(handle.read() or "{}")
    except (OSError, ValueError):
        data = {}
    if not isinstance(data, dict) or "pid" not in data:
        return "holder unknown"
    return (
        f"held by pid {data.get('pid')} on {data.get('host', '?')} since {data.get('since', '?')}"
    )
