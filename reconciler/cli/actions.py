"""What orgctl does for GitHub Actions beyond printing: the job summary.

GitHub renders the Markdown appended to the file named by ``GITHUB_STEP_SUMMARY`` on the
run's page (up to 1 MiB per step), so a drift run or a plan shows without opening the log.
"""

from __future__ import annotations

import os
from collections.abc import Callable

from reconciler.cli.app import err

STEP_SUMMARY = "GITHUB_STEP_SUMMARY"


def append_step_summary(markdown: Callable[[], str]) -> None:
    """Append ``markdown()`` to the job summary when running under GitHub Actions; rendered
    only then. A summary that cannot be written is a warning: the command's result stands."""
    path = os.environ.get(STEP_SUMMARY)
    if not path:
        return
    try:
        with open(path, "a", encoding="utf-8") as summary:
            summary.write(markdown().rstrip("\n") + "\n\n")
    except OSError as error:
        err(f"warning: cannot write the job summary {path}: {error.strerror}")
