"""`orgctl doctor`: find out how a tenant behaves before trusting it with a plan.

    orgctl doctor [ORG_DIR] [--write [--user-mobile M]] [--format table|json] [--save]
                  [--sandbox]

Read checks always; ``--write`` adds checks in one hidden scratch department, removed again
(also on Ctrl-C; a leftover of a killed run is removed by the next ``--write`` run);
``--user-mobile`` adds one scratch user in it. ``--save`` records the observed traits in the
``tenant:`` section of ORG_DIR/orgctl.yaml, which plan and apply read.

Exit codes: 0 nothing blocks orgctl · 1 something does (the table says how to fix it) or an
error · 130 interrupted (after cleaning up).
"""

from __future__ import annotations

import asyncio
import json
import os
from dataclasses import replace
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from reconciler.cli.app import OrgDirArgument, command, err, is_terminal, out, reported
from reconciler.desired.load import POLICY_FILE, load
from reconciler.doctor.context import Options
from reconciler.doctor.endpoint import Endpoint
from reconciler.doctor.probe import run_doctor
from reconciler.doctor.report import Report, render_table
from reconciler.doctor.save import save_traits
from reconciler.errors import ConfigError, InputError
from reconciler.live.target import APP_KEY_VAR, APP_SECRET_VAR, Target, open_target
from reconciler.model import Org
from reconciler.policy import DEFAULT_POLICY, Policy, TenantTraits


class DoctorFormat(StrEnum):
    TABLE = "table"
    JSON = "json"


@command
def doctor(
    org_dir: OrgDirArgument = Path("org"),
    write: Annotated[
        bool,
        typer.Option(
            "--write",
            help="Also check writes, in one hidden scratch department it creates and deletes.",
        ),
    ] = False,
    user_mobile: Annotated[
        str | None,
        typer.Option(
            "--user-mobile",
            metavar="M",
            help="With --write: create one scratch user with this mobile (a number you own) "
            'to check whether "" clears a field, then delete it.',
        ),
    ] = None,
    fmt: Annotated[
        DoctorFormat, typer.Option("--format", "-f", help="table (terminal) or json.")
    ] = DoctorFormat.TABLE,
    save: Annotated[
        bool,
        typer.Option(
            "--save",
            help=f"Record what was observed in the tenant: section of ORG_DIR/{POLICY_FILE}.",
        ),
    ] = False,
    sandbox: Annotated[
        bool, typer.Option("--sandbox", help="Examine the embedded sandbox tenant.")
    ] = False,
) -> None:
    """Find out how this DingTalk tenant behaves: permissions, contact scope, rate limit,
    latency; with --write, department and user writes. Exit 1 when something blocks orgctl."""
    with reported():
        if user_mobile is not None and not write:
            raise InputError(
                "--user-mobile needs --write: the scratch user lives in the scratch department"
            )
        org, policy = _desired(org_dir)
        target = open_target(sandbox=sandbox)
        err(target.description)
        options = Options(qps=policy.qps, write=write, user_mobile=user_mobile, desired=org)
        try:
            report = asyncio.run(_run(target, options))
        except KeyboardInterrupt:
            err("interrupted: the scratch department and user (if any) were removed")
            raise typer.Exit(130) from None
        if fmt is DoctorFormat.JSON:
            out(json.dumps(report.as_json(), ensure_ascii=False, indent=2))
        else:
            out(render_table(report), nl=False)
        if save:
            path = org_dir / POLICY_FILE
            if not org_dir.is_dir():
                raise InputError(f"--save: {org_dir} is not a directory")
            traits = _merged(policy.tenant, report.traits)
            save_traits(path, traits)
            err(f"tenant traits written to {path}")
    raise typer.Exit(report.exit_code)


def _desired(org_dir: Path) -> tuple[Org | None, Policy]:
    """The YAML's org and policy, when ORG_DIR holds one; doctor runs without it too."""
    if not org_dir.is_dir():
        return None, DEFAULT_POLICY
    try:
        desired = load(org_dir)
    except ConfigError as error:
        for problem in error.problems:
            err(str(problem))
        err(f"warning: {error}: doctor runs without it (orgctl validate {org_dir})")
        return None, DEFAULT_POLICY
    return desired.org, desired.policy


def _merged(old: TenantTraits, new: TenantTraits) -> TenantTraits:
    """What this run did not observe (no --user-mobile, say) keeps the earlier value."""
    return replace(
        new,
        empty_string_clears=(
            new.empty_string_clears
            if new.empty_string_clears is not None
            else old.empty_string_clears
        ),
        unknown_user_errcode=new.unknown_user_errcode or old.unknown_user_errcode,
        rate_limit=new.rate_limit
        if new.rate_limit not in (None, "unknown")
        else (old.rate_limit or new.rate_limit),
    )


def endpoint_of(target: Target) -> Endpoint:
    """Doctor opens clients of its own (a wrong secret, unpaced bursts) for the same tenant."""
    client = target.client
    if target.sandbox is not None:
        from reconciler.sandbox import APP_SECRET

        return Endpoint(
            app_key=client.app_key,
            app_secret=APP_SECRET,
            base_url=client.base_url,
            clock=client.clock,
            transport=target.sandbox.transport,
        )
    secret = os.environ.get(APP_SECRET_VAR, "").strip()
    if not secret:
        raise InputError(f"{APP_KEY_VAR} is set but {APP_SECRET_VAR} is not")
    return Endpoint(
        app_key=client.app_key, app_secret=secret, base_url=client.base_url, clock=client.clock
    )


async def _run(target: Target, options: Options) -> Report:
    def step(name: str) -> None:
        if is_terminal():
            err(f"doctor: {name}…")

    async with target:
        return await run_doctor(endpoint_of(target), options, step=step)
