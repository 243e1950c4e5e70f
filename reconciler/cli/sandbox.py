"""`orgctl sandbox serve|reset|writes|messages`: run, empty and inspect the embedded DingTalk
tenant."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from reconciler.cli.app import app, err, out, reported
from reconciler.clock import utc_stamp
from reconciler.errors import InputError
from reconciler.sandbox import (
    AGENT_ID,
    APP_KEY,
    APP_SECRET,
    READONLY_APP_KEY,
    Sandbox,
    ServerHandle,
    default_db_path,
    profile_from,
    serve,
)
from reconciler.sandbox.profile import parse_settings
from reconciler.textsafe import terminal_safe

sandbox_app = typer.Typer(
    help="The embedded DingTalk tenant: serve it over HTTP, reset it, read its write log.",
    no_args_is_help=True,
)
app.add_typer(sandbox_app, name="sandbox")

DbOption = Annotated[
    Path | None,
    typer.Option(
        "--db",
        help="The tenant's SQLite file [default: $ORGCTL_HOME/sandbox.db or .orgctl/sandbox.db].",
        dir_okay=False,
    ),
]


def _wait(handle: ServerHandle) -> None:
    """Block until Ctrl-C (short joins keep the main thread responsive to the signal)."""
    while not handle.wait(0.5):
        pass


@sandbox_app.command("serve")
def serve_command(
    port: Annotated[int, typer.Option(min=0, max=65535, help="0 picks a free port.")] = 8765,
    host: Annotated[str, typer.Option(help="Loopback by default; the sandbox has no auth.")] = (
        "127.0.0.1"
    ),
    db: DbOption = None,
    profile: Annotated[
        str,
        typer.Option(
            help="How strictly to read DingTalk's documents: strict (the harder reading "
            "wherever they allow two) or lenient."
        ),
    ] = "strict",
    settings: Annotated[
        list[str] | None,
        typer.Option(
            "--set",
            metavar="KEY=VALUE",
            help="Change one knob of the profile, e.g. --set rate_limit=bucket --set qps=5 "
            "--set contact_scope=2,3 --set missing_permissions=qyapi_get_member. Repeatable.",
        ),
    ] = None,
    qps: Annotated[
        float | None,
        typer.Option(help="Calls per second per API (90018 beyond); same as --set qps=…"),
    ] = None,
    latency: Annotated[float, typer.Option(min=0.0, help="Seconds added to each answer.")] = 0.05,
    error_rate: Annotated[
        float, typer.Option(min=0.0, max=1.0, help="Share of HTTP 502 / errcode -1.")
    ] = 0.0,
    throttle_rate: Annotated[
        float, typer.Option(min=0.0, max=1.0, help="Share of extra 90018 answers.")
    ] = 0.0,
    timeout_rate: Annotated[
        float,
        typer.Option(min=0.0, max=1.0, help="Share of requests answered by a dropped connection."),
    ] = 0.0,
    ip_ban_rate: Annotated[
        float, typer.Option(min=0.0, max=1.0, help='Share of IP-ban bodies {"status":1111}.')
    ] = 0.0,
    seed: Annotated[int, typer.Option(help="Seed of the fault draws (same seed, same run).")] = 0,
    fail_api: Annotated[
        list[str] | None,
        typer.Option(
            "--fail-api",
            metavar="API=ERRCODE",
            help="Every call of API answers ERRCODE, unexecuted, e.g. "
            "--fail-api topapi/message/corpconversation/asyncsend_v2=1430003. Repeatable.",
        ),
    ] = None,
) -> None:
    """Serve the sandbox tenant over HTTP until Ctrl-C, and print how to point orgctl at it."""
    path = db or default_db_path()
    with reported():
        overrides = parse_settings(settings or [])
        if qps is not None:
            overrides.setdefault("qps", str(qps))
        active = profile_from(profile, overrides)
        failing = _failing_apis(fail_api or [])
    sandbox = Sandbox(path, profile=active, seed=seed)
    faults = sandbox.faults
    faults.latency, faults.error_rate, faults.throttle_rate = latency, error_rate, throttle_rate
    faults.timeout_rate, faults.ip_ban_rate = timeout_rate, ip_ban_rate
    faults.fail_api.update(failing)
    with reported():
        try:
            handle = serve(sandbox, host, port)
        except OSError as error:
            sandbox.close()
            raise InputError(f"cannot listen on {host}:{port}: {error.strerror}") from None
    try:
        err(f"sandbox tenant listening on {handle.url} (data: {path}); Ctrl-C stops it")
        err(f"profile {active.describe()}")
        # The sandbox's app secret is a fixed, public value: printing it leaks nothing.
        out(f"export DINGTALK_BASE_URL={handle.url}")
        out(f"export DINGTALK_APP_KEY={APP_KEY}")
        out(f"export DINGTALK_APP_SECRET={APP_SECRET}")
        err(f"a read-only app (its writes get 60011) is there too: {READONLY_APP_KEY}")
        err(f"work notices: the app's AgentID is {AGENT_ID} (notify.agent_id in orgctl.yaml)")
        _wait(handle)
    except KeyboardInterrupt:
        err("stopped")
    finally:
        handle.close()
        sandbox.close()


def _failing_apis(settings: list[str]) -> dict[str, int]:
    failing: dict[str, int] = {}
    for setting in settings:
        api, sep, errcode = setting.rpartition("=")
        if not sep or not api.strip() or not errcode.strip().lstrip("-").isdigit():
            raise InputError(f"--fail-api {setting!r}: expected API=ERRCODE")
        failing[api.strip().strip("/")] = int(errcode)
    return failing


@sandbox_app.command("reset")
def reset_command(db: DbOption = None) -> None:
    """Empty the sandbox tenant: only the root department is left (write log and tokens go)."""
    path = db or default_db_path()
    with Sandbox(path) as sandbox:
        sandbox.tenant.reset()
    err(f"reset the sandbox tenant at {path}")


@sandbox_app.command("writes")
def writes_command(db: DbOption = None) -> None:
    """Print the tenant's write log, oldest first: time, API, errcode, body."""
    path = db or default_db_path()
    with reported():
        if not path.exists():
            raise InputError(f"no sandbox tenant at {path}")
    with Sandbox(path) as sandbox:
        for write in sandbox.writes():
            at = utc_stamp(write.at, "milliseconds")
            body = json.dumps(write.body, ensure_ascii=False, separators=(",", ":"))
            out(f"{at} {write.api} errcode={write.errcode} {body}")


@sandbox_app.command("messages")
def messages_command(db: DbOption = None) -> None:
    """Print the work notices the tenant accepted, oldest first: time, task id, who got it
    (and who did not, with why), and the text."""
    path = db or default_db_path()
    with reported():
        if not path.exists():
            raise InputError(f"no sandbox tenant at {path}")
    with Sandbox(path) as sandbox:
        notices = sandbox.notices()
        if not notices:
            err("no work notices")
        for notice in notices:
            at = utc_stamp(notice.at, "seconds")
            got = [u for u, status, _ in notice.recipients if status in ("unread", "read")]
            missed = [
                f"{u} ({status}{f' {code}' if code is not None else ''})"
                for u, status, code in notice.recipients
                if status not in ("unread", "read")
            ]
            out(f"{at} task {notice.task_id} agent {notice.agent_id} {notice.msgtype}")
            out(f"  to: {terminal_safe(', '.join(got)) or '-'}")
            if missed:
                out(f"  not delivered: {terminal_safe(', '.join(missed))}")
            for line in notice.text().splitlines():
                out(f"  | {terminal_safe(line)}")
