"""A real headless browser for the attendance report: Chromium (Debian's `chromium`, or
Chrome) on the command line. Screenshots and the DOM after rendering; no driver library."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable", "chrome")
WIDTH, HEIGHT = 1360, 1000


def find_browser() -> str | None:
    for name in NAMES:
        found = shutil.which(name)
        if found:
            return found
    return None


def _run(browser: str, page: Path, *flags: str) -> subprocess.CompletedProcess[str]:
    with tempfile.TemporaryDirectory(prefix="orgctl-browser-") as profile:
        return subprocess.run(
            [
                browser,
                "--headless",
                # As root (containers, CI) Chromium refuses to start with its sandbox on.
                "--no-sandbox",
                "--disable-gpu",
                "--hide-scrollbars",
                "--force-device-scale-factor=1",
                "--no-first-run",
                f"--user-data-dir={profile}",
                f"--window-size={WIDTH},{HEIGHT}",
                *flags,
                page.resolve().as_uri(),
            ],
            capture_output=True,
            text=True,
            timeout=180,
            check=True,
        )


def screenshot(browser: str, page: Path, png: Path) -> None:
    _run(browser, page, f"--screenshot={png.resolve()}")
    if not png.is_file():
        raise RuntimeError(f"{browser} wrote no screenshot of {page}")


def rendered_dom(browser: str, page: Path) -> str:
    return _run(browser, page, "--dump-dom").stdout
