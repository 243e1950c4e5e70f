"""Run a workflow's jobs and `run:` steps for real, in order, the way a runner would.

Parses the YAML, evaluates the `${{ }}` expressions the workflows use (contexts github,
secrets, vars, steps, needs, env; ==, !=, &&, ||, !, status functions), gives each step the
env the workflow gives it plus the runner's default variables, runs it with
`bash --noprofile --norc -eo pipefail` in a workspace directory, and collects
$GITHUB_OUTPUT. `uses:` steps are emulated: setup-python is a no-op; checkout into the
workspace itself is a no-op (the workspace is the checked-out repository) and one into a
`path:` writes that commit's tree (or its `sparse-checkout` paths) there, from the
workspace's git; every checkout is recorded with the commit it asked for. upload-artifact
records which files it would upload; download-artifact copies an artifact of the same run
into its `path:` (see `_download_artifact`). A local composite action (`uses: ./`, orgctl's
own action.yml) runs step by step from the workspace's tree; its install step is not run
(orgctl is installed in this venv) but recorded, with the commit checked out where the action
sits,
so a test can tell which tree's orgctl a job runs. Nothing here reaches beyond loopback.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[2]
WORKFLOWS = REPO / ".github" / "workflows"


def add_action(workspace: Path) -> None:
    """Put orgctl's composite action (action.yml and the scripts it runs) into a test
    repository, as a checkout of this repository has it, for the workflows' `uses: ./`."""
    shutil.copy(REPO / "action.yml", workspace / "action.yml")
    shutil.copytree(REPO / "action", workspace / "action")


def load_workflow(path: Path) -> dict[str, Any]:
    data: dict[Any, Any] = yaml.safe_load(path.read_text(encoding="utf-8"))
    if True in data:  # YAML 1.1 reads the key `on` as the boolean true
        data["on"] = data.pop(True)
    return data


def triggers(workflow: Mapping[str, Any]) -> dict[str, Any]:
    on = workflow["on"]
    if isinstance(on, str):
        return {on: None}
    if isinstance(on, list):
        return dict.fromkeys(on)
    return {k: (v if v is not None else {}) for k, v in on.items()}


# --------------------------------------------------------------------------- expressions

_TOKEN = re.compile(
    r"\s*(?:(?P<num>\d+(?:\.\d+)?)|(?P<str>'(?:[^']|'')*')|(?P<op>==|!=|&&|\|\||<=|>=|[!<>().,\[\]])"
    r"|(?P<name>[A-Za-z_][A-Za-z0-9_-]*|\*))"
)


class ExpressionError(ValueError):
    pass


def _tokens(text: str) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    pos = 0
    text = text.strip()
    while pos < len(text):
        match = _TOKEN.match(text, pos)
        if not match or match.end() == pos:
            raise ExpressionError(f"cannot parse {text[pos:]!r}")
        kind = match.lastgroup or ""
        out.append((kind, match.group(kind)))
        pos = match.end()
        while pos < len(text) and text[pos].isspace():
            pos += 1
    return out


def truthy(value: Any) -> bool:
    return value not in (None, False, 0, "", 0.0)


def _loose_equal(a: Any, b: Any) -> bool:
    if isinstance(a, str) and isinstance(b, str):
        return a.casefold() == b.casefold()
    if type(a) is not type(b) and not (isinstance(a, (int, float)) and isinstance(b, (int, float))):
        # GitHub coerces mismatched types to numbers: '0' == 0 is true.
        def num(x: Any) -> float | None:
            try:
                return float(x) if x not in (None, "") else 0.0
            except (TypeError, ValueError):
                return None

        return num(a) is not None and num(a) == num(b)
    return bool(a == b)


def to_string(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, (dict, list)):
        return json.dumps(value)
    return str(value)


