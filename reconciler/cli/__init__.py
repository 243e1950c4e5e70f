"""The `orgctl` command line. Each command lives in its own module and registers on `app`."""

from __future__ import annotations

from reconciler.cli.app import app

# Importing a module registers its commands. Keep one line per module.
from reconciler.cli import version as _version  # noqa: F401  isort: skip
from reconciler.cli import validate as _validate  # noqa: F401  isort: skip
from reconciler.cli import sandbox as _sandbox  # noqa: F401  isort: skip
from reconciler.cli import gh as _gh  # noqa: F401  isort: skip
from reconciler.cli import attendance as _attendance  # noqa: F401  isort: skip
from reconciler.cli import dump as _dump  # noqa: F401  isort: skip
from reconciler.cli import apply as _apply  # noqa: F401  isort: skip
from reconciler.cli import plan as _plan  # noqa: F401  isort: skip
from reconciler.cli import doctor as _doctor  # noqa: F401  isort: skip
from reconciler.cli import init as _init  # noqa: F401  isort: skip
from reconciler.cli import pull as _pull  # noqa: F401  isort: skip
from reconciler.cli import notify as _notify  # noqa: F401  isort: skip
from reconciler.cli import lifecycle as _lifecycle  # noqa: F401  isort: skip


def main() -> None:
    app()


__all__ = ["app", "main"]
