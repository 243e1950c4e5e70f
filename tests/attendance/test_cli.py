"""`orgctl attendance …` end to end on the embedded sandbox (in-process, fake clock), and once
over loopback HTTP."""

from __future__ import annotations

import csv
import datetime as dt
import functools
import io
import json
import os
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

import reconciler.cli.attendance as cli_attendance
from reconciler.attendance.records import to_rows
from reconciler.attendance.render import render_csv
from reconciler.cli import app
from reconciler.clock import FakeClock
from reconciler.live.target import open_target
from reconciler.model import ROOT, Department, Org, User
from reconciler.sandbox import APP_KEY, APP_SECRET, ApiError, Sandbox, serve
from reconciler.sandbox import attendance_records as att
from tests.attendance.conftest import SHANGHAI, Spy, seed

LIST = "attendance/list"
UPLOAD = "topapi/attendance/record/upload"
PAST_WEEKS = ("--from", "2025-12-15", "--to", "2025-12-28")  # Mon..Sun ×2, all in the past


@pytest.fixture(autouse=True)
def _fake_clock(monkeypatch: pytest.MonkeyPatch, clock: FakeClock) -> None:
    monkeypatch.setattr(cli_attendance, "open_target", functools.partial(open_target, clock=clock))


@pytest.fixture
def db(clock: FakeClock) -> Path:
    path = Path(os.environ["ORGCTL_HOME"]) / "sandbox.db"
    with Sandbox(path, clock=clock) as sb:
        seed(sb.tenant, 60)
    return path


def opened(db: Path, clock: FakeClock) -> Sandbox:
    return Sandbox(db, clock=clock)


def orgctl(*args: str) -> Result:
    return CliRunner().invoke(app, ["attendance", *args])


def org_of(sb: Sandbox) -> Org:
    """The directory as the export sees it (keys are the seeded source_identifiers)."""
    names = {d["dept_id"]: d for d in sb.tenant.departments()}
    keys = {i: d.get("source_identifier", ROOT) for i, d in names.items()}
    departments = [
        Department(key=keys[i], name=d["name"], parent=keys.get(d.get("parent_id", 1), ROOT))
        for i, d in names.items()
        if i != 1
    ]
    users = [
        User(
            userid=u["userid"],
            name=u["name"],
            departments=tuple(keys[i] for i in u["dept_id_list"]),
        )
        for u in sb.tenant.users()
    ]
    return Org.of(departments, users)


def truth_csv(db: Path, clock: FakeClock, first: str, last: str) -> str:
    with opened(db, clock) as sb:
        records = att.results_between(
            sb.tenant,
            sorted(u["userid"] for u in sb.tenant.users()),
            dt.date.fromisoformat(first),
            dt.date.fromisoformat(last),
        )
        return render_csv(to_rows(records, org_of(sb), SHANGHAI))


def test_export_csv_on_stdout_is_the_sandboxs_data(db: Path, clock: FakeClock, spy: Spy) -> None:
    result = orgctl("export", *PAST_WEEKS, "--sandbox")
    assert result.exit_code == 0, result.output
    assert result.stderr.splitlines()[0].startswith("target: sandbox tenant ")
    assert "60 people × 14 dates" in result.stderr
    assert "about 24 attendance/list calls" in result.stderr
    assert result.stdout == truth_csv(db, clock, "2025-12-15", "2025-12-28")
    assert len(result.stdout.splitlines()) == 1 + 60 * 10 * 2
    assert {code for _, code in spy.errcodes} == {0}  # never 41041, never anything else
    assert spy.count(LIST) == 24


def test_export_json_to_a_file(db: Path, tmp_path: Path) -> None:
    out = tmp_path / "a.json"
    result = orgctl(
        "export", *PAST_WEEKS, "--user", "u0001", "--format", "json", "--out", str(out), "--sandbox"
    )
    assert result.exit_code == 0, result.output
    document = json.loads(out.read_text(encoding="utf-8"))
    assert document["complete"] is True
    assert (document["from"], document["to"], document["timezone"]) == (
        "2025-12-15",
        "2025-12-28",
        "Asia/Shanghai",
    )
    assert {r["userid"] for r in document["records"]} == {"u0001"}
    assert len(document["records"]) == 20
    assert document["records"][0]["base_check_time"].endswith("+08:00")


def test_csv_files_start_with_a_bom_for_excel(db: Path, tmp_path: Path) -> None:
    out = tmp_path / "a.csv"
    assert (
        orgctl("export", *PAST_WEEKS, "--user", "u0001", "--out", str(out), "--sandbox").exit_code
        == 0
    )
    assert out.read_bytes().startswith(b"\xef\xbb\xbfuserid,name,")


