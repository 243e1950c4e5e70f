"""`orgctl dump`: write the live directory as desired-state YAML, to start managing it as code."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Annotated

import typer

from reconciler.cli.app import command, err, is_terminal, out, reported
from reconciler.desired.load import POLICY_FILE, YAML_SUFFIXES
from reconciler.errors import InputError
from reconciler.live.dump import dump_org, generated_keys
from reconciler.live.snapshot import STREAMS, Progress, read_live
from reconciler.live.target import Target, open_target
from reconciler.model import Org


@command
def dump(
    out_dir: Annotated[
        Path,
        typer.Option("--out", help="Directory to write departments.yaml and people/*.yaml to."),
    ] = Path("org"),
    sandbox: Annotated[
        bool, typer.Option("--sandbox", help="Dump the embedded sandbox tenant.")
    ] = False,
    force: Annotated[
        bool,
        typer.Option(
            "--force", help="Replace the YAML files already in the directory (orgctl.yaml stays)."
        ),
    ] = False,
    managers: Annotated[
        bool,
        typer.Option(
            "--managers",
            help="Also read each user's manager (user/get: one call per user, 20 per second).",
        ),
    ] = False,
) -> None:
    """Write the live directory as YAML: the starting point for managing it with orgctl."""
    with reported():
        stale = _check_out_dir(out_dir, force)
        target = open_target(sandbox=sandbox)
        out(target.description)
        started = time.monotonic()
        live, calls = asyncio.run(_read(target, managers))
        files = dump_org(live)
        for path in stale:
            path.unlink()
        for name, text in files.items():
            path = out_dir / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
        elapsed = time.monotonic() - started
        out(_summary(live, out_dir, len(files), len(stale), calls, elapsed, managers))


async def _read(target: Target, managers: bool) -> tuple[Org, int]:
    progress = _progress()
    try:
        async with target:
            live = await read_live(target.client, progress=progress, read_managers=managers)
            return live, sum(target.client.calls_made.values())
    finally:
        if progress is not None:
            err("\r\033[K", nl=False)  # clear the progress line: what follows starts a line


def _check_out_dir(out_dir: Path, force: bool) -> list[Path]:
    """The YAML files --force will replace; refuses a non-empty directory without it."""
    if out_dir.exists() and not out_dir.is_dir():
        raise InputError(f"{out_dir} exists and is not a directory")
    if not out_dir.exists():
        return []
    entries = [p for p in out_dir.iterdir() if not p.name.startswith(".")]
    if entries and not force:
        raise InputError(
            f"{out_dir} is not empty: pass --force to replace its YAML files, "
            "or --out a new directory"
        )
    return sorted(
        p
        for p in out_dir.rglob("*")
        if p.is_file()
        and p.suffix in YAML_SUFFIXES
        and p.name != POLICY_FILE
        and not any(part.startswith(".") for part in p.relative_to(out_dir).parts)
    )


def _progress() -> Progress | None:
    """One self-rewriting line on a terminal; nothing otherwise (CI logs stay readable)."""
    if not is_terminal():
        return None
    state = {stream: (0, 0) for stream in STREAMS}
    last = 0.0

    def report(stream: str, done: int, total: int) -> None:
        nonlocal last
        state[stream] = (done, total)
        now = time.monotonic()
        if now - last < 0.1:
            return
        last = now
        shown = " · ".join(f"{s} {d}/{t}" for s, (d, t) in state.items() if t)
        err(f"\rreading: {shown}\033[K", nl=False)

    return report


def _summary(
    live: Org,
    out_dir: Path,
    files: int,
    replaced: int,
    calls: int,
    elapsed: float,
    managers: bool,
) -> str:
    rekeyed = sum(1 for live_key, key in generated_keys(live).items() if live_key != key)
    lines = [
        f"wrote {files} files to {out_dir}/: {len(live.departments)} departments, "
        f"{len(live.users)} users ({calls} API calls, {elapsed:.1f} s)"
    ]
    if replaced:
        lines.append(f"replaced {replaced} YAML files that were there before")
    if rekeyed:
        lines.append(
            f"{rekeyed} departments have no usable source_identifier: dumped with new keys "
            "(dept-<id>); the next plan adopts them (writes the key into DingTalk)"
        )
    if not managers:
        lines.append("users' managers were not read (--managers reads them: one call per user)")
    return "\n".join(lines)
