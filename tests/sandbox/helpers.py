"""A tiny synchronous DingTalk caller for sandbox tests (the real client is async)."""

from __future__ import annotations

import json
from typing import Any

import httpx

from reconciler.sandbox import APP_KEY, APP_SECRET, Sandbox


def dept(sb: Sandbox, dept_id: int) -> dict[str, Any]:
    """The department as department/get returns it; it must exist."""
    found = sb.tenant.get_department(dept_id)
    assert found is not None, f"no department {dept_id}"
    return found


def user(sb: Sandbox, userid: str) -> dict[str, Any]:
    """The user as user/get returns them; they must exist."""
    found = sb.tenant.get_user(userid)
    assert found is not None, f"no user {userid}"
    return found


class Api:
    """Fetches a token once and posts JSON bodies with it, returning the parsed answer."""

    def __init__(self, client: httpx.Client) -> None:
        self.client = client
        self._token: str | None = None

    def gettoken(self, appkey: str = APP_KEY, appsecret: str = APP_SECRET) -> dict[str, Any]:
        answer = self.client.get("/gettoken", params={"appkey": appkey, "appsecret": appsecret})
        assert answer.status_code == 200
        data: dict[str, Any] = answer.json()
        return data

    def token(self) -> str:
        if self._token is None:
            answer = self.gettoken()
            assert answer["errcode"] == 0, answer
            self._token = str(answer["access_token"])
        return self._token

    def post(
        self, api: str, body: dict[str, Any] | None = None, *, token: str | None = None
    ) -> httpx.Response:
        params = {} if token == "" else {"access_token": token or self.token()}
        content = json.dumps(body or {}, ensure_ascii=False).encode()
        return self.client.post(
            "/" + api, params=params, content=content, headers={"content-type": "application/json"}
        )

    def call(
        self, api: str, body: dict[str, Any] | None = None, *, token: str | None = None
    ) -> dict[str, Any]:
        """POST and return the JSON answer; `token=""` sends no access_token at all."""
        answer = self.post(api, body, token=token)
        assert answer.status_code == 200, answer.text
        data: dict[str, Any] = answer.json()
        return data

    def ok(self, api: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
        """Call and insist on errcode 0."""
        data = self.call(api, body)
        assert data["errcode"] == 0, data
        return data