class _Parser:
    def __init__(
        self, text: str, contexts: Mapping[str, Any], functions: Mapping[str, Callable[..., Any]]
    ) -> None:
        self.tokens = _tokens(text)
        self.pos = 0
        self.contexts = contexts
        self.functions = functions

    def peek(self) -> str | None:
        return self.tokens[self.pos][1] if self.pos < len(self.tokens) else None

    def take(self, expected: str | None = None) -> tuple[str, str]:
        if self.pos >= len(self.tokens):
            raise ExpressionError("unexpected end of expression")
        token = self.tokens[self.pos]
        if expected is not None and token[1] != expected:
            raise ExpressionError(f"expected {expected!r}, got {token[1]!r}")
        self.pos += 1
        return token

    def parse(self) -> Any:
        value = self.or_()
        if self.pos != len(self.tokens):
            raise ExpressionError(f"unexpected {self.peek()!r}")
        return value

    def or_(self) -> Any:
        value = self.and_()
        while self.peek() == "||":
            self.take()
            right = self.and_()
            value = value if truthy(value) else right
        return value

    def and_(self) -> Any:
        value = self.compare()
        while self.peek() == "&&":
            self.take()
            right = self.compare()
            value = right if truthy(value) else value
        return value

    def compare(self) -> Any:
        value = self.unary()
        if self.peek() in ("==", "!="):
            op = self.take()[1]
            right = self.unary()
            equal = _loose_equal(value, right)
            return equal if op == "==" else not equal
        return value

    def unary(self) -> Any:
        if self.peek() == "!":
            self.take()
            return not truthy(self.unary())
        return self.primary()

    def primary(self) -> Any:
        kind, text = self.take()
        if kind == "num":
            return float(text) if "." in text else int(text)
        if kind == "str":
            return text[1:-1].replace("''", "'")
        if text == "(":
            inner = self.or_()
            self.take(")")
            return inner
        if kind != "name":
            raise ExpressionError(f"unexpected {text!r}")
        if text in ("true", "false"):
            return text == "true"
        if text == "null":
            return None
        if self.peek() == "(":
            self.take("(")
            args: list[Any] = []
            while self.peek() != ")":
                args.append(self.or_())
                if self.peek() == ",":
                    self.take(",")
            self.take(")")
            if text not in self.functions:
                raise ExpressionError(f"function {text}() is not emulated")
            return self.functions[text](*args)
        if text not in self.contexts:
            raise ExpressionError(f"unknown context {text!r}")
        value = self.contexts[text]
        while self.peek() in (".", "["):
            if self.take()[1] == ".":
                key: Any = self.take()[1]
            else:
                key = self.or_()
                self.take("]")
            value = value.get(key) if isinstance(value, Mapping) else None
        return value


def evaluate(
    expression: str,
    contexts: Mapping[str, Any],
    functions: Mapping[str, Callable[..., Any]] | None = None,
) -> Any:
    return _Parser(expression, contexts, functions or {}).parse()


_INTERPOLATION = re.compile(r"\$\{\{(.*?)\}\}", re.DOTALL)


def substitute(
    text: str,
    contexts: Mapping[str, Any],
    functions: Mapping[str, Callable[..., Any]] | None = None,
) -> str:
    return _INTERPOLATION.sub(lambda m: to_string(evaluate(m.group(1), contexts, functions)), text)


def condition(
    text: Any, contexts: Mapping[str, Any], functions: Mapping[str, Callable[..., Any]]
) -> bool:
    if isinstance(text, bool):
        return text
    expression = str(text).strip()
    match = re.fullmatch(r"\$\{\{(.*)\}\}", expression, re.DOTALL)
    if match:
        expression = match.group(1)
    # GitHub adds success() to a condition that calls no status function.
    if not re.search(r"\b(success|failure|always|cancelled)\(", expression):
        expression = f"success() && ({expression})"
    return truthy(evaluate(expression, contexts, functions))


# --------------------------------------------------------------------------- running


@dataclass
class StepResult:
    job: str
    name: str
    id: str | None
    outcome: str  # success | failure | skipped
    exit_code: int | None = None
    stdout: str = ""
    stderr: str = ""
    outputs: dict[str, str] = field(default_factory=dict)
    env: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Checkout:
    ref: str  # the `ref:` input, "" for the event's default
    path: str  # "." for the workspace itself
    sparse: tuple[str, ...] = ()


@dataclass(frozen=True)
class Install:
    commands: tuple[str, ...]
    source: Checkout | None  # the checkout whose tree pip installs orgctl from
    via: str  # the local action (`./`) whose install step it is


@dataclass
class JobResult:
    id: str
    result: str  # success | failure | skipped
    steps: list[StepResult] = field(default_factory=list)
    outputs: dict[str, str] = field(default_factory=dict)
    checkouts: list[Checkout] = field(default_factory=list)
    installs: list[Install] = field(default_factory=list)

    def step(self, name: str) -> StepResult:
        for step in self.steps:
            if step.name == name:
                return step
        raise KeyError(f"no step named {name!r} in job {self.id}: {[s.name for s in self.steps]}")


