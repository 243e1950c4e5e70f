"""A real third-party client against the sandbox over HTTP: the community ``dingtalk-sdk``
(import name ``dingtalk``), with its own token handling and request encoding.

It has no wrappers for the ``topapi/v2`` contacts API, but reaches it through its generic
``post()`` (JSON body, ``access_token`` appended to the URL), and it fetches tokens through
``gettoken`` in both forms (``appkey``/``appsecret`` and the older ``corpid``/``corpsecret``).
If the sandbox only understood orgctl's own client, this is where it would show.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from urllib.parse import urlencode

import pytest
from dingtalk.client import AppKeyClient, SecretClient
from dingtalk.core.exceptions import DingTalkClientException

from reconciler.clock import FakeClock
from reconciler.sandbox import APP_KEY, APP_SECRET, LENIENT, STRICT, Profile, Sandbox, serve

V2 = "/topapi/v2/"


@pytest.fixture(params=[STRICT, LENIENT], ids=["strict", "lenient"])
def served(request: pytest.FixtureRequest, clock: FakeClock) -> Iterator[tuple[Sandbox, str]]:
    profile: Profile = request.param
    sandbox = Sandbox(clock=clock, profile=profile)
    with serve(sandbox) as server:
        yield sandbox, server.url + "/"
    sandbox.close()


def sdk(base_url: str, *, corp_form: bool = False) -> AppKeyClient | SecretClient:
    client: AppKeyClient | SecretClient
    if corp_form:
        client = SecretClient(APP_KEY, APP_SECRET)  # corp id and secret: the older pair
    else:
        client = AppKeyClient("ding-sandbox", APP_KEY, APP_SECRET)
    client.API_BASE_URL = base_url  # the SDK joins every path onto this
    return client


def post(client: AppKeyClient | SecretClient, path: str, data: Any) -> dict[str, Any]:
    answer: dict[str, Any] = client.post(V2 + path, data)
    return answer


@pytest.mark.parametrize("corp_form", [False, True], ids=["appkey", "corpid"])
def test_the_sdk_manages_the_org_through_its_generic_post(
    served: tuple[Sandbox, str], corp_form: bool
):
    sb, url = served
    client = sdk(url, corp_form=corp_form)
    assert client.access_token  # gettoken, as the SDK sends it

    created = post(client, "department/create", {"name": "研发中心", "parent_id": 1})
    dept_id = created["result"]["dept_id"]
    assert post(client, "department/listsubid", {"dept_id": 1})["result"] == {
        "dept_id_list": [dept_id]
    }
    got = post(client, "department/get", {"dept_id": dept_id})["result"]
    assert (got["name"], got["parent_id"]) == ("研发中心", 1)

    body = {
        "userid": "zhangsan",
        "name": "张三",
        "mobile": "+86-13800138000",
        "dept_id_list": str(dept_id),
        "email": "zhangsan@example.com",
    }
    assert post(client, "user/create", body)["result"]["userid"] == "zhangsan"
    assert post(client, "user/get", {"userid": "zhangsan"})["result"]["email"] == (
        "zhangsan@example.com"
    )
    listed = post(client, "user/list", {"dept_id": dept_id, "cursor": 0, "size": 10})["result"]
    assert [u["userid"] for u in listed["list"]] == ["zhangsan"]
    assert listed["has_more"] is False

    post(client, "user/update", {"userid": "zhangsan", "title": "工程师"})
    assert sb.tenant.get_user("zhangsan")["title"] == "工程师"  # type: ignore[index]

    post(client, "user/delete", {"userid": "zhangsan"})
    assert sb.tenant.get_user("zhangsan") is None
    # Its errors come back as its own exception, carrying the profile's errcode.
    with pytest.raises(DingTalkClientException) as caught:
        post(client, "user/get", {"userid": "zhangsan"})
    assert caught.value.errcode == sb.profile.unknown_user_errcode
    assert [w.api for w in sb.writes()] == [
        "topapi/v2/department/create",
        "topapi/v2/user/create",
        "topapi/v2/user/update",
        "topapi/v2/user/delete",
    ]


def test_the_sdk_posts_a_form_as_dingtalks_curl_samples_do(served: tuple[Sandbox, str]):
    # A string body goes out as it is: here the documented x-www-form-urlencoded form.
    sb, url = served
    client = sdk(url)
    form = urlencode({"name": "张三", "mobile": "+86-13800138000", "dept_id_list": "1"})
    headers = {"Content-Type": "application/x-www-form-urlencoded"}
    answer = client.post(V2 + "user/create", form, headers=headers)
    userid = answer["result"]["userid"]
    assert sb.tenant.get_user(userid) is not None


def test_the_sdk_refreshes_a_rejected_token_only_when_it_comes_bare(
    served: tuple[Sandbox, str],
):
    # The SDK retries once after dropping its cached token on 40014, but does not look inside
    # errcode 88: against the strict gateway, a revoked token is an error it raises.
    sb, url = served
    client = sdk(url)
    assert client.access_token
    with sb.tenant.transaction() as db:
        db.execute("DELETE FROM tokens")  # revoked behind the client's back
    if sb.profile.wrap_token_errors:
        with pytest.raises(DingTalkClientException) as caught:
            post(client, "department/get", {"dept_id": 1})
        assert caught.value.errcode == 88
    else:
        assert post(client, "department/get", {"dept_id": 1})["result"]["dept_id"] == 1
