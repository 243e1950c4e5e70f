"""The sandbox: one request handler in front of the tenant, used in-process and over HTTP.
I/O: the tenant's SQLite database only; no sockets (see `server` for HTTP).

`Sandbox.handle` is the only implementation of the API. A request goes through these layers,
in order, each of which may answer instead of the next:

1. one seeded random draw; the IP-ban fault answers ``{"status":1111,…}`` (no errcode);
2. route: ``gettoken`` or a known path, else errcode 22 (S7); wrong method 43001/43002;
3. body: JSON, or a form (``access_token`` may be one of its fields), else 43009 later;
4. auth: ``access_token`` — 41001 missing, 40014 unknown (88-wrapped on strict), 42001 expired;
5. rate limit per (app, path), sliding window or token bucket (`Profile.rate_limit`) — 90018,
   request not executed;
6. permission points (60011: the read-only app's writes, `Profile.missing_permissions`) and the
   monthly quota of metered APIs (90020);
7. a failing API (`Faults.fail_api`: that API answers the errcode given, unexecuted), then
   faults from the same draw: HTTP 502 or errcode -1, extra 90018, timeout;
8. the handler, in one transaction; a write (and its log row) commits atomically.

``topapi/*`` answers carry a ``request_id`` (token errors do not: S3). HTTP status is 200 for
every answer except the 502 fault, as on the real gateway.
"""

from __future__ import annotations

import dataclasses
import hmac
import json
import os
import random
import secrets
import string
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl

from reconciler.clock import SYSTEM_CLOCK, Clock
from reconciler.sandbox import attendance, contacts, messages
from reconciler.sandbox.errors import ApiError, ParamError, SimulatedTimeout
from reconciler.sandbox.faults import Faults, RateLimiter
from reconciler.sandbox.profile import STRICT, WRITE_PERMISSIONS, Profile, permission_for
from reconciler.sandbox.tenant import Tenant

if TYPE_CHECKING:
    from reconciler.sandbox.transport import SandboxTransport

BASE_URL = "http://sandbox.orgctl.invalid"
APP_KEY = "orgctl-sandbox"
APP_SECRET = "orgctl-sandbox-secret"  # not a secret: the sandbox is public by design
READONLY_APP_KEY = "orgctl-sandbox-readonly"
"""A second app on every sandbox, granted read permission points only: its writes get 60011."""
READONLY_APP_SECRET = "orgctl-sandbox-readonly-secret"  # public, like APP_SECRET
TOKEN_TTL = 7200  # seconds [OT]
GETTOKEN = "gettoken"
WRITE_VERBS = frozenset({"create", "update", "delete", "upload", "add", "remove", "save", "set"})
JSON_HEADERS = {"content-type": "application/json;charset=utf-8"}
HTML_HEADERS = {"content-type": "text/html;charset=utf-8"}
BAD_GATEWAY = (
    b"<html><head><title>502 Bad Gateway</title></head><body>502 Bad Gateway</body></html>"
)

Response = tuple[int, bytes, dict[str, str]]
ROUTES: dict[str, contacts.Handler] = {**contacts.ROUTES, **attendance.ROUTES, **messages.ROUTES}
"""Every API path the tenant answers (no leading slash), built once: routing is a lookup."""
METERED = frozenset(attendance.ROUTES)
"""APIs that count against the monthly quota (90020): contacts and token calls are exempt."""


def default_db_path() -> Path:
    """Where the embedded tenant lives: ``$ORGCTL_HOME/sandbox.db``, else ``.orgctl/sandbox.db``
    relative to the current directory."""
    return Path(os.environ.get("ORGCTL_HOME") or ".orgctl") / "sandbox.db"


def is_write(api: str) -> bool:
    """A write is a path whose last segment is a write verb (create, update, delete, upload…)."""
    return api.rsplit("/", 1)[-1] in WRITE_VERBS


@dataclass(frozen=True, slots=True)
class Write:
    """One write call the tenant executed, as it was sent. errcode 0 = applied."""

    api: str
    body: dict[str, Any]
    errcode: int
    at: float  # clock.now() when it ran


