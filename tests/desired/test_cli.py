"""`orgctl validate` and `orgctl schema`: exit codes and what they print."""

from __future__ import annotations

import json
import re

from typer.testing import CliRunner

from reconciler.cli import app

PROBLEM_LINE = re.compile(r"^[^:\n]+(:\d+:\d+)?: (\S+: )?.+$")


def run(*args: str):
    result = CliRunner().invoke(app, list(args))
    assert "Traceback" not in result.output
    return result


def test_validate_the_example_defaults_to_org(repo_root, monkeypatch):
    monkeypatch.chdir(repo_root)
    result = run("validate")
    assert result.exit_code == 0
    assert result.stdout == "org/: 5 files, 16 departments, 26 users — valid\n"
    assert result.stderr == ""


def test_validate_invalid_exits_1_with_one_problem_per_line(write_org):
    org = write_org(
        {
            "u.yaml": "users:\n  - userid: a\n    name: A\n    mobile: 13800138000\n"
            "    departments: [nowhere]\n    titel: x\n"
        }
    )
    result = run("validate", str(org))
    assert result.exit_code == 1
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert lines == [
        "org/u.yaml:4:13: users[0].mobile: expected text, got the number 13800138000; put it "
        'in quotes: "13800138000"',
        "org/u.yaml:6:5: users[0].titel: unknown field; did you mean 'title'?",
        "error: 2 problems in the desired state",
    ]
    assert all(PROBLEM_LINE.match(line) for line in lines[:-1])


def test_validate_a_missing_directory_exits_1(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = run("validate", "nowhere")
    assert result.exit_code == 1
    assert result.stderr == "nowhere: does not exist\nerror: 1 problem in the desired state\n"


def test_schema_prints_the_org_schema(repo_root):
    result = run("schema")
    assert result.exit_code == 0
    assert result.stdout == (repo_root / "schemas" / "org.schema.json").read_text("utf-8")
    assert json.loads(result.stdout)["title"] == "orgctl org file"


def test_schema_policy_prints_the_policy_schema(repo_root):
    result = run("schema", "--policy")
    assert result.exit_code == 0
    assert result.stdout == (repo_root / "schemas" / "policy.schema.json").read_text("utf-8")
    assert json.loads(result.stdout)["title"] == "orgctl policy file (org/orgctl.yaml)"