def test_another_time_zone_shifts_times(db: Path) -> None:
    result = orgctl(
        "export",
        "--from",
        "2025-12-29",
        "--to",
        "2025-12-29",
        "--user",
        "u0001",
        "--timezone",
        "Asia/Tokyo",
        "--sandbox",
    )
    assert result.exit_code == 0, result.output
    assert "+09:00" in result.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--from", "2025-12-32", "--to", "2025-12-31"), "--from: '2025-12-32' is not a date"),
        (("--from", "2025-12-20", "--to", "2025-12-10"), "wrong order"),
        (("--from", "2025-07-01", "--to", "2025-07-02"), "older than 180 days"),
        (("--from", "2026-02-01", "--to", "2026-02-02"), "in the future"),
        ((*PAST_WEEKS, "--timezone", "Asia/Nowhere"), "unknown time zone"),
        ((*PAST_WEEKS, "--department", "nope"), "--department nope: no such department"),
        ((*PAST_WEEKS, "--user", "u9999"), "--user u9999: no such user"),
    ],
)
def test_bad_input_is_refused_before_any_attendance_call(
    db: Path, spy: Spy, args: tuple[str, ...], message: str
) -> None:
    result = orgctl("export", *args, "--sandbox")
    assert result.exit_code == 1
    assert message in result.stderr
    assert result.stdout == ""
    assert spy.calls == []


def test_max_calls_below_the_estimate_refuses_up_front(db: Path, spy: Spy, tmp_path: Path) -> None:
    out = tmp_path / "a.csv"
    result = orgctl("export", *PAST_WEEKS, "--max-calls", "23", "--out", str(out), "--sandbox")
    assert result.exit_code == 1
    assert "about 24 attendance/list calls, more than --max-calls 23" in result.stderr
    assert spy.calls == []
    assert not out.exists()
    assert orgctl("export", *PAST_WEEKS, "--max-calls", "24", "--sandbox").exit_code == 0


def test_quota_exhaustion_stops_and_reports_what_was_exported(
    db: Path, clock: FakeClock, spy: Spy, tmp_path: Path
) -> None:
    spy.fail = lambda api, n: ApiError(90020, "您的企业本月api调用量已超过限制") if n > 20 else None
    out = tmp_path / "a.json"
    result = orgctl("export", *PAST_WEEKS, "--format", "json", "--out", str(out), "--sandbox")
    assert result.exit_code == 1
    assert "INCOMPLETE" in result.stderr
    assert "errcode 90020" in result.stderr
    match = re.search(r"exported (\d+) of 4 chunks \((\d+) rows", result.stderr)
    assert match is not None
    document = json.loads(out.read_text(encoding="utf-8"))
    assert document["complete"] is False
    assert int(match.group(2)) == len(document["records"])
    assert len(document["missing"]) == 4 - int(match.group(1)) > 0
    # Exported rows are whole chunks, and true.
    truth = list(csv.DictReader(io.StringIO(truth_csv(db, clock, "2025-12-15", "2025-12-28"))))
    exported = [{k: str(v) for k, v in r.items()} for r in document["records"]]
    assert all(r in truth for r in exported)
    missing_people = {u for m in document["missing"] for u in m["userids"]}
    assert missing_people
    assert spy.count(LIST) <= 20 + 8  # nothing new once 90020 came back


def test_summary_html_is_a_self_contained_file(db: Path, tmp_path: Path) -> None:
    out = tmp_path / "s.html"
    result = orgctl(
        "summary",
        *PAST_WEEKS,
        "--department",
        "eng",
        "--format",
        "html",
        "--out",
        str(out),
        "--sandbox",
    )
    assert result.exit_code == 0, result.output
    page = out.read_text(encoding="utf-8")
    assert page.startswith("<!DOCTYPE html>")
    assert "<svg" in page
    assert "研发中心/平台组/数据库" in page
    assert not re.search(r"https?:|//|<script|@import|url\(|src=|href=", page)


