"""GitHub-native output: `validate --format github` annotations (golden), chosen by itself
under GitHub Actions, and plan's Markdown in the job summary."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from reconciler.cli import app
from reconciler.cli.validate import github_annotation
from reconciler.errors import Problem
from tests.desired.conftest import DATA
from tests.golden import UPDATE

GOLDEN = Path(__file__).parent / "golden" / "validate-github.txt"

CASES = ("semantic-references", "int-mobile")


def run(*args: str):
    result = CliRunner().invoke(app, list(args))
    assert "Traceback" not in result.output
    return result


def test_validate_format_github_matches_the_golden_annotations(monkeypatch):
    monkeypatch.chdir(DATA / "invalid")  # files named relative to here, as from a repo root
    results = [run("validate", case, "--format", "github") for case in CASES]
    stdout = "".join(r.stdout for r in results)
    if UPDATE:
        GOLDEN.write_text(stdout, encoding="utf-8")
    assert stdout == GOLDEN.read_text(encoding="utf-8")
    for result in results:
        assert result.exit_code == 1
        assert result.stdout.startswith("::error file=")
        # The count still goes to the log, where a person reading it looks.
        assert result.stderr.startswith("error: ")
        assert "problem" in result.stderr


def test_github_is_the_default_under_github_actions_and_text_elsewhere(monkeypatch):
    monkeypatch.chdir(DATA / "invalid")
    plain = run("validate", "int-mobile")
    assert plain.stdout == ""
    assert "int-mobile/" in plain.stderr
    monkeypatch.setenv("GITHUB_ACTIONS", "true")
    auto = run("validate", "int-mobile")
    assert auto.stdout == run("validate", "int-mobile", "--format", "github").stdout
    assert auto.stdout.startswith("::error file=int-mobile/")
    forced = run("validate", "int-mobile", "--format", "text")
    assert forced.stdout == ""
    assert forced.stderr == plain.stderr


def test_a_valid_tree_prints_its_summary_in_either_format(repo_root, monkeypatch):
    monkeypatch.chdir(repo_root)
    monkeypatch.setenv("GITHUB_ACTIONS", "true")
    result = run("validate", "org")
    assert result.exit_code == 0
    assert result.stdout.endswith("— valid\n")
    assert "::" not in result.stdout


@pytest.mark.parametrize(
    ("problem", "line"),
    [
        (
            Problem("org/a,b.yaml", 3, 7, "users[0].name", "50% done\nsecond line"),
            "::error file=org/a%2Cb.yaml,line=3,col=7,title=users[0].name"
            "::50%25 done%0Asecond line",
        ),
        (
            Problem("org", 0, 0, "", "does not exist: x:y"),
            "::error file=org::does not exist: x:y",
        ),
    ],
)
def test_annotations_escape_what_the_runner_would_misread(problem, line):
    assert github_annotation(problem) == line


def test_plan_appends_its_markdown_to_the_job_summary(repo_root, monkeypatch, tmp_path):
    summary = tmp_path / "summary.md"
    summary.write_text("earlier step\n", encoding="utf-8")
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    result = run("plan", str(repo_root / "org"), "--sandbox", "--format", "json")
    assert result.exit_code == 0, result.output
    text = summary.read_text(encoding="utf-8")
    assert text.startswith("earlier step\n")  # appended, never truncated
    markdown = text.removeprefix("earlier step\n")
    assert markdown.startswith("#")  # Markdown, whatever --format the log got
    assert "****" in markdown  # masked like a PR comment
    assert not re.search(r"\+86-1\d{10}", markdown)
    assert result.stdout.startswith("{")


def test_an_unwritable_summary_is_a_warning_not_a_failed_plan(repo_root, monkeypatch, tmp_path):
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(tmp_path / "no-such-dir" / "summary.md"))
    result = run("plan", str(repo_root / "org"), "--sandbox")
    assert result.exit_code == 0, result.output
    assert "warning: cannot write the job summary" in result.stderr
    assert "Plan: 42 to create" in result.stdout
