"""What the benchmarks share: a sandbox served over loopback HTTP from a separate process (so
the server does not compete with the client for the GIL), with either limiter reading of
"20 次/秒" and latency jitter, and a second process that spends part of the same app's budget.

The server's one-way latency is ``latency ± jitter`` (uniform), slept *before* the sandbox
sees the request: arrival times spread as over a network, which is what a sliding-window
limiter counts. When the bench closes its stdin, the server prints what it saw per API: every
arrival, the 90018s, and the most calls accepted in any sliding second.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

SERVER = """
import json, random, sys, time
from dataclasses import replace
from pathlib import Path
from reconciler.sandbox import STRICT, Sandbox, serve
db, limiter, qps, latency, jitter, errors, throttles = sys.argv[1:8]
# The strict profile with the chosen limiter: only the rate-limit reading differs between runs.
sb = Sandbox(Path(db), profile=replace(STRICT, rate_limit=limiter, qps=float(qps)))
sb.faults.error_rate = float(errors)
sb.faults.throttle_rate = float(throttles)
latency, jitter, rng = float(latency), float(jitter), random.Random(1)
handle = sb.handle
def delayed(*args):
    time.sleep(max(0.0, latency + rng.uniform(-jitter, jitter)))
    return handle(*args)
sb.handle = delayed
with serve(sb) as server:
    print(server.url, flush=True)
    sys.stdin.read()  # until the bench closes our stdin
seen = {}
for (app, api), arrivals in sb.limiter.arrivals.items():
    mine = seen.setdefault(api, {"arrivals": 0, "refused": 0})
    mine["arrivals"] += len(arrivals)
    mine["refused"] += sum(1 for _, ok in arrivals if not ok)
for api, mine in seen.items():
    mine["peak"] = sb.limiter.peak(api, accepted_only=True)
    mine["peak_sent"] = sb.limiter.peak(api)
print(json.dumps(seen), flush=True)
sb.close()
"""

COMPETITOR = """
import asyncio, json, sys
import httpx
url, qps, key, secret, *apis = sys.argv[1:]
qps = float(qps)
counts = {"sent": 0, "refused": 0, "failed": 0}
async def main():
    limits = httpx.Limits(max_connections=None, max_keepalive_connections=100)
    async with httpx.AsyncClient(base_url=url, limits=limits, timeout=None) as http:
        token = (await http.get("/gettoken", params={"appkey": key, "appsecret": secret})).json()
        token = token["access_token"]
        stop = asyncio.Event()
        asyncio.get_running_loop().add_reader(sys.stdin, stop.set)
        async def one(api):
            # An empty body: refused as a bad parameter, after the limiter counted the call.
            try:
                answer = await http.post(f"/{api}", params={"access_token": token}, json={})
            except httpx.HTTPError:
                counts["failed"] += 1
                return
            counts["refused"] += answer.json().get("errcode") == 90018
        async def pace(api):
            loop = asyncio.get_running_loop()
            start, n, pending = loop.time(), 0, set()
            while not stop.is_set():
                task = asyncio.create_task(one(api))
                pending.add(task)
                task.add_done_callback(pending.discard)
                counts["sent"] += 1
                n += 1
                await asyncio.sleep(max(0.0, start + n / qps - loop.time()))
            await asyncio.gather(*pending)
        started = asyncio.get_running_loop().time()
        await asyncio.gather(*(pace(api) for api in apis))
        counts["per_api_per_second"] = counts["sent"] / len(apis) / (
            asyncio.get_running_loop().time() - started
        )
asyncio.run(main())
print(json.dumps(counts), flush=True)
"""


@dataclass
class Server:
    url: str
    seen: dict[str, dict[str, int]] = field(default_factory=dict)
    """Filled when the server stops: API → arrivals, refused, peak (accepted), peak_sent."""


@dataclass
class Competitor:
    seen: dict[str, float] = field(default_factory=dict)
    """Filled when it stops: calls sent, how many came back 90018 (refused) or not at all
    (failed), and the calls a second it sent per API."""


def _env() -> dict[str, str]:
    root = str(Path(__file__).resolve().parent.parent)
    return {**os.environ, "PYTHONPATH": root + os.pathsep + os.environ.get("PYTHONPATH", "")}


@contextmanager
def served(
    db: Path,
    *,
    limiter: str,
    qps: float,
    latency: float,
    jitter: float,
    error_rate: float = 0.0,
    throttle_rate: float = 0.0,
) -> Iterator[Server]:
    """The sandbox in ``db`` served over loopback HTTP until the block ends."""
    command = [sys.executable, "-c", SERVER, str(db), limiter]
    command += map(str, (qps, latency, jitter, error_rate, throttle_rate))
    with subprocess.Popen(
        command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=_env()
    ) as process:
        assert process.stdout is not None
        assert process.stdin is not None
        server = Server(process.stdout.readline().strip())
        try:
            yield server
        finally:
            process.stdin.close()
            line = process.stdout.readline()
            if line:
                server.seen = json.loads(line)


@contextmanager
def competing(
    url: str, qps: float, apis: Sequence[str], app: tuple[str, str]
) -> Iterator[Competitor]:
    """Another process on the same app: ``qps`` calls a second on each of ``apis``, evenly
    paced and whatever the answers, until the block ends. ``qps`` 0: none."""
    competitor = Competitor()
    if qps <= 0:
        yield competitor
        return
    command = [sys.executable, "-c", COMPETITOR, url, str(qps), *app, *apis]
    with subprocess.Popen(
        command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=_env()
    ) as process:
        assert process.stdout is not None
        assert process.stdin is not None
        try:
            yield competitor
        finally:
            process.stdin.write("stop\n")
            process.stdin.close()
            line = process.stdout.readline()
            if line:
                competitor.seen = json.loads(line)


def per_thousand(part: float, whole: float) -> float:
    return 1000.0 * part / whole if whole else 0.0


def competitor_row(seen: dict[str, float], columns: int) -> str:
    """The results table's row for the other process of a competing run: its rate, what it
    sent and how often it was refused, in the calls and 90018 columns of a ``columns``-wide
    table."""
    sent, refused = int(seen["sent"]), int(seen["refused"])
    cells = [
        f"└ the other process, {seen['per_api_per_second']:.1f} calls/s per API",
        "",
        "",
        str(sent),
        f"{per_thousand(refused, sent):.1f}",
    ]
    cells += [""] * (columns - len(cells))
    return "| " + " | ".join(cells) + " |"


def describe_machine() -> str:
    return f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}"
