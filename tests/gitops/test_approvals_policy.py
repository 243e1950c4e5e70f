"""`approvals:` in orgctl.yaml: read into the Policy, or refused with file, line and field."""

from __future__ import annotations

from pathlib import Path

import pytest

from reconciler.desired.load import load_policy
from reconciler.errors import ConfigError
from reconciler.policy import ApprovalRule, Approvals


def policy_file(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "orgctl.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_approvals_are_read_with_their_defaults(tmp_path: Path) -> None:
    assert load_policy(policy_file(tmp_path, "prune: {users: true}\n")).approvals == Approvals()
    path = policy_file(
        tmp_path,
        "approvals:\n"
        "  label: reorg-ok\n"
        "  rules:\n"
        "    - changes: [delete-user, replace-user]\n"
        "      teams: [hr, acme/people-ops]\n"
        "    - changes: [delete-department]\n",
    )
    assert load_policy(path).approvals == Approvals(
        label="reorg-ok",
        rules=(
            ApprovalRule(changes=("delete-user", "replace-user"), teams=("hr", "acme/people-ops")),
            ApprovalRule(changes=("delete-department",)),
        ),
    )


@pytest.mark.parametrize(
    ("text", "where", "words"),
    [
        (
            "approvals:\n  rules:\n    - changes: [fire-user]\n",
            "orgctl.yaml:3:17: approvals.rules[0].changes[0]",
            "is not one of",
        ),
        (
            "approvals:\n  rules:\n    - teams: [hr]\n",
            "orgctl.yaml:3:7: approvals.rules[0]",
            "changes",
        ),
        (
            "approvals:\n  rules:\n    - changes: [delete-user]\n      teams: [hr leads]\n",
            "orgctl.yaml:4:15: approvals.rules[0].teams[0]",
            "is not a team: write its slug",
        ),
        (
            "approvals:\n  label: orgctl-drift\n",
            "orgctl.yaml:2:10: approvals.label",
            "a label orgctl puts on its own issues",
        ),
        ("approvals:\n  lable: ok\n", "orgctl.yaml:2:3: approvals", "lable"),
    ],
)
def test_a_bad_approvals_section_names_file_line_and_field(
    tmp_path: Path, text: str, where: str, words: str
) -> None:
    with pytest.raises(ConfigError) as caught:
        load_policy(policy_file(tmp_path, text), "orgctl.yaml")
    (problem,) = caught.value.problems
    assert str(problem).startswith(where), str(problem)
    assert words in str(problem)
