"""The GitHub reads behind approvals, against the fake GitHub on loopback: label events,
permissions, team memberships with their own token, reviews, statuses, and the plan artifact
whose storage never sees the token."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from reconciler.errors import GitHubError
from reconciler.gitops import gate
from reconciler.gitops.approvals import PlanNeeds, ReviewRecord
from reconciler.gitops.client import GitHubClient
from reconciler.plan.document import Plan
from tests.workflows.fake_github import BOT, FakeGitHub, GitHubState

REPO = "acme/org"
TOKEN = "ghs_token_for_approvals"
HEAD = "a" * 40


@pytest.fixture
def state() -> GitHubState:
    return GitHubState(REPO, TOKEN)


@pytest.fixture
def client(state: GitHubState) -> Iterator[GitHubClient]:
    with FakeGitHub(state) as api, GitHubClient(token=TOKEN, repository=REPO, api_url=api.url) as c:
        yield c


def test_roles_come_from_the_permission_api_and_none_is_no_access(
    state: GitHubState, client: GitHubClient
) -> None:
    state.roles.update({"alice": "maintain", "bob": "write", "eve": "read"})
    assert [client.collaborator_role(u) for u in ("alice", "bob", "eve", "zed")] == [
        "maintain",
        "write",
        "read",
        "",
    ]


def test_team_membership_uses_its_own_token(state: GitHubState, client: GitHubClient) -> None:
    state.teams["acme/hr"] = {"bob"}
    state.teams_token = "ghs_read_org"
    with pytest.raises(GitHubError, match="HTTP 403"):
        client.is_team_member("hr", "bob")  # GITHUB_TOKEN cannot read teams
    assert client.is_team_member("hr", "bob", "ghs_read_org")
    assert client.is_team_member("acme/hr", "bob", "ghs_read_org")
    assert not client.is_team_member("hr", "carol", "ghs_read_org")


def test_the_label_counts_only_from_a_writer_after_the_plan_comment(
    state: GitHubState, client: GitHubClient
) -> None:
    state.add_pull(7)
    state.roles.update({"alice": "admin", "mallory": "triage"})
    state.label_pull(7, "ok", "alice")  # before the plan: does not count
    comment = state.add_comment(7, "plan", BOT)
    recorded = gate.Recorded(ReviewRecord(HEAD, "sha256:x"), comment["updated_at"])
    found, why = gate.label_approval(client, 7, "ok", recorded.posted_at)
    assert found is None
    assert "before the plan" in why
    state.label_pull(7, "ok", "alice", remove=True)
    state.label_pull(7, "ok", "mallory")
    found, why = gate.label_approval(client, 7, "ok", recorded.posted_at)
    assert found is None
    assert "mallory" in why
    assert "triage" in why
    state.label_pull(7, "ok", "alice", remove=True)
    state.label_pull(7, "ok", "alice")
    found, why = gate.label_approval(client, 7, "ok", recorded.posted_at)
    assert found is not None
    assert (found.actor, found.role, why) == ("alice", "admin", "")


def test_the_reviewed_plan_comes_from_its_artifact_and_must_be_the_recorded_one(
    state: GitHubState, client: GitHubClient
) -> None:
    plan = Plan((), 1, 1, "live", "desired")
    state.add_artifact(5, "orgctl-plan-7-1", {"plan.json": plan.to_json().encode()})
    state.add_artifact(6, "orgctl-plan-7-1", {"plan.json": b"{}"})
    good = ReviewRecord(HEAD, plan.digest, "5", "orgctl-plan-7-1", 0, PlanNeeds())
    fetched, why = gate.fetch_reviewed_plan(client, good)
    assert fetched == plan
    assert why == ""
    # The storage request went without the token (the fake refuses one).
    assert ("GET", f"/_blobs/{max(state.blobs) - 1}") in state.requests
    other = ReviewRecord(HEAD, "sha256:" + "0" * 64, "5", "orgctl-plan-7-1")
    assert "not the reviewed plan" in gate.fetch_reviewed_plan(client, other)[1]
    broken = ReviewRecord(HEAD, plan.digest, "6", "orgctl-plan-7-1")
    assert "schema_version" in gate.fetch_reviewed_plan(client, broken)[1]
    gone = ReviewRecord(HEAD, plan.digest, "9", "orgctl-plan-7-1")
    assert "is gone" in gate.fetch_reviewed_plan(client, gone)[1]


def test_statuses_are_set_on_the_commit(state: GitHubState, client: GitHubClient) -> None:
    client.create_status(HEAD, "pending", "orgctl/approval", "x" * 200, "https://run")
    status = state.status(HEAD, "orgctl/approval")
    assert status is not None
    assert status["state"] == "pending"
    assert len(status["description"]) == 140  # GitHub's limit
    assert json.dumps(status).count("https://run") == 1
