"""The harness must read expressions and conditions the way GitHub does, or the end-to-end
tests would prove nothing."""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.workflows.harness import (
    ExpressionError,
    Runner,
    condition,
    evaluate,
    substitute,
)

CONTEXTS = {
    "github": {
        "repository": "acme/org",
        "event": {"pull_request": {"number": 7, "head": {"repo": {"full_name": "acme/org"}}}},
    },
    "steps": {"plan": {"outputs": {"exit-code": "3"}}},
    "vars": {},
    "needs": {"apply": {"outputs": {"sha": ""}}},
}


def status(failed: bool = False) -> dict[str, Callable[..., Any]]:
    return {"success": lambda: not failed, "failure": lambda: failed, "always": lambda: True}


@pytest.mark.parametrize(
    ("expression", "value"),
    [
        ("github.event.pull_request.head.repo.full_name == github.repository", True),
        ("steps.plan.outputs.exit-code != '0'", True),
        ("steps.plan.outputs.exit-code == 3", True),  # GitHub coerces '3' == 3
        ("steps.plan.outputs.exit-code == '0' || steps.plan.outputs.exit-code == '2'", False),
        ("vars.ORGCTL_RUNNER || 'ubuntu-latest'", "ubuntu-latest"),
        ("needs.apply.outputs.sha || 'abc'", "abc"),
        ("!(1 == 2) && 'x'", "x"),
        ("github.missing.deeper", None),
        ("'it''s'", "it's"),
        ("github.repository == 'ACME/ORG'", True),  # string comparison ignores case
    ],
)
def test_evaluate(expression: str, value: object) -> None:
    assert evaluate(expression, CONTEXTS) == value


def test_substitute_formats_values_as_github_does() -> None:
    text = "pr=${{ github.event.pull_request.number }} none=${{ github.nothing }} t=${{ 1 == 1 }}"
    assert substitute(text, CONTEXTS) == "pr=7 none= t=true"


def test_conditions_get_an_implicit_success() -> None:
    assert condition("steps.plan.outputs.exit-code != '0'", CONTEXTS, status()) is True
    # After a failed step, a plain condition is false: GitHub prepends success().
    assert condition("steps.plan.outputs.exit-code != '0'", CONTEXTS, status(True)) is False
    assert condition("always()", CONTEXTS, status(True)) is True
    assert condition("failure()", CONTEXTS, status(True)) is True
    assert condition("${{ failure() }}", CONTEXTS, status()) is False


def test_unknown_syntax_is_an_error_not_a_silent_false() -> None:
    with pytest.raises(ExpressionError):
        evaluate("nosuchcontext.x", CONTEXTS)
    with pytest.raises(ExpressionError):
        evaluate("hashFiles('x')", CONTEXTS)


def test_runner_runs_steps_in_order_with_outputs_env_and_status(tmp_path: Path) -> None:
    workflow = tmp_path / "w.yml"
    workflow.write_text(
        """
on: push
defaults:
  run:
    shell: bash
env:
  TOP: top
jobs:
  first:
    runs-on: ubuntu-latest
    outputs:
      word: ${{ steps.a.outputs.word }}
    steps:
      - id: a
        env:
          SECRET: ${{ secrets.S }}
        run: |
          echo "word=hello" >> "$GITHUB_OUTPUT"
          test "$SECRET" = s3cret && test "$TOP" = top
      - name: fails
        run: |
          false
          echo never
      - name: skipped after failure
        run: echo should not run
      - name: always
        if: always()
        run: echo "ran ${GITHUB_REPOSITORY}"
  second:
    needs: first
    if: failure()
    runs-on: ubuntu-latest
    steps:
      - env:
          WORD: ${{ needs.first.outputs.word }}
        run: echo "got $WORD"
  third:
    needs: first
    runs-on: ubuntu-latest
    steps:
      - run: echo third
"""
    )
    subprocess.run(["git", "init", "-q", str(tmp_path / "ws")], check=True)
    runner = Runner(
        workflow,
        tmp_path / "ws",
        github={"repository": "acme/org", "run_id": 1, "sha": "0" * 40, "event_name": "push"},
        secrets={"S": "s3cret"},
    )
    result = runner.run()
    first = result.jobs["first"]
    assert [s.outcome for s in first.steps] == ["success", "failure", "skipped", "success"]
    assert first.steps[1].exit_code == 1
    assert "never" not in first.steps[1].stdout  # bash -e stops at the failure
    assert first.steps[3].stdout.strip() == "ran acme/org"
    assert first.result == "failure"
    assert first.outputs == {"word": "hello"}
    assert result.jobs["second"].steps[0].stdout.strip() == "got hello"
    assert result.jobs["third"].result == "skipped"


