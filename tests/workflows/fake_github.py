"""A tiny stateful GitHub REST API on 127.0.0.1, for running the workflows' steps for real.

Only the endpoints `orgctl gh` calls, with GitHub's shapes where they matter: Link-header
pagination (with a small page size so paging is exercised), 401 without the right token,
422 for a body over 65,536 characters, pull requests listed among issues.

For approvals and reviewed plans: labels added and removed by someone (issue events with
actor and time), collaborator permissions, team memberships (under /orgs, with their own
token when one is set), reviews, commit statuses, and artifacts of workflow runs, whose zip
is a redirect to unauthenticated "storage" as on GitHub. Time is a counter: every write
happens one second after the previous one.
"""

from __future__ import annotations

import io
import json
import re
import threading
import zipfile
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

BODY_LIMIT = 65536
BOT = "github-actions[bot]"  # who GITHUB_TOKEN writes as


@dataclass
class GitHubState:
    repository: str
    token: str
    per_page_cap: int = 2
    comments: dict[int, dict[str, Any]] = field(default_factory=dict)  # id → comment
    issues: dict[int, dict[str, Any]] = field(default_factory=dict)  # number → issue or PR
    labels: dict[str, dict[str, Any]] = field(default_factory=dict)
    pulls_by_commit: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    requests: list[tuple[str, str]] = field(default_factory=list)
    pulls: dict[int, dict[str, Any]] = field(default_factory=dict)  # opened through /pulls
    refs: dict[str, str] = field(default_factory=dict)  # "heads/orgctl/drift" → commit sha
    commits: dict[str, dict[str, Any]] = field(default_factory=dict)  # made through the API
    trees: dict[str, dict[str, Any]] = field(default_factory=dict)
    next_id: int = 1000
    lock: threading.Lock = field(default_factory=threading.Lock)
    ticks: int = 0
    events: dict[int, list[dict[str, Any]]] = field(default_factory=dict)  # issue → events
    roles: dict[str, str] = field(default_factory=dict)  # login → admin|maintain|write|read…
    teams: dict[str, set[str]] = field(default_factory=dict)  # "org/slug" → members
    teams_token: str = ""  # when set, team calls need it (GITHUB_TOKEN cannot read teams)
    reviews: dict[int, list[dict[str, Any]]] = field(default_factory=dict)
    statuses: dict[str, list[dict[str, Any]]] = field(default_factory=dict)  # sha → statuses
    artifacts: dict[int, dict[str, Any]] = field(default_factory=dict)  # id → artifact
    blobs: dict[int, bytes] = field(default_factory=dict)  # artifact id → zip

    def now(self) -> str:
        """The next second of the fake's clock, as GitHub writes times."""
        self.ticks += 1
        moment = datetime(2026, 1, 1, tzinfo=UTC) + timedelta(seconds=self.ticks)
        return moment.strftime("%Y-%m-%dT%H:%M:%SZ")

    def label_pull(self, number: int, name: str, actor: str, *, remove: bool = False) -> None:
        """Someone adds (or removes) a label on issue/PR `number`, as the UI would."""
        issue = self.issues[number]
        names = [label["name"] for label in issue["labels"]]
        if remove:
            issue["labels"] = [label for label in issue["labels"] if label["name"] != name]
        elif name not in names:
            issue["labels"].append(self.labels.setdefault(name, {"name": name}))
        self.events.setdefault(number, []).append(
            {
                "event": "unlabeled" if remove else "labeled",
                "label": {"name": name},
                "actor": {"login": actor},
                "created_at": self.now(),
            }
        )

    def add_review(self, number: int, user: str, state: str, commit_id: str) -> None:
        self.next_id += 1
        self.reviews.setdefault(number, []).append(
            {
                "id": self.next_id,
                "user": {"login": user},
                "state": state,
                "commit_id": commit_id,
                "submitted_at": self.now(),
            }
        )

    def add_artifact(self, run_id: int, name: str, files: dict[str, bytes]) -> int:
        """An artifact a workflow run uploaded: `files` zipped, as GitHub serves it."""
        self.next_id += 1
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w") as archive:
            for filename, data in files.items():
                archive.writestr(filename, data)
        self.artifacts[self.next_id] = {
            "id": self.next_id,
            "name": name,
            "expired": False,
            "workflow_run": {"id": run_id},
        }
        self.blobs[self.next_id] = buffer.getvalue()
        return self.next_id

    def status(self, sha: str, context: str) -> dict[str, Any] | None:
        """The latest status of `context` on `sha`."""
        found = [s for s in self.statuses.get(sha, []) if s["context"] == context]
        return found[-1] if found else None

    def add_pull(
        self, number: int, *, merge_commit_sha: str | None = None, head_sha: str = ""
    ) -> None:
        self.issues.setdefault(
            number,
            {
                "number": number,
                "title": f"PR {number}",
                "body": "",
                "state": "open",
                "labels": [],
                "pull_request": {"url": f"/pulls/{number}"},
            },
        )
        if merge_commit_sha:
            self.merge_pull(number, merge_commit_sha, head_sha or merge_commit_sha)

    def merge_pull(self, number: int, merge_commit_sha: str, head_sha: str) -> None:
        """PR `number` (head `head_sha`) is merged as `merge_commit_sha`."""
        pull = {
            "number": number,
            "merged_at": self.now(),
            "merge_commit_sha": merge_commit_sha,
            "head": {"sha": head_sha},
        }
        self.pulls_by_commit.setdefault(merge_commit_sha, []).append(pull)

    def add_comment(self, number: int, body: str, login: str) -> dict[str, Any]:
        """A comment written by someone else (`login`), as the API would list it."""
        self.next_id += 1
        at = self.now()
        comment = {
            "id": self.next_id,
            "issue": number,
            "body": body,
            "user": {"login": login},
            "created_at": at,
            "updated_at": at,
        }
        self.comments[self.next_id] = comment
        return comment

    def add_issue(self, title: str, body: str, labels: list[str], login: str) -> dict[str, Any]:
        number = max(self.issues, default=0) + 1
        self.issues[number] = {
            "number": number,
            "title": title,
            "body": body,
            "state": "open",
            "labels": [self.labels.setdefault(name, {"name": name}) for name in labels],
            "user": {"login": login},
        }
        return self.issues[number]

    def files_at(self, ref: str) -> dict[str, str]:
        """The files a commit made through the API changed (path → text), by branch."""
        commit = self.commits[self.refs[f"heads/{ref}"]]
        return dict(self.trees[commit["tree"]["sha"]]["files"])

    def new_sha(self) -> str:
        self.next_id += 1
        return f"{self.next_id:040x}"

    def comments_on(self, number: int) -> list[dict[str, Any]]:
        return [c for c in self.comments.values() if c["issue"] == number]

    def writes(self) -> list[tuple[str, str]]:
        return [(m, p) for m, p in self.requests if m != "GET"]


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def log_message(self, format: str, *args: object) -> None:  # keep pytest output clean
        pass

    def do_GET(self) -> None:
        self._handle("GET")

    def do_POST(self) -> None:
        self._handle("POST")

    def do_PATCH(self) -> None:
        self._handle("PATCH")

    def do_DELETE(self) -> None:
        self._handle("DELETE")

    def _send(self, status: int, data: Any = None, headers: dict[str, str] | None = None) -> None:
        payload = b"" if data is None else json.dumps(data).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(payload)

    def _handle(self, method: str) -> None:
        state = self.server.state
        url = urlsplit(self.path)
        query = {k: v[-1] for k, v in parse_qs(url.query).items()}
        length = int(self.headers.get("Content-Length") or 0)
        body = json.loads(self.rfile.read(length)) if length else {}
        with state.lock:
            state.requests.append((method, url.path))
            if (m := re.fullmatch(r"/_blobs/(\d+)", url.path)) and method == "GET":
                # Storage: signed URLs, no token (and none must be sent).
                if self.headers.get("Authorization"):
                    return self._send(400, {"message": "storage takes no Authorization"})
                return self._send_bytes(state.blobs[int(m.group(1))])
            if url.path.startswith("/orgs/"):
                return route_orgs(self, method, url.path, self.headers.get("Authorization"))
            if self.headers.get("Authorization") != f"Bearer {state.token}":
                return self._send(401, {"message": "Bad credentials"})
            prefix = f"/repos/{state.repository}"
            if not url.path.startswith(prefix):
                return self._send(404, {"message": "Not Found"})
            text = body.get("body") if isinstance(body, dict) else None
            if isinstance(text, str) and len(text) > BODY_LIMIT:
                return self._send(
                    422,
                    {
                        "message": "Validation Failed",
                        "errors": [
                            {"message": f"Body is too long (maximum is {BODY_LIMIT} characters)"}
                        ],
                    },
                )
            route(self, method, url.path[len(prefix) :], query, body)
        return None

    def _send_bytes(self, data: bytes) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "application/zip")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def redirect(self, location: str) -> None:
        self.send_response(302)
        self.send_header("Location", location)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def paginate(self, items: list[dict[str, Any]], query: dict[str, str]) -> None:
        per_page = min(int(query.get("per_page", 30)), self.server.state.per_page_cap)
        page = int(query.get("page", 1))
        chunk = items[(page - 1) * per_page : page * per_page]
        headers = {}
        if page * per_page < len(items):
            rest = {**query, "page": str(page + 1)}
            next_url = f"http://{self.headers['Host']}{urlsplit(self.path).path}?" + "&".join(
                f"{k}={v}" for k, v in rest.items()
            )
            headers["Link"] = f'<{next_url}>; rel="next"'
        self._send(200, chunk, headers)


