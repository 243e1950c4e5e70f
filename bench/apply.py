"""How close `orgctl apply` comes to DingTalk's rate-limit floor, under either limiter. By hand:

    .venv/bin/python bench/apply.py [--scenario empty|mixed] [--latency 0.03] [--jitter 0.02]

``empty`` (the default): 30 departments (some nested) and 400 people created in an empty tenant.
``mixed``: a seeded tenant (300 departments, 3,000 people) and a desired org derived from it
with about 2,000 mixed changes: new departments (some nested in new ones), renames, moves and
reorders, departments deleted after their people move out, managers set, people created,
updated, moved, pruned, and re-created for a new mobile.

Each run starts from a copy of the same tenant, served over loopback HTTP by a separate process
(`_common.served`) with latency and jitter and 20 QPS per API read either strictly (a sliding
second) or as a token bucket, and applies the same plan with orgctl's executor; one more run on
the sliding window has a second process spending half of every write API's budget. Only the
apply is timed (not the read or plan).

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
import tempfile
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from _common import Server, competing, competitor_row, describe_machine, per_thousand, served

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

POLICY = Policy(prune_users=True, prune_departments=True)
SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何林罗高"
GIVEN = "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚"


WRITES = tuple(f"topapi/v2/{api}" for api in sorted(set(API_OF_ACTION.values())))


@dataclass
class Run:
    label: str
    seconds: float
    calls: Counter[str]  # every call sent, 90018s included
    throttles: int
    report: ApplyReport
    converged: bool
    server: Server
    competitor: dict[str, float]


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


def desired_new(departments: int, users: int, rng: random.Random) -> Org:
    """``departments`` new departments (a third nested in the others) and ``users`` people."""
    top = max(1, departments * 2 // 3)
    depts = [
        Department(
            key=f"new{i}",
            name=f"新部门{i}",
            parent=ROOT if i < top else f"new{i % top}",
            order=i,
        )
        for i in range(departments)
    ]
    people = [
        User(
            userid=f"n{i:06d}",
            name=rng.choice(SURNAMES) + rng.choice(GIVEN),
            mobile=f"+86-158{i:08d}",
            departments=(rng.choice(depts).key,),
            title="工程师",
            email=f"n{i:06d}@example.com",
        )
        for i in range(users)
    ]
    return Org.of(depts, people)


# ---------------------------------------------------------------------------- one run


async def read(url: str, qps: float) -> Org:
    async with DingTalkClient(app_key=APP_KEY, app_secret=APP_SECRET, base_url=url, qps=qps) as c:
        return await read_live(c)


async def apply(
    url: str, plan: Plan, live: Org, concurrency: int, qps: float
) -> tuple[float, DingTalkClient, ApplyReport]:
    # The client's defaults, as shipped, but for the calls in flight: --concurrency sets both.
    client = DingTalkClient(
        app_key=APP_KEY, app_secret=APP_SECRET, base_url=url, qps=qps, max_in_flight=concurrency
    )
    async with client:
        report = await apply_plan(plan, client, live, clock=SYSTEM_CLOCK, concurrency=concurrency)
    return report.elapsed, client, report  # elapsed: the apply alone, monotonic


def run_once(
    base: Path,
    work: Path,
    label: str,
    limiter: str,
    desired: Org,
    args: argparse.Namespace,
    *,
    rival_qps: float = 0.0,
) -> tuple[Run, Plan, Org]:
    db = work / f"run{len(list(work.iterdir()))}.db"
    shutil.copyfile(base, db)
    with served(
        db, limiter=limiter, qps=args.qps, latency=args.latency, jitter=args.jitter
    ) as server:
        live = asyncio.run(read(server.url, args.qps))
        plan = build_plan(desired, live, POLICY)
        time.sleep(1.0)  # the read's calls leave the server's window before the apply starts
        with competing(server.url, rival_qps, WRITES, (APP_KEY, APP_SECRET)) as rival:
            seconds, client, report = asyncio.run(
                apply(server.url, plan, live, args.concurrency, args.qps)
            )
        converged = build_plan(desired, asyncio.run(read(server.url, args.qps)), POLICY).empty
    run = Run(
        label,
        seconds,
        client.calls_made,
        client.throttles,
        report,
        converged,
        server,
        rival.seen,
    )
    return run, plan, live


def phase_barrier_floor(plan: Plan, qps: float) -> float:
    per_phase: dict[int, Counter[str]] = {}
    for step in plan.steps:
        per_phase.setdefault(int(step.phase), Counter())[API_OF_ACTION[step.action]] += 1
    return sum(max(c.values()) / qps for c in per_phase.values())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scenario", choices=("empty", "mixed"), default="empty")
    parser.add_argument("--departments", type=int, help="default 30 (empty) / 300 (mixed)")
    parser.add_argument("--users", type=int, help="default 400 (empty) / 3,000 (mixed)")
    parser.add_argument("--scale", type=float, default=1.0, help="mixed: × the ~2,000 changes")
    parser.add_argument("--latency", type=float, default=0.03, help="seconds per answer")
    parser.add_argument("--jitter", type=float, default=0.02, help="± seconds on the latency")
    parser.add_argument("--qps", type=float, default=20.0, help="per API, client and server")
    parser.add_argument("--limiters", default="sliding,bucket", help="server limiter readings")
    parser.add_argument(
        "--rival-share",
        type=float,
        default=0.5,
        help="budget share a second process spends in the last run (0: no such run)",
    )
    parser.add_argument("--concurrency", type=int, default=DEFAULT_CONCURRENCY)
    parser.add_argument("--serial", action="store_true", help="also one step at a time")
    args = parser.parse_args()
    mixed = args.scenario == "mixed"
    departments = args.departments or (300 if mixed else 30)
    users = args.users or (3000 if mixed else 400)

    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        base = work / "base.db"
        sb = Sandbox(qps=0, clock=FakeClock())  # in memory: seeding is faster than on disk
        if mixed:
            seed(sb, departments, users, random.Random(42))
        with sb.tenant.lock, sqlite3.connect(base) as copy:
            sb.tenant.db.backup(copy)
        sb.close()
        runs_dir = work / "runs"
        runs_dir.mkdir()

        if mixed:
            # The desired org, derived once from what the seeded tenant reads as.
            with served(base, limiter="sliding", qps=0, latency=0, jitter=0) as server:
                live = asyncio.run(read(server.url, 1000.0))
            desired = desired_from(live, random.Random(7), args.scale)
        else:
            desired = desired_new(departments, users, random.Random(7))

        limiters = args.limiters.split(",")
        runs: list[Run] = []
        for kind in limiters:
            run, plan, live = run_once(base, runs_dir, f"orgctl, {kind}", kind, desired, args)
            runs.append(run)
        if args.rival_share > 0:
            label = f"orgctl, {limiters[0]}, {args.rival_share:.0%} of the budget spent elsewhere"
            rival_qps = args.qps * args.rival_share
            runs.append(
                run_once(base, runs_dir, label, limiters[0], desired, args, rival_qps=rival_qps)[0]
            )
        if args.serial:
            serial = argparse.Namespace(**{**vars(args), "concurrency": 1})
            runs.append(run_once(base, runs_dir, "one at a time", limiters[0], desired, serial)[0])

    planned = Counter(API_OF_ACTION[s.action] for s in plan.steps)
    first = runs[0]
    calls = {
        api: n - first.server.seen.get(api, {}).get("refused", 0)
        for api, n in first.calls.items()
        if api in WRITES
    }
    floor = max(calls.values()) / args.qps
    print(
        f"tenant: {len(live.departments)} departments, {len(live.users)} users; desired: "
        f"{len(desired.departments)} departments, {len(desired.users)} users; "
        f"plan: {len(plan.steps)} steps ({plan.summary.line()}); latency "
        f"{args.latency * 1000:.0f} ± {args.jitter * 1000:.0f} ms; {args.qps:g} QPS per API; "
        f"concurrency {args.concurrency}; {describe_machine()}"
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
    print(
        "| run | wall time | × floor | calls | 90018 / 1,000 calls | most sent in a sliding "
        "second | done | failed | converged |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|---|")
    for run in runs:
        total = sum(n for api, n in run.calls.items() if api in WRITES)
        peak = max(run.server.seen.get(api, {}).get("peak_sent", 0) for api in WRITES)
        print(
            f"| {run.label} | {run.seconds:.1f} s | {run.seconds / floor:.2f} | {total} | "
            f"{per_thousand(run.throttles, total):.1f} | {peak} | {len(run.report.done)} | "
            f"{len(run.report.failed)} | {'yes' if run.converged else 'NO'} |"
        )
        if run.competitor:
            print(competitor_row(run.competitor, 9))


if __name__ == "__main__":
    main()