@dataclass
class RunResult:
    jobs: dict[str, JobResult]
    artifacts: dict[str, list[Path]]

    @property
    def steps(self) -> list[StepResult]:
        return [s for job in self.jobs.values() for s in job.steps]

    def output(self) -> str:
        return "\n".join(s.stdout + s.stderr for s in self.steps)


def _parse_output_file(path: Path) -> dict[str, str]:
    outputs: dict[str, str] = {}
    lines = path.read_text(encoding="utf-8").splitlines() if path.exists() else []
    i = 0
    while i < len(lines):
        line = lines[i]
        if "<<" in line and ("=" not in line or line.index("<<") < line.index("=")):
            name, delimiter = line.split("<<", 1)
            value: list[str] = []
            i += 1
            while i < len(lines) and lines[i] != delimiter:
                value.append(lines[i])
                i += 1
            outputs[name] = "\n".join(value)
        elif "=" in line:
            name, value_text = line.split("=", 1)
            outputs[name] = value_text
        i += 1
    return outputs


def _constant(value: bool) -> Callable[[], bool]:
    return lambda: value


@dataclass
class Runner:
    """One workflow run. `github` is the github context (event, repository, sha, …)."""

    workflow_path: Path
    workspace: Path
    github: dict[str, Any]
    secrets: dict[str, str] = field(default_factory=dict)
    vars: dict[str, str] = field(default_factory=dict)
    api_url: str = "http://127.0.0.1:9"
    server_url: str = "https://github.test"
    step_env: Callable[[dict[str, str]], dict[str, str]] = lambda env: {}
    """Extra env for a step, given the env the workflow gives it (e.g. DINGTALK_BASE_URL)."""
    timeout: float = 300.0
    extra_path: list[Path] = field(default_factory=list)
    """Directories put first on PATH (a stub `orgctl` for wiring tests)."""

    def __post_init__(self) -> None:
        self.workflow = load_workflow(self.workflow_path)
        self.uploaded: dict[str, dict[str, bytes]] = {}
        """Artifacts this run uploaded: name → file name → content at upload time."""
        self.runner_temp = self.workspace.parent / f"{self.workspace.name}-runner-temp"
        self.runner_temp.mkdir(parents=True, exist_ok=True)
        self.home = self.workspace.parent / f"{self.workspace.name}-home"
        self.home.mkdir(parents=True, exist_ok=True)
        self.event_path = self.runner_temp / "event.json"
        self.event_path.write_text(json.dumps(self.github.get("event", {})))

    # -- environment

    def default_env(self) -> dict[str, str]:
        path = [*map(str, self.extra_path), str(Path(sys.executable).parent)]
        return {
            "PATH": os.pathsep.join([*path, os.environ.get("PATH", "/usr/bin:/bin")]),
            "HOME": str(self.home),
            "LANG": "C.UTF-8",
            "CI": "true",
            "GITHUB_ACTIONS": "true",
            "GITHUB_WORKSPACE": str(self.workspace),
            "GITHUB_REPOSITORY": str(self.github["repository"]),
            "GITHUB_API_URL": self.api_url,
            "GITHUB_SERVER_URL": self.server_url,
            "GITHUB_RUN_ID": str(self.github["run_id"]),
            "GITHUB_RUN_ATTEMPT": str(self.github.get("run_attempt", 1)),
            "GITHUB_SHA": str(self.github["sha"]),
            "GITHUB_REF": str(self.github.get("ref", "refs/heads/main")),
            "GITHUB_EVENT_NAME": str(self.github["event_name"]),
            "GITHUB_ACTOR": str(self.github.get("actor", "octocat")),
            "GITHUB_EVENT_PATH": str(self.event_path),
            "RUNNER_TEMP": str(self.runner_temp),
        }

    def github_context(self) -> dict[str, Any]:
        return {
            "workspace": str(self.workspace),
            "server_url": self.server_url,
            "api_url": self.api_url,
            **self.github,
        }

    # -- jobs

    def run(self) -> RunResult:
        jobs: dict[str, JobResult] = {}
        artifacts: dict[str, list[Path]] = {}
        for job_id in self._job_order():
            job = self.workflow["jobs"][job_id]
            needs = job.get("needs", [])
            needs = [needs] if isinstance(needs, str) else list(needs)
            needs_ctx = {n: {"result": jobs[n].result, "outputs": jobs[n].outputs} for n in needs}
            needed_failed = any(jobs[n].result == "failure" for n in needs)
            needed_ok = all(jobs[n].result == "success" for n in needs)
            functions = self._status_functions(
                ok=_constant(needed_ok), failed=_constant(needed_failed)
            )
            contexts = self._contexts(needs=needs_ctx, steps={}, env={})
            if "if" in job and not condition(job["if"], contexts, functions):
                jobs[job_id] = JobResult(job_id, "skipped")
                continue
            if "if" not in job and not needed_ok:
                jobs[job_id] = JobResult(job_id, "skipped")
                continue
            jobs[job_id] = self._run_job(job_id, job, needs_ctx, artifacts)
        return RunResult(jobs, artifacts)

    def _job_order(self) -> list[str]:
        order: list[str] = []
        jobs = self.workflow["jobs"]

        def visit(job_id: str) -> None:
            if job_id in order:
                return
            needs = jobs[job_id].get("needs", [])
            for need in [needs] if isinstance(needs, str) else needs:
                visit(need)
            order.append(job_id)

        for job_id in jobs:
            visit(job_id)
        return order

    def _contexts(
        self, *, needs: dict[str, Any], steps: dict[str, Any], env: dict[str, str]
    ) -> dict[str, Any]:
        return {
            "github": self.github_context(),
            "secrets": {**self.secrets, "GITHUB_TOKEN": self.github.get("token", "")},
            "vars": self.vars,
            "needs": needs,
            "steps": steps,
            "env": env,
            "runner": {"os": "Linux", "temp": str(self.runner_temp)},
            "matrix": {},
            "inputs": dict(self.github.get("event", {}).get("inputs") or {}),
            "job": {"status": "success"},
        }

    @staticmethod
    def _status_functions(
        ok: Callable[[], bool], failed: Callable[[], bool]
    ) -> dict[str, Callable[..., Any]]:
        def contains(haystack: Any, needle: Any) -> bool:
            if isinstance(haystack, list):
                return any(_loose_equal(item, needle) for item in haystack)
            return to_string(needle).casefold() in to_string(haystack).casefold()

        return {
            "success": ok,
            "failure": failed,
            "always": lambda: True,
            "cancelled": lambda: False,
            "contains": contains,
            "startsWith": lambda a, b: to_string(a).casefold().startswith(to_string(b).casefold()),
            "fromJSON": lambda text: json.loads(to_string(text)),
            "toJSON": lambda value: json.dumps(value),
        }

    def _run_job(
        self,
        job_id: str,
        job: dict[str, Any],
        needs: dict[str, Any],
        artifacts: dict[str, list[Path]],
    ) -> JobResult:
        result = JobResult(job_id, "success")
        steps_ctx: dict[str, Any] = {}
        failed = False
        functions = self._status_functions(ok=lambda: not failed, failed=lambda: failed)
        workflow_env = {
            k: substitute(str(v), self._contexts(needs=needs, steps={}, env={}))
            for k, v in self.workflow.get("env", {}).items()
        }
        job_env = dict(workflow_env)
        for k, v in job.get("env", {}).items():
            job_env[k] = substitute(str(v), self._contexts(needs=needs, steps={}, env=job_env))
        for index, step in enumerate(job["steps"]):
            name = step.get("name") or step.get("uses") or step.get("run", "").splitlines()[0]
            contexts = self._contexts(needs=needs, steps=steps_ctx, env=job_env)
            if not condition(step.get("if", "success()"), contexts, functions):
                result.steps.append(StepResult(job_id, name, step.get("id"), "skipped"))
                if step.get("id"):
                    steps_ctx[step["id"]] = {
                        "outcome": "skipped",
                        "conclusion": "skipped",
                        "outputs": {},
                    }
                continue
            env = dict(job_env)
            for k, v in step.get("env", {}).items():
                env[k] = substitute(
                    str(v), self._contexts(needs=needs, steps=steps_ctx, env=env), functions
                )
            if str(step.get("uses", "")).startswith("./"):
                step_result = self._run_local_action(
                    job_id, name, step, index, env, contexts, result
                )
            elif "uses" in step:
                outcome = self._emulate_action(step, contexts, functions, artifacts, result)
                step_result = StepResult(job_id, name, step.get("id"), outcome, env=env)
            else:
                step_result = self._run_script(job_id, name, step, index, env)
            result.steps.append(step_result)
            if step.get("id"):
                steps_ctx[step["id"]] = {
                    "outcome": step_result.outcome,
                    "conclusion": step_result.outcome,
                    "outputs": step_result.outputs,
                }
            if step_result.outcome == "failure":
                failed = True
        result.result = "failure" if failed else "success"
        contexts = self._contexts(needs=needs, steps=steps_ctx, env=job_env)
        result.outputs = {
            k: substitute(str(v), contexts, functions) for k, v in job.get("outputs", {}).items()
        }
        return result

    def _emulate_action(
        self,
        step: dict[str, Any],
        contexts: dict[str, Any],
        functions: dict[str, Callable[..., Any]],
        artifacts: dict[str, list[Path]],
        job: JobResult,
    ) -> str:
        action = step["uses"].split("@")[0]
        if action == "actions/checkout":
            inputs = {
                k: substitute(str(v), contexts, functions) for k, v in step.get("with", {}).items()
            }
            path = inputs.get("path", ".").strip("/") or "."
            sparse = tuple(inputs.get("sparse-checkout", "").split())
            checkout = Checkout(inputs.get("ref", ""), path, sparse)
            job.checkouts.append(checkout)
            if path != ".":
                self._export_tree(checkout)
            return "success"
        if action == "actions/setup-python":
            return "success"
        if action == "actions/upload-artifact":
            inputs = {
                k: substitute(str(v), contexts, functions) for k, v in step.get("with", {}).items()
            }
            files: list[Path] = []
            for pattern in inputs["path"].split("\n"):
                if not pattern.strip():  # a `|` block ends in a newline: no pattern
                    continue
                target = self.workspace / pattern.strip()
                if target.is_dir():
                    files += sorted(p for p in target.rglob("*") if p.is_file())
                elif target.exists():
                    files.append(target)
            if not files and inputs.get("if-no-files-found", "warn") == "error":
                return "failure"
            artifacts[inputs.get("name", "artifact")] = files
            self.uploaded[inputs.get("name", "artifact")] = {p.name: p.read_bytes() for p in files}
            return "success"
        if action == "actions/download-artifact":
            return self._download_artifact(step, contexts, functions, artifacts)
        raise AssertionError(f"action {step['uses']} is not emulated by the harness")

    def _run_local_action(
        self,
        job_id: str,
        name: str,
        step: dict[str, Any],
        index: int,
        env: dict[str, str],
        contexts: dict[str, Any],
        job: JobResult,
    ) -> StepResult:
        """A composite action from the workspace (`uses: ./`), the way the runner runs one: its
        inputs (declared defaults, then `with:`; an undeclared input is an error, as actionlint
        says), its steps in order with their own `steps` context and `github.action_path`, and
        its outputs from those steps. Its setup-python is emulated like the workflow's; the
        step that runs `action/install.sh` is recorded as an install from the checkout the
        action sits in, not run (orgctl is installed in this venv); every other step runs."""
        where = step["uses"].removeprefix("./").strip("/")
        action_dir = self.workspace / where if where else self.workspace
        spec: dict[str, Any] = yaml.safe_load((action_dir / "action.yml").read_text("utf-8"))
        assert spec["runs"]["using"] == "composite", f"{step['uses']}: composite actions only"
        declared: dict[str, Any] = spec.get("inputs") or {}
        functions = self._status_functions(ok=lambda: True, failed=lambda: False)
        inputs = {k: to_string(v.get("default", "")) for k, v in declared.items()}
        for key, value in (step.get("with") or {}).items():
            assert key in declared, f"{name}: input {key!r} is not defined in {step['uses']}"
            inputs[key] = substitute(str(value), contexts, functions)
        outer = {**contexts, "inputs": inputs}
        outer["github"] = {**contexts["github"], "action_path": str(action_dir)}
        steps_ctx: dict[str, Any] = {}
        failed = False
        inner = self._status_functions(ok=lambda: not failed, failed=lambda: failed)
        stdout: list[str] = []
        stderr: list[str] = []
        for n, inner_step in enumerate(spec["runs"]["steps"]):
            ctx = {**outer, "steps": steps_ctx}
            label = inner_step.get("name") or inner_step.get("uses") or "run"
            if not condition(inner_step.get("if", "success()"), ctx, inner):
                outcome, outputs = "skipped", {}
            elif str(inner_step.get("uses", "")).startswith("actions/setup-python"):
                outcome, outputs = "success", {"python-path": sys.executable}
            elif "uses" in inner_step:
                raise AssertionError(f"{inner_step['uses']} in {step['uses']} is not emulated")
            else:
                step_env = dict(env)
                for k, v in (inner_step.get("env") or {}).items():
                    step_env[k] = substitute(str(v), {**ctx, "env": step_env}, inner)
                if "action/install.sh" in inner_step["run"]:
                    source = next((c for c in reversed(job.checkouts) if c.path == "."), None)
                    lines = tuple(x.strip() for x in inner_step["run"].strip().splitlines())
                    job.installs.append(Install(lines, source, via=step["uses"]))
                    outcome, outputs = "success", {}
                else:
                    ran = self._run_script(job_id, label, inner_step, index * 100 + n, step_env)
                    stdout.append(ran.stdout)
                    stderr.append(ran.stderr)
                    outcome, outputs = ran.outcome, ran.outputs
            if inner_step.get("id"):
                steps_ctx[inner_step["id"]] = {
                    "outcome": outcome,
                    "conclusion": outcome,
                    "outputs": outputs,
                }
            failed = failed or outcome == "failure"
        ctx = {**outer, "steps": steps_ctx}
        action_outputs = {
            k: substitute(str(v["value"]), ctx, inner)
            for k, v in (spec.get("outputs") or {}).items()
        }
        return StepResult(
            job_id,
            name,
            step.get("id"),
            "failure" if failed else "success",
            stdout="".join(stdout),
            stderr="".join(stderr),
            outputs=action_outputs,
            env=env,
        )

    def _download_artifact(
        self,
        step: dict[str, Any],
        contexts: dict[str, Any],
        functions: dict[str, Callable[..., Any]],
        artifacts: dict[str, list[Path]],
    ) -> str:
        """download-artifact of an artifact this run uploaded: its files (by name, as they
        were when uploaded) into `path:`. Unknown name: the step fails, as on GitHub."""
        inputs = {
            k: substitute(str(v), contexts, functions) for k, v in step.get("with", {}).items()
        }
        name = inputs["name"]
        if name not in self.uploaded:
            return "failure"
        target = self.workspace / inputs.get("path", ".")
        target.mkdir(parents=True, exist_ok=True)
        for filename, data in self.uploaded[name].items():
            (target / filename).write_bytes(data)
        return "success"

    def _export_tree(self, checkout: Checkout) -> None:
        """Write the commit's tree (only its sparse paths, if given) under `path`, fresh."""
        target = self.workspace / checkout.path
        if target.exists():
            subprocess.run(["rm", "-rf", str(target)], check=True)
        target.mkdir(parents=True)
        archive = subprocess.run(
            ["git", "archive", "--format=tar", checkout.ref or "HEAD", "--", *checkout.sparse],
            cwd=self.workspace,
            capture_output=True,
            check=True,
        )
        subprocess.run(["tar", "-x", "-C", str(target)], input=archive.stdout, check=True)

    def _run_script(
        self, job_id: str, name: str, step: dict[str, Any], index: int, env: dict[str, str]
    ) -> StepResult:
        script = self.runner_temp / f"{job_id}-{index}.sh"
        script.write_text(step["run"], encoding="utf-8")
        output_file = self.runner_temp / f"{job_id}-{index}.output"
        output_file.write_text("")
        full_env = {**self.default_env(), **env, "GITHUB_OUTPUT": str(output_file)}
        full_env.update(self.step_env(env))
        shell = step.get("shell") or self.workflow.get("defaults", {}).get("run", {}).get("shell")
        assert shell == "bash", f"{name}: the harness runs bash steps only"
        completed = subprocess.run(
            ["bash", "--noprofile", "--norc", "-eo", "pipefail", str(script)],
            cwd=self.workspace,
            env=full_env,
            capture_output=True,
            text=True,
            timeout=self.timeout,
            check=False,
        )
        return StepResult(
            job_id,
            name,
            step.get("id"),
            "success" if completed.returncode == 0 else "failure",
            exit_code=completed.returncode,
            stdout=completed.stdout,
            stderr=completed.stderr,
            outputs=_parse_output_file(output_file),
            env=full_env,
        )


def merge_runs(*runs: RunResult) -> RunResult:
    """One PR's runs of a workflow on several events (plan.yml: pull_request and
    pull_request_target), as one result: each job as the run that did not skip it had it."""
    jobs: dict[str, JobResult] = {}
    artifacts: dict[str, list[Path]] = {}
    for run in runs:
        for job_id, job in run.jobs.items():
            if job_id not in jobs or jobs[job_id].result == "skipped":
                jobs[job_id] = job
        artifacts.update(run.artifacts)
    return RunResult(jobs, artifacts)
