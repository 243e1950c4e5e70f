"""`orgctl attendance export|summary|upload|punch`: attendance (考勤) for HR.

Every attendance call is metered: on a standard-edition org the monthly quota is 5,000 calls
(errcode 90020), so export and summary show their cost before calling,
``--max-calls`` caps it, and a run that stops early says exactly what it did and did not get.
Directory reads (who is in which department) are contacts calls, outside the quota.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import enum
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, TaskProgressColumn, TextColumn
from rich.progress import Progress as Bar

from reconciler.attendance import report
from reconciler.attendance import summary as summary_render
from reconciler.attendance.export import Export, plan_export, run_export
from reconciler.attendance.fetch import Progress, Stop
from reconciler.attendance.labels import Lang
from reconciler.attendance.render import render_csv, render_json
from reconciler.attendance.upload import (
    UPLOAD_API,
    Punch,
    RowProblem,
    UploadResult,
    check_punch,
    parse_punches,
    send_punches,
)
from reconciler.attendance.window import Window, check_window, local_today, parse_date, zone
from reconciler.cli.app import app, err, is_terminal, out, reported
from reconciler.desired.load import POLICY_FILE, load_policy
from reconciler.errors import InputError, QuotaExhaustedError
from reconciler.live.snapshot import read_live
from reconciler.live.target import Target, open_target
from reconciler.model import Org
from reconciler.policy import DEFAULT_POLICY

attendance_app = typer.Typer(
    help="Attendance (考勤): export punch results, summarise them, upload punches.",
    no_args_is_help=True,
)
app.add_typer(attendance_app, name="attendance")

QUOTA_NOTE = "attendance calls count against the org's monthly API quota (5,000 on standard)"
MISSING_SHOWN = 10


class ExportFormat(enum.StrEnum):
    csv = "csv"
    json = "json"


class SummaryFormat(enum.StrEnum):
    table = "table"
    csv = "csv"
    markdown = "markdown"
    html = "html"


FromOption = Annotated[
    str, typer.Option("--from", help="First work date, YYYY-MM-DD, in the org's time zone.")
]
ToOption = Annotated[str, typer.Option("--to", help="Last work date, YYYY-MM-DD (included).")]
DepartmentOption = Annotated[
    list[str] | None,
    typer.Option(
        "--department",
        help="A department key (its source_identifier, or #<dept_id>): everyone in its "
        "subtree. Repeatable; adds to --user.",
    ),
]
UserOption = Annotated[
    list[str] | None, typer.Option("--user", help="A userid. Repeatable; adds to --department.")
]
TimezoneOption = Annotated[
    str | None,
    typer.Option(
        "--timezone",
        help="The org's IANA time zone, for dates and times (default: timezone in the "
        f"policy file, else {DEFAULT_POLICY.timezone}).",
    ),
]
OrgOption = Annotated[
    Path,
    typer.Option(
        "--org",
        help="The desired-state directory whose orgctl.yaml gives the org's time zone.",
        file_okay=False,
    ),
]
MaxCallsOption = Annotated[
    int | None,
    typer.Option(
        "--max-calls",
        min=1,
        help="Refuse to start if the estimate is above N metered calls; stop cleanly at N.",
    ),
]
OutOption = Annotated[
    Path | None, typer.Option("--out", dir_okay=False, help="Write here instead of stdout.")
]
SandboxOption = Annotated[bool, typer.Option("--sandbox", help="Use the embedded sandbox tenant.")]


# ------------------------------------------------------------------------------- export


@attendance_app.command("export")
def export_command(
    from_: FromOption,
    to: ToOption,
    department: DepartmentOption = None,
    user: UserOption = None,
    format_: Annotated[
        ExportFormat, typer.Option("--format", help="csv (Excel-ready with --out) or json.")
    ] = ExportFormat.csv,
    out_file: OutOption = None,
    timezone: TimezoneOption = None,
    org_dir: OrgOption = Path("org"),
    max_calls: MaxCallsOption = None,
    sandbox: SandboxOption = False,
) -> None:
    """Export punch results (attendance/list): one row per person, work date and check point."""
    with reported():
        tz_name, export, _live = _run_export(
            from_, to, department, user, timezone, org_dir, max_calls, sandbox
        )
        if format_ is ExportFormat.json:
            text = render_json(export.rows, _meta(export, tz_name))
        else:
            text = render_csv(export.rows)
        _write(text, out_file, bom=format_ is ExportFormat.csv)
        where = f" to {out_file}" if out_file else ""
        err(f"exported {len(export.rows)} rows{where} ({export.fetch.calls} attendance/list calls)")
        _finish(export)


# ------------------------------------------------------------------------------ summary


@attendance_app.command("summary")
def summary_command(
    from_: FromOption,
    to: ToOption,
    department: DepartmentOption = None,
    user: UserOption = None,
    format_: Annotated[
        SummaryFormat,
        typer.Option("--format", help="table, csv, markdown, or html (one self-contained file)."),
    ] = SummaryFormat.table,
    out_file: OutOption = None,
    lang: Annotated[
        Lang,
        typer.Option(
            "--lang", help="Labels: zh (正常, 迟到, 严重迟到, 早退, 旷工, 缺卡, 外勤) or en."
        ),
    ] = Lang.zh,
    timezone: TimezoneOption = None,
    org_dir: OrgOption = Path("org"),
    max_calls: MaxCallsOption = None,
    sandbox: SandboxOption = False,
) -> None:
    """Count results per person, department and day, and list the absences.

    正常 Normal, 迟到 Late, 严重迟到 SeriousLate, 早退 Early, 旷工 Absenteeism and 缺卡
    NotSigned are time results; 外勤 Outside counts punches outside the allowed location.
    The HTML page also draws the results per department beside the daily trend.
    """
    with reported():
        tz_name, export, org = _run_export(
            from_, to, department, user, timezone, org_dir, max_calls, sandbox
        )
        summary = summary_render.summarize(
            export.rows,
            org,
            export.plan.userids,
            export.plan.window,
            tz_name,
            complete=export.complete,
        )
        renderers: dict[SummaryFormat, Callable[[summary_render.Summary, Lang], str]] = {
            SummaryFormat.table: summary_render.render_table,
            SummaryFormat.csv: summary_render.render_csv,
            SummaryFormat.markdown: summary_render.render_markdown,
            SummaryFormat.html: report.render_html,
        }
        _write(renderers[format_](summary, lang), out_file, bom=format_ is SummaryFormat.csv)
        if out_file:
            err(f"wrote the summary of {len(export.rows)} check points to {out_file}")
        _finish(export)


# --------------------------------------------------------------------- export machinery


def _run_export(
    from_: str,
    to: str,
    departments: Sequence[str] | None,
    users: Sequence[str] | None,
    timezone: str | None,
    org_dir: Path,
    max_calls: int | None,
    sandbox: bool,
) -> tuple[str, Export, Org]:
    """What export and summary share. Dates, zone, window and selectors are all checked
    before the first attendance call; dates and zone even before the target is opened."""
    tz_name, tz = _zone(timezone, org_dir)
    start, end = parse_date(from_, "--from"), parse_date(to, "--to")
    target = open_target(sandbox=sandbox)
    err(target.description)
    today = local_today(target.client.clock.now(), tz)
    try:
        window = check_window(start, end, today=today)
    except InputError:
        asyncio.run(target.aclose())
        raise
    if window.end != end:
        err(f"note: --to {end} is in the future; exporting up to today, {window.end} ({tz_name})")
    export, org = asyncio.run(
        _export(target, window, tz, departments or (), users or (), max_calls)
    )
    return tz_name, export, org


async def _export(
    target: Target,
    window: Window,
    tz: dt.tzinfo,
    departments: Sequence[str],
    users: Sequence[str],
    max_calls: int | None,
) -> tuple[Export, Org]:
    async with target:
        live = await read_live(target.client)
        plan = plan_export(live, window, departments=departments, users=users, max_calls=max_calls)
        if not plan.userids:
            err("note: nobody is in the selected departments: the export is empty")
        budget = f", at most {max_calls}" if max_calls is not None else ""
        err(f"{plan.describe()}{budget}; {QUOTA_NOTE}")
        with _progress(plan.estimated_calls, len(plan.chunks)) as report:
            export = await run_export(
                target.client, live, plan, tz, max_calls=max_calls, on_progress=report
            )
        return export, live


@contextmanager
def _progress(estimated: int, chunks: int) -> Iterator[Callable[[Progress], None]]:
    """A rich progress bar on a terminal; otherwise a plain line at every tenth of the chunks."""
    if not is_terminal():
        step = max(1, chunks // 10)
        shown = {0}

        def plain(progress: Progress) -> None:
            done = progress.chunks_done
            if done not in shown and (done % step == 0 or done == progress.chunks_total):
                shown.add(done)
                err(
                    f"attendance: {done}/{progress.chunks_total} chunks, "
                    f"{progress.calls} calls, {progress.records} records"
                )

        yield plain
        return
    bar = Bar(
        TextColumn("attendance/list"),
        BarColumn(),
        MofNCompleteColumn(),
        TaskProgressColumn(),
        TextColumn("{task.fields[records]} records"),
        console=Console(stderr=True),
        transient=True,
    )
    task = bar.add_task("calls", total=estimated, records=0)

    def fancy(progress: Progress) -> None:
        # The estimate assumes a weekday schedule; a real org may need more pages.
        bar.update(
            task,
            completed=progress.calls,
            total=max(estimated, progress.calls),
            records=progress.records,
        )

    with bar:
        yield fancy


def _zone(timezone: str | None, org_dir: Path) -> tuple[str, dt.tzinfo]:
    """The org's time zone: --timezone, else the policy file's, else the default."""
    name = timezone
    if name is None:
        policy_file = org_dir / POLICY_FILE
        name = load_policy(policy_file).timezone if policy_file.is_file() else None
    name = name or DEFAULT_POLICY.timezone
    return name, zone(name)


def _meta(export: Export, tz_name: str) -> dict[str, Any]:
    meta: dict[str, Any] = {
        "from": export.plan.window.start.isoformat(),
        "to": export.plan.window.end.isoformat(),
        "timezone": tz_name,
        "people": len(export.plan.userids),
        "complete": export.complete,
    }
    if not export.complete:
        meta["missing"] = [
            {
                "userids": list(chunk.userids),
                "from": chunk.window.start.isoformat(),
                "to": chunk.window.end.isoformat(),
            }
            for chunk in export.fetch.missing
        ]
    return meta


def _finish(export: Export) -> None:
    """Exit 0 on a complete export; otherwise say why it stopped and what is missing, exit 1."""
    fetch = export.fetch
    if fetch.complete:
        return
    if fetch.stop is Stop.QUOTA:
        why = (
            "DingTalk says the org's monthly API quota is spent (errcode 90020): no more "
            "attendance calls until next month or an upgrade"
        )
    elif fetch.stop is Stop.BUDGET:
        why = (
            f"--max-calls reached after {fetch.calls} calls (estimated {fetch.estimated}: this "
            "org has more check points than a weekday 09:00/18:00 schedule)"
        )
    else:
        why = f"a DingTalk call failed: {fetch.error}"
    err(f"error: the export is INCOMPLETE: {why}.")
    people = {u for chunk in fetch.done for u in chunk.userids}
    err(
        f"exported {len(fetch.done)} of {len(fetch.done) + len(fetch.missing)} chunks "
        f"({len(export.rows)} rows, {len(people)} people, {fetch.calls} calls); "
        f"not exported ({len(fetch.missing)} chunks):"
    )
    for chunk in fetch.missing[:MISSING_SHOWN]:
        err(f"  {chunk.describe()}")
    if len(fetch.missing) > MISSING_SHOWN:
        err(f"  … and {len(fetch.missing) - MISSING_SHOWN} more (the json format lists them all)")
    raise typer.Exit(1)


def _write(text: str, path: Path | None, *, bom: bool) -> None:
    if path is None:
        out(text, nl=False)
        return
    # Excel opens a UTF-8 CSV as the local code page unless it starts with a BOM (Chinese
    # names would come out garbled), so CSV files get one.
    try:
        path.write_text(text, encoding="utf-8-sig" if bom else "utf-8")
    except OSError as error:
        raise InputError(f"cannot write {path}: {error.strerror}") from None


# ------------------------------------------------------------------------------- upload


@attendance_app.command("upload")
def upload_command(
    file: Annotated[
        Path,
        typer.Argument(
            help="CSV with columns userid,device_name,device_id,check_time[,photo_url]; "
            "check_time is ISO 8601, without an offset it is the org's local time.",
            dir_okay=False,
        ),
    ],
    timezone: TimezoneOption = None,
    org_dir: OrgOption = Path("org"),
    max_calls: Annotated[
        int | None,
        typer.Option("--max-calls", min=1, help="Refuse files with more than N punches."),
    ] = None,
    check: Annotated[
        bool, typer.Option("--check", help="Validate every row and stop: send nothing.")
    ] = False,
    sandbox: SandboxOption = False,
) -> None:
    """Upload punches from a third-party device (topapi/attendance/record/upload).

    Every row is checked first (user exists, time well-formed, not in the future, not older
    than 180 days); if any row is bad, each is reported by line and nothing is sent.
    """
    with reported():
        _, tz = _zone(timezone, org_dir)
        try:
            text = file.read_text(encoding="utf-8-sig")
        except (OSError, UnicodeDecodeError) as error:
            raise InputError(f"cannot read {file}: {error}") from None
        target = open_target(sandbox=sandbox)
        err(target.description)

        def parse(live: Org, now: float) -> tuple[Punch, ...]:
            punches, problems = parse_punches(text, tz=tz, now=now, known_users=live.users)
            _refuse(problems, str(file))
            return punches

        asyncio.run(_upload(target, parse, max_calls, check, str(file)))


@attendance_app.command("punch")
def punch_command(
    user: Annotated[str, typer.Option("--user", help="The userid who punched.")],
    at: Annotated[
        str,
        typer.Option("--time", help="ISO 8601 date and time; without an offset, org local time."),
    ],
    device_id: Annotated[str, typer.Option("--device-id", help="The device's id.")],
    device_name: Annotated[str, typer.Option("--device-name", help="The device's name.")],
    photo_url: Annotated[
        str | None, typer.Option("--photo-url", help="A publicly reachable photo.")
    ] = None,
    timezone: TimezoneOption = None,
    org_dir: OrgOption = Path("org"),
    sandbox: SandboxOption = False,
) -> None:
    """Upload one punch (topapi/attendance/record/upload)."""
    with reported():
        _, tz = _zone(timezone, org_dir)
        target = open_target(sandbox=sandbox)
        err(target.description)
        fields = {
            "userid": user,
            "device_name": device_name,
            "device_id": device_id,
            "check_time": at,
            "photo_url": photo_url or "",
        }

        def parse(live: Org, now: float) -> tuple[Punch, ...]:
            punch, problems = check_punch(0, fields, tz=tz, now=now, known_users=live.users)
            _refuse(problems, "")
            assert punch is not None  # no problems means a punch
            return (punch,)

        asyncio.run(_upload(target, parse, None, False, "punch"))


def _refuse(problems: Sequence[RowProblem], where: str) -> None:
    if not problems:
        return
    for problem in problems:
        err(f"{where}:{problem.line}: {problem.message}" if where else problem.message)
    rows = len({p.line for p in problems})
    noun = "row is" if rows == 1 else "rows are"
    raise InputError(f"{rows} {noun} bad{' in ' + where if where else ''}: nothing was sent")


async def _upload(
    target: Target,
    parse: Callable[[Org, float], tuple[Punch, ...]],
    max_calls: int | None,
    check: bool,
    source: str,
) -> None:
    async with target:
        live = await read_live(target.client)
        punches = parse(live, target.client.clock.now())
        if max_calls is not None and len(punches) > max_calls:
            raise InputError(
                f"{len(punches)} punches need {len(punches)} calls, more than --max-calls "
                f"{max_calls}: nothing was sent"
            )
        noun = "punch" if len(punches) == 1 else "punches"
        if check:
            out(f"{len(punches)} {noun} in {source} are valid; nothing was sent (--check)")
            return
        err(f"sending {len(punches)} {noun}: {len(punches)} {UPLOAD_API} calls; {QUOTA_NOTE}")
        clock = target.client.clock  # the injected clock, so a FakeClock run reports its time
        started = clock.monotonic()
        result = await send_punches(target.client, punches)
        _report_upload(result, len(punches), source, clock.monotonic() - started)


def _report_upload(result: UploadResult, total: int, source: str, elapsed: float) -> None:
    if result.complete:
        noun = "punch" if total == 1 else "punches"
        out(f"uploaded {total} {noun} from {source} ({elapsed:.1f} s)")
        return
    failed = result.failed
    assert failed is not None
    where = f"line {failed.line}" if failed.line else "the punch"
    if isinstance(result.error, QuotaExhaustedError):
        err(f"error: {where}: the org's monthly API quota is spent (errcode 90020)")
    else:
        err(f"error: {where}: {result.error}")
    if result.outcome_unknown:
        err(
            f"  {where} MAY OR MAY NOT have been recorded (no answer after sending): check with "
            f"`orgctl attendance export --user {failed.userid} --from "
            f"{failed.check_time.date()} --to {failed.check_time.date()}` before sending it again"
        )
    if failed.line:
        err(f"sent ({len(result.sent)}): {_lines(result.sent)}")
        failed_state = "outcome unknown" if result.outcome_unknown else "not recorded"
        err(f"failed (1, {failed_state}): line {failed.line}")
        err(f"not sent ({len(result.unsent)}): {_lines(result.unsent)}")
    raise typer.Exit(1)


def _lines(punches: Sequence[Punch]) -> str:
    """Line numbers, consecutive runs folded: ``2-5, 8, 10-11``; ``none`` when empty."""
    numbers = [p.line for p in punches]
    if not numbers:
        return "none"
    runs: list[str] = []
    first = last = numbers[0]
    for n in numbers[1:]:
        if n == last + 1:
            last = n
            continue
        runs.append(f"{first}-{last}" if last > first else str(first))
        first = last = n
    runs.append(f"{first}-{last}" if last > first else str(first))
    return "lines " + ", ".join(runs)


__all__ = ["attendance_app"]
