"""`orgctl pull` on the command line: masked lines, --dry-run, --report, scope options, and
YAML that would not load refused with its problems."""

from __future__ import annotations

import functools
import json
import os
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

import reconciler.cli.pull as cli_pull
from reconciler.cli import app
from reconciler.clock import FakeClock
from reconciler.live.target import open_target
from reconciler.sandbox import Sandbox


@pytest.fixture(autouse=True)
def _fake_clock(monkeypatch: pytest.MonkeyPatch, clock: FakeClock) -> None:
    monkeypatch.setattr(cli_pull, "open_target", functools.partial(open_target, clock=clock))


@pytest.fixture
def org(tmp_path: Path, clock: FakeClock) -> Path:
    """A small two-file org, and the embedded sandbox holding it with a console change."""
    org = tmp_path / "org"
    (org / "people").mkdir(parents=True)
    (org / "departments.yaml").write_text(
        "departments:\n  - key: eng  # 研发\n    name: 研发中心\n    parent: root\n    order: 1\n",
        encoding="utf-8",
    )
    (org / "people/eng.yaml").write_text(
        "users:\n"
        "  - userid: zhangsan\n"
        "    name: 张三\n"
        '    mobile: "15172391968"\n'
        "    departments: [eng]\n"
        "    title: 总监\n",
        encoding="utf-8",
    )
    path = Path(os.environ["ORGCTL_HOME"]) / "sandbox.db"
    with Sandbox(path, clock=clock) as sb:
        eng = sb.tenant.add_department("研发中心", order=1, source_identifier="eng")
        sb.tenant.add_user("zhangsan", "张三", "+86-15172391968", [eng], title="CTO")
        sb.tenant.add_user("lisi", "李四", "+86-13800000000", [eng], email="lisi@example.com")
    return org


def pull(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, ["pull", *args])
    return result.exit_code, result.output


def test_pull_edits_the_files_and_reports_masked_changes(org: Path, tmp_path: Path) -> None:
    before = (org / "departments.yaml").read_text(encoding="utf-8")
    report = tmp_path / "pull.json"
    code, output = pull(str(org), "--sandbox", "--report", str(report))
    assert code == 0, output
    assert output.splitlines()[0].startswith("target: sandbox tenant ")
    assert "person zhangsan: title 总监 → CTO" in output
    assert "new person lisi (people/eng.yaml)" in output
    assert "13800000000" not in output
    assert "lisi@example.com" not in output
    assert (org / "departments.yaml").read_text(encoding="utf-8") == before
    text = (org / "people/eng.yaml").read_text(encoding="utf-8")
    assert "    title: CTO\n" in text
    assert "  - userid: lisi\n" in text
    data = json.loads(report.read_text(encoding="utf-8"))
    assert data["files"] == [f"{org.as_posix()}/people/eng.yaml"]
    assert len(data["changes"]) == 2

    code, output = pull(str(org), "--sandbox")
    assert code == 0, output
    assert "nothing to pull" in output


def test_dry_run_writes_nothing(org: Path) -> None:
    before = (org / "people/eng.yaml").read_text(encoding="utf-8")
    code, output = pull(str(org), "--sandbox", "--dry-run")
    assert code == 0, output
    assert "2 entries would change in 1 files (dry run)" in output
    assert (org / "people/eng.yaml").read_text(encoding="utf-8") == before


def test_only_departments_leaves_people_alone(org: Path) -> None:
    before = (org / "people/eng.yaml").read_text(encoding="utf-8")
    code, output = pull(str(org), "--sandbox", "--only", "departments")
    assert code == 0, output
    assert "nothing to pull" in output
    assert (org / "people/eng.yaml").read_text(encoding="utf-8") == before


def test_an_unknown_department_is_refused(org: Path) -> None:
    code, output = pull(str(org), "--sandbox", "--department", "nope")
    assert code == 1
    assert "--department nope: no such department key" in output


def test_invalid_yaml_is_refused_before_anything_is_read(org: Path, tmp_path: Path) -> None:
    shutil.copy(org / "people/eng.yaml", org / "people/copy.yaml")  # zhangsan twice
    code, output = pull(str(org), "--sandbox")
    assert code == 1
    assert "people/copy.yaml" in output


def test_edits_that_would_leave_invalid_yaml_are_put_back(org: Path, clock: FakeClock) -> None:
    (org / "departments.yaml").write_text(
        "departments:\n"
        "  - key: eng\n    name: 研发中心\n    parent: root\n    order: 1\n"
        "  - key: qa\n    name: 质量部\n    parent: root\n",
        encoding="utf-8",
    )
    people = (org / "people/eng.yaml").read_text(encoding="utf-8")
    people = people.replace("departments: [eng]", "departments: [eng, qa]")
    (org / "people/eng.yaml").write_text(people, encoding="utf-8")
    before = {p: p.read_text(encoding="utf-8") for p in org.rglob("*.yaml")}
    # qa is not in DingTalk: pulling departments alone would remove it while zhangsan
    # still names it.
    code, output = pull(str(org), "--sandbox", "--only", "departments")
    assert code == 1
    assert "put the files back" in output
    assert "qa" in output
    assert {p: p.read_text(encoding="utf-8") for p in org.rglob("*.yaml")} == before
