"""How long `build_plan` takes and how much memory it needs, at 1k, 10k and 100k people.

    .venv/bin/python bench/plan.py [--sizes 1000,10000,100000] [--markdown docs/benchmarks/plan.md]

For each size a live org is generated in memory (about one department per ten people, a
random tree up to five levels deep, people in one or two departments, mobiles, titles, emails,
managers), and a desired org derived from it with about 5 % differences: renamed, moved,
created and deleted departments, people created, deleted, moved, re-titled, re-managed, and a
few with a new mobile (replaces). Live departments carry dept_ids and one in twenty has no
source_identifier, so the matcher adopts by (parent, name).

Each size runs in a fresh subprocess, so peak RSS is that size's alone. Measured:

* plan CPU — `time.process_time()` around `build_plan` (diff, ordering, both fingerprints);
* render CPU — text, Markdown (capped) and JSON of that plan;
* traced peak — `tracemalloc` peak during a second `build_plan` (allocations made by planning,
  on top of the two orgs);
* max RSS — `resource.getrusage` of the subprocess: orgs, plan and interpreter together.
"""

from __future__ import annotations

import argparse
import json
import random
import resource
import subprocess
import sys
import time
import tracemalloc
from dataclasses import replace
from pathlib import Path

from reconciler.model import ROOT, Department, Org, User, unkeyed
from reconciler.plan.planner import build_plan
from reconciler.plan.render import render_json, render_markdown, render_text
from reconciler.policy import Policy

POLICY = Policy(prune_users=True, prune_departments=True)
TITLES = ("工程师", "高级工程师", "经理", "总监", "专员", "设计师")


