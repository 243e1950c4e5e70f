"""`orgctl version`."""

from __future__ import annotations

from reconciler import __version__
from reconciler.cli.app import command, out


@command
def version() -> None:
    """Print orgctl's version."""
    out(f"orgctl {__version__}")
