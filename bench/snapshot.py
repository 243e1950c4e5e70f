"""How close a full snapshot comes to DingTalk's rate-limit floor. Run by hand:

    .venv/bin/python bench/snapshot.py [--departments 500] [--users 10000] [--latency 0.03]

A sandbox tenant is seeded directly (not through the API), then served over loopback HTTP by
a separate process (so the server does not compete with the client for the GIL) with
per-answer latency and the real 20 QPS per API limit. The snapshot is read twice: by orgctl's
client (three concurrent streams) and by the same code allowed one request in flight at a
time. The floor is max over APIs of calls / QPS: no client can beat it without being throttled.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from reconciler.dingtalk import DingTalkClient
from reconciler.live.snapshot import read_live
from reconciler.model import Org
from reconciler.sandbox import APP_KEY, APP_SECRET, Sandbox

SERVER = """
import sys
from pathlib import Path
from reconciler.sandbox import Sandbox, serve
db, latency, qps, errors, throttles = sys.argv[1], *map(float, sys.argv[2:])
sb = Sandbox(Path(db), qps=qps)
sb.faults.latency = latency
sb.faults.error_rate = errors
sb.faults.throttle_rate = throttles
with serve(sb) as server:
    print(server.url, flush=True)
    sys.stdin.read()  # until the bench closes our stdin
sb.close()
"""

SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何林罗高"
GIVEN = "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚"


@dataclass
class Run:
    label: str
    seconds: float
    cpu: float  # this process's CPU seconds: the client's own cost
    calls: Counter[str]
    org: Org


def seed(sb: Sandbox, departments: int, users: int, rng: random.Random) -> None:
    ids = [1]
    for n in range(departments):
        # a bushy tree: the first 8 at the top level, then up to 8 children per department
        parent = 1 if n < 8 else ids[1 + (n - 8) // 8]
        keyed = n % 10 != 0  # a tenth without source_identifier, as in a hand-built org
        ids.append(
            sb.tenant.add_department(
                f"部门{n}",
                parent,
                order=rng.randint(1, 1000),
                source_identifier=f"d{n}" if keyed else None,
            )
        )
    departments_only = ids[1:]
    for n in range(users):
        depts = [rng.choice(departments_only)]
        if n % 10 == 0:
            depts.append(rng.choice(departments_only))  # some people sit in two
        sb.tenant.add_user(
            f"u{n:06d}",
            rng.choice(SURNAMES) + rng.choice(GIVEN) + rng.choice(GIVEN),
            f"+86-13{n % 10}{n:08d}",
            list(dict.fromkeys(depts)),
            title=rng.choice(["工程师", "经理", "专员"]),
            email=f"u{n:06d}@example.com",
        )


async def snapshot(url: str, label: str, qps: float, **options: Any) -> Run:
    """One read; ``options`` override the client's defaults (the orgctl runs pass none, so
    they measure what orgctl ships)."""
    client = DingTalkClient(
        app_key=APP_KEY, app_secret=APP_SECRET, base_url=url, qps=qps, **options
    )
    async with client:
        started, cpu = time.monotonic(), time.process_time()
        org = await read_live(client)
        seconds, cpu = time.monotonic() - started, time.process_time() - cpu
    return Run(label, seconds, cpu, client.calls_made, org)


def serve_and_read(db: Path, args: argparse.Namespace) -> list[Run]:
    command = [sys.executable, "-c", SERVER, str(db)]
    command += map(str, (args.latency, args.qps, args.error_rate, args.throttle_rate))
    with subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True) as p:
        assert p.stdout is not None
        assert p.stdin is not None
        url = p.stdout.readline().strip()
        try:
            runs = [
                asyncio.run(snapshot(url, f"orgctl (3 streams) #{n + 1}", args.qps))
                for n in range(args.repeat)
            ]
            if not args.no_serial:
                runs.append(
                    asyncio.run(snapshot(url, "one call at a time", args.qps, max_in_flight=1))
                )
        finally:
            p.stdin.close()
    return runs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--departments", type=int, default=500)
    parser.add_argument("--users", type=int, default=10_000)
    parser.add_argument("--latency", type=float, default=0.03, help="seconds per answer")
    parser.add_argument("--qps", type=float, default=20.0, help="per API, client and server")
    parser.add_argument("--error-rate", type=float, default=0.0, help="share of 502 / -1 answers")
    parser.add_argument("--throttle-rate", type=float, default=0.0, help="share of extra 90018")
    parser.add_argument("--no-serial", action="store_true", help="skip the one-at-a-time run")
    parser.add_argument(
        "--repeat", type=int, default=1, help="orgctl runs (a shared machine is noisy)"
    )
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "sandbox.db"
        started = time.monotonic()
        sb = Sandbox(qps=args.qps)  # in memory: seeding is much faster than on disk
        seed(sb, args.departments, args.users, random.Random(42))
        with sb.tenant.lock, sqlite3.connect(db) as copy:
            sb.tenant.db.backup(copy)
        sb.close()
        seeded = time.monotonic() - started
        runs = serve_and_read(db, args)

    first = runs[0]
    assert all(r.org == first.org for r in runs), "the runs read different directories"
    apis = sorted(api for api in first.calls if api != "gettoken")
    floor = max(first.calls[api] for api in apis) / args.qps
    print(
        f"tenant: {len(first.org.departments)} departments, {len(first.org.users)} users "
        f"(seeded in {seeded:.1f} s); latency {args.latency * 1000:.0f} ms; "
        f"{args.qps:g} QPS per API; faults: {args.error_rate:.0%} errors, "
        f"{args.throttle_rate:.0%} extra throttles; "
        f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}"
    )
    print()
    print("| API | calls | calls / QPS |")
    print("|---|---:|---:|")
    for api in apis:
        print(f"| `{api}` | {first.calls[api]} | {first.calls[api] / args.qps:.1f} s |")
    print(f"| floor (max) | | **{floor:.1f} s** |")
    print()
    print("| client | wall time | × floor | calls (incl. retries) | client CPU |")
    print("|---|---:|---:|---:|---:|")
    for run in runs:
        total = sum(n for api, n in run.calls.items() if api != "gettoken")
        print(
            f"| {run.label} | {run.seconds:.1f} s | {run.seconds / floor:.2f} | {total} "
            f"| {run.cpu:.1f} s |"
        )


if __name__ == "__main__":
    main()
