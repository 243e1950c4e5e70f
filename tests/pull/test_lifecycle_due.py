"""`orgctl lifecycle due`: the entries whose leaves_on has come leave the YAML, with the
references to them, edited like `orgctl pull` edits; the rest of the files is untouched."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from reconciler.cli import app
from reconciler.desired.load import load_desired
from reconciler.gitops import drift, markers


@pytest.fixture
def org_dir(tmp_path: Path, repo_root: Path) -> Path:
    target = tmp_path / "org"
    shutil.copytree(repo_root / "org", target)
    return target


def orgctl(*args: str) -> Result:
    return CliRunner().invoke(app, list(args))


def set_leaves_on(org_dir: Path, after: str, date: str) -> None:
    path = org_dir / "people" / "engineering.yaml"
    text = path.read_text(encoding="utf-8")
    assert after in text
    path.write_text(text.replace(after, f"{after}    leaves_on: {date}\n", 1), encoding="utf-8")


LISI = "    job_number: XH0101\n    manager: zhangsan\n"


def test_a_date_that_has_come_removes_the_entry_and_the_references(
    org_dir: Path, tmp_path: Path
) -> None:
    set_leaves_on(org_dir, LISI, "2026-11-30")
    departments = (org_dir / "departments.yaml").read_text(encoding="utf-8")
    report = tmp_path / "due.json"
    result = orgctl(
        "lifecycle", "due", str(org_dir), "--today", "2026-11-30", "--report", str(report)
    )
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines()[0] == (
        "person lisi (李四) left on 2026-11-30: removed (people/engineering.yaml)"
    )
    org, _ = load_desired(org_dir)
    assert "lisi" not in org.users
    assert all(u.manager != "lisi" for u in org.users.values())
    assert org.departments["eng-platform"].managers == ()
    after = (org_dir / "departments.yaml").read_text(encoding="utf-8")
    assert [
        a for a, b in zip(after.splitlines(), departments.splitlines(), strict=True) if a != b
    ] == ["    managers: []"]
    data = json.loads(report.read_text(encoding="utf-8"))
    assert sorted(data["files"]) == [
        (org_dir / "departments.yaml").as_posix(),
        (org_dir / "people" / "engineering.yaml").as_posix(),
    ]
    assert len(data["changes"]) == 4


def test_a_date_to_come_removes_nothing(org_dir: Path) -> None:
    set_leaves_on(org_dir, LISI, "2026-12-01")
    before = (org_dir / "people" / "engineering.yaml").read_text(encoding="utf-8")
    result = orgctl("lifecycle", "due", str(org_dir), "--today", "2026-11-30")
    assert result.exit_code == 0, result.output
    assert "nothing to remove" in result.stdout
    assert (org_dir / "people" / "engineering.yaml").read_text(encoding="utf-8") == before


def test_dry_run_writes_nothing(org_dir: Path) -> None:
    set_leaves_on(org_dir, LISI, "2026-01-01")
    before = (org_dir / "people" / "engineering.yaml").read_text(encoding="utf-8")
    result = orgctl("lifecycle", "due", str(org_dir), "--today", "2026-11-30", "--dry-run")
    assert result.exit_code == 0, result.output
    assert "(dry run)" in result.stdout
    assert (org_dir / "people" / "engineering.yaml").read_text(encoding="utf-8") == before


def test_a_protected_leaver_stays_with_a_note(org_dir: Path) -> None:
    path = org_dir / "people" / "corporate.yaml"
    text = path.read_text(encoding="utf-8")
    path.write_text(
        text.replace(
            "    job_number: XH0001\n", "    job_number: XH0001\n    leaves_on: 2026-01-01\n"
        ),
        encoding="utf-8",
    )
    result = orgctl("lifecycle", "due", str(org_dir), "--today", "2026-11-30")
    assert result.exit_code == 0, result.output
    assert "wangjianguo left on 2026-01-01 but is in protected_users" in result.stderr
    assert "wangjianguo" in load_desired(org_dir)[0].users


def test_a_bad_today_is_an_error(org_dir: Path) -> None:
    result = orgctl("lifecycle", "due", str(org_dir), "--today", "30/11/2026")
    assert result.exit_code == 1
    assert "--today 30/11/2026: not a date (YYYY-MM-DD)" in result.stderr


def test_the_leavers_pr_is_kept_apart_from_the_drift_pr() -> None:
    body = drift.build_lifecycle_pr_body(
        ["person lisi (李四) left on 2026-11-30: removed (people/eng.yaml) +86-13812345678"],
        [],
        "https://x/run/1",
    )
    assert markers.has_marker(body, drift.LIFECYCLE_PR_MARKER)
    assert "13812345678" not in body
    ours = drift.PullRequest(3, body, "open", drift.LIFECYCLE_BRANCH)
    drift_pr = drift.PullRequest(4, body, "open", drift.DRIFT_BRANCH)
    actions = drift.decide_drift_pr(
        [ours, drift_pr],
        drifted=False,
        body=body,
        closed_comment="gone",
        branch=drift.LIFECYCLE_BRANCH,
        marker=drift.LIFECYCLE_PR_MARKER,
    )
    assert actions == [drift.ClosePull(3, "gone")]
