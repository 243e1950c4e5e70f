"""A small scriptable DingTalk for unit tests: an httpx.MockTransport handler.

It serves gettoken and the contacts reads from a dict-based tenant, records every request, and
lets a test put scripted answers (errcodes, 5xx, exceptions) in front of any API. The sandbox
(`reconciler.sandbox`) is the full emulation; this fake exists for faults the sandbox cannot
be asked for precisely (an exact sequence of answers on one API, a department out of scope).
"""

from __future__ import annotations

import json
import random
from collections import defaultdict, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs

import httpx

from reconciler.clock import FakeClock
from reconciler.dingtalk import DingTalkClient

APP_KEY = "fake-app-key"
APP_SECRET = "fake-app-secret-5d1e0c"

Script = dict[str, Any] | httpx.Response | Exception | Callable[[httpx.Request], Any]


@dataclass
class FakeDingTalk:
    departments: dict[int, dict[str, Any]] = field(default_factory=dict)
    users: list[dict[str, Any]] = field(default_factory=list)
    requests: list[httpx.Request] = field(default_factory=list)
    scripts: dict[str, deque[Script]] = field(default_factory=lambda: defaultdict(deque))
    out_of_scope: set[int] = field(default_factory=set)
    tokens_issued: int = 0
    valid_tokens: set[str] = field(default_factory=set)
    hide_owning_member_count: bool = False
    expires_in: object = 7200  # what gettoken answers: DingTalk sends an int, samples a string

    # --------------------------------------------------------------- tenant building

    def add_department(
        self,
        dept_id: int,
        name: str,
        parent_id: int = 1,
        *,
        order: int | None = None,
        source_identifier: str | None = None,
        managers: tuple[str, ...] = (),
    ) -> int:
        self.departments[dept_id] = {
            "dept_id": dept_id,
            "name": name,
            "parent_id": parent_id,
            "order": order if order is not None else dept_id,
            "source_identifier": source_identifier,
            "dept_manager_userid_list": list(managers),
        }
        return dept_id

    def add_user(self, userid: str, name: str, mobile: str, dept_ids: list[int], **extra: Any):
        user = {"userid": userid, "name": name, "mobile": mobile, "dept_id_list": dept_ids}
        user.setdefault("state_code", "86")
        user.update(extra)
        self.users.append(user)

    def script(self, api: str, *answers: Script) -> None:
        """Answer the next calls of ``api`` with these, in order, before the tenant does."""
        self.scripts[api].extend(answers)

    def transport(self) -> httpx.MockTransport:
        return httpx.MockTransport(self.handle)

    def calls(self, api: str) -> list[httpx.Request]:
        return [r for r in self.requests if r.url.path.strip("/") == api]

    def bodies(self, api: str) -> list[dict[str, Any]]:
        return [json.loads(r.content) for r in self.calls(api)]

    def expire_tokens(self) -> None:
        self.valid_tokens.clear()

    # --------------------------------------------------------------- serving

    def handle(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        api = request.url.path.strip("/")
        if self.scripts[api]:
            answer = self.scripts[api].popleft()
            if callable(answer) and not isinstance(answer, Exception | httpx.Response):
                answer = answer(request)
            if isinstance(answer, Exception):
                raise answer
            if isinstance(answer, httpx.Response):
                return answer
            if answer is not None:
                return httpx.Response(200, json=answer)
        if api == "gettoken":
            return self._gettoken(request)
        query = parse_qs(request.url.query.decode())
        token = query.get("access_token", [""])[0]
        if token not in self.valid_tokens:
            return httpx.Response(200, json={"errcode": 40014, "errmsg": "不合法的access_token"})
        body = json.loads(request.content or b"{}")
        handler = getattr(self, "_" + api.replace("topapi/v2/", "").replace("/", "_"), None)
        if handler is None:
            return httpx.Response(200, json={"errcode": 22, "errmsg": "Invalid method"})
        result = handler(body)
        return httpx.Response(200, json=result)

    def _gettoken(self, request: httpx.Request) -> httpx.Response:
        query = parse_qs(request.url.query.decode())
        if query.get("appkey") != [APP_KEY] or query.get("appsecret") != [APP_SECRET]:
            return httpx.Response(200, json={"errcode": 40089, "errmsg": "不合法的appKey"})
        self.tokens_issued += 1
        token = f"fake-token-{self.tokens_issued:04d}-a8f3"
        self.valid_tokens.add(token)
        return httpx.Response(
            200,
            json={
                "errcode": 0,
                "access_token": token,
                "errmsg": "ok",
                "expires_in": self.expires_in,
            },
        )

    def _ok(self, result: Any) -> dict[str, Any]:
        return {"errcode": 0, "errmsg": "ok", "result": result, "request_id": "fake"}

    def _department_listsubid(self, body: dict[str, Any]) -> dict[str, Any]:
        dept_id = body["dept_id"]
        if dept_id != 1 and dept_id not in self.departments:
            return {"errcode": 60003, "errmsg": "部门不存在"}
        children = sorted(d for d, v in self.departments.items() if v["parent_id"] == dept_id)
        return self._ok({"dept_id_list": children})

    def _members(self, dept_id: int) -> list[dict[str, Any]]:
        return [u for u in self.users if dept_id in u["dept_id_list"]]

    def _department_get(self, body: dict[str, Any]) -> dict[str, Any]:
        dept_id = body["dept_id"]
        if dept_id in self.out_of_scope:
            return {"errcode": 50004, "errmsg": "部门不在授权范围内"}
        dept = self.departments.get(dept_id)
        if dept is None:
            return {"errcode": 60003, "errmsg": "部门不存在"}
        result = {k: v for k, v in dept.items() if v is not None}
        if not self.hide_owning_member_count:
            result["owning_member_count"] = len(self._members(dept_id))
        return self._ok(result)

    def _user_list(self, body: dict[str, Any]) -> dict[str, Any]:
        dept_id, cursor, size = body["dept_id"], body["cursor"], body["size"]
        if dept_id in self.out_of_scope:
            return {"errcode": 50004, "errmsg": "部门不在授权范围内"}
        members = self._members(dept_id)
        # user/list never returns manager_userid (the user/list page); only user/get does.
        page = [
            {k: v for k, v in u.items() if k != "manager_userid"}
            for u in members[cursor : cursor + size]
        ]
        has_more = cursor + size < len(members)
        result: dict[str, Any] = {"has_more": has_more, "list": page}
        if has_more:
            result["next_cursor"] = cursor + size
        return self._ok(result)

    def _user_get(self, body: dict[str, Any]) -> dict[str, Any]:
        for user in self.users:
            if user["userid"] == body["userid"]:
                return self._ok(user)
        return {"errcode": 60121, "errmsg": "找不到该用户"}

    def _department_create(self, body: dict[str, Any]) -> dict[str, Any]:
        dept_id = max([1, *self.departments]) + 1
        self.add_department(dept_id, body["name"], body["parent_id"])
        return self._ok({"dept_id": dept_id})

    def _user_create(self, body: dict[str, Any]) -> dict[str, Any]:
        return self._ok({"userid": body.get("userid", "generated"), "unionId": "u"})

    def _user_update(self, body: dict[str, Any]) -> dict[str, Any]:
        return {"errcode": 0, "request_id": "fake"}

    def _department_update(self, body: dict[str, Any]) -> dict[str, Any]:
        return {"errcode": 0, "errmsg": "ok", "request_id": "fake"}


def make_client(fake: FakeDingTalk, clock: FakeClock, **options: object) -> DingTalkClient:
    """A client on ``fake``'s transport and the fake clock; ``options`` override any argument."""
    kwargs: dict[str, object] = {
        "app_key": APP_KEY,
        "app_secret": APP_SECRET,
        "base_url": "https://oapi.example.invalid",
        "transport": fake.transport(),
        "clock": clock,
        "rng": random.Random(7),
    }
    kwargs.update(options)
    return DingTalkClient(**kwargs)  # type: ignore[arg-type]
