"""`orgctl init`: the scaffold validates, passes actionlint, plans against the sandbox, uses
the action at a pinned ref and never installs orgctl from source."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from reconciler import __version__
from reconciler.cli import app
from reconciler.cli.init import (
    ACTION_REPOSITORY,
    SHARED_WORKFLOWS,
    WORKFLOWS,
    repository_workflows,
)
from tests.workflows.test_workflow_files import actionlint

REPO = Path(__file__).resolve().parents[2]
SHA = "0123456789abcdef0123456789abcdef01234567"
PINNED_SHA = re.compile(r"^[\w.-]+/[\w./-]+@[0-9a-f]{40}$")


def run(*args: str):
    result = CliRunner().invoke(app, list(args))
    assert "Traceback" not in result.output
    return result


def scaffold(tmp_path: Path, *args: str) -> Path:
    target = tmp_path / "acme-org"
    result = run("init", str(target), *args)
    assert result.exit_code == 0, result.output
    return target


def uses(workflow: Path) -> list[str]:
    loaded = yaml.safe_load(workflow.read_text("utf-8"))
    return [
        step["uses"] for job in loaded["jobs"].values() for step in job["steps"] if "uses" in step
    ]


def test_scaffold_validates_passes_actionlint_and_plans_on_the_sandbox(tmp_path):
    repo = scaffold(tmp_path, "--example", "--action", f"{ACTION_REPOSITORY}@{SHA}")
    validated = run("validate", str(repo / "org"))
    assert validated.exit_code == 0, validated.output
    assert validated.stdout.endswith("16 departments, 26 users — valid\n")
    workflows = [repo / ".github" / "workflows" / f"{name}.yml" for name in WORKFLOWS]
    problems = actionlint(*workflows, cwd=repo)
    assert problems == [], "\n".join(
        f"{p['filepath']}:{p['line']}: {p['message']}" for p in problems
    )
    plan = run("plan", str(repo / "org"), "--sandbox", "--detailed-exitcode")
    assert plan.exit_code == 2, plan.output  # an empty sandbox: everything to create
    assert "Plan: 42 to create, 0 to update, 0 to replace, 0 to delete." in plan.stdout


def test_workflows_use_the_action_pinned_and_never_install_from_source(tmp_path):
    repo = scaffold(tmp_path, "--example", "--action", f"acme/orgctl-fork@{SHA}")
    for name in WORKFLOWS:
        path = repo / ".github" / "workflows" / f"{name}.yml"
        text = path.read_text("utf-8")
        steps = uses(path)
        assert f"acme/orgctl-fork@{SHA}" in steps, name
        assert all(PINNED_SHA.match(step) for step in steps), steps
        assert f"acme/orgctl-fork@{SHA} # v{__version__}" in text
        assert f'orgctl-version: "{__version__}"' in text
        assert not re.search(r"pip install|setup-python|git\+", text), name
    everything = "".join(p.read_text("utf-8") for p in repo.rglob("*") if p.is_file())
    assert "pip install ." not in everything
    assert not (repo / "pyproject.toml").exists()
    assert not (repo / "reconciler").exists()
    pre_commit = yaml.safe_load((repo / ".pre-commit-config.yaml").read_text("utf-8"))
    assert pre_commit["repos"] == [
        {
            "repo": "https://github.com/acme/orgctl-fork",
            "rev": SHA,
            "hooks": [{"id": "orgctl-validate"}],
        }
    ]


def test_codeowners_editor_schemas_policy_and_readme(tmp_path):
    repo = scaffold(tmp_path, "--example", "--owner", "@acme/hr")
    owners = (repo / ".github" / "CODEOWNERS").read_text("utf-8").splitlines()
    rules = [line for line in owners if line and not line.startswith("#")]
    org_files = sorted(p.relative_to(repo).as_posix() for p in (repo / "org").rglob("*.yaml"))
    department_files = [f for f in org_files if not f.endswith("orgctl.yaml")]
    per_file = [
        r.split()[0]
        for r in rules
        if r.split()[0].startswith("/org/") and r.split()[0] != "/org/orgctl.yaml"
    ]
    assert per_file == [f"/{f}" for f in department_files]  # one line per department file
    assert all(r.split()[1:] == ["@acme/hr"] for r in rules)
    assert "# 销售中心" in owners
    settings = json.loads((repo / ".vscode" / "settings.json").read_text("utf-8"))
    for schema, globs in settings["yaml.schemas"].items():
        assert (repo / schema).is_file()
        assert globs
    schema_of = {g: s for s, gs in settings["yaml.schemas"].items() for g in gs}
    assert schema_of["org/orgctl.yaml"] == "./schemas/policy.schema.json"
    assert schema_of["org/people/**/*.yaml"] == "./schemas/org.schema.json"
    assert (repo / "schemas" / "org.schema.json").read_text("utf-8") == (
        REPO / "schemas" / "org.schema.json"
    ).read_text("utf-8")
    policy = yaml.safe_load((repo / "org" / "orgctl.yaml").read_text("utf-8"))
    assert policy["prune"] == {"users": False, "departments": False}  # safe: nothing deleted
    readme = (repo / "README.md").read_text("utf-8")
    assert f"orgctl=={__version__}" in readme
    assert "@@" not in readme


def test_from_the_sandbox_tenant_the_scaffold_plans_no_change(tmp_path):
    applied = run("apply", str(REPO / "org"), "--sandbox", "--yes")
    assert applied.exit_code == 0, applied.output
    repo = scaffold(tmp_path, "--sandbox")
    assert (repo / "org" / "departments.yaml").read_text("utf-8").startswith("# Written by")
    plan = run("plan", str(repo / "org"), "--sandbox", "--detailed-exitcode")
    assert plan.exit_code == 0, plan.output


def test_a_default_action_ref_is_the_release_tag(tmp_path):
    repo = scaffold(tmp_path, "--example")
    assert f"{ACTION_REPOSITORY}@v{__version__}" in uses(repo / ".github/workflows/plan.yml")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--example", "--action", "no-ref"), "expected OWNER/REPO@REF"),
        (("--example", "--sandbox"), "pick one"),
    ],
)
def test_bad_options_are_refused_before_writing(tmp_path, args, message):
    result = run("init", str(tmp_path / "x"), *args)
    assert result.exit_code == 1
    assert message in result.stderr
    assert not (tmp_path / "x").exists()


def test_a_non_empty_directory_is_refused(tmp_path):
    (tmp_path / "x").mkdir()
    (tmp_path / "x" / "notes.txt").write_text("mine")
    result = run("init", str(tmp_path / "x"), "--example")
    assert result.exit_code == 1
    assert "is not empty" in result.stderr
    assert [p.name for p in (tmp_path / "x").iterdir()] == ["notes.txt"]


def test_the_bundled_example_is_the_repositorys_example_org():
    bundled = REPO / "reconciler" / "templates" / "init" / "example"
    for path in bundled.rglob("*.yaml"):
        assert path.read_text("utf-8") == (REPO / "org" / path.relative_to(bundled)).read_text(
            "utf-8"
        )


# --------------------------------------------------------------------------- one source of truth


def test_the_repositorys_workflows_are_the_templates_rendered_with_the_local_action():
    """What a company gets is what this repository runs and tests: its plan, apply and drift
    workflows are `orgctl init`'s templates with the action as `./` (scripts/workflows)."""
    rendered = repository_workflows()
    assert sorted(rendered) == [f".github/workflows/{n}.yml" for n in sorted(SHARED_WORKFLOWS)]
    for name, text in rendered.items():
        assert (REPO / name).read_text("utf-8") == text, f"{name}: run scripts/workflows"
        assert "@@" not in text