class Sandbox:
    """An emulated DingTalk tenant with its gateway: tokens, rate limit, faults, write log."""

    def __init__(
        self,
        db_path: Path | None = None,
        *,
        clock: Clock = SYSTEM_CLOCK,
        qps: float | None = None,
        app_key: str = APP_KEY,
        app_secret: str = APP_SECRET,
        corp_name: str = "示例科技",
        seed: int = 0,
        profile: Profile = STRICT,
    ) -> None:
        """`qps`, when given, overrides the profile's (tests pass 0 to lift the limit)."""
        if qps is not None and qps != profile.qps:
            profile = dataclasses.replace(profile, qps=qps)
        self.profile = profile
        self.base_url = BASE_URL
        self.clock = clock
        self.app_key = app_key
        self._app_secret = app_secret
        self.tenant = Tenant(db_path, clock=clock, corp_name=corp_name, profile=profile, seed=seed)
        self.faults = Faults()
        self.limiter = RateLimiter(profile.qps, clock, profile.rate_limit)
        self._rng = random.Random(seed)  # faults only, so they replay exactly
        self._ids = random.Random(f"request-id:{seed}")

    def __repr__(self) -> str:  # no secret in reprs
        return (
            f"Sandbox(app_key={self.app_key!r}, profile={self.profile.name!r}, "
            f"qps={self.limiter.qps})"
        )

    def close(self) -> None:
        self.tenant.close()

    def __enter__(self) -> Sandbox:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # -- public helpers --------------------------------------------------------------------

    def transport(self) -> SandboxTransport:
        """An httpx transport into this sandbox: an `httpx.AsyncBaseTransport` for
        `httpx.AsyncClient`, and an `httpx.BaseTransport` too, for `httpx.Client`."""
        from reconciler.sandbox.transport import SandboxTransport

        return SandboxTransport(self)

    def expire_tokens(self) -> None:
        """Every token issued so far expires now: its next use answers 42001."""
        now = self.clock.now()
        with self.tenant.transaction() as db:
            db.execute("UPDATE tokens SET expires_at = MIN(expires_at, ?)", (now,))

    def notices(self) -> list[messages.Notice]:
        """Every work notice the tenant accepted, oldest first, with who got it."""
        return messages.notices(self.tenant)

    def writes(self) -> list[Write]:
        """Every write call the tenant executed, in order (persisted: any process can read it).

        Requests refused before the tenant saw them (token errors, 90018, injected faults) are
        not here; a timed-out write that was applied is.
        """
        with self.tenant.lock:
            rows = self.tenant.db.execute("SELECT api, body, errcode, at FROM writes ORDER BY seq")
            return [Write(r["api"], json.loads(r["body"]), r["errcode"], r["at"]) for r in rows]

    # -- the one request handler ---------------------------------------------------------

    def handle(self, method: str, path: str, query: Mapping[str, str], body: bytes) -> Response:
        """Answer one request: (HTTP status, body bytes, headers).

        Raises SimulatedTimeout when the timeout fault fires (no answer is sent).
        """
        api = path.strip("/")
        faults = self.faults
        with self.tenant.lock:
            roll = self._rng.random()
            if roll < faults.ip_ban_rate:
                # The IP-level ban answers before the API gateway: no errcode, no request_id.
                ban = {
                    "status": 1111,
                    "wait": 5,
                    "source": "x5",
                    "punish": "deny",
                    "uuid": f"{self._ids.getrandbits(128):032x}",
                }
                return 200, _encode(ban), dict(JSON_HEADERS)
            roll -= faults.ip_ban_rate

            handler: contacts.Handler | None = None
            parsed: dict[str, Any] | None = None
            if api == GETTOKEN:
                if method != "GET":
                    return self._answer(api, {"errcode": 43001, "errmsg": "需要GET请求"})
                app = query.get("appkey") or query.get("corpid", "")
            else:
                handler = ROUTES.get(api)
                if handler is None:
                    return self._answer(api, self._unknown_api(api))
                if method != "POST":
                    return self._answer(api, {"errcode": 43002, "errmsg": "需要POST请求"})
                parsed, form = parse_body(body)
                token = query.get("access_token", "")
                if not token and form and parsed is not None:
                    # DingTalk's curl samples post a form with access_token among the fields.
                    token = str(parsed.pop("access_token", ""))
                app_or_error = self._authenticate(api, token)
                if isinstance(app_or_error, dict):
                    return 200, _encode(app_or_error), dict(JSON_HEADERS)
                app = app_or_error

            if not self.limiter.allow(app, api):
                return self._answer(api, _throttled())
            if not self._permitted(app, api):
                return self._answer(api, self._no_permission())
            if api in METERED and self._quota_spent():
                return self._answer(api, self._quota_answer())

            forced = faults.fail_api.get(api)
            if forced is not None:
                return self._answer(api, {"errcode": forced, "errmsg": f"故障注入：{forced}"})
            if roll < faults.error_rate:
                if self._rng.random() < 0.5:
                    return 502, BAD_GATEWAY, dict(HTML_HEADERS)
                return self._answer(api, {"errcode": -1, "errmsg": "系统繁忙"})
            roll -= faults.error_rate
            if roll < faults.throttle_rate:
                return self._answer(api, _throttled())
            roll -= faults.throttle_rate
            timeout = roll < faults.timeout_rate
            if timeout and not faults.timeout_after_write:
                raise SimulatedTimeout(applied=False)

            answer = self._execute(api, handler, query, parsed)
            if timeout:
                raise SimulatedTimeout(applied=True)
            return answer

    # -- layers --------------------------------------------------------------------------

    @staticmethod
    def _unknown_api(api: str) -> dict[str, Any]:
        # The TOP gateway names the API dingtalk.oapi.<path with dots> (S7).
        name = "dingtalk.oapi." + api.removeprefix("topapi/").replace("/", ".")
        return {
            "errcode": 22,
            "sub_msg": f"不合法ApiName，ApiName = {name}",
            "errmsg": f"Invalid method[submsg=不合法ApiName，ApiName = {name}]",
        }

    def _authenticate(self, api: str, token: str) -> str | dict[str, Any]:
        """The app the token belongs to, or the error body (41001 / 40014 / 42001).

        Bare token errors carry no request_id (S3). With `wrap_token_errors`, the TOP gateway
        in front of ``topapi/*`` wraps 40014 as errcode 88 with ``sub_code`` (seen in the
        wild for 40014 only; 41001 and 42001 stay bare).
        """
        if not token:
            return {"errcode": 41001, "errmsg": "缺少access_token参数"}
        row = self.tenant.db.execute(
            "SELECT app_key, expires_at FROM tokens WHERE token = ?", (token,)
        ).fetchone()
        if row is None:
            msg = "不合法的access_token"
            if self.profile.wrap_token_errors and api.startswith("topapi/"):
                wrapped = _wrapped(40014, msg)
                return {**wrapped, "request_id": self._request_id()}
            return {"errcode": 40014, "errmsg": msg}
        if row["expires_at"] <= self.clock.now():
            return {"errcode": 42001, "errmsg": "access_token超时"}
        return str(row["app_key"])

    def _gettoken(self, query: Mapping[str, str]) -> Response:
        # The older corpid/corpsecret form still answers (third-party SDKs send it).
        corp = "appkey" not in query and "corpid" in query
        if corp:
            appkey, appsecret = query.get("corpid", ""), query.get("corpsecret", "")
        else:
            appkey, appsecret = query.get("appkey", ""), query.get("appsecret", "")
        if not any(
            hmac.compare_digest(appkey.encode(), key.encode())
            and hmac.compare_digest(appsecret.encode(), secret.encode())
            for key, secret in (
                (self.app_key, self._app_secret),
                (READONLY_APP_KEY, READONLY_APP_SECRET),
            )
        ):
            # What a wrong corp/app credential pair gets [I-CORPDEMO]. Terminal, not 40001:
            # refreshing cannot fix a wrong secret.
            names = "corpId或corpSecret" if corp else "appKey或appSecret"
            return self._answer(GETTOKEN, {"errcode": 40089, "errmsg": f"不合法的{names}"})
        now = self.clock.now()
        with self.tenant.transaction() as db:
            row = db.execute(
                "SELECT token FROM tokens WHERE app_key = ? AND expires_at > ? "
                "ORDER BY expires_at DESC LIMIT 1",
                (appkey, now),
            ).fetchone()
            # Asking again while a token is valid returns the same token and extends it [OT].
            token = str(row["token"]) if row else secrets.token_hex(16)
            db.execute(
                "INSERT INTO tokens (token, app_key, expires_at) VALUES (?, ?, ?) "
                "ON CONFLICT (token) DO UPDATE SET expires_at = excluded.expires_at",
                (token, appkey, now + TOKEN_TTL),
            )
        # S1, key for key.
        answer = {"errcode": 0, "access_token": token, "errmsg": "ok", "expires_in": TOKEN_TTL}
        return self._answer(GETTOKEN, answer)

    def _execute(
        self,
        api: str,
        handler: contacts.Handler | None,
        query: Mapping[str, str],
        parsed: dict[str, Any] | None,
    ) -> Response:
        if handler is None:
            return self._gettoken(query)
        if parsed is None:
            return self._answer(api, {"errcode": 43009, "errmsg": "post参数需要json类型"})
        with self.tenant.transaction() as db:
            try:
                with self.tenant.transaction():  # a savepoint: an ApiError undoes the handler
                    answer = handler(self.tenant, parsed)
            except ParamError as error:
                errcode = error.errcode
                if api in contacts.BAD_PARAM_400002:
                    errcode = self.profile.bad_param_errcode
                answer = {"errcode": errcode, "errmsg": error.errmsg}
            except ApiError as error:
                answer = {"errcode": error.errcode, "errmsg": error.errmsg}
            if is_write(api):
                db.execute(
                    "INSERT INTO writes (api, body, errcode, at) VALUES (?, ?, ?, ?)",
                    (api, _compact(parsed), int(answer["errcode"]), self.clock.now()),
                )
        return self._answer(api, answer)

    def _permitted(self, app: str, api: str) -> bool:
        """Whether the app holds the permission point `api` needs: the read-only app holds
        none of the write points; `profile.missing_permissions` are missing for every app."""
        needed = permission_for(api)
        if needed is None:
            return True
        if app == READONLY_APP_KEY and needed in WRITE_PERMISSIONS:
            return False
        return needed not in self.profile.missing_permissions

    def _no_permission(self) -> dict[str, Any]:
        """60011: the app lacks the permission point; the TOP gateway wraps it in 88 (S6)."""
        msg = "没有调用该接口的权限"
        if self.profile.wrap_token_errors:
            return _wrapped(60011, msg)
        return {"errcode": 60011, "errmsg": msg}

    def _quota_spent(self) -> bool:
        """Count one metered call this month; True (and no count) once the quota is spent."""
        quota = self.profile.monthly_quota
        if quota is None:
            return False
        key = f"quota:{self._month()}"
        with self.tenant.transaction():
            if self.tenant.counter(key) >= quota:
                return True
            self.tenant.next_value(key)
        return False

    def _month(self) -> str:
        # DingTalk counts calendar months in China time.
        return time.strftime("%Y-%m", time.gmtime(self.clock.now() + 8 * 3600))

    def quota_used(self) -> int:
        """Metered (attendance) calls counted against this month's quota so far."""
        with self.tenant.lock:
            return self.tenant.counter(f"quota:{self._month()}")

    def _quota_answer(self) -> dict[str, Any]:
        quota = self.profile.monthly_quota
        used = self.quota_used() + 1
        return {
            "errcode": 90020,
            "errmsg": f"您的企业本月api调用量已超过限制,调用量:{used}次,额度:{quota}次,"
            "请登录开发者后台-资源管理-查看用量明细",
        }

    def _answer(self, api: str, payload: dict[str, Any]) -> Response:
        if api.startswith("topapi/") and "request_id" not in payload:
            payload = {**payload, "request_id": self._request_id()}
        return 200, _encode(payload), dict(JSON_HEADERS)

    def _request_id(self) -> str:
        alphabet = string.ascii_lowercase + string.digits
        return "".join(self._ids.choice(alphabet) for _ in range(12))


