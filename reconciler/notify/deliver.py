"""Send the notices `compose` built, and find out who did not get them.
I/O: DingTalk, through the client (its per-API limiter and the 5,000-recipients-a-minute
budget apply); never prints.

A notice is a courtesy: nothing here raises. A call that fails is reported with its errcode
and hint; a recipient DingTalk accepted but will not deliver to (an unknown userid, a daily or
per-minute limit) is reported from ``getsendresult``. The apply's outcome never depends on it.

DingTalk delivers asynchronously: a result read right after the send may not list everyone
yet (the sandbox decides at once). What it does list is reported; the rest is not guessed.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from reconciler.dingtalk import DingTalkClient
from reconciler.errors import OrgctlError
from reconciler.model import UserId
from reconciler.notify.compose import Batch

log = logging.getLogger("reconciler.notify")

FORBIDDEN_REASONS = {
    "143106": "already got this notice today (DingTalk delivers the same content once a day)",
    "143206": "already got this notice today (DingTalk delivers the same content once a day)",
    "143105": "over DingTalk's 500 notices a person a day",
    "143205": "over DingTalk's notices a person a day",
    "143103": "over DingTalk's 5,000 notice recipients a minute",
    "143104": "over DingTalk's notice recipients a minute for the org",
}
SAME_CONTENT_CODES = frozenset({"143106", "143206"})


@dataclass(frozen=True, slots=True)
class Undelivered:
    userid: UserId
    reason: str
    repeat: bool = False
    """The same notice reached them earlier today: not a failure, nothing is lost."""


@dataclass(frozen=True, slots=True)
class BatchOutcome:
    """One call: sent (``task_id``) or failed (``error``, with errcode and hint)."""

    recipients: tuple[UserId, ...]
    task_id: int | None = None
    errcode: int | None = None
    error: str = ""
    hint: str = ""
    undelivered: tuple[Undelivered, ...] = ()

    @property
    def sent(self) -> bool:
        return self.task_id is not None


@dataclass(frozen=True, slots=True)
class NoticeReport:
    outcomes: tuple[BatchOutcome, ...] = ()
    lookup_errors: tuple[str, ...] = ()
    """Managers that could not be read before the apply (those people's managers were not told)."""

    @property
    def sent(self) -> tuple[BatchOutcome, ...]:
        return tuple(o for o in self.outcomes if o.sent)

    @property
    def failed(self) -> tuple[BatchOutcome, ...]:
        return tuple(o for o in self.outcomes if not o.sent)

    @property
    def reached(self) -> int:
        """Recipients of sent notices, minus those DingTalk said it would not deliver to."""
        return sum(len(o.recipients) - sum(not u.repeat for u in o.undelivered) for o in self.sent)

    @property
    def undelivered(self) -> tuple[Undelivered, ...]:
        return tuple(u for o in self.sent for u in o.undelivered if not u.repeat)

    @property
    def ok(self) -> bool:
        return not self.failed and not self.undelivered and not self.lookup_errors


async def lookup_managers(
    client: DingTalkClient, userids: Iterable[UserId]
) -> tuple[dict[UserId, UserId | None], tuple[str, ...]]:
    """``manager_userid`` of each person (user/get, concurrently: the client paces them), and
    what could not be read."""
    managers: dict[UserId, UserId | None] = {}
    errors: list[str] = []

    async def read(userid: UserId) -> None:
        try:
            raw = await client.get_user(userid)
        except OrgctlError as error:
            errors.append(f"{userid}: {error}")
            return
        manager = (raw or {}).get("manager_userid")
        managers[userid] = str(manager) if manager else None

    await asyncio.gather(*(read(userid) for userid in userids))
    return managers, tuple(sorted(errors))


async def deliver(
    client: DingTalkClient,
    agent_id: int,
    batches: Sequence[Batch],
    *,
    on_outcome: Callable[[BatchOutcome], None] | None = None,
) -> tuple[BatchOutcome, ...]:
    """Send every batch; each outcome also goes to ``on_outcome`` (the journal) as it comes."""
    outcomes = []
    for batch in batches:
        outcome = await _send(client, agent_id, batch)
        outcomes.append(outcome)
        if on_outcome is not None:
            on_outcome(outcome)
    return tuple(outcomes)


async def _send(client: DingTalkClient, agent_id: int, batch: Batch) -> BatchOutcome:
    try:
        task_id = await client.send_work_notice(agent_id, batch.recipients, batch.msg)
    except OrgctlError as error:
        errcode = getattr(error, "errcode", None)
        hint = getattr(error, "hint", "")
        log.info("work notice to %d people failed: %s", len(batch.recipients), error)
        return BatchOutcome(batch.recipients, errcode=errcode, error=str(error), hint=hint)
    try:
        result = await client.notice_result(agent_id, task_id)
    except OrgctlError as error:
        # Sent; who got it is unknown. Not a failure of the notice.
        log.info("getsendresult for task %d: %s", task_id, error)
        return BatchOutcome(batch.recipients, task_id=task_id)
    return BatchOutcome(batch.recipients, task_id=task_id, undelivered=_undelivered(result))


def _undelivered(result: dict[str, object]) -> tuple[Undelivered, ...]:
    found: dict[UserId, Undelivered] = {}
    for userid in _strings(result.get("invalid_user_id_list")):
        found[userid] = Undelivered(userid, "not a member DingTalk knows (invalid userid)")
    for userid in _strings(result.get("failed_user_id_list")):
        found[userid] = Undelivered(userid, "DingTalk failed to deliver it")
    codes: dict[str, str] = {}
    forbidden_list = result.get("forbidden_list")
    if isinstance(forbidden_list, list):
        for item in forbidden_list:
            if isinstance(item, dict) and item.get("userid") is not None:
                codes[str(item["userid"])] = str(item.get("code", ""))
    for userid in _strings(result.get("forbidden_user_id_list")):
        code = codes.get(userid, "")
        reason = FORBIDDEN_REASONS.get(code, f"held back by DingTalk's limits ({code or '?'})")
        found[userid] = Undelivered(userid, reason, repeat=code in SAME_CONTENT_CODES)
    return tuple(found[u] for u in sorted(found))


def _strings(value: object) -> list[str]:
    if isinstance(value, str):  # type-erased samples: "a,b"
        return [v for v in value.split(",") if v]
    if isinstance(value, list):
        return [str(v) for v in value]
    return []


__all__ = [
    "BatchOutcome",
    "NoticeReport",
    "Undelivered",
    "deliver",
    "lookup_managers",
]