def test_a_company_gets_every_job_and_step_of_the_repositorys_workflows(tmp_path):
    repo = scaffold(tmp_path, "--example", "--action", f"acme/orgctl-fork@{SHA}")
    for name in SHARED_WORKFLOWS:
        ours = yaml.safe_load((REPO / ".github" / "workflows" / f"{name}.yml").read_text("utf-8"))
        theirs = yaml.safe_load((repo / ".github" / "workflows" / f"{name}.yml").read_text("utf-8"))
        assert list(theirs["jobs"]) == list(ours["jobs"]), name
        for job, spec in ours["jobs"].items():
            mine = [s.get("run") or s.get("uses") for s in spec["steps"]]
            got = [s.get("run") or s.get("uses") for s in theirs["jobs"][job]["steps"]]
            assert got == [f"acme/orgctl-fork@{SHA}" if u == "./" else u for u in mine], job
    assert "leavers" in theirs["jobs"]
    assert "notify due org" in (repo / ".github" / "workflows" / "drift.yml").read_text("utf-8")


def test_scripts_workflows_check_finds_a_workflow_behind_its_template(tmp_path):
    copy = tmp_path / "repo"
    shutil.copytree(REPO / "scripts", copy / "scripts")
    shutil.copytree(REPO / ".github", copy / ".github")
    env = {"PYTHON": sys.executable, "PATH": "/usr/bin:/bin", "PYTHONPATH": str(REPO)}
    check = [str(copy / "scripts" / "workflows"), "--check"]
    assert subprocess.run(check, env=env, capture_output=True, timeout=60).returncode == 0
    drift = copy / ".github" / "workflows" / "drift.yml"
    drift.write_text(drift.read_text("utf-8").replace("  leavers:", "  leavers-old:"), "utf-8")
    done = subprocess.run(check, env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 1
    assert "-  leavers-old:" in done.stdout
    assert subprocess.run(check[:1], env=env, timeout=60).returncode == 0  # rewrites it
    assert subprocess.run(check, env=env, timeout=60).returncode == 0