def route(h: _Handler, method: str, path: str, query: dict[str, str], body: Any) -> None:
    state = h.server.state
    if path.startswith(("/pulls", "/git/")):
        return route_git(h, method, path, query, body)
    if m := re.fullmatch(r"/issues/(\d+)/comments", path):
        number = int(m.group(1))
        if number not in state.issues and number not in state.pulls:
            return h._send(404, {"message": "Not Found"})
        if method == "GET":
            return h.paginate(sorted(state.comments_on(number), key=lambda c: c["id"]), query)
        if method == "POST":
            state.next_id += 1
            at = state.now()
            comment = {
                "id": state.next_id,
                "issue": number,
                "body": body["body"],
                "user": {"login": BOT},
                "created_at": at,
                "updated_at": at,
            }
            state.comments[state.next_id] = comment
            return h._send(201, comment)
    if m := re.fullmatch(r"/issues/comments/(\d+)", path):
        found = state.comments.get(int(m.group(1)))
        if found is None:
            return h._send(404, {"message": "Not Found"})
        if method == "PATCH":
            found["body"] = body["body"]
            found["updated_at"] = state.now()
            return h._send(200, found)
        if method == "DELETE":
            del state.comments[found["id"]]
            return h._send(204)
    if path == "/issues":
        if method == "GET":
            wanted = query.get("labels")
            matching = [
                i
                for _, i in sorted(state.issues.items())
                if i["state"] == query.get("state", "open")
                and (wanted is None or wanted in [label["name"] for label in i["labels"]])
            ]
            return h.paginate(matching, query)
        if method == "POST":
            number = max([*state.issues, *state.pulls], default=0) + 1
            labels = [state.labels.setdefault(name, {"name": name}) for name in body["labels"]]
            issue = {
                "number": number,
                "title": body["title"],
                "body": body["body"],
                "state": "open",
                "labels": labels,
                "user": {"login": BOT},
            }
            state.issues[number] = issue
            return h._send(201, issue)
    if (m := re.fullmatch(r"/issues/(\d+)", path)) and method == "GET":
        found_issue = state.issues.get(int(m.group(1)))
        if found_issue is None:
            return h._send(404, {"message": "Not Found"})
        return h._send(200, found_issue)
    if (m := re.fullmatch(r"/issues/(\d+)/events", path)) and method == "GET":
        return h.paginate(state.events.get(int(m.group(1)), []), query)
    if (m := re.fullmatch(r"/collaborators/([^/]+)/permission", path)) and method == "GET":
        role = state.roles.get(m.group(1))
        if role is None:
            return h._send(404, {"message": "Not Found"})
        permission = {"maintain": "write", "triage": "read"}.get(role, role)
        return h._send(200, {"permission": permission, "role_name": role})
    if (m := re.fullmatch(r"/statuses/([0-9a-f]{40})", path)) and method == "POST":
        if body.get("state") not in ("error", "failure", "pending", "success"):
            return h._send(422, {"message": "Validation Failed: state"})
        if len(body.get("description", "")) > 140:
            return h._send(422, {"message": "Validation Failed: description is too long"})
        status = {**body, "created_at": state.now()}
        state.statuses.setdefault(m.group(1), []).append(status)
        return h._send(201, status)
    if (m := re.fullmatch(r"/actions/runs/(\d+)/artifacts", path)) and method == "GET":
        run_id = int(m.group(1))
        found_artifacts = [a for a in state.artifacts.values() if a["workflow_run"]["id"] == run_id]
        return h._send(200, {"total_count": len(found_artifacts), "artifacts": found_artifacts})
    if (m := re.fullmatch(r"/actions/artifacts/(\d+)/zip", path)) and method == "GET":
        if int(m.group(1)) not in state.blobs:
            return h._send(404, {"message": "Not Found"})
        return h.redirect(f"http://{h.headers['Host']}/_blobs/{m.group(1)}")
    if (m := re.fullmatch(r"/issues/(\d+)", path)) and method == "PATCH":
        target = state.issues.get(int(m.group(1)))
        if target is None:
            return h._send(404, {"message": "Not Found"})
        target.update({k: v for k, v in body.items() if k in ("body", "state", "state_reason")})
        return h._send(200, target)
    if (m := re.fullmatch(r"/labels/([^/]+)", path)) and method == "GET":
        label = state.labels.get(m.group(1))
        return h._send(200, label) if label else h._send(404, {"message": "Not Found"})
    if path == "/labels" and method == "POST":
        state.labels[body["name"]] = body
        return h._send(201, body)
    if (m := re.fullmatch(r"/commits/([0-9a-f]+)/pulls", path)) and method == "GET":
        return h.paginate(state.pulls_by_commit.get(m.group(1), []), query)
    return h._send(404, {"message": f"fake GitHub has no {method} {path}"})


