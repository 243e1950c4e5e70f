"""Upload third-party punches (topapi/attendance/record/upload): check every row, then send.
I/O: the upload calls, through the injected `Caller`; checking rows is pure.

All or nothing at the checking stage: every bad row is reported with its line number and
nothing is sent while any row is bad. Sending is one call per punch (the API has no batch
form), in file order; if a call fails midway the result says exactly which rows were sent,
which one failed (and whether it may have been recorded anyway) and which were not sent —
a file is never silently half-sent.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from typing import Any

from reconciler.attendance.fetch import Caller
from reconciler.attendance.window import RETENTION_DAYS
from reconciler.errors import DingTalkError, OrgctlError, OutcomeUnknownError
from reconciler.model import UserId

UPLOAD_API = "topapi/attendance/record/upload"
REQUIRED_COLUMNS = ("userid", "device_name", "device_id", "check_time")
OPTIONAL_COLUMNS = ("photo_url",)


@dataclass(frozen=True, slots=True)
class Punch:
    line: int  # 1-based line in the file (0 for a punch given on the command line)
    userid: UserId
    device_name: str
    device_id: str
    check_time: dt.datetime  # aware
    photo_url: str | None = None

    @property
    def check_time_ms(self) -> int:
        return round(self.check_time.timestamp() * 1000)

    def body(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "userid": self.userid,
            "device_name": self.device_name,
            "device_id": self.device_id,
            "user_check_time": self.check_time_ms,
        }
        if self.photo_url:
            body["photo_url"] = self.photo_url
        return body


@dataclass(frozen=True, slots=True, order=True)
class RowProblem:
    line: int
    message: str

    def __str__(self) -> str:
        return f"line {self.line}: {self.message}" if self.line else self.message


def parse_check_time(text: str, tz: dt.tzinfo) -> dt.datetime:
    """ISO 8601 date and time, with or without an offset; without one it is the org's local
    time. Raises ValueError."""
    text = text.strip()
    if len(text) <= len("YYYY-MM-DD"):
        raise ValueError(f"{text!r} has no time of day (expected e.g. 2026-01-05T09:00:00)")
    try:
        moment = dt.datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(f"{text!r} is not an ISO 8601 date and time") from None
    return moment.replace(tzinfo=tz) if moment.tzinfo is None else moment


def check_punch(
    line: int,
    fields: dict[str, str],
    *,
    tz: dt.tzinfo,
    now: float,
    known_users: Collection[UserId],
) -> tuple[Punch | None, list[RowProblem]]:
    """One row's punch, or every problem it has."""
    problems: list[RowProblem] = []

    def need(column: str) -> str:
        value = (fields.get(column) or "").strip()
        if not value:
            problems.append(RowProblem(line, f"{column} is empty"))
        return value

    userid = need("userid")
    device_name = need("device_name")
    device_id = need("device_id")
    raw_time = need("check_time")
    photo_url = (fields.get("photo_url") or "").strip() or None
    if userid and userid not in known_users:
        problems.append(RowProblem(line, f"unknown user {userid!r}"))
    if photo_url and not photo_url.startswith(("https://", "http://")):
        # record/upload needs a publicly reachable URL (the record/upload page).
        problems.append(RowProblem(line, f"photo_url {photo_url!r} is not an http(s) URL"))
    moment: dt.datetime | None = None
    if raw_time:
        try:
            moment = parse_check_time(raw_time, tz)
        except ValueError as error:
            problems.append(RowProblem(line, f"check_time {error}"))
    if moment is not None:
        now_dt = dt.datetime.fromtimestamp(now, dt.UTC)
        if moment > now_dt:
            problems.append(RowProblem(line, f"check_time {raw_time} is in the future"))
        elif now_dt - moment > dt.timedelta(days=RETENTION_DAYS):
            problems.append(
                RowProblem(
                    line,
                    f"check_time {raw_time} is older than {RETENTION_DAYS} days "
                    "(DingTalk refuses such punches)",
                )
            )
    if problems or moment is None:
        return None, problems
    return Punch(line, userid, device_name, device_id, moment.astimezone(tz), photo_url), []


def parse_punches(
    text: str,
    *,
    tz: dt.tzinfo,
    now: float,
    known_users: Collection[UserId],
) -> tuple[tuple[Punch, ...], tuple[RowProblem, ...]]:
    """Every punch of a CSV file and every problem in it, by line number.

    Columns: userid, device_name, device_id, check_time, optional photo_url, in any order.
    A leading BOM (Excel's "CSV UTF-8") is ignored.
    """
    text = text.removeprefix("\ufeff")
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = next(reader)
    except StopIteration:
        return (), (RowProblem(1, "the file is empty: expected a header row"),)
    except csv.Error as error:
        return (), (RowProblem(1, f"unreadable CSV: {error}"),)
    columns = [c.strip().lower() for c in header]
    problems: list[RowProblem] = []
    missing = [c for c in REQUIRED_COLUMNS if c not in columns]
    if missing:
        problems.append(RowProblem(1, "missing column " + ", ".join(missing)))
    unknown = [c for c in columns if c not in (*REQUIRED_COLUMNS, *OPTIONAL_COLUMNS)]
    if unknown:
        problems.append(RowProblem(1, "unknown column " + ", ".join(repr(c) for c in unknown)))
    duplicated = sorted({c for c in columns if columns.count(c) > 1})
    if duplicated:
        problems.append(RowProblem(1, "duplicated column " + ", ".join(duplicated)))
    if problems:
        return (), tuple(problems)

    punches: list[Punch] = []
    line = reader.line_num + 1  # where the next record starts (a quoted field may span lines)
    while True:
        try:
            cells = next(reader)
        except StopIteration:
            break
        except csv.Error as error:
            problems.append(RowProblem(line, f"unreadable CSV: {error}"))
            break
        start, line = line, reader.line_num + 1
        if not any(c.strip() for c in cells):
            continue  # blank line
        if len(cells) != len(columns):
            problems.append(RowProblem(start, f"{len(cells)} values for {len(columns)} columns"))
            continue
        punch, row_problems = check_punch(
            start, dict(zip(columns, cells, strict=True)), tz=tz, now=now, known_users=known_users
        )
        problems.extend(row_problems)
        if punch is not None:
            punches.append(punch)
    if not punches and not problems:
        problems.append(RowProblem(1, "no punches in the file"))
    return tuple(punches), tuple(sorted(problems))


@dataclass(frozen=True, slots=True)
class UploadResult:
    sent: tuple[Punch, ...]
    failed: Punch | None = None  # the punch whose call failed
    error: OrgctlError | None = None
    unsent: tuple[Punch, ...] = ()  # never attempted

    @property
    def complete(self) -> bool:
        return self.failed is None

    @property
    def outcome_unknown(self) -> bool:
        """The failed call may have been recorded anyway (timeout after sending)."""
        return isinstance(self.error, OutcomeUnknownError)


async def send_punches(caller: Caller, punches: Sequence[Punch]) -> UploadResult:
    """Send in order, one at a time (writes are serialised), stopping at the first failure."""
    for index, punch in enumerate(punches):
        try:
            response = await caller.call(UPLOAD_API, punch.body(), write=True)
        except DingTalkError as error:
            failure = error
        else:
            if response.get("success") is not False:
                continue
            # errcode 0 with success false: not recorded, and nothing to retry blindly.
            failure = DingTalkError(UPLOAD_API, 0, "success is false")
        return UploadResult(tuple(punches[:index]), punch, failure, tuple(punches[index + 1 :]))
    return UploadResult(tuple(punches))