LOCAL_ACTION = """
name: greeter
inputs:
  who:
    default: world
  loud:
    default: "false"
outputs:
  said:
    value: ${{ steps.say.outputs.said }}
runs:
  using: composite
  steps:
    - uses: actions/setup-python@e797f83bcb11b83ae66e0230d6156d7c80228e7c # v6.0.0
      id: python
    - name: Install
      shell: bash
      env:
        ACTION_DIR: ${{ github.action_path }}
      run: bash "$ACTION_DIR/action/install.sh"
    - id: say
      shell: bash
      env:
        WHO: ${{ inputs.who }}
        PY: ${{ steps.python.outputs.python-path }}
        HERE: ${{ github.action_path }}
      run: |
        test -x "$PY"
        echo "said=hello $WHO from $(basename "$HERE")" >>"$GITHUB_OUTPUT"
        echo "job env: $JOB_WORD"
    - name: Only when loud
      if: inputs.loud == 'true'
      shell: bash
      run: exit 7
"""


def local_action_run(tmp_path: Path, with_: str) -> Any:
    workspace = tmp_path / "ws"
    workspace.mkdir()
    (workspace / "action.yml").write_text(LOCAL_ACTION)
    workflow = tmp_path / "wf.yml"
    workflow.write_text(
        f"""
on: push
defaults:
  run:
    shell: bash
jobs:
  job:
    runs-on: ubuntu-latest
    env:
      JOB_WORD: kept
    outputs:
      said: ${{{{ steps.greet.outputs.said }}}}
    steps:
      - uses: actions/checkout@08c6903cd8c0fde910a37f88322edcfb5dd907a8 # v5.0.0
      - id: greet
        uses: ./
{with_}
      - run: echo "after $SAID"
        env:
          SAID: ${{{{ steps.greet.outputs.said }}}}
"""
    )
    subprocess.run(["git", "init", "-q", str(workspace)], check=True)
    runner = Runner(
        workflow,
        workspace,
        github={"repository": "acme/org", "run_id": 1, "sha": "0" * 40, "event_name": "push"},
    )
    return runner.run().jobs["job"]


def test_a_local_composite_action_runs_with_its_inputs_outputs_and_the_job_env(tmp_path):
    job = local_action_run(tmp_path, "        with:\n          who: ${{ github.repository }}")
    greet = job.steps[1]
    assert greet.outcome == "success", greet.stderr
    assert greet.outputs == {"said": "hello acme/org from ws"}
    assert "job env: kept" in greet.stdout
    assert job.steps[2].stdout.strip() == "after hello acme/org from ws"
    assert job.outputs == {"said": "hello acme/org from ws"}
    # Its install step is recorded against the workspace's checkout, not run.
    (install,) = job.installs
    assert install.via == "./"
    assert install.source == job.checkouts[0]


def test_a_failing_step_of_the_action_fails_the_step_and_the_job(tmp_path):
    job = local_action_run(tmp_path, "        with:\n          loud: 'true'")
    assert [s.outcome for s in job.steps] == ["success", "failure", "skipped"]
    assert job.result == "failure"


def test_an_input_the_action_does_not_declare_is_an_error(tmp_path):
    with pytest.raises(AssertionError, match="'shout' is not defined"):
        local_action_run(tmp_path, "        with:\n          shout: x")


def test_artifacts_pass_between_jobs_as_uploaded_and_dispatch_inputs_are_read(
    tmp_path: Path,
) -> None:
    workflow = tmp_path / "w.yml"
    workflow.write_text(
        """
on:
  workflow_dispatch:
    inputs:
      digest: {type: string}
defaults:
  run:
    shell: bash
jobs:
  make:
    runs-on: ubuntu-latest
    steps:
      - env:
          DIGEST: ${{ inputs.digest }}
        run: echo "$DIGEST" > a.txt && echo two > b.txt
      - uses: actions/upload-artifact@x
        with:
          name: kept
          path: |
            a.txt
            b.txt
            missing.txt
      - run: echo changed later > a.txt
  use:
    needs: make
    runs-on: ubuntu-latest
    steps:
      - uses: actions/download-artifact@x
        with:
          name: kept
          path: got
      - run: cat got/a.txt got/b.txt
      - id: unknown
        uses: actions/download-artifact@x
        with:
          name: never-uploaded
"""
    )
    subprocess.run(["git", "init", "-q", str(tmp_path / "ws")], check=True)
    runner = Runner(
        workflow,
        tmp_path / "ws",
        github={
            "repository": "acme/org",
            "run_id": 1,
            "sha": "0" * 40,
            "event_name": "workflow_dispatch",
            "event": {"inputs": {"digest": "sha256:abc"}},
        },
    )
    result = runner.run()
    assert [p.name for p in result.artifacts["kept"]] == ["a.txt", "b.txt"]  # not the workspace
    use = result.jobs["use"]
    assert use.steps[1].stdout == "sha256:abc\ntwo\n"  # as uploaded, not as changed later
    assert use.steps[2].outcome == "failure"