def parse_body(body: bytes) -> tuple[dict[str, Any] | None, bool]:
    """(fields, was a form) of a POST body; fields None when it is neither a JSON object nor
    a form (43009).

    JSON is what orgctl and most clients send. DingTalk's own curl samples post
    ``application/x-www-form-urlencoded`` (``access_token`` may be one of the fields); the
    handler does not see the content type, so a body that is not JSON but parses strictly as
    ``key=value&…`` is read as a form. Form values are strings, which the handlers already
    coerce the way the gateway does (numbers, ``"2,3"`` lists, JSON-encoded object arrays).
    """
    if not body.strip():
        return {}, False
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        return None, False
    if text.lstrip()[:1] in ("{", "["):
        try:
            parsed = json.loads(text)
        except ValueError:
            return None, False
        return (parsed if isinstance(parsed, dict) else None), False
    try:
        pairs = parse_qsl(text.strip(), keep_blank_values=True, strict_parsing=True)
    except ValueError:
        return None, False
    return dict(pairs), True


def _wrapped(sub_code: int, msg: str) -> dict[str, Any]:
    """errcode 88 "鉴权异常" as the TOP gateway wraps the real cause (S6)."""
    return {
        "errcode": 88,
        "sub_code": str(sub_code),
        "sub_msg": msg,
        "errmsg": f"ding talk error[subcode={sub_code},submsg={msg}]",
    }


def _throttled() -> dict[str, Any]:
    return {"errcode": 90018, "errmsg": "当前企业该API调用频率超过限制，请稍后重试"}


def _compact(payload: Mapping[str, Any]) -> str:
    return json.dumps(payload, ensure_ascii=False, separators=(",", ":"))


def _encode(payload: Mapping[str, Any]) -> bytes:
    return _compact(payload).encode("utf-8")
