"""How close `orgctl apply` comes to DingTalk's rate-limit floor. Run by hand:

    .venv/bin/python bench/apply.py [--departments 300] [--users 3000] [--latency 0.03]

A sandbox tenant is seeded directly, then a desired org is derived from it with about 2,000
mixed changes: new departments (some nested in new ones), renames, moves and reorders,
departments deleted after their people move out, managers set, people created, updated,
moved, pruned, and re-created for a new mobile. Each run starts from a copy of the same seeded
tenant, served over loopback HTTP by a separate process with per-answer latency and the real
20 QPS per API limit, and applies the same plan: once with orgctl's executor, once with one
step in flight at a time (``concurrency=1``). Only the apply is timed (not the read or plan).

The floor is max over APIs of calls / QPS: no executor can beat it without being throttled.
The phase-barrier floor is what an executor that finishes each phase before the next could
reach at best: the sum over phases of that phase's own floor.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import random
import shutil
import sqlite3
import subprocess
import sys
import tempfile
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from reconciler.apply.executor import (
    DEFAULT_CONCURRENCY,
    ApplyReport,
    apply_plan,
)
from reconciler.apply.ordering import API_OF_ACTION
from reconciler.clock import SYSTEM_CLOCK, FakeClock
from reconciler.dingtalk import DingTalkClient
from reconciler.live.snapshot import read_live
from reconciler.model import ROOT, Department, Org, User
from reconciler.plan.planner import Plan, build_plan
from reconciler.policy import Policy
from reconciler.sandbox import APP_KEY, APP_SECRET, Sandbox

SERVER = """
import sys
from pathlib import Path
import reconciler.sandbox.server
from reconciler.sandbox import Sandbox, serve
db, latency, qps = sys.argv[1], float(sys.argv[2]), float(sys.argv[3])
# http.server writes headers and body separately; with Nagle on, the body waits for the
# client's delayed ACK (~40 ms). --latency should be the only latency measured.
reconciler.sandbox.server._Handler.disable_nagle_algorithm = True
sb = Sandbox(Path(db), qps=qps)
sb.faults.latency = latency
with serve(sb) as server:
    print(server.url, flush=True)
    sys.stdin.read()  # until the bench closes our stdin
