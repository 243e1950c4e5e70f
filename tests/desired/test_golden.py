"""Invalid org trees under data/invalid/<case>/ fail with exactly the messages in their
expected.err; valid ones under data/valid/<case>/ pass with the summary in expected.out.

Regenerate after an intended message change with ORGCTL_UPDATE_GOLDEN=1, then review the
diff like code.
"""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from reconciler.cli import app
from tests.desired.conftest import DATA
from tests.golden import UPDATE


def cases(kind: str) -> list[str]:
    return sorted(p.name for p in (DATA / kind).iterdir() if p.is_dir())


@pytest.mark.parametrize("case", cases("invalid"))
def test_invalid_tree_reports_every_expected_problem(case, monkeypatch):
    monkeypatch.chdir(DATA / "invalid")  # messages name files relative to here: stable
    result = CliRunner().invoke(app, ["validate", case])
    golden = DATA / "invalid" / case / "expected.err"
    if UPDATE:
        golden.write_text(result.stderr, encoding="utf-8")
    assert "Traceback" not in result.output
    assert result.exit_code == 1
    assert result.stdout == ""
    assert result.stderr == golden.read_text(encoding="utf-8")


@pytest.mark.parametrize("case", cases("valid"))
def test_valid_tree_passes(case, monkeypatch):
    monkeypatch.chdir(DATA / "valid")
    result = CliRunner().invoke(app, ["validate", case])
    golden = DATA / "valid" / case / "expected.out"
    if UPDATE:
        golden.write_text(result.stdout, encoding="utf-8")
    assert result.exit_code == 0, result.output
    assert result.stderr == ""
    assert result.stdout == golden.read_text(encoding="utf-8")
