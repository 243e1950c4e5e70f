"""The only code that speaks HTTP to DingTalk: token cache, per-API limiter, retries, errcodes.

Every call goes ``POST {base_url}/{api}?access_token=…`` with a JSON body (the topapi convention,
§1.4) and answers with HTTP 200 even on errors, so success is ``errcode == 0`` in the body.

Retries (DingTalk's throttling guide: back off, retry after about a second):

* reads retry any `RetryableError` (throttles, -1, 5xx, transport) with jittered exponential
  backoff from 1 s, sleeping on the injected clock, up to ``max_tries`` attempts;
* writes retry only when DingTalk provably did not execute them (throttle errcodes, -1, a
  connection that never got established, a token refresh). A timeout, a dropped connection
  or a 5xx after the request left raises `OutcomeUnknownError`: the caller reads before it
  tries again, so no write ever runs twice blindly;
* token errors (40014 42001 40001 33001 41001, and 88 wrapping 40014/42001) refresh the token
  and retry once, without backoff;
* a per-second QPS throttle (90018, 90002) puts that one call back at the head of its API's
  queue for the next free slot, and the API's limiter slows down adaptively
  (`reconciler.dingtalk.ratelimit`); the rest of the API keeps going. Only after
  ``MAX_REQUEUES`` throttles in a row does the call back off like other retryable errors;
* the IP ban body ``{"status":1111,"wait":N}`` pauses every API of this client for N minutes;
* 90020 (monthly quota spent) is terminal.
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Self

import httpx
from tenacity import AsyncRetrying, RetryCallState, retry_if_exception_type, stop_after_attempt

from reconciler.clock import SYSTEM_CLOCK, Clock
from reconciler.dingtalk import errcodes
from reconciler.dingtalk.ratelimit import CountWindow, RateLimiters
from reconciler.dingtalk.redact import install_log_redaction, redact, register_secret
from reconciler.errors import (
    BusyError,
    OutcomeUnknownError,
    RetryableError,
    TerminalError,
    ThrottledError,
    TokenError,
    TransportError,
)

DEFAULT_BASE_URL = "https://oapi.dingtalk.com"
TOKEN_API = "gettoken"

BACKOFF_INITIAL = 1.0
"""First retry after about a second: DingTalk's QPS window is one second."""
BACKOFF_MAX = 30.0
"""No single backoff sleep is longer than this (the IP ban's wait is separate)."""
BACKOFF_JITTER = 0.5
"""A sleep is ``base × (1 + U[0, 0.5))``: concurrent retries spread out instead of colliding."""
MAX_REQUEUES = 20
"""A call throttled this many times in a row backs off instead (the limiter halves its rate
within a few requeues, so only a budget spent almost entirely elsewhere gets here)."""
DEFAULT_MAX_IN_FLIGHT = 48
"""Calls in flight at once over all APIs: 20 QPS × 3 streams × up to 800 ms of latency."""
NOTICE_API = "topapi/message/corpconversation/asyncsend_v2"
NOTICE_RESULT_API = "topapi/message/corpconversation/getsendresult"
MAX_NOTICE_RECIPIENTS = 100
"""userid_list per work notice: the TOP SDK and the older page say 100 (the current page
5,000 for an internal app); 100 works under both."""
NOTICE_RECIPIENTS_PER_MINUTE = 5000
"""Recipients of work notices per app in any minute; above it DingTalk answers errcode 0 and
silently drops the rest (143103 in getsendresult)."""
TOKEN_REFRESH_MARGIN = 600.0
"""Fetch a new token this long before the old one expires (the calling guide says ~10 min)."""

log = logging.getLogger("reconciler.dingtalk")

_NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout, httpx.UnsupportedProtocol)
"""Transport failures that happen before any byte of the request reached the server."""

_DEPARTMENT_FIELDS = frozenset({"name", "parent_id", "order", "source_identifier", "managers"})
_USER_FIELDS = frozenset(
    {
        "userid",
        "name",
        "mobile",
        "dept_id_list",
        "title",
        "email",
        "job_number",
        "telephone",
        "work_place",
        "remark",
        "manager_userid",
        "extension",
        "hide_mobile",
        "hired_date",
        "org_email",
    }
)


@dataclass(slots=True)
class _CallState:
    refreshed: bool = False