def test_summary_table_counts_add_up(db: Path, clock: FakeClock) -> None:
    result = orgctl(
        "summary", *PAST_WEEKS, "--user", "u0002", "--format", "csv", "--lang", "en", "--sandbox"
    )
    assert result.exit_code == 0, result.output
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    person = next(r for r in rows if r["scope"] == "person")
    time_results = ("Normal", "Late", "SeriousLate", "Early", "Absenteeism", "NotSigned")
    assert sum(int(person[k]) for k in time_results) == 20  # 10 weekdays × 2
    assert orgctl("summary", *PAST_WEEKS, "--lang", "en", "--sandbox").stdout.startswith(
        "Attendance 2025-12-15 to 2025-12-28"
    )
    assert orgctl("summary", *PAST_WEEKS, "--sandbox").stdout.startswith(
        "考勤汇总 2025-12-15 至 2025-12-28（Asia/Shanghai）\n"
    )


HEADER = "userid,device_name,device_id,check_time\n"


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "punches.csv"
    path.write_text(text, encoding="utf-8")
    return path


def test_a_file_with_bad_rows_sends_nothing_and_names_every_line(
    db: Path, clock: FakeClock, spy: Spy, tmp_path: Path
) -> None:
    path = write(
        tmp_path,
        HEADER
        + "u0001,门禁,d1,2026-01-05T08:50:00\n"
        + "ghost,门禁,d1,2026-01-05T08:50:00\n"
        + "u0002,门禁,d1,2026-01-05 8h50\n"
        + "u0003,门禁,d1,2025-06-01T08:50:00\n"
        + "u0004,门禁,d1,2026-01-08T08:50:00\n",
    )
    result = orgctl("upload", str(path), "--sandbox")
    assert result.exit_code == 1
    located = [x for x in result.stderr.splitlines() if x.startswith(str(path))]
    assert [x.split(":")[1] for x in located] == ["3", "4", "5", "6"]
    assert "4 rows are bad" in result.stderr
    assert "nothing was sent" in result.stderr
    assert spy.count(UPLOAD) == 0
    with opened(db, clock) as sb:
        assert sb.writes() == []


def test_upload_then_export_round_trip(db: Path, clock: FakeClock, tmp_path: Path) -> None:
    path = write(
        tmp_path,
        HEADER
        + "u0001,门禁,d1,2026-01-05T00:30:00\n"  # 00:30 local: OnDuty of 01-05, not 01-04
        + "u0001,门禁,d1,2026-01-05T23:59:00+08:00\n"
        + "u0002,Gate,d2,2026-01-05T22:10:00Z\n",  # 06:10 local on 01-06
    )
    result = orgctl("upload", str(path), "--sandbox")
    assert result.exit_code == 0, result.output
    assert "uploaded 3 punches" in result.stdout
    export = orgctl(
        "export",
        "--from",
        "2026-01-04",
        "--to",
        "2026-01-06",
        "--user",
        "u0001",
        "--user",
        "u0002",
        "--sandbox",
    )
    rows = list(csv.DictReader(io.StringIO(export.stdout)))
    got = {(r["userid"], r["work_date"], r["check_type"]): r for r in rows}
    on = got[("u0001", "2026-01-05", "OnDuty")]
    assert (on["user_check_time"], on["time_result"], on["source_type"]) == (
        "2026-01-05T00:30:00+08:00",
        "Normal",
        "ATM",
    )
    off = got[("u0001", "2026-01-05", "OffDuty")]
    assert (off["user_check_time"], off["time_result"]) == ("2026-01-05T23:59:00+08:00", "Normal")
    assert got[("u0002", "2026-01-06", "OnDuty")]["user_check_time"] == "2026-01-06T06:10:00+08:00"
    assert all(r["work_date"] != "2026-01-04" for r in rows)  # a Sunday: nothing scheduled


def test_a_failure_midway_says_exactly_what_was_sent(
    db: Path, clock: FakeClock, spy: Spy, tmp_path: Path
) -> None:
    spy.fail = lambda api, n: ApiError(90020, "quota") if api == UPLOAD and n == 2 else None
    path = write(
        tmp_path, HEADER + "".join(f"u000{i},门禁,d1,2026-01-06T08:0{i}:00\n" for i in range(1, 5))
    )
    result = orgctl("upload", str(path), "--sandbox")
    assert result.exit_code == 1
    assert "line 3: the org's monthly API quota is spent (errcode 90020)" in result.stderr
    assert "sent (1): lines 2" in result.stderr
    assert "failed (1, not recorded): line 3" in result.stderr
    assert "not sent (2): lines 4-5" in result.stderr
    with opened(db, clock) as sb:
        # The sandbox's write log: one applied, one refused, two never sent.
        assert [(w.body["userid"], w.errcode) for w in sb.writes()] == [
            ("u0001", 0),
            ("u0002", 90020),
        ]


