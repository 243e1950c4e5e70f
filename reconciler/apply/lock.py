"""One apply at a time per tenant: an exclusive `flock` on ``state_dir/locks/<tenant>.lock``.
I/O: the lock file.

Two applies against one tenant would each plan from a read the other is busy invalidating
(one deletes a department the other is moving people into). CI has a concurrency group, but
a person running `orgctl apply` by hand next to it does not, so the tool enforces it itself.

`flock` is released by the kernel when the holding process dies, so a killed apply never
leaves a stale lock behind; the holder details written inside the file are only for the
message a blocked apply prints. The lock is taken with ``LOCK_NB``: a second apply fails fast
with `LockedError` naming the holder instead of queueing behind it.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import re
import socket
from pathlib import Path
from types import TracebackType
from typing import IO

from reconciler.clock import SYSTEM_CLOCK, Clock, utc_stamp
from reconciler.errors import LockedError, TargetError

_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


def tenant_file_name(tenant_id: str) -> str:
    """``tenant_id`` made safe for a file name (lock files and journals both use it)."""
    return _UNSAFE.sub("_", tenant_id).strip("._") or "tenant"


def lock_path(state_dir: Path, tenant_id: str) -> Path:
    """Where the lock for ``tenant_id`` lives."""
    return state_dir / "locks" / f"{tenant_file_name(tenant_id)}.lock"


class TenantLock:
    """Context manager holding the tenant's apply lock; raises `LockedError` if it is held.

    ``with TenantLock(state_dir, tenant_id): ...`` — re-entrant use of one instance is a bug.
    """

    def __init__(self, state_dir: Path, tenant_id: str, *, clock: Clock = SYSTEM_CLOCK) -> None:
        self.path = lock_path(state_dir, tenant_id)
        self.tenant_id = tenant_id
        self._clock = clock
        self._file: IO[str] | None = None

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
                "check ORGCTL_HOME"
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
