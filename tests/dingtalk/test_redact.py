"""Secrets (app secret, access tokens) never reach logs, errors, reprs or output."""

from __future__ import annotations

import asyncio
import logging
import traceback

import httpx
import pytest

from reconciler.clock import FakeClock
from reconciler.dingtalk import DingTalkClient
from reconciler.dingtalk.redact import redact, register_secret
from reconciler.errors import OrgctlError
from tests.dingtalk.fakes import APP_SECRET, FakeDingTalk, make_client

LIST = "topapi/v2/user/list"


def test_redact_masks_secret_query_params_and_registered_secrets():
    register_secret("s3cr3t-registered-value")
    text = (
        "GET https://oapi.dingtalk.com/gettoken?appkey=k&appsecret=abc123def "
        "POST /topapi/v2/user/list?access_token=tok987654&x=1 "
        '{"accessToken": "json-token-1"} and s3cr3t-registered-value'
    )
    redacted = redact(text)
    for secret in ("abc123def", "tok987654", "json-token-1", "s3cr3t-registered-value"):
        assert secret not in redacted
    assert "appkey=k" in redacted  # the app key is an identifier, not a secret
    assert "x=1" in redacted


def test_no_secret_appears_in_logs_errors_reprs_or_tracebacks(
    fake: FakeDingTalk, clock: FakeClock, caplog: pytest.LogCaptureFixture, capsys
):
    caplog.set_level(logging.DEBUG)  # every logger, httpx and httpcore included
    token_holder: list[str] = []

    def timeout_quoting_the_url(request: httpx.Request) -> None:
        token_holder.append(request.url.params["access_token"])
        raise httpx.ReadTimeout(f"timed out reading {request.url}", request=request)

    fake.script(LIST, {"errcode": 90018, "errmsg": "qps"})
    fake.script("topapi/v2/user/create", timeout_quoting_the_url)
    fake.script("topapi/v2/user/delete", httpx.Response(418, text="teapot"))
    client = make_client(fake, clock)
    errors: list[BaseException] = []

    async def work(c: DingTalkClient) -> None:
        await c.list_users_page(2)  # a retry is logged
        fake.expire_tokens()
        await c.list_sub_department_ids(1)  # a refresh is logged
        for attempt in (
            c.create_user({"userid": "lisi", "name": "李四", "mobile": "13800000000"}),
            c.delete_user("lisi"),
            c.get_department(999),
        ):
            try:
                await attempt
            except OrgctlError as error:
                errors.append(error)

    async def go() -> None:
        async with client:
            await work(client)

    asyncio.run(go())
    assert len(errors) == 3
    tokens = {f"fake-token-{i:04d}-a8f3" for i in range(1, fake.tokens_issued + 1)}
    assert token_holder[0] in tokens  # the fake really did put a token in that message
    assert any("HTTP Request" in r.getMessage() for r in caplog.records)  # httpx did log URLs
    haystack = "\n".join(
        [
            caplog.text,
            *(r.getMessage() for r in caplog.records),
            *(str(e) for e in errors),
            *(repr(e) for e in errors),
            *("".join(traceback.format_exception(e)) for e in errors),
            repr(client),
            str(client),
            *capsys.readouterr(),
        ]
    )
    for secret in (APP_SECRET, *tokens):
        assert secret not in haystack
    assert "***" in haystack