def test_check_validates_without_sending(
    db: Path, clock: FakeClock, spy: Spy, tmp_path: Path
) -> None:
    path = write(tmp_path, HEADER + "u0001,门禁,d1,2026-01-06T08:00:00\n")
    result = orgctl("upload", str(path), "--check", "--sandbox")
    assert result.exit_code == 0, result.output
    assert "1 punch in" in result.stdout
    assert "nothing was sent" in result.stdout
    assert spy.count(UPLOAD) == 0


def test_punch_sends_one_and_refuses_a_future_one(db: Path, clock: FakeClock, spy: Spy) -> None:
    ok = orgctl(
        "punch",
        "--user",
        "u0003",
        "--time",
        "2026-01-07T08:41:00",
        "--device-id",
        "d9",
        "--device-name",
        "前台",
        "--sandbox",
    )
    assert ok.exit_code == 0, ok.output
    assert "uploaded 1 punch" in ok.stdout
    future = orgctl(
        "punch",
        "--user",
        "u0003",
        "--time",
        "2026-01-07T18:00:00",
        "--device-id",
        "d9",
        "--device-name",
        "前台",
        "--sandbox",
    )
    assert future.exit_code == 1
    assert "in the future" in future.stderr
    with opened(db, clock) as sb:
        assert [w.body["user_check_time"] for w in sb.writes()] == [
            round(dt.datetime(2026, 1, 7, 8, 41, tzinfo=SHANGHAI).timestamp() * 1000)
        ]


@pytest.fixture
def http_target(clock: FakeClock, monkeypatch: pytest.MonkeyPatch) -> Iterator[Sandbox]:
    sb = Sandbox(clock=clock)
    seed(sb.tenant, 12)
    with serve(sb) as server:
        monkeypatch.setenv("DINGTALK_BASE_URL", server.url)
        monkeypatch.setenv("DINGTALK_APP_KEY", APP_KEY)
        monkeypatch.setenv("DINGTALK_APP_SECRET", APP_SECRET)
        yield sb
    sb.close()


def test_export_over_loopback_http(http_target: Sandbox) -> None:
    result = orgctl("export", *PAST_WEEKS)
    assert result.exit_code == 0, result.output
    assert result.stderr.startswith("target: DingTalk http://127.0.0.1:")
    users = sorted(u["userid"] for u in http_target.tenant.users())
    records = att.results_between(
        http_target.tenant, users, dt.date(2025, 12, 15), dt.date(2025, 12, 28)
    )
    assert result.stdout == render_csv(to_rows(records, org_of(http_target), SHANGHAI))


def test_a_terminal_gets_a_progress_bar(db: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cli_attendance, "is_terminal", lambda: True)
    result = orgctl("export", *PAST_WEEKS, "--user", "u0001", "--sandbox")
    assert result.exit_code == 0, result.output
    assert "attendance: 1/1 chunks" not in result.stderr  # not the plain lines
    assert result.stdout.count("\n") == 21


def test_an_empty_department_exports_nothing_without_calling(
    db: Path, clock: FakeClock, spy: Spy
) -> None:
    with opened(db, clock) as sb:
        sb.tenant.add_department("空部门", source_identifier="empty")
    result = orgctl("export", *PAST_WEEKS, "--department", "empty", "--sandbox")
    assert result.exit_code == 0, result.output
    assert "nobody is in the selected departments" in result.stderr
    assert result.stdout.splitlines() == [result.stdout.splitlines()[0]]
    assert result.stdout.startswith("userid,name,department,work_date,")
    assert spy.calls == []


def test_the_policy_files_time_zone_is_the_default(db: Path, tmp_path: Path) -> None:
    org_dir = tmp_path / "org"
    org_dir.mkdir()
    (org_dir / "orgctl.yaml").write_text("timezone: Asia/Tokyo\n", encoding="utf-8")
    args = ("export", "--from", "2025-12-29", "--to", "2025-12-29", "--user", "u0001")
    result = orgctl(*args, "--org", str(org_dir), "--sandbox")
    assert result.exit_code == 0, result.output
    assert "+09:00" in result.stdout
    explicit = orgctl(*args, "--org", str(org_dir), "--timezone", "Asia/Shanghai", "--sandbox")
    assert "+08:00" in explicit.stdout
    (org_dir / "orgctl.yaml").write_text("timezone: Mars/Olympus\n", encoding="utf-8")
    broken = orgctl(*args, "--org", str(org_dir), "--sandbox")
    assert broken.exit_code == 1
    assert "Mars/Olympus" in broken.stderr
