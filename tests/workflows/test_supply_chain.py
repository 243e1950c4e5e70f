"""The runtime lock file and Dependabot: what the workflows install is pinned by hash, and
something keeps the pins fresh."""

from __future__ import annotations

import re
import tomllib

import yaml
from packaging.utils import canonicalize_name

from tests.workflows.harness import REPO

LOCK = REPO / "requirements" / "runtime.txt"


def _name(requirement: str) -> str:
    return canonicalize_name(re.split(r"[<>=!~;\[ ]", requirement, maxsplit=1)[0].strip())


def locked() -> dict[str, tuple[str, list[str]]]:
    """name → (version, hashes), from the pip-compile style lock."""
    entries: dict[str, tuple[str, list[str]]] = {}
    current = ""
    for line in LOCK.read_text(encoding="utf-8").splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        if not line.startswith(" "):
            requirement = line.rstrip("\\ ").strip()
            name, _, version = requirement.partition("==")
            assert version, f"{requirement}: not pinned to one version"
            current = canonicalize_name(name)
            entries[current] = (version, [])
        else:
            entries[current][1].extend(re.findall(r"--hash=sha256:([0-9a-f]{64})", line))
    return entries


def test_every_locked_package_is_pinned_with_hashes() -> None:
    entries = locked()
    assert entries
    assert {name for name, (_, hashes) in entries.items() if not hashes} == set()


def test_the_lock_covers_the_runtime_dependencies_and_the_build_backend() -> None:
    project = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))
    wanted = {_name(r) for r in project["project"]["dependencies"]}
    wanted |= {_name(r) for r in project["build-system"]["requires"]}
    assert wanted - set(locked()) == set(), "refresh requirements/runtime.txt (docs/security.md)"


def test_dependabot_keeps_actions_and_python_dependencies_fresh() -> None:
    config = yaml.safe_load((REPO / ".github" / "dependabot.yml").read_text(encoding="utf-8"))
    assert config["version"] == 2
    ecosystems = {u["package-ecosystem"]: u for u in config["updates"]}
    assert set(ecosystems) == {"github-actions", "pip"}
    assert all(u["directory"] == "/" and u["schedule"]["interval"] for u in config["updates"])
