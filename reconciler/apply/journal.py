"""The apply journal: one JSON line per step event, under ``state_dir/journal/``.
I/O: creates and appends to the journal file.

Written as the apply goes (flushed after every line), so a run that is killed still leaves a
record of which writes it made; CI uploads the file as an artifact. The journal is for humans
after the fact: apply never reads it back (level-based: the next apply re-reads DingTalk).

Personal data is masked on the way in (mobiles ``+86-151****1968``, emails ``z***@x.com``),
and anything that looks like a credential in a ``key=value`` pair is blanked, because error
messages can quote request URLs and values from DingTalk.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from pathlib import Path
from types import TracebackType
from typing import IO, Protocol

from reconciler.apply.lock import tenant_file_name
from reconciler.clock import Clock, utc_stamp
from reconciler.dingtalk.redact import redact
from reconciler.errors import TargetError
from reconciler.phone import mask_email, mask_mobile

_EMAIL = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+")
# "+86-15172391968" (canonical), "+8615172391968", and a bare mainland number 1[3-9]xxxxxxxxx.
_MOBILE = re.compile(r"\+\d{1,4}-?\d{6,15}|(?<!\d)1[3-9]\d{9}(?!\d)")
_SECRET = re.compile(
    r"(?i)\b(access_?token|app_?secret|appkey|app_?key|secret|token|corpsecret)"
    r"(\"?\s*[=:]\s*\"?)([^&\s\"',;]+)"
)


def scrub(text: str) -> str:
    """Mask mobiles and emails and blank credentials in free text."""
    text = redact(text)  # the client's registered secrets, wherever they stand
    text = _SECRET.sub(lambda m: f"{m.group(1)}{m.group(2)}***", text)
    text = _EMAIL.sub(lambda m: mask_email(m.group(0)), text)
    return _MOBILE.sub(lambda m: _mask_any_mobile(m.group(0)), text)


def _mask_any_mobile(raw: str) -> str:
    if raw.startswith("+") and "-" not in raw:
        return "+" + mask_mobile(raw[1:])  # no country-code split known: mask the digits
    return mask_mobile(raw)


def scrub_value(value: object) -> object:
    """`scrub` applied through JSON-like values (dicts, lists, strings)."""
    if isinstance(value, str):
        return scrub(value)
    if isinstance(value, Mapping):
        return {str(k): scrub_value(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [scrub_value(v) for v in value]
    return value


class EventSink(Protocol):
    """What the executor writes step events to (a `Journal`, or `NullJournal` in tests)."""

    def write(self, event: str, **fields: object) -> None: ...


class NullJournal:
    """Discards events: for library callers and tests that do not look at the journal."""

    path: Path | None = None

    def write(self, event: str, **fields: object) -> None:
        return None


class Journal:
    """An open journal file. Use `Journal.open(...)` as a context manager."""

    def __init__(self, path: Path, handle: IO[str], clock: Clock) -> None:
        self.path = path
        self._handle: IO[str] | None = handle
        self._clock = clock

    @classmethod
    def open(cls, state_dir: Path, tenant_id: str, *, clock: Clock) -> Journal:
        """Create ``state_dir/journal/<UTC timestamp>-<tenant>.jsonl`` (never overwriting)."""
        directory = state_dir / "journal"
        try:
            directory.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise TargetError(
                f"cannot create the journal directory {directory}: {error.strerror or error}; "
                "check ORGCTL_HOME"
            ) from None
        stamp = utc_stamp(clock.now()).replace("-", "").replace(":", "")  # 20260101T000000Z
        tenant = tenant_file_name(tenant_id)
        for n in range(1, 1000):
            suffix = "" if n == 1 else f"-{n}"
            path = directory / f"{stamp}-{tenant}{suffix}.jsonl"
            try:
                handle = path.open("x", encoding="utf-8")
            except FileExistsError:
                continue
            return cls(path, handle, clock)
        raise FileExistsError(f"too many journals for {stamp} in {directory}")

    def write(self, event: str, **fields: object) -> None:
        if self._handle is None:
            raise ValueError("journal is closed")
        record: dict[str, object] = {
            "time": utc_stamp(self._clock.now(), "milliseconds"),
            "event": event,
        }
        for name, value in fields.items():
            if value is not None:
                record[name] = scrub_value(value)
        self._handle.write(json.dumps(record, ensure_ascii=False, sort_keys=False) + "\n")
        self._handle.flush()  # a killed apply must still leave every line it got to

    def close(self) -> None:
        handle, self._handle = self._handle, None
        if handle is not None:
            handle.close()

    def __enter__(self) -> Journal:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def read_journal(path: Path) -> list[dict[str, object]]:
    """Every record of a journal file, in order (for tests and post-mortems)."""
    with path.open(encoding="utf-8") as handle:
        return [json.loads(line) for line in handle if line.strip()]
