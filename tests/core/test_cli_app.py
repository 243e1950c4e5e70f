"""What every command shares (reconciler.cli.app): library warnings reach stderr through it."""

from __future__ import annotations

import logging

from typer.testing import CliRunner

from reconciler.cli.app import app
from reconciler.dingtalk.redact import install_log_redaction, register_secret

SECRET = "app-secret-for-the-warning-test"


@app.command("_warn_for_test", hidden=True)
def _warn_for_test() -> None:
    logging.getLogger("reconciler.dingtalk").warning("waiting 300 s; secret %s", SECRET)
    logging.getLogger("reconciler.dingtalk").info("retrying: routine, shown with --verbose")


def test_a_library_warning_is_shown_on_stderr_once_and_redacted():
    install_log_redaction()
    register_secret(SECRET)
    runner = CliRunner()
    result = runner.invoke(app, ["_warn_for_test"])
    again = runner.invoke(app, ["_warn_for_test"])  # the handler is installed only once
    assert result.exit_code == 0, result.output
    assert result.stderr == "warning: waiting 300 s; secret ***\n"
    assert again.stderr == result.stderr
    assert result.stdout == ""


def test_verbose_also_shows_routine_info_redacted_and_only_for_that_run():
    install_log_redaction()
    register_secret(SECRET)
    runner = CliRunner()
    verbose = runner.invoke(app, ["--verbose", "_warn_for_test"])
    quiet = runner.invoke(app, ["_warn_for_test"])
    assert verbose.exit_code == 0, verbose.output
    assert verbose.stderr == (
        "warning: waiting 300 s; secret ***\nretrying: routine, shown with --verbose\n"
    )
    assert SECRET not in verbose.stderr
    assert quiet.stderr == "warning: waiting 300 s; secret ***\n"
