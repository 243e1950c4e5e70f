"""Work notices (工作通知) on the sandbox tenant: ``topapi/message/corpconversation/asyncsend_v2``
and ``…/getsendresult``, with the request checks and delivery rules of `rules`.
I/O: the notices and who got them live in the tenant's SQLite database.

DingTalk accepts a notice and delivers it later; a recipient who does not get it shows only in
``getsendresult``: unknown userids as *invalid*, people over a per-day or per-minute limit as
*forbidden* (with the limit's code in ``forbidden_list``). The sandbox decides each recipient's
fate when the notice is accepted, so ``getsendresult`` answers at once. Days are China days
(the tenant's clock in UTC+8), as DingTalk counts them; results are kept for 24 hours.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from reconciler.sandbox import rules
from reconciler.sandbox.contacts import _bool, _int, _int_list, _str_list
from reconciler.sandbox.errors import ApiError
from reconciler.sandbox.tenant import Tenant, register_schema

SEND = "topapi/message/corpconversation/asyncsend_v2"
RESULT = "topapi/message/corpconversation/getsendresult"
AGENT_ID = 987654321
"""The sandbox app's AgentID (开发者后台 → 应用详情 on a real tenant): ``notify.agent_id``."""
TASK_ID_BASE = 256_271_667_000  # task ids look like DingTalk's (the getsendresult page's sample)
RESULT_TTL = 24 * 3600  # "only tasks created within the last 24 hours can be queried"
MAX_NOTICE_DEPTS = 20  # dept_id_list: 最大列表长度20
CHINA = dt.timezone(dt.timedelta(hours=8))
DELIVERED = ("unread", "read")
FORBIDDEN_THRESHOLD = {
    rules.NOTICE_SAME_CONTENT: 1,
    rules.NOTICE_DAILY_PER_USER: rules.MAX_NOTICES_PER_USER_DAY,
    rules.NOTICE_MINUTE_RECIPIENTS: rules.MAX_NOTICE_RECIPIENTS_PER_MINUTE,
}

register_schema(
    """
CREATE TABLE IF NOT EXISTS notices (
    task_id INTEGER PRIMARY KEY,
    agent_id INTEGER NOT NULL,
    msgtype TEXT NOT NULL,
    msg TEXT NOT NULL,                      -- compact JSON, as sent
    digest TEXT NOT NULL,                   -- what "the same content" compares
    at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS notice_recipients (
    task_id INTEGER NOT NULL,
    userid TEXT NOT NULL,
    status TEXT NOT NULL,                   -- unread | read | invalid | forbidden | failed
    code INTEGER,                           -- the forbidden_list code
    day TEXT NOT NULL,                      -- China date of the send
    at REAL NOT NULL,
    PRIMARY KEY (task_id, userid)
);
CREATE INDEX IF NOT EXISTS notice_recipients_user ON notice_recipients (userid, day);
"""
)


@dataclass(frozen=True, slots=True)
class Notice:
    """One accepted notice as the tenant keeps it (for `orgctl sandbox messages` and tests)."""

    task_id: int
    agent_id: int
    msgtype: str
    msg: dict[str, Any]
    at: float
    recipients: tuple[tuple[str, str, int | None], ...]
    """(userid, status, forbidden code) in the order sent."""

    def text(self) -> str:
        """The readable part: text.content, markdown's title and text, or the JSON."""
        content = self.msg.get(self.msgtype)
        if self.msgtype == "text" and isinstance(content, dict):
            return str(content.get("content", ""))
        if self.msgtype == "markdown" and isinstance(content, dict):
            return f"{content.get('title', '')}\n{content.get('text', '')}"
        return json.dumps(self.msg, ensure_ascii=False)


def _compact(value: Any, *, sort: bool = False) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), sort_keys=sort)


def _msg(body: dict[str, Any]) -> Any:
    value = body.get("msg")
    if value is None:
        raise ApiError(40035, "缺少参数 msg")
    if isinstance(value, str):  # a form body, or an SDK's setMsgString
        try:
            return json.loads(value)
        except ValueError:
            raise ApiError(40035, "不合法的参数 msg") from None
    return value


def _day(epoch: float) -> str:
    return dt.datetime.fromtimestamp(epoch, CHINA).date().isoformat()


def _recipients(tenant: Tenant, body: dict[str, Any]) -> list[str]:
    userids = list(dict.fromkeys(_str_list(body, "userid_list") or []))
    dept_ids = _int_list(body, "dept_id_list") or []
    to_all = bool(_bool(body, "to_all_user"))
    rules.check_notice_recipients(userids, dept_ids, to_all, tenant.profile.max_notice_recipients)
    if len(dept_ids) > MAX_NOTICE_DEPTS:
        raise ApiError(40035, f"不合法的参数 dept_id_list：最多{MAX_NOTICE_DEPTS}个")
    if to_all:
        return [str(u["userid"]) for u in tenant.users()]
    for dept_id in dept_ids:  # a department means everyone in it and below it
        if tenant.dept_exists(dept_id):
            for sub in tenant.subtree_ids(dept_id):
                userids.extend(tenant.members(sub))
    return list(dict.fromkeys(userids))