def route_orgs(h: _Handler, method: str, path: str, authorization: str | None) -> None:
    """Team memberships: 404 for a non-member, as GitHub answers."""
    state = h.server.state
    wanted = state.teams_token or state.token
    if authorization != f"Bearer {wanted}":
        return h._send(
            401 if not state.teams_token else 403, {"message": "Resource not accessible"}
        )
    m = re.fullmatch(r"/orgs/([^/]+)/teams/([^/]+)/memberships/([^/]+)", path)
    if m is None or method != "GET":
        return h._send(404, {"message": f"fake GitHub has no {method} {path}"})
    members = state.teams.get(f"{m.group(1)}/{m.group(2)}", set())
    if m.group(3) not in members:
        return h._send(404, {"message": "Not Found"})
    return h._send(200, {"state": "active", "role": "member"})


def route_git(h: _Handler, method: str, path: str, query: dict[str, str], body: Any) -> None:
    """Pull requests and the Git Data API: enough to commit files onto a branch and keep a
    PR from it. A base commit the fake did not make (one of the workspace's) is known by sha
    alone, with a tree of that name."""
    state = h.server.state
    owner = state.repository.split("/")[0]
    if path == "/pulls" and method == "GET":
        matching = [
            p
            for _, p in sorted(state.pulls.items())
            if p["state"] == query.get("state", "open")
            and ("head" not in query or query["head"] == f"{owner}:{p['head']['ref']}")
        ]
        return h.paginate(matching, query)
    if path == "/pulls" and method == "POST":
        if f"heads/{body['head']}" not in state.refs:
            return h._send(422, {"message": "Validation Failed: head does not exist"})
        number = max([*state.issues, *state.pulls], default=0) + 1
        pull = {
            "number": number,
            "title": body["title"],
            "body": body["body"],
            "state": "open",
            "head": {"ref": body["head"]},
            "base": {"ref": body["base"]},
        }
        state.pulls[number] = pull
        return h._send(201, pull)
    if (m := re.fullmatch(r"/pulls/(\d+)/reviews", path)) and method == "GET":
        return h.paginate(state.reviews.get(int(m.group(1)), []), query)
    if (m := re.fullmatch(r"/pulls/(\d+)", path)) and method == "PATCH":
        found = state.pulls.get(int(m.group(1)))
        if found is None:
            return h._send(404, {"message": "Not Found"})
        found.update({k: v for k, v in body.items() if k in ("body", "state", "title")})
        return h._send(200, found)
    if (m := re.fullmatch(r"/git/commits/([0-9a-f]{40})", path)) and method == "GET":
        sha = m.group(1)
        return h._send(200, state.commits.get(sha, {"sha": sha, "tree": {"sha": f"tree-{sha}"}}))
    if path == "/git/trees" and method == "POST":
        sha = state.new_sha()
        files = {e["path"]: e["content"] for e in body["tree"]}
        state.trees[sha] = {"sha": sha, "base_tree": body["base_tree"], "files": files}
        return h._send(201, {"sha": sha})
    if path == "/git/commits" and method == "POST":
        if body["tree"] not in state.trees:
            return h._send(422, {"message": "Validation Failed: tree"})
        sha = state.new_sha()
        state.commits[sha] = {
            "sha": sha,
            "tree": {"sha": body["tree"]},
            "parents": [{"sha": p} for p in body["parents"]],
            "message": body["message"],
        }
        return h._send(201, state.commits[sha])
    if (m := re.fullmatch(r"/git/ref/(heads/.+)", path)) and method == "GET":
        ref = m.group(1)
        if ref not in state.refs:
            return h._send(404, {"message": "Not Found"})
        return h._send(200, {"ref": f"refs/{ref}", "object": {"sha": state.refs[ref]}})
    if path == "/git/refs" and method == "POST":
        ref = body["ref"].removeprefix("refs/")
        if ref in state.refs:
            return h._send(422, {"message": "Reference already exists"})
        state.refs[ref] = body["sha"]
        return h._send(201, {"ref": body["ref"], "object": {"sha": body["sha"]}})
    if m := re.fullmatch(r"/git/refs/(heads/.+)", path):
        ref = m.group(1)
        if ref not in state.refs:
            return h._send(422, {"message": "Reference does not exist"})
        if method == "PATCH":
            state.refs[ref] = body["sha"]
            return h._send(200, {"ref": f"refs/{ref}", "object": {"sha": body["sha"]}})
        if method == "DELETE":
            del state.refs[ref]
            return h._send(204)
    return h._send(404, {"message": f"fake GitHub has no {method} {path}"})


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, state: GitHubState) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.state = state


class FakeGitHub:
    """`with FakeGitHub(state) as api: api.url` — the API base URL on loopback."""

    def __init__(self, state: GitHubState) -> None:
        self.state = state
        self._server = _Server(state)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def __enter__(self) -> FakeGitHub:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=10)