sb.close()
"""

POLICY = Policy(prune_users=True, prune_departments=True)
SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何林罗高"
GIVEN = "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚"


@dataclass
class Run:
    label: str
    seconds: float
    calls: Counter[str]
    report: ApplyReport
    converged: bool


# ---------------------------------------------------------------------------- the tenant


def seed(sb: Sandbox, departments: int, users: int, rng: random.Random) -> None:
    ids = [1]
    for n in range(departments):
        parent = 1 if n < 10 else ids[1 + (n - 10) // 6]  # 10 at the top, then 6 per parent
        ids.append(
            sb.tenant.add_department(
                f"部门{n}", parent, order=rng.randint(1, 1000), source_identifier=f"d{n}"
            )
        )
    for n in range(users):
        sb.tenant.add_user(
            f"u{n:06d}",
            rng.choice(SURNAMES) + rng.choice(GIVEN) + rng.choice(GIVEN),
            f"+86-13{n % 10}{n:08d}",
            [rng.choice(ids[1:])],
            title=rng.choice(["工程师", "经理", "专员"]),
            email=f"u{n:06d}@example.com",
        )


def desired_from(live: Org, rng: random.Random, scale: float) -> Org:
    """``live`` with about 2,000 × scale mixed changes, valid as the loader would accept."""
    depts = {
        k: dataclasses.replace(d, dept_id=None, source_identifier=None)
        for k, d in live.departments.items()
    }
    users = dict(live.users)

    def n(count: int) -> int:
        return max(1, round(count * scale))

    children: dict[str, list[str]] = {}
    for key, dept in depts.items():
        children.setdefault(dept.parent, []).append(key)
    leaves = sorted(k for k in depts if k not in children)
    rng.shuffle(leaves)
    top = sorted(children.get(ROOT, []))

    # Departments deleted once their people move to the parent (phase 7 after phase 5).
    doomed = set(leaves[: n(20)])
    for key in doomed:
        parent = depts[key].parent
        for user in list(users.values()):
            if key in user.departments:
                moved = {d for d in user.departments if d != key} | {parent}
                users[user.userid] = dataclasses.replace(user, departments=tuple(sorted(moved)))
        del depts[key]
    survivors = [k for k in leaves if k not in doomed]
    # Moves: a leaf goes under another top-level department (never its own descendant).
    for key in survivors[: n(40)]:
        choices = [t for t in top if t != depts[key].parent]
        depts[key] = dataclasses.replace(depts[key], parent=rng.choice(choices))
    # Renames and reorders.
    for key in survivors[n(40) : n(40) + n(80)]:
        depts[key] = dataclasses.replace(depts[key], name=depts[key].name + "新")
    for key in survivors[n(120) : n(120) + n(30)]:
        depts[key] = dataclasses.replace(depts[key], order=(depts[key].order or 0) + 1)
    # New departments: half at the top, half inside those.
    new_keys = [f"new{i}" for i in range(n(100))]
    for i, key in enumerate(new_keys):
        parent = ROOT if i < len(new_keys) // 2 else new_keys[i % (len(new_keys) // 2)]
        depts[key] = Department(key=key, name=f"新部门{i}", parent=parent, order=i)

    ids = sorted(users)
    rng.shuffle(ids)
    cursor = 0

    def take(count: int) -> list[str]:
        nonlocal cursor
        picked = ids[cursor : cursor + count]
        cursor += count
        return picked

    for userid in take(n(150)):  # pruned
        del users[userid]
    for i, userid in enumerate(take(n(100))):  # a new mobile: delete + create
        users[userid] = dataclasses.replace(users[userid], mobile=f"+86-159{i:08d}")
    for userid in take(n(350)):  # a title
        users[userid] = dataclasses.replace(
            users[userid], title="高级" + (users[userid].title or "")
        )
    for userid in take(n(250)):  # moved, some into a new department
        target = rng.choice(new_keys if rng.random() < 0.5 else sorted(depts))
        users[userid] = dataclasses.replace(users[userid], departments=(target,))
    for i in range(n(560)):  # new people
        userid = f"n{i:06d}"
        users[userid] = User(
            userid=userid,
            name=rng.choice(SURNAMES) + rng.choice(GIVEN),
            mobile=f"+86-158{i:08d}",
            departments=(rng.choice(new_keys if i % 3 == 0 else sorted(depts)),),
            title="工程师",
            email=f"{userid}@example.com",
        )
    # Managers: one member of each of some departments.
    members: dict[str, list[str]] = {}
    for user in users.values():
        for key in user.departments:
            members.setdefault(key, []).append(user.userid)
    with_members = sorted(k for k in depts if members.get(k))
    for key in with_members[: n(60)]:
        depts[key] = dataclasses.replace(depts[key], managers=(min(members[key]),))
    return Org.of(list(depts.values()), list(users.values()))


# ---------------------------------------------------------------------------- one run


async def read(url: str, qps: float) -> Org:
    async with DingTalkClient(app_key=APP_KEY, app_secret=APP_SECRET, base_url=url, qps=qps) as c:
        return await read_live(c)


async def apply(
    url: str, plan: Plan, live: Org, concurrency: int, qps: float
) -> tuple[float, Counter[str], ApplyReport]:
    # The client's own cap on calls in flight, as shipped: a bench-only cap would hide it.
    client = DingTalkClient(app_key=APP_KEY, app_secret=APP_SECRET, base_url=url, qps=qps)
    async with client:
        report = await apply_plan(plan, client, live, clock=SYSTEM_CLOCK, concurrency=concurrency)
    return report.elapsed, client.calls_made, report  # elapsed: the apply alone, monotonic


def run_once(
    base: Path, work: Path, label: str, desired: Org, concurrency: int, args: argparse.Namespace
) -> tuple[Run, Plan]:
    db = work / f"{label.replace(' ', '_')}.db"
    shutil.copyfile(base, db)
    command = [sys.executable, "-c", SERVER, str(db), str(args.latency), str(args.qps)]
    with subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True) as p:
        assert p.stdout is not None
        assert p.stdin is not None
        url = p.stdout.readline().strip()
        try:
            live = asyncio.run(read(url, args.qps))
            plan = build_plan(desired, live, POLICY)
            seconds, calls, report = asyncio.run(apply(url, plan, live, concurrency, args.qps))
            converged = build_plan(desired, asyncio.run(read(url, args.qps)), POLICY).empty
        finally:
            p.stdin.close()
    return Run(label, seconds, calls, report, converged), plan


def phase_barrier_floor(plan: Plan, qps: float) -> float:
    per_phase: dict[int, Counter[str]] = {}
    for step in plan.steps:
        per_phase.setdefault(int(step.phase), Counter())[API_OF_ACTION[step.action]] += 1
    return sum(max(c.values()) / qps for c in per_phase.values())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--departments", type=int, default=300)
    parser.add_argument("--users", type=int, default=3000)
    parser.add_argument("--scale", type=float, default=1.0, help="× the ~2,000 changes")
    parser.add_argument("--latency", type=float, default=0.03, help="seconds per answer")
    parser.add_argument("--qps", type=float, default=20.0, help="per API, client and server")
    parser.add_argument("--concurrency", type=int, default=DEFAULT_CONCURRENCY)
    parser.add_argument("--no-serial", action="store_true", help="skip the one-at-a-time run")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        base = work / "base.db"
        sb = Sandbox(qps=0, clock=FakeClock())  # in memory: seeding is faster than on disk
        seed(sb, args.departments, args.users, random.Random(42))
        with sb.tenant.lock, sqlite3.connect(base) as copy:
            sb.tenant.db.backup(copy)
        sb.close()

        # The desired org, derived once from what the seeded tenant reads as.
        with subprocess.Popen(
            [sys.executable, "-c", SERVER, str(base), "0", "0"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        ) as p:
            assert p.stdout is not None
            assert p.stdin is not None
            url = p.stdout.readline().strip()
            live = asyncio.run(read(url, 1000.0))
            p.stdin.close()
        desired = desired_from(live, random.Random(7), args.scale)

        runs: list[Run] = []
        first, plan = run_once(base, work, "orgctl", desired, args.concurrency, args)
        runs.append(first)
        if not args.no_serial:
            runs.append(run_once(base, work, "one at a time", desired, 1, args)[0])

    planned = Counter(API_OF_ACTION[s.action] for s in plan.steps)
    calls = {api: n for api, n in first.calls.items() if api != "gettoken"}
    floor = max(calls.values()) / args.qps
    print(
        f"tenant: {len(live.departments)} departments, {len(live.users)} users; "
        f"plan: {len(plan.steps)} steps ({plan.summary.line()}); latency "
        f"{args.latency * 1000:.0f} ms; {args.qps:g} QPS per API; concurrency {args.concurrency}"
    )
    print()
    print("| API | steps planned | calls made | calls / QPS |")
    print("|---|---:|---:|---:|")
    for api in sorted(calls):
        short = api.removeprefix("topapi/v2/")
        print(
            f"| `{api}` | {planned.get(short, 0)} | {calls[api]} | {calls[api] / args.qps:.1f} s |"
        )
    print(f"| floor (max) | | | **{floor:.1f} s** |")
    print(f"| phase-barrier floor (Σ phases) | | | {phase_barrier_floor(plan, args.qps):.1f} s |")
    print()
    print("| executor | wall time | × floor | done | failed | converged |")
    print("|---|---:|---:|---:|---:|---|")
    for run in runs:
        print(
            f"| {run.label} | {run.seconds:.1f} s | {run.seconds / floor:.2f} | "
            f"{len(run.report.done)} | {len(run.report.failed)} | "
            f"{'yes' if run.converged else 'NO'} |"
        )


if __name__ == "__main__":
    main()
