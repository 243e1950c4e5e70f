"""A commented, multi-file org (the repository's example) applied to a sandbox tenant, to be
changed "in the console" and pulled back."""

from __future__ import annotations

import asyncio
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

from reconciler.clock import FakeClock
from reconciler.desired.edit import OrgFiles
from reconciler.desired.load import load_desired
from reconciler.live.pull import PullResult, Scope, pull
from reconciler.model import Org
from reconciler.plan.planner import Plan, build_plan
from reconciler.sandbox import Sandbox
from tests.apply.helpers import apply_once, make_client, read


@dataclass
class Tenant:
    sb: Sandbox
    clock: FakeClock
    org: Path

    def live(self) -> Org:
        desired, _ = load_desired(self.org)

        async def go() -> Org:
            async with make_client(self.sb, self.clock) as client:
                return await read(client, desired)

        return asyncio.run(go())

    def dept_id(self, key: str) -> int:
        dept_id = self.live().departments[key].dept_id
        assert dept_id is not None
        return dept_id

    def pull(self, scope: Scope | None = None) -> PullResult:
        desired, policy = load_desired(self.org)
        files = OrgFiles.load(self.org, desired)
        result = pull(desired, self.live(), policy, files, scope or Scope())
        files.write()
        return result

    def plan(self) -> Plan:
        desired, policy = load_desired(self.org)
        return build_plan(desired, self.live(), policy)

    def git(self, *args: str) -> str:
        return git(self.org, *args)


def git(cwd: Path, *args: str) -> str:
    return subprocess.run(
        ["git", "-c", "user.name=t", "-c", "user.email=t@example.com", *args],
        cwd=cwd,
        check=True,
        capture_output=True,
        text=True,
    ).stdout


@pytest.fixture
def tenant(tmp_path: Path, sb: Sandbox, clock: FakeClock, repo_root: Path) -> Tenant:
    org = tmp_path / "org"
    shutil.copytree(repo_root / "org", org)
    desired, policy = load_desired(org)

    async def go() -> None:
        async with make_client(sb, clock) as client:
            run = await apply_once(client, desired, clock, policy)
            assert not run.report.failed, run.report

    asyncio.run(go())
    git(org, "init", "-q")
    git(org, "add", "-A")
    git(org, "commit", "-q", "-m", "org")
    result = Tenant(sb, clock, org)
    assert result.plan().empty, "the example org converges in one apply"
    return result
