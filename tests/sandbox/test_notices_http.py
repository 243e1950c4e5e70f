"""Work notices on the sandbox (asyncsend_v2, getsendresult), every rule over real HTTP.

A refused send stores nothing; an accepted one answers a task_id, and getsendresult says who
got it and who did not (invalid, or forbidden with the limit's code)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest
from typer.testing import CliRunner

from reconciler.cli import app
from reconciler.clock import FakeClock
from reconciler.sandbox import AGENT_ID, LENIENT, Sandbox
from reconciler.sandbox.messages import RESULT, SEND
from tests.sandbox.helpers import Api


def text(content: str) -> dict[str, Any]:
    return {"msgtype": "text", "text": {"content": content}}


def send(api: Api, userids: list[str], msg: dict[str, Any] | str, **extra: Any) -> dict[str, Any]:
    body = {"agent_id": AGENT_ID, "userid_list": ",".join(userids), "msg": msg, **extra}
    return api.call(SEND, body)


def result(api: Api, task_id: int) -> dict[str, Any]:
    answer = api.ok(RESULT, {"agent_id": AGENT_ID, "task_id": task_id})
    send_result: dict[str, Any] = answer["send_result"]
    return send_result


def later(api: Api, clock: FakeClock, seconds: float) -> None:
    """Move the clock on, and fetch a new token next time (one lives two hours)."""
    clock.advance(seconds)
    api._token = None


@pytest.fixture
def people(sb: Sandbox) -> list[str]:
    dept = sb.tenant.add_department("研发中心")
    userids = [f"u{n:03d}" for n in range(101)]
    for n, userid in enumerate(userids):
        sb.tenant.add_user(userid, f"员工{n}", f"+86-1380000{n:04d}", [dept])
    return userids


def test_a_notice_is_accepted_kept_and_reported_delivered(
    http_api: Api, sb: Sandbox, people: list[str]
):
    answer = send(http_api, people[:2], text("你好"))
    assert answer["errcode"] == 0, answer
    assert isinstance(answer["task_id"], int)
    assert answer["request_id"]
    got = result(http_api, answer["task_id"])
    assert got["unread_user_id_list"] == people[:2]
    assert got["invalid_user_id_list"] == got["forbidden_user_id_list"] == []
    assert got["forbidden_list"] == []
    assert got["failed_user_id_list"] == []
    [notice] = sb.notices()
    assert notice.task_id == answer["task_id"]
    assert notice.agent_id == AGENT_ID
    assert notice.text() == "你好"
    assert [(u, s) for u, s, _ in notice.recipients] == [
        (people[0], "unread"),
        (people[1], "unread"),
    ]


@pytest.mark.parametrize(
    ("body", "errcode"),
    [
        ({"userid_list": "u000", "msg": text("x")}, 41011),
        ({"agent_id": AGENT_ID + 1, "userid_list": "u000", "msg": text("x")}, 40056),
        ({"agent_id": "abc", "userid_list": "u000", "msg": text("x")}, 40035),
        ({"agent_id": AGENT_ID, "msg": text("x")}, 1430000),
        ({"agent_id": AGENT_ID, "userid_list": "", "msg": text("x")}, 1430000),
        ({"agent_id": AGENT_ID, "userid_list": "u000"}, 40035),
        ({"agent_id": AGENT_ID, "userid_list": "u000", "msg": "{not json"}, 40035),
        ({"agent_id": AGENT_ID, "userid_list": "u000", "msg": {"msgtype": "sms"}}, 40035),
        ({"agent_id": AGENT_ID, "userid_list": "u000", "msg": {"msgtype": "text"}}, 40035),
        ({"agent_id": AGENT_ID, "userid_list": "u000", "msg": text("")}, 40035),
        (
            {
                "agent_id": AGENT_ID,
                "userid_list": "u000",
                "msg": {"msgtype": "markdown", "markdown": {"text": "no title"}},
            },
            40035,
        ),
        (
            {
                "agent_id": AGENT_ID,
                "userid_list": "u000",
                "msg": {"msgtype": "oa", "oa": {"message_url": "https://x", "body": {}}},
            },
            40035,
        ),
    ],
)
def test_malformed_sends_are_refused_and_store_nothing(
    http_api: Api, sb: Sandbox, people: list[str], body: dict[str, Any], errcode: int
):
    answer = http_api.call(SEND, body)
    assert answer["errcode"] == errcode, answer
    assert answer["errmsg"]
    assert sb.notices() == []


def test_at_most_100_userids_a_call(http_api: Api, sb: Sandbox, people: list[str]):
    refused = send(http_api, people[:101], text("全员"))
    assert refused["errcode"] == 40035, refused
    assert "100" in refused["errmsg"]
    assert sb.notices() == []
    assert send(http_api, people[:100], text("全员"))["errcode"] == 0
    # Duplicates count once.
    assert send(http_api, people[:100] + people[:1], text("再次"))["errcode"] == 0


@pytest.mark.parametrize("sb", [LENIENT], indirect=True)
def test_the_lenient_profile_reads_the_current_page_5000_userids(
    http_api: Api, sb: Sandbox, people: list[str]
):
    assert send(http_api, people, text("全员"))["errcode"] == 0  # 101
    refused = send(http_api, [f"x{n}" for n in range(5001)], text("太多"))
    assert refused["errcode"] == 40035


def test_msg_at_most_2048_bytes_of_compact_json(http_api: Api, sb: Sandbox, people: list[str]):
    overhead = len(json.dumps(text(""), ensure_ascii=False, separators=(",", ":")).encode())
    fits = "字" * ((2048 - overhead) // 3) + "a" * ((2048 - overhead) % 3)
    assert send(http_api, ["u000"], text(fits))["errcode"] == 0
    assert send(http_api, ["u001"], text(fits + "a"))["errcode"] == 40035
    assert len(sb.notices()) == 1


def test_msg_as_a_json_string_and_markdown_and_oa_are_accepted(http_api: Api, people: list[str]):
    markdown = {"msgtype": "markdown", "markdown": {"title": "标题", "text": "# 正文"}}
    oa = {
        "msgtype": "oa",
        "oa": {"message_url": "https://example.com", "head": {"text": "头"}, "body": {}},
    }
    for msg in (json.dumps(text("字符串")), markdown, oa):
        assert send(http_api, ["u000"], msg)["errcode"] == 0


def test_unknown_userids_are_invalid_in_the_result_not_an_error(http_api: Api, people: list[str]):
    answer = send(http_api, ["u000", "ghost"], text("x"))
    assert answer["errcode"] == 0
    got = result(http_api, answer["task_id"])
    assert got["invalid_user_id_list"] == ["ghost"]
    assert got["unread_user_id_list"] == ["u000"]


def test_the_same_content_reaches_a_person_once_a_china_day_143106(
    http_api: Api, clock: FakeClock, people: list[str]
):
    first = send(http_api, ["u000"], text("同一条"))
    again = send(http_api, ["u000", "u001"], text("同一条"))
    assert first["errcode"] == again["errcode"] == 0  # accepted: the limit shows in the result
    got = result(http_api, again["task_id"])
    assert got["forbidden_user_id_list"] == ["u000"]
    assert got["forbidden_list"] == [{"code": "143106", "count": 1, "userid": "u000"}]
    assert got["unread_user_id_list"] == ["u001"]
    # Other content the same day is delivered.
    other = send(http_api, ["u000"], text("另一条"))
    assert result(http_api, other["task_id"])["unread_user_id_list"] == ["u000"]
    # The fake clock starts at 2026-01-01 08:00 China time: the next China day starts 16 h on.
    later(http_api, clock, 16 * 3600 - 1)
    late = send(http_api, ["u000"], text("同一条"))
    assert result(http_api, late["task_id"])["forbidden_user_id_list"] == ["u000"]
    later(http_api, clock, 1)
    tomorrow = send(http_api, ["u000"], text("同一条"))
    assert result(http_api, tomorrow["task_id"])["unread_user_id_list"] == ["u000"]


def test_at_most_500_notices_a_person_a_day_143105(api: Api, people: list[str]):
    # In-process: 501 calls over loopback would only make the test slower, not stronger
    # (the HTTP layer is the same `Sandbox.handle`, tested above).
    for n in range(500):
        answer = send(api, ["u000"], text(f"第{n}条"))
        assert result(api, answer["task_id"])["unread_user_id_list"] == ["u000"], n
    over = send(api, ["u000", "u001"], text("第501条"))
    got = result(api, over["task_id"])
    assert got["forbidden_list"] == [{"code": "143105", "count": 500, "userid": "u000"}]
    assert got["unread_user_id_list"] == ["u001"]


def test_at_most_5000_recipients_a_sliding_minute_143103(
    http_api: Api, clock: FakeClock, people: list[str]
):
    batch = people[:100]
    for n in range(50):
        answer = send(http_api, batch, text(f"批次{n}"))
        assert len(result(http_api, answer["task_id"])["unread_user_id_list"]) == 100
        clock.advance(1)
    over = send(http_api, batch, text("批次50"))
    got = result(http_api, over["task_id"])
    assert got["forbidden_user_id_list"] == batch
    assert {f["code"] for f in got["forbidden_list"]} == {"143103"}
    clock.advance(11)  # the first batch (60 s ago) leaves the sliding minute
    later = send(http_api, batch, text("批次51"))
    assert result(http_api, later["task_id"])["unread_user_id_list"] == batch


def test_departments_and_everyone_as_recipients(http_api: Api, sb: Sandbox, people: list[str]):
    parent = sb.tenant.add_department("销售部")
    child = sb.tenant.add_department("华东区", parent)
    sb.tenant.add_user("wang", "王五", "+86-13900000001", [child])
    by_dept = http_api.call(
        SEND, {"agent_id": AGENT_ID, "dept_id_list": str(parent), "msg": text("部门")}
    )
    assert result(http_api, by_dept["task_id"])["unread_user_id_list"] == ["wang"]
    everyone = http_api.call(SEND, {"agent_id": AGENT_ID, "to_all_user": True, "msg": text("全员")})
    assert len(result(http_api, everyone["task_id"])["unread_user_id_list"]) == len(people) + 1


def test_getsendresult_checks_the_agent_and_the_task_and_keeps_24_hours(
    http_api: Api, clock: FakeClock, people: list[str]
):
    task_id = send(http_api, ["u000"], text("x"))["task_id"]
    assert http_api.call(RESULT, {"agent_id": AGENT_ID + 1, "task_id": task_id})["errcode"] == 40056
    assert http_api.call(RESULT, {"agent_id": AGENT_ID})["errcode"] == 40035
    assert http_api.call(RESULT, {"agent_id": AGENT_ID, "task_id": task_id + 1})["errcode"] == 40035
    later(http_api, clock, 24 * 3600 - 1)
    assert http_api.call(RESULT, {"agent_id": AGENT_ID, "task_id": task_id})["errcode"] == 0
    later(http_api, clock, 1)
    assert http_api.call(RESULT, {"agent_id": AGENT_ID, "task_id": task_id})["errcode"] == 40035


def test_the_fail_api_fault_makes_every_send_fail_unexecuted(
    http_api: Api, sb: Sandbox, people: list[str]
):
    sb.faults.fail_api[SEND] = 1430003
    answer = send(http_api, ["u000"], text("x"))
    assert answer["errcode"] == 1430003, answer
    assert sb.notices() == []
    del sb.faults.fail_api[SEND]
    assert send(http_api, ["u000"], text("x"))["errcode"] == 0


def test_sends_are_rate_limited_like_any_api(clock: FakeClock):
    with Sandbox(clock=clock) as limited:  # the strict profile's 20 calls per sliding second
        limited.tenant.add_user("solo", "独", "+86-13900000002", [1])
        with httpx.Client(base_url=limited.base_url, transport=limited.transport()) as client:
            api = Api(client)
            answers = [send(api, ["solo"], text(f"{n}"))["errcode"] for n in range(21)]
        assert answers == [0] * 20 + [90018]
        assert len(limited.notices()) == 20  # the refused call was not executed


def test_sandbox_messages_lists_what_was_sent_and_who_missed_it(tmp_path: Path):
    path = tmp_path / "sb.db"
    with Sandbox(path, qps=0) as seeded:
        seeded.tenant.add_user("zhang", "张三", "+86-13900000003", [1])
        with httpx.Client(base_url=seeded.base_url, transport=seeded.transport()) as client:
            api = Api(client)
            send(api, ["zhang", "ghost"], text("李四 已从通讯录删除\n第二行"))
    shown = CliRunner().invoke(app, ["sandbox", "messages", "--db", str(path)])
    assert shown.exit_code == 0, shown.output
    lines = shown.stdout.splitlines()
    assert "agent 987654321 text" in lines[0]
    assert lines[1:] == [
        "  to: zhang",
        "  not delivered: ghost (invalid)",
        "  | 李四 已从通讯录删除",
        "  | 第二行",
    ]
    missing = CliRunner().invoke(app, ["sandbox", "messages", "--db", str(tmp_path / "no.db")])
    assert missing.exit_code == 1
    assert not (tmp_path / "no.db").exists()


def test_serve_takes_failing_apis(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    import reconciler.cli.sandbox as cli_sandbox
    from reconciler.sandbox import APP_KEY, APP_SECRET, ServerHandle

    seen: dict[str, object] = {}

    def probe(handle: ServerHandle) -> None:
        with httpx.Client(base_url=handle.url) as client:
            credentials = {"appkey": APP_KEY, "appsecret": APP_SECRET}
            token = client.get("/gettoken", params=credentials).json()["access_token"]
            answer = client.post(
                f"/{SEND}",
                params={"access_token": token},
                json={"agent_id": AGENT_ID, "userid_list": "x", "msg": text("x")},
            )
        seen["errcode"] = answer.json()["errcode"]

    monkeypatch.setattr(cli_sandbox, "_wait", probe)
    db = str(tmp_path / "sb.db")
    args = ["sandbox", "serve", "--port", "0", "--latency", "0", "--db", db]
    result = CliRunner().invoke(app, [*args, "--fail-api", f"{SEND}=1430003"])
    assert result.exit_code == 0, result.output
    assert seen["errcode"] == 1430003
    assert "AgentID is 987654321" in result.stderr
    bad = CliRunner().invoke(app, [*args, "--fail-api", "no-errcode"])
    assert bad.exit_code == 1
    assert "expected API=ERRCODE" in bad.output
