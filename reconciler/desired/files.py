"""Which files make up the desired state. I/O: lists the org directory and stats files; it
reads none of them.

Files: every ``*.yaml`` / ``*.yml`` below the directory, in sorted order, skipping names
that start with a dot (editor lock files, .git). ``orgctl.yaml`` at the top is the policy.
Symlinks are never followed: one that leads outside the directory is an error, one inside
is skipped (its target is read under its own name).
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from reconciler.errors import Problem

POLICY_FILE = "orgctl.yaml"
YAML_SUFFIXES = (".yaml", ".yml")


@dataclass(slots=True)
class Found:
    """The org files (path, name as displayed) in display order, the policy file if any, the
    org files' total size, and what is wrong with the layout."""

    org_files: list[tuple[Path, str]] = field(default_factory=list)
    policy: tuple[Path, str] | None = None
    total_bytes: int = 0
    problems: list[Problem] = field(default_factory=list)


def display_name(org_dir: Path) -> str:
    """The org directory as messages name it."""
    return org_dir.as_posix().rstrip("/") or "."


class _Finder:
    def __init__(self, org_dir: Path) -> None:
        self.root = org_dir
        self.real_root = os.path.realpath(org_dir)
        self.display_dir = display_name(org_dir)
        self.found = Found()

    def display(self, relative: PurePosixPath) -> str:
        return f"{self.display_dir}/{relative}" if self.display_dir != "." else str(relative)

    def fail(self, file: str, message: str) -> None:
        self.found.problems.append(Problem(file, 0, 0, "", message))

    def run(self) -> Found:
        found = self.found
        for current, dirnames, filenames in os.walk(self.root, followlinks=False):
            here = Path(current)
            relative_dir = PurePosixPath(here.relative_to(self.root).as_posix())
            dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
            for name in list(dirnames):
                if os.path.islink(here / name):
                    dirnames.remove(name)  # os.walk would not descend; say why if it matters
                    self.check_symlink(here / name, relative_dir / name)
            for name in sorted(filenames):
                if not name.startswith(".") and name.endswith(YAML_SUFFIXES):
                    self.file(here / name, relative_dir, name)
        # Display order, so "first defined at" means first in the sorted problem list too.
        found.org_files.sort(key=lambda pair: pair[1])
        return found

    def file(self, path: Path, relative_dir: PurePosixPath, name: str) -> None:
        relative = relative_dir / name
        display = self.display(relative)
        at_top = relative_dir == PurePosixPath(".")
        if os.path.islink(path):
            self.check_symlink(path, relative)
            if name == POLICY_FILE and at_top:
                self.fail(display, "the policy file must be a regular file, not a symlink")
            return
        if name in (POLICY_FILE, "orgctl.yml"):
            if not at_top:
                self.fail(
                    display,
                    f"{POLICY_FILE} belongs at the top of {self.display_dir}/, "
                    "not in a subdirectory",
                )
            elif name == "orgctl.yml":
                self.fail(display, f"name the policy file {POLICY_FILE}")
            else:
                self.found.policy = (path, display)
            return
        with contextlib.suppress(OSError):  # reading it says why
            self.found.total_bytes += os.stat(path).st_size
        self.found.org_files.append((path, display))

    def check_symlink(self, path: Path, relative: PurePosixPath) -> None:
        display = self.display(relative)
        target = os.path.realpath(path)
        if not os.path.exists(target):
            self.fail(display, f"broken symlink (to {os.readlink(path)})")
        elif os.path.commonpath([self.real_root, target]) != self.real_root:
            self.fail(
                display,
                f"symlink to {os.readlink(path)}, outside "
                f"{self.display_dir}/; not followed (copy the file in instead)",
            )
        # A symlink inside the directory: its target is read under its own name.


def find_files(org_dir: Path) -> Found:
    """The files under ``org_dir`` (an existing directory)."""
    return _Finder(org_dir).run()
