"""GitHubClient and `orgctl gh` against a respx-mocked GitHub REST API."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest
import respx
from typer.testing import CliRunner

from reconciler.cli import app
from reconciler.errors import GitHubError, TargetError
from reconciler.gitops import markers
from reconciler.gitops.client import GitHubClient

API = "https://api.github.test"
REPO = "acme/org"
TOKEN = "ghs_secret_token_value"
BASE = f"{API}/repos/{REPO}"


def client(**kwargs: object) -> GitHubClient:
    return GitHubClient(token=TOKEN, repository=REPO, api_url=API, **kwargs)  # type: ignore[arg-type]


def comment_json(cid: int, body: str) -> dict[str, object]:
    return {"id": cid, "body": body, "user": {"login": "github-actions[bot]"}}


# --------------------------------------------------------------------------- client


def test_from_env_reads_actions_variables_and_hides_the_token() -> None:
    c = GitHubClient.from_env(
        {"GITHUB_TOKEN": TOKEN, "GITHUB_REPOSITORY": REPO, "GITHUB_API_URL": API + "/"}
    )
    assert c.api_url == API
    assert c.repository == REPO
    assert TOKEN not in repr(c)


@pytest.mark.parametrize(
    ("env", "words"),
    [
        ({"GITHUB_REPOSITORY": REPO}, "GITHUB_TOKEN"),
        ({"GITHUB_TOKEN": TOKEN}, "GITHUB_REPOSITORY"),
        ({"GITHUB_TOKEN": TOKEN, "GITHUB_REPOSITORY": REPO, "GITHUB_API_URL": "ftp://x"}, "http"),
    ],
)
def test_from_env_refuses_what_it_cannot_use(env: dict[str, str], words: str) -> None:
    with pytest.raises(TargetError, match=words):
        GitHubClient.from_env(env)


@respx.mock
def test_requests_carry_the_token_and_api_version_headers() -> None:
    route = respx.get(f"{BASE}/issues/3/comments").respond(json=[])
    assert client().list_issue_comments(3) == []
    request = route.calls.last.request
    assert request.headers["authorization"] == f"Bearer {TOKEN}"
    assert request.headers["x-github-api-version"] == "2022-11-28"
    assert request.url.params["per_page"] == "100"


@respx.mock
def test_pagination_follows_link_headers() -> None:
    page2 = f"{API}/repositories/1/issues/3/comments?page=2&per_page=2"
    respx.get(f"{BASE}/issues/3/comments").respond(
        json=[comment_json(1, "a"), comment_json(2, "b")],
        headers={"Link": f'<{page2}>; rel="next", <{page2}>; rel="last"'},
    )
    respx.get(page2).respond(json=[comment_json(3, "c")])
    comments = client(per_page=2).list_issue_comments(3)
    assert [c.id for c in comments] == [1, 2, 3]


@respx.mock
def test_a_link_to_another_host_never_gets_the_token() -> None:
    respx.get(f"{BASE}/issues/3/comments").respond(
        json=[comment_json(1, "a")],
        headers={"Link": '<https://evil.example/steal?page=2>; rel="next"'},
    )
    evil = respx.get("https://evil.example/steal").respond(json=[])
    with pytest.raises(GitHubError, match="another host"):
        client().list_issue_comments(3)
    assert not evil.called


@respx.mock
def test_http_errors_become_github_errors_without_the_token() -> None:
    respx.post(f"{BASE}/issues/3/comments").respond(
        403, json={"message": "Resource not accessible by integration"}
    )
    with pytest.raises(GitHubError) as caught:
        client().create_issue_comment(3, "x")
    text = str(caught.value)
    assert "HTTP 403 Resource not accessible by integration" in text
    assert "pull-requests: write" in text
    assert TOKEN not in text


@respx.mock
def test_transport_errors_become_github_errors() -> None:
    respx.get(f"{BASE}/issues/3/comments").mock(side_effect=httpx.ConnectError("boom"))
    with pytest.raises(GitHubError, match="ConnectError"):
        client().list_issue_comments(3)


@respx.mock
def test_open_issues_skip_pull_requests() -> None:
    respx.get(f"{BASE}/issues").respond(
        json=[
            {
                "number": 1,
                "title": "t",
                "body": "b",
                "state": "open",
                "labels": [{"name": "orgctl-drift"}],
            },
            {
                "number": 2,
                "title": "pr",
                "body": "b",
                "state": "open",
                "labels": [],
                "pull_request": {"url": "x"},
            },
        ]
    )
    issues = client().list_open_issues("orgctl-drift")
    assert [i.number for i in issues] == [1]
    assert issues[0].labels == ("orgctl-drift",)


@respx.mock
def test_create_issue_creates_a_missing_label_first() -> None:
    respx.get(f"{BASE}/labels/orgctl-drift").respond(404, json={"message": "Not Found"})
    make_label = respx.post(f"{BASE}/labels").respond(201, json={"name": "orgctl-drift"})
    make_issue = respx.post(f"{BASE}/issues").respond(
        201, json={"number": 7, "title": "t", "body": "b", "state": "open"}
    )
    issue = client().create_issue("t", "b", ["orgctl-drift"])
    assert issue.number == 7
    assert json.loads(make_label.calls.last.request.content)["name"] == "orgctl-drift"
    assert json.loads(make_issue.calls.last.request.content)["labels"] == ["orgctl-drift"]


# --------------------------------------------------------------------------- CLI


@pytest.fixture
def actions_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in {
        "GITHUB_TOKEN": TOKEN,
        "GITHUB_REPOSITORY": REPO,
        "GITHUB_API_URL": API,
        "GITHUB_SERVER_URL": "https://github.test",
        "GITHUB_RUN_ID": "77",
    }.items():
        monkeypatch.setenv(name, value)


def run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, list(args))
    return result.exit_code, result.output


class FakeComments:
    """A stateful comments endpoint for one PR, enough to see create vs update vs delete."""

    def __init__(self, router: respx.MockRouter, number: int) -> None:
        self.comments: dict[int, str] = {}
        self.next_id = 100
        self.writes: list[str] = []
        router.get(f"{BASE}/issues/{number}/comments").mock(side_effect=self.list)
        router.post(f"{BASE}/issues/{number}/comments").mock(side_effect=self.create)
        router.patch(url__regex=rf"{BASE}/issues/comments/\d+").mock(side_effect=self.update)
        router.delete(url__regex=rf"{BASE}/issues/comments/\d+").mock(side_effect=self.delete)

    def list(self, request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json=[comment_json(i, b) for i, b in self.comments.items()])

    def create(self, request: httpx.Request) -> httpx.Response:
        self.next_id += 1
        self.comments[self.next_id] = json.loads(request.content)["body"]
        self.writes.append(f"create {self.next_id}")
        return httpx.Response(201, json=comment_json(self.next_id, self.comments[self.next_id]))

    def update(self, request: httpx.Request) -> httpx.Response:
        cid = int(request.url.path.rsplit("/", 1)[1])
        self.comments[cid] = json.loads(request.content)["body"]
        self.writes.append(f"update {cid}")
        return httpx.Response(200, json=comment_json(cid, self.comments[cid]))

    def delete(self, request: httpx.Request) -> httpx.Response:
        cid = int(request.url.path.rsplit("/", 1)[1])
        del self.comments[cid]
        self.writes.append(f"delete {cid}")
        return httpx.Response(204)


@pytest.mark.usefixtures("actions_env")
def test_comment_creates_then_updates_one_sticky_comment(tmp_path: Path) -> None:
    plan = tmp_path / "plan.md"
    with respx.mock(assert_all_called=False) as router:
        fake = FakeComments(router, 5)
        fake.comments[1] = "a human's review"
        plan.write_text("## Plan\n\n1 to create\n")
        code, output = run("gh", "comment", "--pr", "5", "--file", str(plan), "--sha", "c" * 40)
        assert code == 0, output
        assert fake.writes == ["create 101"]
        assert "PR #5: created comment 101 (part 1)" in output
        assert "1 to create" in fake.comments[101]

        plan.write_text("## Plan\n\n2 to create\n")
        code, output = run("gh", "comment", "--pr", "5", "--file", str(plan))
        assert code == 0, output
        assert fake.writes == ["create 101", "update 101"]
        assert "2 to create" in fake.comments[101]
        assert fake.comments[1] == "a human's review"

        # Same plan again: nothing is written.
        code, output = run("gh", "comment", "--pr", "5", "--file", str(plan))
        assert fake.writes == ["create 101", "update 101"]
        assert "up to date" in output


@pytest.mark.usefixtures("actions_env")
def test_comment_splits_and_later_shrinks(tmp_path: Path) -> None:
    plan = tmp_path / "plan.md"
    with respx.mock(assert_all_called=False) as router:
        fake = FakeComments(router, 5)
        plan.write_text("".join(f"- change {i} 研发中心\n" for i in range(2000)))
        code, output = run("gh", "comment", "--pr", "5", "--file", str(plan), "--limit", "10000")
        assert code == 0, output
        assert len(fake.comments) >= 4
        assert all(len(b) <= 10000 for b in fake.comments.values())
        parts = [markers.marker_part(b, "orgctl-plan") for b in fake.comments.values()]
        assert parts == list(range(1, len(parts) + 1))

        plan.write_text("## Plan\n\nsmall now\n")
        code, output = run("gh", "comment", "--pr", "5", "--file", str(plan), "--limit", "10000")
        assert code == 0, output
        assert list(fake.comments) == [101]
        assert "small now" in fake.comments[101]
        assert output.count("deleted comment") == len(parts) - 1


@pytest.mark.usefixtures("actions_env")
def test_comment_over_max_parts_is_cut_and_points_to_the_run(tmp_path: Path) -> None:
    plan = tmp_path / "plan.md"
    plan.write_text("".join(f"- change {i} 研发中心\n" for i in range(2000)))
    with respx.mock(assert_all_called=False) as router:
        fake = FakeComments(router, 5)
        code, output = run(
            "gh", "comment", "--pr", "5", "--file", str(plan), "--limit", "10000",
            "--max-parts", "2",
        )  # fmt: skip
    assert code == 0, output
    bodies = list(fake.comments.values())
    assert [markers.marker_part(b, "orgctl-plan") for b in bodies] == [1, 2]
    assert all(len(b) <= 10000 for b in bodies)
    note = (
        "_The plan is longer than 2 comments; the full plan is in the "
        "[workflow run](https://github.test/acme/org/actions/runs/77)._"
    )
    assert bodies[-1].rstrip().endswith(note)


@pytest.mark.usefixtures("actions_env")
def test_comment_for_a_failed_plan_posts_masked_errors(tmp_path: Path) -> None:
    errors = tmp_path / "plan.err"
    errors.write_text("org/a.yaml:4:3: users[1].mobile: 15172391968 duplicates zhangsan's\n")
    with respx.mock(assert_all_called=False) as router:
        fake = FakeComments(router, 5)
        code, output = run(
            "gh",
            "comment",
            "--pr",
            "5",
            "--file",
            str(tmp_path / "missing.md"),
            "--errors-file",
            str(errors),
            "--exit-code",
            "1",
        )
        assert code == 0, output
        (body,) = fake.comments.values()
        assert "orgctl plan failed" in body
        assert "org/a.yaml:4:3" in body
        assert "15172391968" not in body
        assert "https://github.test/acme/org/actions/runs/77" in body


@pytest.mark.usefixtures("actions_env")
def test_comment_without_a_plan_file_for_a_good_plan_is_an_input_error(tmp_path: Path) -> None:
    with respx.mock(assert_all_called=False):
        code, output = run("gh", "comment", "--pr", "5", "--file", str(tmp_path / "none.md"))
    assert code == 1
    assert "no such file" in output


def test_comment_without_a_token_says_how_to_pass_it(tmp_path: Path) -> None:
    plan = tmp_path / "plan.md"
    plan.write_text("x")
    code, output = run("gh", "comment", "--pr", "5", "--file", str(plan))
    assert code == 1
    assert "GITHUB_TOKEN is not set" in output


class FakeIssues:
    def __init__(self, router: respx.MockRouter) -> None:
        self.issues: dict[int, dict[str, object]] = {}
        self.comments: list[tuple[int, str]] = []
        self.next = 20
        router.get(f"{BASE}/issues").mock(side_effect=self.list)
        router.post(f"{BASE}/issues").mock(side_effect=self.create)
        router.patch(url__regex=rf"{BASE}/issues/\d+$").mock(side_effect=self.update)
        router.post(url__regex=rf"{BASE}/issues/\d+/comments$").mock(side_effect=self.comment)
        router.get(url__regex=rf"{BASE}/labels/.+").respond(200, json={"name": "x"})

    def list(self, request: httpx.Request) -> httpx.Response:
        label = request.url.params["labels"]
        found = [i for i in self.issues.values() if i["state"] == "open" and label in i["labels"]]  # type: ignore[operator]
        return httpx.Response(200, json=found)

    def create(self, request: httpx.Request) -> httpx.Response:
        self.next += 1
        data = json.loads(request.content)
        self.issues[self.next] = {
            "number": self.next,
            "title": data["title"],
            "body": data["body"],
            "state": "open",
            "labels": data["labels"],
            "user": {"login": "github-actions[bot]"},
        }
        return httpx.Response(201, json=self.issues[self.next])

    def update(self, request: httpx.Request) -> httpx.Response:
        number = int(request.url.path.rsplit("/", 1)[1])
        self.issues[number].update(json.loads(request.content))
        return httpx.Response(200, json=self.issues[number])

    def comment(self, request: httpx.Request) -> httpx.Response:
        number = int(request.url.path.split("/")[-2])
        self.comments.append((number, json.loads(request.content)["body"]))
        return httpx.Response(201, json=comment_json(len(self.comments), "x"))


@pytest.mark.usefixtures("actions_env")
def test_drift_issue_opens_updates_and_closes(tmp_path: Path) -> None:
    plan = tmp_path / "plan.md"
    with respx.mock(assert_all_called=False) as router:
        fake = FakeIssues(router)
        plan.write_text("## Plan\n\n- update user lisi\n")
        code, output = run("gh", "drift-issue", "--exit-code", "2", "--file", str(plan))
        assert code == 0, output
        assert "opened issue #21" in output
        assert "update user lisi" in str(fake.issues[21]["body"])

        plan.write_text("## Plan\n\n- update user wangwu\n")
        code, output = run("gh", "drift-issue", "--exit-code", "2", "--file", str(plan))
        assert "updated issue #21" in output
        assert len(fake.issues) == 1
        assert "wangwu" in str(fake.issues[21]["body"])

        code, output = run("gh", "drift-issue", "--exit-code", "0")
        assert code == 0, output
        assert fake.issues[21]["state"] == "closed"
        assert fake.comments
        assert fake.comments[-1][0] == 21
        assert "No drift" in fake.comments[-1][1]

        code, output = run("gh", "drift-issue", "--exit-code", "0")
        assert "nothing to do" in output


@pytest.mark.usefixtures("actions_env")
def test_drift_issue_leaves_the_issue_alone_when_the_plan_failed() -> None:
    with respx.mock(assert_all_called=False) as router:
        fake = FakeIssues(router)
        code, output = run("gh", "drift-issue", "--exit-code", "1")
    assert code == 0
    assert "left as it is" in output
    assert fake.issues == {}


@pytest.mark.usefixtures("actions_env")
def test_report_failure_comments_on_the_merged_pr() -> None:
    sha = "d" * 40
    with respx.mock(assert_all_called=False) as router:
        router.get(f"{BASE}/commits/{sha}/pulls").respond(
            json=[{"number": 31, "merged_at": "2026-01-01T00:00:00Z", "merge_commit_sha": sha}]
        )
        fake = FakeIssues(router)
        code, output = run("gh", "report-failure", "--sha", sha, "--exit-code", "1")
    assert code == 0, output
    assert "commented on #31" in output
    assert fake.comments[0][0] == 31
    assert "orgctl apply failed (exit 1)" in fake.comments[0][1]
    assert fake.issues == {}


@pytest.mark.usefixtures("actions_env")
def test_report_failure_without_a_pr_opens_then_updates_one_issue() -> None:
    sha = "e" * 40
    with respx.mock(assert_all_called=False) as router:
        router.get(f"{BASE}/commits/{sha}/pulls").respond(json=[])
        fake = FakeIssues(router)
        code, output = run("gh", "report-failure", "--sha", sha)
        assert code == 0, output
        assert "opened issue #21" in output
        code, output = run("gh", "report-failure", "--sha", sha, "--exit-code", "3")
        assert "updated issue #21" in output
        assert "commented on #21" in output
    assert len(fake.issues) == 1
    assert fake.issues[21]["labels"] == [markers.FAILURE_LABEL]
    assert "safety rule" in str(fake.issues[21]["body"])


def test_the_login_that_owns_our_comments_defaults_to_the_actions_bot() -> None:
    env = {"GITHUB_TOKEN": TOKEN, "GITHUB_REPOSITORY": "acme/org"}
    assert GitHubClient.from_env(env).login == "github-actions[bot]"
    app = GitHubClient.from_env({**env, "ORGCTL_GITHUB_LOGIN": "orgctl-app[bot]"})
    assert app.login == "orgctl-app[bot]"
