"""The people an org directory had at its base and has no more: what `--base REF` and
`--base-dir DIR` compare. I/O: ``--base`` reads git objects (``git ls-tree``, ``git cat-file``)
into a temporary directory and loads that like any org directory. Nothing is checked out and
nothing from the repository is run (no hooks, no filters, no attributes: plumbing commands
read objects only). ``--base-dir`` loads a directory that already holds the org as it was: in
the plan workflow the pull request's org is a separate checkout (not at its path in the
repository the job runs in), and its base is checked out beside it, as data.

With the YAML alone nobody can tell that an entry was removed; against the org at the base
of a change (the pull request's base, the commit before a push) it is plain. `plan --base`
deletes a removed person whose ``leaves_on`` had come even with ``prune.users`` off (the
nightly leavers PR removes exactly those), and ``lifecycle.dated_removals_only`` refuses
the removal of anyone else (`validate --base`, `plan --base`): set leaves_on instead.
"""

from __future__ import annotations

import subprocess
import tempfile
from dataclasses import replace
from pathlib import Path, PurePosixPath

from reconciler.desired.files import display_name
from reconciler.desired.load import load_desired
from reconciler.errors import ConfigError, InputError, Problem
from reconciler.model import Location, Org, User

_GIT = ("git", "-c", "core.fsmonitor=false", "-c", "core.hooksPath=/dev/null")


def removed_since(
    org_dir: Path, ref: str | None, desired: Org, *, base_dir: Path | None = None
) -> tuple[User, ...]:
    """The users of the base org that ``desired`` lacks, sorted by userid; each located in the
    base (``REF:org/people/x.yaml:12:5``, or the file under ``base_dir``). The base is the org
    at the git ref ``ref``, or the directory ``base_dir`` (at most one of them; neither: nobody
    was removed). Raises InputError (not a git work tree, an unknown ref, no such directory)
    or ConfigError (the base org does not load)."""
    if ref is not None and base_dir is not None:
        raise InputError("--base and --base-dir name the same thing: give one of them")
    if base_dir is not None:
        base = org_in(base_dir)
    elif ref is not None:
        base = org_at(org_dir, ref)
    else:
        return ()
    return tuple(base.users[u] for u in sorted(base.users) if u not in desired.users)


def org_in(base_dir: Path) -> Org:
    """The org in a directory, as the base. A missing directory is an error, not an empty
    base: a mistyped path must not silently let every removal through."""
    if not base_dir.is_dir():
        raise InputError(f"--base-dir {base_dir}: no such directory")
    org, _ = load_desired(base_dir)
    return org


def org_at(org_dir: Path, ref: str) -> Org:
    if not ref or ref.startswith("-"):
        raise InputError(f"--base {ref!r}: not a git revision")
    top = _git(org_dir, "rev-parse", "--show-toplevel").strip()
    prefix = _git(org_dir, "rev-parse", "--show-prefix").strip()
    try:
        _git(Path(top), "rev-parse", "--verify", "--quiet", "--end-of-options", f"{ref}^{{commit}}")
    except InputError:
        raise InputError(f"--base {ref}: no such commit here (fetch it first?)") from None
    listing = _git(
        Path(top), "ls-tree", "-r", "-z", "--full-tree", "--end-of-options", ref, "--", prefix
    )
    label = f"{ref}:{display_name(org_dir)}"
    with tempfile.TemporaryDirectory(prefix="orgctl-base-") as tmp:
        root = Path(tmp) / "org"
        root.mkdir()
        found = False
        for record in filter(None, listing.split("\0")):
            meta, _, path = record.partition("\t")
            mode, kind, sha = meta.split()
            if kind != "blob" or mode not in ("100644", "100755"):
                continue  # a symlink or submodule: the loader refuses those in a work tree too
            relative = PurePosixPath(path).relative_to(prefix) if prefix else PurePosixPath(path)
            target = root.joinpath(*relative.parts)
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(_git_bytes(Path(top), "cat-file", "blob", sha))
            found = True
        if not found:
            return Org.of()  # the directory did not exist at the base: nobody was removed
        shown = root.as_posix()
        try:
            org, _ = load_desired(root)
        except ConfigError as error:
            problems = [replace(p, file=p.file.replace(shown, label, 1)) for p in error.problems]
            raise ConfigError(problems) from None
    users = [replace(u, location=_relabel(u.location, shown, label)) for u in org.users.values()]
    return Org(org.departments, Org.of((), users).users)


def removal_problem(user: User, why: str) -> Problem:
    """A problem located at the removed entry in the base."""
    return Problem.at(user.location, f"users.{user.userid}", why)


def _relabel(location: Location | None, shown: str, label: str) -> Location | None:
    if location is None:
        return None
    return replace(location, file=location.file.replace(shown, label, 1))


def _git(cwd: Path, *args: str) -> str:
    return _git_bytes(cwd, *args).decode("utf-8", errors="replace")


def _git_bytes(cwd: Path, *args: str) -> bytes:
    try:
        done = subprocess.run([*_GIT, *args], cwd=cwd, capture_output=True, check=False)
    except OSError as error:
        raise InputError(f"--base needs git: {error.strerror}") from None
    if done.returncode != 0:
        message = done.stderr.decode("utf-8", errors="replace").strip().splitlines()
        detail = message[-1] if message else f"git {args[0]} failed"
        raise InputError(f"--base: {detail}")
    return done.stdout


__all__ = ["org_at", "org_in", "removal_problem", "removed_since"]
