"""How long `orgctl pull` takes on a large org with a handful of console changes.

    .venv/bin/python bench/pull.py [--sizes 400,10000,100000] [--markdown docs/benchmarks/pull.md]

For each size an org is generated (about one department per ten people under twenty top-level
departments, people in one or two departments with mobiles, titles, emails and managers) and
written the way `orgctl dump` writes it: ``departments.yaml`` and one file of people per
top-level department. A live org is derived from it with about 100 console changes (one in four
hundred of the people at 400): titles, renames, new mobiles, people removed and added,
departments renamed and moved. Then, as `orgctl pull` does, in a fresh subprocess per size:

* load — `load_desired` of the YAML (the same load plan and validate do);
* files — `OrgFiles.load`: reading the org files for editing;
* pull — `pull` (diff, edits of the files in memory) and `OrgFiles.write`;
* check — `load_desired` again and `build_plan` against the live org, which must be empty
  (not part of pull's cost; it proves the edits are right).

Times are CPU seconds (`time.process_time()`).
"""

from __future__ import annotations

import argparse
import json
import random
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

from reconciler.desired.edit import OrgFiles
from reconciler.desired.load import load_desired
from reconciler.live.dump import dump_org
from reconciler.live.pull import pull
from reconciler.model import ROOT, Department, Org, User
from reconciler.plan.planner import build_plan

TITLES = ("工程师", "高级工程师", "经理", "总监", "专员", "设计师")
TOP = 20


def make_org(n_users: int, seed: int = 7) -> Org:
    rng = random.Random(seed)
    n_depts = max(TOP, n_users // 10)
    depts: list[Department] = []
    for i in range(n_depts):
        parent = ROOT if i < TOP else depts[rng.randrange(max(0, i - 200), i)].key
        key = f"d{i}"
        depts.append(
            Department(key=key, name=f"部门{i}", parent=parent, order=i % 50, source_identifier=key)
        )
    keys = [d.key for d in depts]
    users = [
        User(
            userid=f"user{i:06d}",
            name=f"员工{i}",
            departments=tuple(sorted({rng.choice(keys) for _ in range(rng.choice((1, 1, 2)))})),
            mobile=f"+86-139{i:08d}",
            title=rng.choice(TITLES),
            email=f"user{i}@example.com",
            job_number=f"E{i:06d}",
        )
        for i in range(n_users)
    ]
    return Org.of(depts, users)


def console_changes(org: Org, n: int, seed: int = 11) -> Org:
    """``org`` with ``n`` changes made in the console."""
    rng = random.Random(seed)
    users = dict(org.users)
    departments = dict(org.departments)
    ids = sorted(users)
    keys = sorted(departments)
    for i in range(n):
        roll = i % 10
        if roll < 4:
            uid = rng.choice(ids)
            users[uid] = replace(users[uid], title="资深" + (users[uid].title or ""))
        elif roll < 5:
            uid = rng.choice(ids)
            users[uid] = replace(users[uid], mobile=f"+86-158{int(uid[4:]):08d}")
        elif roll < 6:
            users.pop(rng.choice(ids), None)
        elif roll < 8:
            uid = f"new{i:06d}"
            users[uid] = User(
                userid=uid,
                name=f"新人{i}",
                departments=(rng.choice(keys),),
                mobile=f"+86-177{i:08d}",
            )
        elif roll < 9:
            key = rng.choice(keys)
            departments[key] = replace(departments[key], name=departments[key].name + "新")
        else:
            key = rng.choice(keys[TOP:] or keys)
            departments[key] = replace(departments[key], order=(departments[key].order or 0) + 1)
    return Org.of(list(departments.values()), list(users.values()))


def measure(n_users: int) -> dict[str, float | int]:
    base = make_org(n_users)
    live = console_changes(base, 100 if n_users >= 10_000 else max(8, n_users // 14))
    with tempfile.TemporaryDirectory() as tmp:
        org_dir = Path(tmp) / "org"
        dumped = dump_org(base)
        for name, text in dumped.items():
            path = org_dir / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
        t0 = time.process_time()
        desired, policy = load_desired(org_dir)
        t1 = time.process_time()
        files = OrgFiles.load(org_dir, desired)
        t2 = time.process_time()
        result = pull(desired, live, policy, files)
        written = files.write()
        t3 = time.process_time()
        again, policy = load_desired(org_dir)
        plan = build_plan(again, live, policy)
        assert plan.empty, f"plan after pull is not empty: {len(plan.steps)} steps"
        return {
            "people": n_users,
            "departments": len(base.departments),
            "files": len(dumped),
            "changes": len(result.changes),
            "written": len(written),
            "load": round(t1 - t0, 2),
            "files_load": round(t2 - t1, 2),
            "pull": round(t3 - t2, 2),
        }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", default="400,10000,100000")
    parser.add_argument("--markdown", type=Path)
    parser.add_argument("--one", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        print(json.dumps(measure(args.one)))
        return
    rows = []
    for size in (int(s) for s in args.sizes.split(",")):
        run = subprocess.run(
            [sys.executable, __file__, "--one", str(size)],
            check=True,
            capture_output=True,
            text=True,
        )
        rows.append(json.loads(run.stdout))
        print(rows[-1], flush=True)
    if args.markdown:
        head = "| people | departments | files | changes | files written | load s | "
        head += "read files s | pull + write s |\n|---|---|---|---|---|---|---|---|\n"
        body = "".join(
            f"| {r['people']:,} | {r['departments']:,} | {r['files']} | {r['changes']} | "
            f"{r['written']} | {r['load']} | {r['files_load']} | {r['pull']} |\n"
            for r in rows
        )
        args.markdown.write_text(head + body, encoding="utf-8")


if __name__ == "__main__":
    main()
