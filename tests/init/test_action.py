"""The composite GitHub Action (action.yml and action/): actionlint does not lint an
action's metadata, so these tests do: every `uses:` pinned by SHA, every input used, every
output wired; its command script run for real against orgctl; the lock file complete."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from packaging.requirements import Requirement

from tests.workflows.test_workflow_files import actionlint, tool

REPO = Path(__file__).resolve().parents[2]
ACTION = REPO / "action.yml"
LOCK = REPO / "requirements" / "runtime.txt"
ORGCTL = str(Path(sys.executable).parent / "orgctl")
PINNED = re.compile(
    r"^\s*(?:-\s+)?uses:\s*([\w.-]+/[\w./-]+)@([0-9a-f]{40})\s+#\s*v\d+(\.\d+)*\s*$"
)


def action() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load(ACTION.read_text(encoding="utf-8"))
    return loaded


def test_every_action_the_composite_uses_is_pinned_by_full_sha_with_its_version():
    lines = [
        line
        for line in ACTION.read_text("utf-8").splitlines()
        if re.match(r"^\s*(?:-\s+)?uses:", line)
    ]
    assert lines, "the composite uses setup-python"
    for line in lines:
        assert PINNED.match(line), f"not pinned by a full SHA with a # vX comment: {line!r}"
    steps = action()["runs"]["steps"]
    assert [s["uses"] for s in steps if "uses" in s] == [
        "actions/setup-python@e797f83bcb11b83ae66e0230d6156d7c80228e7c"
    ]


def test_every_input_is_used_and_every_output_comes_from_a_step():
    meta = action()
    runs = yaml.safe_dump(meta["runs"])
    for name in meta["inputs"]:
        assert f"inputs.{name}" in runs, f"input {name} is never used"
    used = set(re.findall(r"inputs\.([\w-]+)", runs))
    assert used <= set(meta["inputs"]), f"unknown inputs used: {used - set(meta['inputs'])}"
    step_ids = {s.get("id") for s in meta["runs"]["steps"]}
    for name, output in meta["outputs"].items():
        match = re.fullmatch(r"\$\{\{ steps\.([\w-]+)\.outputs\.([\w-]+) \}\}", output["value"])
        assert match, name
        assert match[1] in step_ids, name
    assert meta["runs"]["using"] == "composite"
    # Without inputs it only installs: `run: python -m pip install .` → `uses: ./` is the
    # whole change for a workflow that runs orgctl itself afterwards.
    assert meta["inputs"]["command"]["default"] == "install"
    assert meta["runs"]["steps"][-1]["if"] == "inputs.command != 'install'"
    for step in meta["runs"]["steps"]:
        if "run" in step:
            assert step["shell"] == "bash"
            # Inputs reach scripts through env only: an input inlined into `run` is injection.
            assert "${{" not in step["run"], step["name"]


def test_the_scripts_pass_shellcheck():
    scripts = [REPO / "action" / "install.sh", REPO / "action" / "run.sh"]
    result = subprocess.run(
        [tool("shellcheck"), "--shell=bash", *map(str, scripts)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stdout


def test_the_lock_pins_every_dependency_with_hashes_and_satisfies_pyproject():
    text = LOCK.read_text(encoding="utf-8")
    entries = re.findall(
        r"^([A-Za-z0-9_.-]+)==([^\s;]+)(?: ;[^\\]*)? \\\n"
        r"((?:\s+--hash=sha256:[0-9a-f]{64}(?: \\)?\n)+)",
        text,
        re.M,
    )
    names = [
        line.split("==")[0]
        for line in text.splitlines()
        if line and not line[0].isspace() and not line.startswith("#")
    ]
    assert len(entries) == len(names) > 10, "every requirement is name==version with hashes"
    pinned = {re.sub(r"[-_.]+", "-", name).lower(): version for name, version, _ in entries}
    pyproject = (REPO / "pyproject.toml").read_text("utf-8")
    block = pyproject.split("dependencies = [", 1)[1].split("]", 1)[0]
    runtime = [Requirement(r) for r in re.findall(r'^\s*"([^"]+)",', block, re.M)]
    assert len(runtime) >= 7
    for requirement in [*runtime, Requirement("setuptools>=77")]:
        name = re.sub(r"[-_.]+", "-", requirement.name).lower()
        assert name in pinned, f"{requirement.name} is not in {LOCK.name}: run scripts/lock"
        assert requirement.specifier.contains(pinned[name]), (requirement, pinned[name])


def run_action(tmp_path: Path, command: str, org: Path, args: str = "", fail: str = "true"):
    output = tmp_path / "output"
    output.write_text("")
    summary = tmp_path / "summary.md"
    env = {
        **os.environ,
        "COMMAND": command,
        "ORG_DIR": str(org),
        "ORGCTL_ARGS": args,
        "FAIL_ON_ERROR": fail,
        "ORGCTL": ORGCTL,
        "GITHUB_OUTPUT": str(output),
        "GITHUB_ACTIONS": "true",
        "GITHUB_STEP_SUMMARY": str(summary),
    }
    result = subprocess.run(
        ["bash", str(REPO / "action" / "run.sh")],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    outputs = dict(line.split("=", 1) for line in output.read_text().splitlines())
    return result, outputs, summary


@pytest.fixture
def bad_org(tmp_path: Path) -> Path:
    org = tmp_path / "org"
    org.mkdir()
    (org / "people.yaml").write_text(
        "users:\n  - userid: a\n    name: A\n    mobile: 13800138000\n    departments: [x]\n"
    )
    return org


def test_validate_annotates_and_fails_with_orgctls_exit_code(tmp_path, bad_org):
    result, outputs, _ = run_action(tmp_path, "validate", bad_org)
    assert result.returncode == 1
    assert outputs == {"exit-code": "1"}
    assert result.stdout.startswith("::error file=")
    assert "::error title=orgctl validate::orgctl exited 1" in result.stdout
    quiet, outputs, _ = run_action(tmp_path, "validate", bad_org, fail="false")
    assert quiet.returncode == 0
    assert outputs == {"exit-code": "1"}


def test_plan_and_drift_on_the_sandbox_write_markdown_json_and_the_summary(tmp_path):
    org = REPO / "org"
    result, outputs, summary = run_action(tmp_path, "plan", org, "--sandbox")
    assert result.returncode == 0, result.stderr
    assert outputs == {
        "markdown": "plan.md",
        "errors": "plan.err",
        "plan-json": "plan.json",
        "exit-code": "0",
    }
    markdown = (tmp_path / "plan.md").read_text("utf-8")
    assert markdown.startswith("### orgctl plan")
    assert (tmp_path / "plan.json").read_text("utf-8").startswith("{")
    assert "sandbox" in (tmp_path / "plan.err").read_text("utf-8")
    assert markdown.strip() in summary.read_text("utf-8")
    # Drift: changes pending is exit 2, recorded, and not a failed step.
    drift, outputs, _ = run_action(tmp_path, "drift", org, "--sandbox")
    assert drift.returncode == 0, drift.stderr
    assert outputs["exit-code"] == "2"


def test_an_unknown_command_fails_with_an_annotation(tmp_path, bad_org):
    result, outputs, _ = run_action(tmp_path, "destroy", bad_org)
    assert result.returncode == 1
    assert "unknown command 'destroy'" in result.stdout
    assert outputs == {}


def test_the_repositorys_workflows_install_with_the_action_and_actionlint_checks_its_inputs(
    tmp_path,
):
    """The workflows install orgctl with `uses: ./`; actionlint reads action.yml for a local
    action in a git work tree and checks the steps against its inputs: the workflows as they
    are lint clean, and an input the action does not declare is caught."""
    subprocess.run(["git", "init", "-q"], cwd=tmp_path, check=True, timeout=60)
    (tmp_path / "action.yml").write_text(ACTION.read_text("utf-8"), encoding="utf-8")
    workflows = tmp_path / ".github" / "workflows"
    workflows.mkdir(parents=True)
    copied = []
    for name in ("plan", "apply", "drift"):
        text = (REPO / ".github" / "workflows" / f"{name}.yml").read_text("utf-8")
        assert "        uses: ./\n" in text, name
        path = workflows / f"{name}.yml"
        path.write_text(text, encoding="utf-8")
        copied.append(path)
    problems = actionlint(*copied, cwd=tmp_path)
    assert problems == [], [p["message"] for p in problems]
    bad = (
        copied[0]
        .read_text("utf-8")
        .replace("          orgctl-version: ", "          no-such-input: ", 1)
    )
    copied[0].write_text(bad, encoding="utf-8")
    messages = [p["message"] for p in actionlint(copied[0], cwd=tmp_path)]
    assert any('input "no-such-input" is not defined in action "orgctl"' in m for m in messages)