def make_orgs(n_users: int, seed: int = 7) -> tuple[Org, Org]:
    rng = random.Random(seed)
    n_depts = max(10, n_users // 10)
    live_depts: list[Department] = []
    depth: dict[str, int] = {ROOT: 0}
    for i in range(n_depts):
        dept_id = i + 2
        candidates = [d for d in live_depts[-200:] if depth[d.key] < 5]
        parent = ROOT if i < 10 or not candidates else rng.choice(candidates).key
        keyed = i % 20 != 0  # one in twenty has no source_identifier: adopted
        key = f"d{i}" if keyed else unkeyed(dept_id)
        live_depts.append(
            Department(
                key=key,
                name=f"部门{i}",
                parent=parent,
                order=i % 50,
                managers=(),
                dept_id=dept_id,
                source_identifier=key if keyed else None,
            )
        )
        depth[key] = depth[parent] + 1
    keys = [d.key for d in live_depts]
    live_users: list[User] = []
    for i in range(n_users):
        depts = tuple(sorted({rng.choice(keys) for _ in range(rng.choice((1, 1, 1, 2)))}))
        live_users.append(
            User(
                userid=f"user{i:06d}",
                name=f"员工{i}",
                departments=depts,
                mobile=f"+86-139{i:08d}",
                title=rng.choice(TITLES),
                email=f"user{i}@example.com",
                job_number=f"E{i:06d}",
                manager=f"user{rng.randrange(i):06d}" if i else None,
            )
        )
    live = Org.of(live_depts, live_users)

    # Desired: every live department under its desired key ("d<i>"), ~5 % changed.
    desired_key = {d.key: f"d{i}" for i, d in enumerate(live_depts)}
    desired_key[ROOT] = ROOT
    desired_depts: dict[str, Department] = {}
    deleted_depts: set[str] = set()
    for i, d in enumerate(live_depts):
        key = desired_key[d.key]
        parent = desired_key[d.parent]
        name = d.name
        roll = rng.random()
        if roll < 0.02:
            name = f"部门{i}新"  # rename
        elif roll < 0.03 and i > 10:
            parent = desired_key[live_depts[rng.randrange(0, 10)].key]  # move near the top
        elif roll < 0.04 and i > 10 and not any(x.parent == d.key for x in live_depts[i : i + 1]):
            deleted_depts.add(key)
            continue
        desired_depts[key] = Department(key=key, name=name, parent=parent, order=d.order)
    # A deleted department's children move to its parent (skip if the parent is deleted too).
    for key, d in list(desired_depts.items()):
        while d.parent in deleted_depts:
            d = replace(d, name=f"{d.name}移", parent=ROOT)
        desired_depts[key] = d
    for i in range(n_depts // 100 + 1):  # new departments
        key = f"new{i}"
        desired_depts[key] = Department(key=key, name=f"新部门{i}", parent=ROOT, order=i)
    alive = sorted(desired_depts)

    desired_users: list[User] = []
    for u in live_users:
        roll = rng.random()
        if roll < 0.005:
            continue  # pruned
        depts = tuple(sorted(desired_key[k] for k in u.departments))
        if any(k in deleted_depts for k in depts) or roll < 0.015:
            depts = (rng.choice(alive),)  # moved
        title, mobile, manager = u.title, u.mobile, u.manager
        if 0.015 <= roll < 0.035:
            title = "资深" + (title or "")
        elif 0.035 <= roll < 0.040:
            mobile = f"+86-158{int(u.userid[4:]):08d}"  # replace
        elif 0.040 <= roll < 0.045 and manager:
            manager = f"user{rng.randrange(int(u.userid[4:]) or 1):06d}"
        desired_users.append(
            User(
                userid=u.userid,
                name=u.name,
                departments=depts,
                mobile=mobile,
                title=title,
                email=u.email,
                job_number=u.job_number,
                manager=manager,
            )
        )
    present = {u.userid for u in desired_users}
    desired_users = [
        u if u.manager is None or u.manager in present else replace(u, manager="")
        for u in desired_users
    ]
    for i in range(n_users // 200):  # new people
        desired_users.append(
            User(
                userid=f"new{i:06d}",
                name=f"新人{i}",
                departments=(rng.choice(alive),),
                mobile=f"+86-177{i:08d}",
                title=rng.choice(TITLES),
            )
        )
    return Org.of(list(desired_depts.values()), desired_users), live


def measure(n_users: int) -> dict[str, float | int]:
    desired, live = make_orgs(n_users)
    start = time.process_time()
    plan = build_plan(desired, live, POLICY)
    plan_cpu = time.process_time() - start

    start = time.process_time()
    render_text(plan, masked=True)
    markdown = render_markdown(plan)
    render_json(plan)
    render_cpu = time.process_time() - start

    tracemalloc.start()
    build_plan(desired, live, POLICY)
    _, traced_peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    summary = plan.summary.total
    return {
        "users": len(live.users),
        "departments": len(live.departments),
        "steps": len(plan.steps),
        "create": summary.create,
        "update": summary.update,
        "replace": summary.replace,
        "delete": summary.delete,
        "plan_cpu": plan_cpu,
        "render_cpu": render_cpu,
        "markdown_chars": len(markdown),
        "traced_peak_mb": traced_peak / 2**20,
        "max_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


def table(rows: list[dict[str, float | int]]) -> str:
    lines = [
        "| people | departments | steps | changed: create / update / replace / delete "
        "| plan CPU | render CPU | Markdown | traced peak | max RSS |",
        "|---:|---:|---:|---|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        lines.append(
            f"| {r['users']:,} | {r['departments']:,} | {r['steps']:,} | {r['create']:,} / "
            f"{r['update']:,} / {r['replace']:,} / {r['delete']:,} | {r['plan_cpu']:.2f} s "
            f"| {r['render_cpu']:.2f} s | {r['markdown_chars']:,} chars "
            f"| {r['traced_peak_mb']:.0f} MB | {r['max_rss_mb']:.0f} MB |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1000,10000,100000")
    parser.add_argument("--one", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        print(json.dumps(measure(args.one)))
        return
    rows = []
    for size in (int(s) for s in args.sizes.split(",")):
        done = subprocess.run(
            [sys.executable, str(Path(__file__).resolve()), "--one", str(size)],
            check=True,
            capture_output=True,
            text=True,
        )
        rows.append(json.loads(done.stdout))
        print(f"{size:,} people done", file=sys.stderr)
    print(table(rows))


if __name__ == "__main__":
    main()
