"""Helpers for loader tests: write a small org tree and collect what the loader says."""

from __future__ import annotations

import textwrap
from collections.abc import Callable, Mapping
from pathlib import Path

import pytest

from reconciler.errors import ConfigError

DATA = Path(__file__).resolve().parent / "data"

WriteOrg = Callable[[Mapping[str, str | bytes]], Path]


@pytest.fixture
def write_org(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> WriteOrg:
    """Write files (relative path → text, dedented; or bytes) under ``tmp_path/org`` and chdir
    to ``tmp_path``, so messages name them ``org/…`` as a user would see them."""
    monkeypatch.chdir(tmp_path)

    def write(files: Mapping[str, str | bytes]) -> Path:
        root = tmp_path / "org"
        root.mkdir(exist_ok=True)
        for name, content in files.items():
            path = root / name
            path.parent.mkdir(parents=True, exist_ok=True)
            if isinstance(content, bytes):
                path.write_bytes(content)
            else:
                path.write_text(textwrap.dedent(content).lstrip("\n"), encoding="utf-8")
        return Path("org")

    return write


def problems_of(error: ConfigError) -> list[str]:
    return [str(problem) for problem in error.problems]
