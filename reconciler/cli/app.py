"""The typer application and what every command shares: output streams and error handling.

The CLI is the only layer that prints and picks exit codes:
0 ok · 1 error · 2 changes pending (opt-in) · 3 unsafe plan refused · 4 stale plan.
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, NoReturn

import typer

from reconciler.errors import ConfigError, OrgctlError
from reconciler.plan.safety import Violation
from reconciler.textsafe import terminal_safe_styled

app = typer.Typer(
    name="orgctl",
    help="Keep a DingTalk (钉钉) org directory as code: validate, plan, apply, drift, attendance.",
    no_args_is_help=True,
    add_completion=True,  # --install-completion / --show-completion for bash, zsh, fish, pwsh
    pretty_exceptions_enable=False,
)


def out(text: str = "", *, nl: bool = True) -> None:
    """Write to stdout (results: plans, tables, exports). Control, bidi and zero-width
    characters are shown escaped: live names reach here, and any console admin types them."""
    typer.echo(terminal_safe_styled(text), nl=nl)


def err(text: str = "", *, nl: bool = True) -> None:
    """Write to stderr (progress, notices, errors), escaped like `out`."""
    typer.echo(terminal_safe_styled(text), nl=nl, err=True)


OrgDirArgument = Annotated[
    Path, typer.Argument(help="Directory of the desired org YAML (and orgctl.yaml).")
]
"""The ORG_DIR argument of the commands that read the desired state (default ``org``)."""

BaseDirOption = Annotated[
    Path | None,
    typer.Option(
        "--base-dir",
        help="Like --base, with the org as it was in a directory (e.g. a checkout of the PR's "
        "base beside the PR's org/). Not with --base.",
    ),
]
"""``--base-dir DIR``: the base org already checked out, where ORG_DIR is not inside the git
repository whose history holds the base (the plan workflow's ``pr/org``)."""


def report_refusals(violations: Iterable[Violation]) -> None:
    """One stderr line per safety rule that refused the plan, saying which --force lifts."""
    for violation in violations:
        hint = " (--force overrides this)" if violation.overridable else ""
        err(f"refused: {violation}{hint}")


def wants_color(no_color: bool = False) -> bool:
    """ANSI colours only on a terminal, and never with --no-color or a non-empty NO_COLOR
    (https://no-color.org)."""
    return not no_color and not os.environ.get("NO_COLOR") and sys.stdout.isatty()


def is_terminal() -> bool:
    return sys.stderr.isatty()


def fail(error: OrgctlError) -> NoReturn:
    """Report an orgctl error the way a user wants to read it, and exit with its code."""
    if isinstance(error, ConfigError):
        for problem in error.problems:
            err(str(problem))
        if error.omitted:
            err(f"… and {error.omitted} more")
        err(f"error: {error}")
    else:
        err(f"error: {error}")
    raise typer.Exit(error.exit_code)


@contextmanager
def reported() -> Iterator[None]:
    """Turn OrgctlError raised inside the block into a message and an exit code."""
    try:
        yield
    except OrgctlError as error:
        fail(error)


def command(func: Callable[..., None]) -> Callable[..., None]:
    """Register a top-level command. (Sub-apps use app.add_typer.)"""
    return app.command()(func)


class _ErrHandler(logging.Handler):
    """orgctl's own warnings (an IP-ban pause, say) reach the user through `err`, so the
    library logs and the CLI decides what is printed: never logging's last-resort handler."""

    def emit(self, record: logging.LogRecord) -> None:
        prefix = "warning: " if record.levelno >= logging.WARNING else ""
        err(f"{prefix}{record.getMessage()}")


def _show_logs(level: int) -> None:
    logger = logging.getLogger("reconciler")
    logger.setLevel(level)
    for handler in logger.handlers:
        if isinstance(handler, _ErrHandler):
            handler.setLevel(level)
            return
    logger.addHandler(_ErrHandler(level))


def _print_version(value: bool) -> None:
    from reconciler.cli.version import print_version_and_exit  # it imports this module

    print_version_and_exit(value)


@app.callback()
def _root(
    verbose: Annotated[
        bool,
        typer.Option(
            "--verbose",
            "-v",
            help="Also show retries, throttling and token refreshes as they happen.",
        ),
    ] = False,
    _version: Annotated[
        bool,
        typer.Option(
            "--version",
            is_eager=True,
            callback=_print_version,
            help="Print the version and commit, and exit.",
        ),
    ] = False,
) -> None:
    """Keep a DingTalk (钉钉) org directory as code: validate, plan, apply, drift, attendance."""
    _show_logs(logging.INFO if verbose else logging.WARNING)
