"""The orgctl-validate hook of .pre-commit-hooks.yaml, run by pre-commit itself: `pre-commit
try-repo` on a local git repository holding orgctl, against an org repository.

Offline: pre-commit builds its hook environment as usual (a virtualenv, `pip install .` of
the hook repository), but pip is told to use no index and install no dependency, and the
dependencies come from this venv through PYTHONPATH. Everything pre-commit owns (reading the
hook manifest, cloning, the entry and args, the `files` filter, `pass_filenames`) is real.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
PRE_COMMIT = Path(sys.executable).parent / "pre-commit"
GIT = ("git", "-c", "user.name=orgctl tests", "-c", "user.email=tests@example.com")


def git(cwd: Path, *args: str) -> None:
    subprocess.run([*GIT, *args], cwd=cwd, check=True, capture_output=True, timeout=60)


def committed_repo(path: Path, files: dict[str, Path]) -> Path:
    path.mkdir()
    git(path, "init", "-q")
    for name, source in files.items():
        if source.is_dir():
            shutil.copytree(source, path / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy(source, path / name)
    git(path, "add", ".")
    git(path, "commit", "-qm", "snapshot")
    return path


@pytest.fixture(scope="module")
def hook_repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """orgctl as pre-commit sees it: the files a `pip install .` needs, and the manifest."""
    names = ("pyproject.toml", "README.md", ".pre-commit-hooks.yaml", "reconciler")
    root = tmp_path_factory.mktemp("hook")
    return committed_repo(root / "orgctl", {name: REPO / name for name in names})


@pytest.fixture
def org_repo(tmp_path: Path) -> Path:
    return committed_repo(tmp_path / "acme", {"org": REPO / "org"})


def try_repo(hook_repo: Path, org_repo: Path, home: Path, *args: str):
    env = {
        **os.environ,
        "PRE_COMMIT_HOME": str(home),
        "PIP_NO_INDEX": "1",
        "PIP_NO_DEPS": "1",
        # pip reads this variable inverted: 0 turns build isolation OFF (no setuptools fetch).
        "PIP_NO_BUILD_ISOLATION": "0",
        "PYTHONPATH": sysconfig.get_paths()["purelib"],
    }
    return subprocess.run(
        [str(PRE_COMMIT), "try-repo", str(hook_repo), "orgctl-validate", *args],
        cwd=org_repo,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )


def test_the_hook_passes_a_valid_org_fails_a_broken_one_and_skips_other_files(
    hook_repo, org_repo, tmp_path
):
    home = tmp_path / "pre-commit-home"
    valid = try_repo(hook_repo, org_repo, home, "--all-files")
    assert valid.returncode == 0, valid.stdout + valid.stderr
    assert "orgctl validate" in valid.stdout
    assert "Passed" in valid.stdout

    people = org_repo / "org" / "people" / "sales.yaml"
    people.write_text(
        people.read_text("utf-8").replace("departments: [sales", "departments: [salse", 1),
        encoding="utf-8",
    )
    git(org_repo, "add", ".")
    broken = try_repo(hook_repo, org_repo, home, "--all-files")
    assert broken.returncode == 1, broken.stdout + broken.stderr
    assert "Failed" in broken.stdout
    assert "org/people/sales.yaml:" in broken.stdout
    assert "unknown department 'salse'" in broken.stdout

    (org_repo / "notes.md").write_text("not org YAML\n")
    git(org_repo, "add", "notes.md")
    skipped = try_repo(hook_repo, org_repo, home, "--files", "notes.md")
    assert skipped.returncode == 0, skipped.stdout + skipped.stderr
    assert "Skipped" in skipped.stdout  # `files:` keeps the hook to org/