def asyncsend_v2(tenant: Tenant, body: dict[str, Any]) -> dict[str, Any]:
    """Accept a notice; decide now which recipients DingTalk will deliver it to."""
    rules.check_notice_agent(_int(body, "agent_id"), AGENT_ID)
    userids = _recipients(tenant, body)
    msg = _msg(body)
    text = _compact(msg)
    msgtype = rules.check_notice_msg(msg, len(text.encode("utf-8")))
    digest = hashlib.sha256(_compact(msg, sort=True).encode("utf-8")).hexdigest()
    now = tenant.clock.now()
    day = _day(now)
    with tenant.transaction() as db:
        task_id = TASK_ID_BASE + tenant.next_value("notice_task")
        db.execute(
            "INSERT INTO notices (task_id, agent_id, msgtype, msg, digest, at) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            (task_id, AGENT_ID, msgtype, text, digest, now),
        )
        delivered = "status IN ('unread', 'read')"
        for userid in userids:
            code: int | None = None
            if not tenant.user_exists(userid):
                status = "invalid"
            else:
                same = db.execute(
                    "SELECT 1 FROM notice_recipients r JOIN notices n USING (task_id) "
                    f"WHERE r.userid = ? AND r.day = ? AND n.digest = ? AND r.{delivered}",
                    (userid, day, digest),
                ).fetchone()
                (sent_today,) = db.execute(
                    f"SELECT COUNT(*) FROM notice_recipients WHERE userid = ? AND day = ? "
                    f"AND {delivered}",
                    (userid, day),
                ).fetchone()
                (last_minute,) = db.execute(
                    f"SELECT COUNT(*) FROM notice_recipients WHERE at > ? AND {delivered}",
                    (now - 60.0,),
                ).fetchone()
                code = rules.notice_forbidden(
                    same_content_today=same is not None,
                    sent_today=int(sent_today),
                    recipients_last_minute=int(last_minute),
                )
                status = "unread" if code is None else "forbidden"
            db.execute(
                "INSERT INTO notice_recipients (task_id, userid, status, code, day, at) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                (task_id, userid, status, code, day, now),
            )
    return {"errcode": 0, "errmsg": "ok", "task_id": task_id}


def getsendresult(tenant: Tenant, body: dict[str, Any]) -> dict[str, Any]:
    """Who got a notice and who did not (the page's ``send_result`` shape)."""
    rules.check_notice_agent(_int(body, "agent_id"), AGENT_ID)
    task_id = _int(body, "task_id")
    if task_id is None:
        raise ApiError(40035, "缺少参数 task_id")
    row = tenant.db.execute(
        "SELECT at FROM notices WHERE task_id = ? AND agent_id = ?", (task_id, AGENT_ID)
    ).fetchone()
    if row is None or row["at"] <= tenant.clock.now() - RESULT_TTL:
        raise ApiError(40035, "不合法的参数 task_id：任务不存在或已超过24小时")
    lists: dict[str, list[str]] = {s: [] for s in ("invalid", "forbidden", "failed", "read")}
    lists["unread"] = []
    forbidden: list[dict[str, Any]] = []
    for r in tenant.db.execute(
        "SELECT userid, status, code FROM notice_recipients WHERE task_id = ? ORDER BY rowid",
        (task_id,),
    ):
        lists[r["status"]].append(r["userid"])
        if r["status"] == "forbidden":
            code = int(r["code"])
            forbidden.append(
                {"code": str(code), "count": FORBIDDEN_THRESHOLD[code], "userid": r["userid"]}
            )
    result = {f"{status}_user_id_list": userids for status, userids in lists.items()}
    result["invalid_dept_id_list"] = []
    return {
        "errcode": 0,
        "errmsg": "ok",
        "send_result": {**result, "forbidden_list": forbidden},
    }


def notices(tenant: Tenant) -> list[Notice]:
    """Every notice the tenant accepted, oldest first."""
    with tenant.lock:
        rows = tenant.db.execute("SELECT * FROM notices ORDER BY task_id").fetchall()
        found: list[Notice] = []
        for row in rows:
            recipients = tuple(
                (str(r["userid"]), str(r["status"]), r["code"])
                for r in tenant.db.execute(
                    "SELECT userid, status, code FROM notice_recipients WHERE task_id = ? "
                    "ORDER BY rowid",
                    (row["task_id"],),
                )
            )
            found.append(
                Notice(
                    int(row["task_id"]),
                    int(row["agent_id"]),
                    str(row["msgtype"]),
                    json.loads(row["msg"]),
                    float(row["at"]),
                    recipients,
                )
            )
        return found


ROUTES: dict[str, Callable[[Tenant, dict[str, Any]], dict[str, Any]]] = {
    SEND: asyncsend_v2,
    RESULT: getsendresult,
}