class DingTalkClient:
    """An async client for the old (oapi) DingTalk server API. Use ``async with``."""

    def __init__(
        self,
        *,
        app_key: str,
        app_secret: str,
        base_url: str = DEFAULT_BASE_URL,
        transport: httpx.AsyncBaseTransport | None = None,
        clock: Clock = SYSTEM_CLOCK,
        qps: float = 20.0,
        max_tries: int = 6,
        timeout: float = 10.0,
        max_in_flight: int = DEFAULT_MAX_IN_FLIGHT,
        rng: random.Random | None = None,
        max_requeues: int = MAX_REQUEUES,
        hold_after_throttle: bool = True,
    ) -> None:
        """``max_requeues``: how often a call DingTalk throttled (90018, not run) is sent again
        before its ThrottledError is raised. ``hold_after_throttle``: whether a throttled answer
        that names a wait (an IP ban) holds every later call back until it has passed; False
        for a probe that counts throttled answers (doctor's burst) instead of waiting them out.
        """
        if max_tries < 1:
            raise ValueError("max_tries must be at least 1")
        if max_in_flight < 1:
            raise ValueError("max_in_flight must be at least 1")
        install_log_redaction()
        register_secret(app_secret)
        self.app_key = app_key
        self._app_secret = app_secret
        self.base_url = base_url.rstrip("/")
        self.clock = clock
        self.max_tries = max_tries
        self.max_requeues = max_requeues
        self.hold_after_throttle = hold_after_throttle
        self.max_in_flight = max_in_flight
        self.calls_made: Counter[str] = Counter()
        self._rng = rng if rng is not None else random.Random()
        self._limiters = RateLimiters(qps, clock)
        self._notice_recipients = CountWindow(NOTICE_RECIPIENTS_PER_MINUTE, 60.0, clock)
        self._in_flight = asyncio.Semaphore(max_in_flight)
        self._http = httpx.AsyncClient(
            base_url=self.base_url,
            transport=transport,
            timeout=httpx.Timeout(timeout),
            headers={"Accept": "application/json"},
            limits=httpx.Limits(
                max_connections=max_in_flight, max_keepalive_connections=max_in_flight
            ),
        )
        self._token: str | None = None
        self._token_expires_at = 0.0  # wall clock (clock.now())
        self._token_lock = asyncio.Lock()
        self._banned_until = 0.0  # monotonic: the IP ban pauses every API

    def __repr__(self) -> str:
        return f"DingTalkClient(base_url={self.base_url!r}, app_key={self.app_key!r})"

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._http.aclose()

    @property
    def qps(self) -> float:
        """Calls per second per API this client allows itself at most."""
        return self._limiters.qps

    def set_qps(self, qps: float) -> None:
        """Take ``rate_limit.qps`` from the policy, which is read after the client is made."""
        if qps != self._limiters.qps:
            log.info("rate limit: %g calls per second per API (orgctl.yaml)", qps)
        self._limiters.set_qps(qps)

    @property
    def throttles(self) -> int:
        """QPS throttles (90018, 90002) this client was answered, over all APIs."""
        return self._limiters.throttles

    # ------------------------------------------------------------------ the one entry point

    async def call(
        self, api: str, body: Mapping[str, Any], *, write: bool = False
    ) -> dict[str, Any]:
        """POST ``body`` to ``api`` (e.g. ``topapi/v2/user/list``); the parsed body on errcode 0.

        Raises the `DingTalkError` subclass the errcode maps to once retries are spent.
        """
        api = api.strip("/")
        state = _CallState()
        retrying = AsyncRetrying(
            stop=stop_after_attempt(self.max_tries),
            wait=self._backoff,
            retry=retry_if_exception_type(RetryableError),
            sleep=self.clock.sleep,
            before_sleep=self._log_retry,
            reraise=True,
        )
        result: dict[str, Any] = await retrying(self._attempt, api, body, write, state)
        return result

    async def _attempt(
        self, api: str, body: Mapping[str, Any], write: bool, state: _CallState
    ) -> dict[str, Any]:
        token = await self._access_token()
        try:
            return await self._send(api, body, write, token)
        except TokenError:
            if state.refreshed:
                raise
            # The token expired or was revoked: DingTalk did not execute the call, so even a
            # write is safe to send again, once, with a fresh token.
            state.refreshed = True
            self._forget_token(token)
            log.info("%s: access token rejected; fetched a new one", api)
            return await self._send(api, body, write, await self._access_token())

    async def _send(
        self, api: str, body: Mapping[str, Any], write: bool, token: str
    ) -> dict[str, Any]:
        return await self._request(
            api, write, "POST", f"/{api}", params={"access_token": token}, json=dict(body)
        )

    async def _request(
        self,
        api: str,
        write: bool,
        method: str,
        path: str,
        *,
        params: dict[str, str],
        json: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        limiter = self._limiters[api]
        requeues = 0
        while True:
            await self._wait_out_ip_ban()
            await limiter.acquire(first=requeues > 0)
            async with self._in_flight:
                self.calls_made[api] += 1
                try:
                    response = await self._http.request(method, path, params=params, json=json)
                except _NOT_SENT as exc:
                    raise TransportError(api, None, _describe(exc, "not sent")) from None
                except httpx.TransportError as exc:
                    # The request left (or may have): a read may simply be sent again, a write
                    # may have been executed already.
                    what = _describe(exc, "no complete response")
                    if write:
                        raise OutcomeUnknownError(api, None, what) from None
                    raise TransportError(api, None, what) from None
            try:
                return self._parse(api, write, response)
            except ThrottledError as error:
                if error.errcode not in errcodes.QPS_THROTTLE_ERRCODES:
                    raise
                # DingTalk did not run the call (so even a write is safe to resend), and its
                # window is one second: the next free slot will do, without holding back the
                # whole API as a backoff would.
                limiter.throttled()
                requeues += 1
                if requeues >= self.max_requeues:
                    raise

    def _parse(self, api: str, write: bool, response: httpx.Response) -> dict[str, Any]:
        try:
            data: object = response.json()
        except ValueError:
            data = None
        status = response.status_code
        if isinstance(data, dict) and ("errcode" in data or errcodes.is_ip_ban(data)):
            error = errcodes.classify(api, data)
            if error is None:
                return data
            if isinstance(error, ThrottledError):
                self._after_throttle(api, error)
            raise error
        if status >= 500:
            what = f"HTTP {status} {response.reason_phrase}"
            if write:
                raise OutcomeUnknownError(api, None, what)
            raise BusyError(api, None, what)
        if status == 429 or (data is None and status in (200, 403)):
            # A gateway refused the call before DingTalk ran it: a 429, or the IP ban's HTML
            # page — never a JSON body, which every DingTalk answer is.
            error = ThrottledError(api, None, f"HTTP {status}: not a JSON answer")
            self._after_throttle(api, error)
            raise error
        snippet = redact(response.text[:200])
        what = f"HTTP {status}: unexpected answer {snippet!r}"
        raise TerminalError(api, None, what)

    def _after_throttle(self, api: str, error: ThrottledError) -> None:
        if error.wait > 0 and self.hold_after_throttle:
            self._banned_until = max(self._banned_until, self.clock.monotonic() + error.wait)

    async def _wait_out_ip_ban(self) -> None:
        wait = self._banned_until - self.clock.monotonic()
        if wait > 0:
            log.warning("waiting %.0f s for DingTalk's IP ban to lift", wait)
            await self.clock.sleep(wait)

    def _backoff(self, retry_state: RetryCallState) -> float:
        """1 s, 2 s, 4 s … (× a jitter in [1, 1.5)), never above BACKOFF_MAX."""
        exponent = retry_state.attempt_number - 1
        base = BACKOFF_INITIAL * 2.0 ** min(exponent, 30)
        return min(BACKOFF_MAX, base * (1.0 + BACKOFF_JITTER * self._rng.random()))

    def _log_retry(self, retry_state: RetryCallState) -> None:
        outcome = retry_state.outcome
        error = outcome.exception() if outcome is not None else None
        delay = retry_state.upcoming_sleep
        # INFO, not WARNING: a retried call is routine at DingTalk's limits, and logging's
        # last-resort handler would print warnings to stderr behind the CLI's back.
        log.info(
            "%s (attempt %d of %d); retrying in %.1f s",
            error,
            retry_state.attempt_number,
            self.max_tries,
            delay,
        )

    # ------------------------------------------------------------------ token

    async def _access_token(self) -> str:
        if self._token is not None and self.clock.now() < self._token_expires_at:
            return self._token
        async with self._token_lock:
            # Another task may have fetched it while this one waited for the lock.
            if self._token is not None and self.clock.now() < self._token_expires_at:
                return self._token
            token, expires_in = await self._fetch_token()
            register_secret(token)
            self._token = token
            lifetime = max(expires_in - TOKEN_REFRESH_MARGIN, expires_in / 2)
            self._token_expires_at = self.clock.now() + lifetime
            return token

    def _forget_token(self, token: str) -> None:
        # Many concurrent calls fail with the same stale token: only the first clears it, so
        # the rest reuse the fresh one instead of each fetching another.
        if self._token == token:
            self._token = None

    async def _fetch_token(self) -> tuple[str, float]:
        try:
            data = await self._request(
                TOKEN_API,
                False,
                "GET",
                f"/{TOKEN_API}",
                params={"appkey": self.app_key, "appsecret": self._app_secret},
            )
        except TokenError as error:
            # 40001 from gettoken means bad credentials, not a stale token: do not loop.
            raise TerminalError(
                TOKEN_API, error.errcode, error.errmsg, errcodes.HINTS[40001]
            ) from None
        token = data.get("access_token")
        if not isinstance(token, str) or not token:
            raise TerminalError(TOKEN_API, None, "no access_token in the answer")
        raw = data.get("expires_in")
        expires_in = raw if isinstance(raw, float) else errcodes.parse_int(raw)
        return token, float(expires_in if expires_in is not None else 7200)

    # ------------------------------------------------------------------ reads

    async def list_sub_department_ids(self, dept_id: int) -> list[int]:
        """Direct children of ``dept_id`` (1 = root); not limited by the contact scope."""
        data = await self.call("topapi/v2/department/listsubid", {"dept_id": dept_id})
        ids = _result(data, "topapi/v2/department/listsubid").get("dept_id_list") or []
        return [int(i) for i in ids]

    async def get_department(self, dept_id: int) -> dict[str, Any]:
        """The raw ``result`` of ``department/get``: name, parent_id, order,
        source_identifier, dept_manager_userid_list, owning_member_count, …"""
        data = await self.call(
            "topapi/v2/department/get", {"dept_id": dept_id, "language": "zh_CN"}
        )
        return _result(data, "topapi/v2/department/get")

    async def list_users_page(
        self, dept_id: int, cursor: int = 0, size: int = 100
    ) -> tuple[list[dict[str, Any]], int | None]:
        """One page of a department's *direct* members, and the next cursor (None: last page)."""
        api = "topapi/v2/user/list"
        data = await self.call(api, {"dept_id": dept_id, "cursor": cursor, "size": size})
        result = _result(data, api)
        users = [u for u in result.get("list") or [] if isinstance(u, dict)]
        if not _truthy(result.get("has_more")):
            return users, None
        next_cursor = errcodes.parse_int(result.get("next_cursor"))
        if next_cursor is None:
            raise TerminalError(api, None, "has_more without a next_cursor")
        return users, next_cursor

    async def get_user(self, userid: str) -> dict[str, Any] | None:
        """The raw ``result`` of ``user/get``, or None when DingTalk says not found (60121, or
        33012 as the user/get page documents it)."""
        api = "topapi/v2/user/get"
        data = await self._call_unless_not_found(api, {"userid": userid, "language": "zh_CN"})
        return None if data is None else _result(data, api)

    async def get_userid_by_mobile(self, mobile: str) -> str | None:
        """The userid of the active member with ``mobile``, or None (60121)."""
        api = "topapi/v2/user/getbymobile"
        data = await self._call_unless_not_found(api, {"mobile": mobile})
        userid = None if data is None else _result(data, api).get("userid")
        return str(userid) if userid else None

    async def _call_unless_not_found(
        self, api: str, body: Mapping[str, Any]
    ) -> dict[str, Any] | None:
        """`call`, or None when DingTalk answers "no such active member" (60121; 33012 on
        user/get)."""
        try:
            return await self.call(api, body)
        except TerminalError as error:
            if errcodes.is_not_found(api, error.errcode):
                return None
            raise

    # ------------------------------------------------------------------ writes

    async def create_department(
        self,
        *,
        name: str,
        parent_id: int,
        order: int | None = None,
        source_identifier: str | None = None,
    ) -> int:
        api = "topapi/v2/department/create"
        body: dict[str, Any] = {"name": name, "parent_id": parent_id}
        if order is not None:
            body["order"] = order
        if source_identifier is not None:
            body["source_identifier"] = source_identifier
        data = await self.call(api, body, write=True)
        return int(_result(data, api)["dept_id"])

    async def update_department(self, dept_id: int, **fields: Any) -> None:
        """Set ``name``, ``parent_id``, ``order``, ``source_identifier`` and/or ``managers``
        (userids). An empty ``managers`` clears them through ``force_update_fields``: DingTalk
        ignores an empty ``dept_manager_userid_list``."""
        unknown = set(fields) - _DEPARTMENT_FIELDS
        if unknown:
            raise TypeError(f"update_department: unknown fields {sorted(unknown)}")
        body: dict[str, Any] = {"dept_id": dept_id}
        body.update((name, value) for name, value in fields.items() if name != "managers")
        if "managers" in fields:
            managers = list(fields["managers"])
            if managers:
                body["dept_manager_userid_list"] = ",".join(managers)
            else:
                body["force_update_fields"] = "dept_manager_userid_list"
        await self.call("topapi/v2/department/update", body, write=True)

    async def delete_department(self, dept_id: int) -> None:
        await self.call("topapi/v2/department/delete", {"dept_id": dept_id}, write=True)

    async def create_user(self, fields: Mapping[str, Any]) -> str:
        """Create a member from DingTalk field names; the userid DingTalk kept or generated."""
        api = "topapi/v2/user/create"
        body = _user_body(fields, clearing=False)
        data = await self.call(api, body, write=True)
        userid = _result(data, api).get("userid") or body.get("userid")
        if not userid:
            raise TerminalError(api, None, "no userid in the answer")
        return str(userid)

    async def update_user(self, userid: str, fields: Mapping[str, Any]) -> None:
        """Update a member. ``manager_userid=None`` clears the manager (force_update_fields).
        ``extension`` overwrites every custom field: send all of them (the user/update page)."""
        body = _user_body({**fields, "userid": userid}, clearing=True)
        await self.call("topapi/v2/user/update", body, write=True)

    async def delete_user(self, userid: str) -> None:
        await self.call("topapi/v2/user/delete", {"userid": userid}, write=True)

    # ------------------------------------------------------------------ work notices

    async def send_work_notice(
        self, agent_id: int, userids: Sequence[str], msg: Mapping[str, Any]
    ) -> int:
        """Send a work notice (工作通知) to at most 100 people; DingTalk's task_id.

        Paced under the app's 5,000 recipients a minute (besides the API's QPS). Sent as a
        write: a timeout is not resent blindly (a duplicate would reach nobody anyway, as
        DingTalk delivers the same content to a person once a day). errcode 0 does not mean
        delivered: `notice_result` says who did not get it.
        """
        unique = list(dict.fromkeys(userids))
        if not 0 < len(unique) <= MAX_NOTICE_RECIPIENTS:
            raise ValueError(f"a work notice goes to 1..{MAX_NOTICE_RECIPIENTS} people")
        await self._notice_recipients.acquire(len(unique))
        body = {"agent_id": agent_id, "userid_list": ",".join(unique), "msg": dict(msg)}
        data = await self.call(NOTICE_API, body, write=True)
        task_id = errcodes.parse_int(data.get("task_id"))
        if task_id is None:
            raise TerminalError(NOTICE_API, None, "no task_id in the answer")
        return task_id

    async def notice_result(self, agent_id: int, task_id: int) -> dict[str, Any]:
        """The raw ``send_result`` of getsendresult: invalid_user_id_list,
        forbidden_user_id_list, failed_user_id_list, read/unread_user_id_list, forbidden_list
        (code per userid). Only tasks of the last 24 hours."""
        data = await self.call(NOTICE_RESULT_API, {"agent_id": agent_id, "task_id": task_id})
        result = data.get("send_result")
        if not isinstance(result, dict):
            raise TerminalError(NOTICE_RESULT_API, None, "the answer has no send_result object")
        return result


def _user_body(fields: Mapping[str, Any], *, clearing: bool) -> dict[str, Any]:
    unknown = set(fields) - _USER_FIELDS
    if unknown:
        raise TypeError(f"unknown DingTalk user fields {sorted(unknown)}")
    body: dict[str, Any] = {}
    for name, value in fields.items():
        if name == "manager_userid" and value is None:
            if clearing:
                body["force_update_fields"] = "manager_userid"
            continue
        if value is None:
            continue
        if name == "dept_id_list" and not isinstance(value, str):
            value = ",".join(str(int(d)) for d in value)
        elif name == "extension" and not isinstance(value, str):
            # DingTalk takes the custom fields as a JSON *string* (SDKs send it so).
            value = json.dumps(dict(value), ensure_ascii=False, separators=(",", ":"))
        body[name] = value
    return body


def _result(data: Mapping[str, Any], api: str) -> dict[str, Any]:
    result = data.get("result")
    if not isinstance(result, dict):
        raise TerminalError(api, None, "the answer has no result object")
    return result


def _truthy(value: object) -> bool:
    # Documented samples are sometimes type-erased ("true" as a string).
    if isinstance(value, str):
        return value.strip().lower() in ("true", "1")
    return bool(value)


def _describe(exc: httpx.TransportError, what: str) -> str:
    # httpx messages can quote the URL, and so the token: never show them unredacted.
    detail = redact(str(exc)) or "no detail"
    return f"{what}: {type(exc).__name__}: {detail}"


__all__ = ["DEFAULT_BASE_URL", "DingTalkClient"]
