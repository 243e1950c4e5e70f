"""`orgctl init DIR`: scaffold a company's org repository.

    orgctl init DIR [--sandbox | --example] [--action OWNER/REPO@REF] [--owner @ORG/TEAM]

What it writes: ``org/`` (from ``orgctl dump`` of the tenant, the sandbox's with
``--sandbox``, or the bundled example org with ``--example``), ``org/orgctl.yaml`` with safe
defaults (nothing is pruned), the JSON Schemas, the four workflows using orgctl's GitHub
Action at a pinned ref, ``.github/CODEOWNERS`` with one line per department file,
``.pre-commit-config.yaml``, ``.vscode/settings.json`` mapping the schemas, a README and a
``.gitignore``. The repository references orgctl by version; it never holds nor installs
orgctl's source. The plan, apply and drift workflows are the very templates orgctl's own
repository renders for itself (`repository_workflows`, with the action as ``./``).
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Mapping
from importlib.resources import files
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import Annotated

import typer

from reconciler import __version__
from reconciler.cli.app import command, err, out, reported
from reconciler.desired.load import POLICY_FILE, load, schema_text
from reconciler.errors import InputError
from reconciler.live.dump import DEPARTMENTS_FILE, dump_org
from reconciler.live.snapshot import read_live
from reconciler.live.target import Target, open_target
from reconciler.model import Org

ACTION_REPOSITORY = "orgctl/orgctl"
"""Where orgctl's action and pre-commit hook live; --action points elsewhere (a fork, or
the same repository at a commit SHA)."""

# Pinned by full commit SHA: a tag can be moved to other code, a SHA cannot.
CHECKOUT = "actions/checkout@08c6903cd8c0fde910a37f88322edcfb5dd907a8 # v5.0.0"
UPLOAD = "actions/upload-artifact@b7c566a772e6b6bfb58ed0dc250532a479d7789f # v6.0.0"

WORKFLOWS = ("plan", "apply", "drift", "attendance")
SHARED_WORKFLOWS = ("plan", "apply", "drift")
"""The workflows this repository runs itself: its own ``.github/workflows`` are these
templates rendered with the action as ``./`` (`repository_workflows`, `scripts/workflows`),
so a company's repository gets exactly what this repository's CI tests."""
LOCAL_ACTION = "./"
ORG = "org"
SHA = re.compile(r"^[0-9a-f]{40}$")
TEMPLATES = files("reconciler").joinpath("templates", "init")


def _text(*parts: str) -> str:
    node: Traversable = TEMPLATES
    for part in parts:
        node = node.joinpath(part)
    return node.read_text("utf-8")


def example_org() -> dict[str, str]:
    """The bundled example org (星河科技): relative path under org/ → YAML."""
    found: dict[str, str] = {}

    def walk(node: Traversable, prefix: str) -> None:
        for child in node.iterdir():
            if child.is_dir():
                walk(child, f"{prefix}{child.name}/")
            elif child.name.endswith(".yaml"):
                found[f"{prefix}{child.name}"] = child.read_text("utf-8")

    walk(TEMPLATES.joinpath("example"), "")
    return dict(sorted(found.items()))


def action_ref(action: str) -> tuple[str, str, str]:
    """``OWNER/REPO@REF`` → (repository, ref, the ``uses:`` value with a version comment
    when the ref is a SHA)."""
    repository, sep, ref = action.partition("@")
    if not sep or not ref or repository.count("/") != 1:
        raise InputError(f"--action {action!r}: expected OWNER/REPO@REF (a tag or a commit SHA)")
    uses = f"{repository}@{ref}" + (f" # v{__version__}" if SHA.match(ref) else "")
    return repository, ref, uses


def _fill(text: str, replacements: Mapping[str, str]) -> str:
    for token, value in replacements.items():
        text = text.replace(token, value)
    return text


def _workflow_replacements(uses: str, note: str = "") -> dict[str, str]:
    return {
        "@@SOURCE_NOTE@@": note,
        "@@ACTION@@": uses,
        "@@CHECKOUT@@": CHECKOUT,
        "@@UPLOAD@@": UPLOAD,
        "@@VERSION@@": __version__,
    }


def repository_workflows() -> dict[str, str]:
    """orgctl's own plan, apply and drift workflows: the templates a company gets, with the
    action as ``./`` (this repository's checkout) instead of ``OWNER/orgctl@SHA``. Pure."""
    return {
        f".github/workflows/{name}.yml": _fill(
            _text("workflows", f"{name}.yml"),
            _workflow_replacements(
                LOCAL_ACTION,
                f"# Rendered from reconciler/templates/init/workflows/{name}.yml by "
                "scripts/workflows: edit that file.\n",
            ),
        )
        for name in SHARED_WORKFLOWS
    }


def scaffold(
    org_files: Mapping[str, str], org: Org, *, action: str, owner: str, name: str
) -> dict[str, str]:
    """Every file of the repository: relative path → text. Pure."""
    repository, ref, uses = action_ref(action)
    url = f"https://github.com/{repository}"
    replacements = {
        **_workflow_replacements(uses),
        "@@REPOSITORY_URL@@": url,
        "@@REV@@": ref,
        "@@COMPANY@@": name,
    }

    def fill(text: str) -> str:
        return _fill(text, replacements)

    result = {f"{ORG}/{path}": text for path, text in org_files.items()}
    result[f"{ORG}/{POLICY_FILE}"] = _text("orgctl.yaml")
    for kind in ("org", "policy"):
        result[f"schemas/{kind}.schema.json"] = schema_text(kind)
    for workflow in WORKFLOWS:
        result[f".github/workflows/{workflow}.yml"] = fill(_text("workflows", f"{workflow}.yml"))
    result[".github/CODEOWNERS"] = codeowners(org_files, org, owner)
    result[".pre-commit-config.yaml"] = fill(_text("pre-commit-config.yaml"))
    result[".vscode/settings.json"] = editor_settings(org_files)
    result["README.md"] = fill(_text("README.md"))
    result[".gitignore"] = _text("gitignore")
    return dict(sorted(result.items()))


def codeowners(org_files: Mapping[str, str], org: Org, owner: str) -> str:
    """One line per department file, naming the department it holds; the policy and the
    workflows go to the same owner, who should be the people allowed to change DingTalk."""
    lines = [
        '# Who must approve a change (with "Require review from Code Owners" on main).',
        "# Replace the owner(s) with your teams, e.g. a department's HR partner on its file.",
        "# The last matching line wins.",
        f"* {owner}",
        f"/{ORG}/{POLICY_FILE} {owner}",
        f"/.github/ {owner}",
    ]
    for path in sorted(org_files):
        # Comments stand on their own line: CODEOWNERS has no trailing comments.
        department = org.departments.get(Path(path).stem)
        if path == DEPARTMENTS_FILE:
            lines.append("# the department tree")
        elif department is not None:
            lines.append(f"# {department.name}")
        lines.append(f"/{ORG}/{path} {owner}")
    return "\n".join(lines) + "\n"


def editor_settings(org_files: Mapping[str, str]) -> str:
    """VS Code (Red Hat YAML extension): which schema validates which file, as you type."""
    org_globs = [f"{ORG}/{DEPARTMENTS_FILE}", f"{ORG}/people/**/*.yaml"]
    org_globs += sorted(
        f"{ORG}/{p}" for p in org_files if p != DEPARTMENTS_FILE and not p.startswith("people/")
    )
    settings = {
        "yaml.schemas": {
            "./schemas/org.schema.json": org_globs,
            "./schemas/policy.schema.json": [f"{ORG}/{POLICY_FILE}"],
        },
        "files.associations": {"CODEOWNERS": "plaintext"},
    }
    return json.dumps(settings, ensure_ascii=False, indent=2) + "\n"


@command
def init(
    directory: Annotated[Path, typer.Argument(help="The new repository's directory.")],
    sandbox: Annotated[
        bool, typer.Option("--sandbox", help="org/ from the embedded sandbox tenant (a demo).")
    ] = False,
    example: Annotated[
        bool,
        typer.Option("--example", help="org/ from the bundled example org; no tenant is read."),
    ] = False,
    action: Annotated[
        str,
        typer.Option(
            "--action",
            help="orgctl's action as OWNER/REPO@REF; a commit SHA is the safest pin.",
        ),
    ] = f"{ACTION_REPOSITORY}@v{__version__}",
    owner: Annotated[
        str, typer.Option("--owner", help="The CODEOWNERS owner of the org files.")
    ] = "@YOUR-ORG/hr-admins",
) -> None:
    """Scaffold a company's org repository: org/, policy, workflows, CODEOWNERS, pre-commit,
    editor schemas and a README."""
    with reported():
        if sandbox and example:
            raise InputError("--sandbox and --example both choose where org/ comes from: pick one")
        _check_empty(directory)
        action_ref(action)  # a bad --action fails before the tenant is read
        if example:
            org_files = example_org()
            source = "the example org"
        else:
            target = open_target(sandbox=sandbox)
            err(target.description)
            org_files = dump_org(asyncio.run(_read(target)))
            source = "the tenant (orgctl dump)"
        written = _write_all(directory, org_files, action, owner)
    out(f"wrote {written} files to {directory}/ (org/ from {source})")
    out("next: git init, set the DingTalk secrets and the dingtalk-write environment, fill in")
    out(f"      .github/CODEOWNERS and protected_users in org/{POLICY_FILE}; see README.md")


def _write_all(directory: Path, org_files: Mapping[str, str], action: str, owner: str) -> int:
    org_dir = directory / ORG
    _write(org_dir, {**org_files, POLICY_FILE: _text("orgctl.yaml")})
    desired = load(org_dir)  # what we wrote must validate: a broken scaffold is our bug
    generated = scaffold(
        org_files, desired.org, action=action, owner=owner, name=directory.resolve().name
    )
    _write(directory, generated)
    return len(generated)


async def _read(target: Target) -> Org:
    async with target:
        return await read_live(target.client)


def _check_empty(directory: Path) -> None:
    if directory.exists() and not directory.is_dir():
        raise InputError(f"{directory} exists and is not a directory")
    if directory.exists() and any(p.name != ".git" for p in directory.iterdir()):
        raise InputError(f"{directory} is not empty: init writes a new repository")


def _write(directory: Path, texts: Mapping[str, str]) -> None:
    for name, text in texts.items():
        path = directory / name
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
        except OSError as error:
            raise InputError(f"cannot write {path}: {error.strerror}") from None
