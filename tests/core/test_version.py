"""`orgctl --version` (version and commit) and shell completion."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

from typer.testing import CliRunner

from reconciler import __version__
from reconciler.cli import app
from reconciler.cli import version as version_module

ORGCTL = Path(sys.executable).parent / "orgctl"


def test_version_flag_and_command_print_the_version_and_this_checkouts_commit(repo_root):
    head = subprocess.run(
        ["git", "-C", str(repo_root), "rev-parse", "--short=12", "HEAD"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    flag = CliRunner().invoke(app, ["--version"])
    command = CliRunner().invoke(app, ["version"])
    assert flag.exit_code == 0
    assert command.exit_code == 0
    assert flag.stdout == command.stdout
    assert re.fullmatch(
        rf"orgctl {re.escape(__version__)} \(commit {head}(-dirty)?\)\n", flag.stdout
    ), flag.stdout


def test_outside_a_work_tree_the_commit_pip_recorded_is_shown(monkeypatch, tmp_path):
    class Dist:
        def read_text(self, name: str) -> str | None:
            assert name == "direct_url.json"
            return json.dumps(
                {"url": "https://x", "vcs_info": {"vcs": "git", "commit_id": "ab" * 20}}
            )

    monkeypatch.setattr(version_module, "PACKAGE_DIR", tmp_path / "site-packages" / "reconciler")
    monkeypatch.setattr("importlib.metadata.distribution", lambda name: Dist())
    assert version_module.version_line() == f"orgctl {__version__} (commit {'ab' * 6})"


def test_a_release_without_a_recorded_commit_shows_the_version_alone(monkeypatch, tmp_path):
    class Dist:
        def read_text(self, name: str) -> str | None:
            return None

    monkeypatch.setattr(version_module, "PACKAGE_DIR", tmp_path / "site-packages" / "reconciler")
    monkeypatch.setattr("importlib.metadata.distribution", lambda name: Dist())
    assert version_module.version_line() == f"orgctl {__version__}"


def test_bash_completion_completes_commands_and_options():
    def complete(words: str, cword: int) -> list[str]:
        env = {**os.environ, "_ORGCTL_COMPLETE": "complete_bash", "COMP_WORDS": words}
        env["COMP_CWORD"] = str(cword)
        result = subprocess.run(
            [str(ORGCTL)], env=env, capture_output=True, text=True, timeout=60, check=False
        )
        assert result.returncode == 0, result.stderr
        return result.stdout.split()

    assert complete("orgctl att", 1) == ["attendance"]
    assert "--detailed-exitcode" in complete("orgctl plan --de", 2)
    shown = subprocess.run(
        [str(ORGCTL), "--show-completion", "bash"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert shown.returncode == 0, shown.stderr  # what went wrong, not only that it did
    script = shown.stdout
    assert "_orgctl_completion" in script
    assert "complete " in script
