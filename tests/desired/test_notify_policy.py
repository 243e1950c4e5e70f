"""The ``notify:`` section of orgctl.yaml: read into `Policy.notify`, or problems that name the
file, line and field."""

from __future__ import annotations

import pytest

from reconciler.desired.load import load_policy
from reconciler.errors import ConfigError
from reconciler.policy import Notify
from tests.desired.conftest import problems_of


def test_no_section_sends_no_notices(write_org):
    org_dir = write_org({"orgctl.yaml": "prune: {users: true}\n"})
    assert load_policy(org_dir / "orgctl.yaml").notify is None


def test_the_section_is_read_with_its_defaults(write_org):
    org_dir = write_org({"orgctl.yaml": "notify: {agent_id: 987654321}\n"})
    assert load_policy(org_dir / "orgctl.yaml").notify == Notify(agent_id=987654321)
    org_dir = write_org({"orgctl.yaml": "notify:\n  agent_id: 12\n  advance_days: 7\n  lang: en\n"})
    assert load_policy(org_dir / "orgctl.yaml").notify == Notify(
        agent_id=12, advance_days=7, lang="en"
    )


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        (
            "notify: {advance_days: 3}\n",
            "org/orgctl.yaml:1:9: notify.agent_id: required field is missing",
        ),
        ("notify:\n  agent_id: abc\n", "org/orgctl.yaml:2:13: notify.agent_id: "),
        (
            "notify:\n  agent_id: 1\n  advance_days: 0\n",
            "org/orgctl.yaml:3:17: notify.advance_days:",
        ),
        ("notify:\n  agent_id: 1\n  lang: fr\n", "org/orgctl.yaml:3:9: notify.lang: "),
        (
            "notify:\n  agent_id: 1\n  agentid: 2\n",
            "org/orgctl.yaml:3:3: notify.agentid: unknown field; did you mean 'agent_id'?",
        ),
    ],
)
def test_bad_settings_name_file_line_and_field(write_org, text: str, problem: str):
    org_dir = write_org({"orgctl.yaml": text})
    with pytest.raises(ConfigError) as caught:
        load_policy(org_dir / "orgctl.yaml", "org/orgctl.yaml")
    [found] = problems_of(caught.value)
    assert found.startswith(problem), found
