"""The attendance report end to end on the sandbox, in a real browser: how long the summary
and the HTML take for an org, how big the page is, how long Chromium takes to paint it; and
the screenshot in docs/.

    .venv/bin/python -m bench.report [--people 40] [--days 28] [--screenshot FILE.png]

Needs a headless Chromium (apt-get install chromium; fonts-noto-cjk for the Chinese labels).
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import tempfile
import time
from pathlib import Path
from zoneinfo import ZoneInfo

from reconciler.attendance.export import plan_export, run_export
from reconciler.attendance.report import render_html
from reconciler.attendance.summary import summarize
from reconciler.attendance.window import Window
from reconciler.clock import FakeClock
from reconciler.live.snapshot import read_live
from reconciler.live.target import open_target
from reconciler.sandbox import Sandbox
from tests.attendance.browser import find_browser, screenshot
from tests.attendance.conftest import NOW, seed

SHANGHAI = ZoneInfo("Asia/Shanghai")


async def build(home: Path, clock: FakeClock, window: Window) -> str:
    target = open_target(sandbox=True, state_dir=home, clock=clock)
    async with target:
        live = await read_live(target.client)
        plan = plan_export(live, window)
        export = await run_export(target.client, live, plan, SHANGHAI)
    started = time.perf_counter()
    summary = summarize(export.rows, live, plan.userids, window, "Asia/Shanghai")
    page = render_html(summary)
    took = time.perf_counter() - started
    print(f"{len(export.rows)} check points, {len(plan.userids)} people, {window.days} days")
    print(f"summary + HTML: {took * 1000:.1f} ms, page {len(page.encode()) / 1024:.0f} KiB")
    return page


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--people", type=int, default=40)
    parser.add_argument("--days", type=int, default=28)
    parser.add_argument("--screenshot", type=Path, default=None)
    args = parser.parse_args()
    clock = FakeClock(start=NOW.timestamp())
    end = NOW.date() - dt.timedelta(days=1)
    window = Window(end - dt.timedelta(days=args.days - 1), end)
    with tempfile.TemporaryDirectory(prefix="orgctl-bench-report-") as tmp:
        home = Path(tmp)
        with Sandbox(home / "sandbox.db", clock=clock) as sandbox:
            seed(sandbox.tenant, args.people)
        page = asyncio.run(build(home, clock, window))
        html = home / "report.html"
        html.write_text(page, encoding="utf-8")
        browser = find_browser()
        if browser is None:
            print("no headless browser (apt-get install chromium): no screenshot")
            return
        png = args.screenshot or home / "report.png"
        started = time.perf_counter()
        screenshot(browser, html, png)
        print(f"{Path(browser).name} screenshot: {time.perf_counter() - started:.1f} s -> {png}")


if __name__ == "__main__":
    main()
