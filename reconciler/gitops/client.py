"""The few GitHub REST calls the workflows need: requests, pagination, errors, labels."""

from __future__ import annotations

import io
import re
import zipfile
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote, urlsplit

import httpx

from reconciler.errors import GitHubError, TargetError
from reconciler.gitops.markers import (
    BOT_LOGIN,
    DRIFT_LABEL,
    FAILURE_LABEL,
    LOGIN_VAR,
    Comment,
    Issue,
)

DEFAULT_API_URL = "https://api.github.com"


def parse_link_header(value: str | None) -> dict[str, str]:
    """``<https://…?page=2>; rel="next", <…>; rel="last"`` → {"next": …, "last": …}."""
    links: dict[str, str] = {}
    for part in (value or "").split(","):
        match = re.match(r"\s*<([^>]*)>\s*;(.*)", part)
        if not match:
            continue
        for rel in re.findall(r'rel="?([^";]+)"?', match.group(2)):
            for name in rel.split():
                links[name] = match.group(1)
    return links


_LABEL_INFO = {
    DRIFT_LABEL: ("d93f0b", "DingTalk differs from org/ (opened by the nightly drift check)"),
    FAILURE_LABEL: ("b60205", "orgctl apply failed on main"),
    "orgctl-plan-changed": ("fbca04", "The plan changed between review and merge: not applied"),
}

ARTIFACT_MAX_BYTES = 200 * 1024 * 1024
"""A zipped plan artifact larger than this is not downloaded (a plan of 100k people is ~50 MB
of JSON, much less zipped)."""


@dataclass
class GitHubClient:
    """The few GitHub REST calls the workflows need. Sync httpx; the token goes only in the
    Authorization header, only to `api_url`'s origin, and never into a repr or an error."""

    token: str = field(repr=False)
    repository: str
    api_url: str = DEFAULT_API_URL
    transport: httpx.BaseTransport | None = field(default=None, repr=False)
    timeout: float = 30.0
    per_page: int = 100
    login: str = BOT_LOGIN
    """Who this token writes as: only comments and issues by this login are ours."""
    _http: httpx.Client | None = field(default=None, init=False, repr=False)
    _origin: tuple[str, str] = field(default=("", ""), init=False, repr=False)

    @classmethod
    def from_env(
        cls, environ: Mapping[str, str], transport: httpx.BaseTransport | None = None
    ) -> GitHubClient:
        token = environ.get("GITHUB_TOKEN", "")
        repository = environ.get("GITHUB_REPOSITORY", "")
        if not token:
            raise TargetError(
                "GITHUB_TOKEN is not set: give this step `env: GITHUB_TOKEN: ${{ github.token }}`"
            )
        if not re.fullmatch(r"[\w.-]+/[\w.-]+", repository):
            raise TargetError("GITHUB_REPOSITORY must be owner/name (Actions sets it)")
        api_url = environ.get("GITHUB_API_URL") or DEFAULT_API_URL
        login = environ.get(LOGIN_VAR, "").strip() or BOT_LOGIN
        return cls(
            token=token, repository=repository, api_url=api_url, transport=transport, login=login
        )

    def __post_init__(self) -> None:
        self.api_url = self.api_url.rstrip("/")
        parts = urlsplit(self.api_url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise TargetError(f"GITHUB_API_URL {self.api_url!r} is not an http(s) URL")
        self._origin = (parts.scheme, parts.netloc)

    # -- plumbing (public: the drift pull request makes its own calls)

    def _client(self) -> httpx.Client:
        if self._http is None:
            self._http = httpx.Client(
                transport=self.transport,
                timeout=self.timeout,
                headers={
                    "Authorization": f"Bearer {self.token}",
                    "Accept": "application/vnd.github+json",
                    "X-GitHub-Api-Version": "2022-11-28",
                    "User-Agent": "orgctl",
                },
            )
        return self._http

    def close(self) -> None:
        if self._http is not None:
            self._http.close()
            self._http = None

    def __enter__(self) -> GitHubClient:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def _url(self, path_or_url: str) -> str:
        if path_or_url.startswith(("http://", "https://")):
            parts = urlsplit(path_or_url)
            # A Link header pointing elsewhere must not receive our token.
            if (parts.scheme, parts.netloc) != self._origin:
                raise GitHubError(f"GitHub API returned a link to another host: {parts.netloc}")
            return path_or_url
        return f"{self.api_url}{path_or_url}"

    def request(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        params: Mapping[str, str | int] | None = None,
        ok_missing: bool = False,
        headers: Mapping[str, str] | None = None,
    ) -> httpx.Response:
        """One call: `path` under the repository's API, or a link GitHub returned. Any
        failure is a GitHubError naming the call, never the token; with `ok_missing`, a 404
        is returned instead."""
        url = self._url(path)
        shown = urlsplit(url).path
        try:
            response = self._client().request(
                method, url, json=json, params=params, headers=headers
            )
        except httpx.HTTPError as exc:
            raise GitHubError(f"GitHub API {method} {shown}: {type(exc).__name__}") from None
        if ok_missing and response.status_code == 404:
            return response
        if response.status_code >= 400:
            raise GitHubError(_describe_failure(method, shown, response))
        return response

    def paginate(
        self,
        path: str,
        params: Mapping[str, str | int] | None = None,
    ) -> Iterator[dict[str, Any]]:
        """Every item of a list, page after page, following the Link header's "next"."""
        query: dict[str, str | int] | None = {**(params or {}), "per_page": self.per_page}
        url: str | None = path
        while url is not None:
            response = self.request("GET", url, params=query)
            query = None  # a "next" link already carries the query
            items = response.json()
            if not isinstance(items, list):
                raise GitHubError(
                    f"GitHub API GET {urlsplit(self._url(path)).path}: expected a list"
                )
            yield from items
            url = parse_link_header(response.headers.get("link")).get("next")

    def repo_path(self, suffix: str) -> str:
        """``/repos/owner/name`` + `suffix`."""
        return f"/repos/{self.repository}{suffix}"

    # -- comments

    def list_issue_comments(self, number: int) -> list[Comment]:
        return [
            Comment.from_json(c)
            for c in self.paginate(self.repo_path(f"/issues/{number}/comments"))
        ]

    def create_issue_comment(self, number: int, body: str) -> Comment:
        data = self.request(
            "POST", self.repo_path(f"/issues/{number}/comments"), json={"body": body}
        ).json()
        return Comment.from_json(data)

    def update_issue_comment(self, comment_id: int, body: str) -> Comment:
        data = self.request(
            "PATCH", self.repo_path(f"/issues/comments/{comment_id}"), json={"body": body}
        ).json()
        return Comment.from_json(data)

    def delete_issue_comment(self, comment_id: int) -> None:
        self.request("DELETE", self.repo_path(f"/issues/comments/{comment_id}"))

    # -- issues

    def list_open_issues(self, label: str) -> list[Issue]:
        items = self.paginate(self.repo_path("/issues"), {"state": "open", "labels": label})
        # The issues API lists pull requests too; they carry a "pull_request" key.
        return [Issue.from_json(i) for i in items if "pull_request" not in i]

    def create_issue(self, title: str, body: str, labels: Sequence[str]) -> Issue:
        for label in labels:
            self.ensure_label(label)
        data = self.request(
            "POST",
            self.repo_path("/issues"),
            json={"title": title, "body": body, "labels": list(labels)},
        ).json()
        return Issue.from_json(data)

    def update_issue(self, number: int, **fields: str) -> Issue:
        data = self.request("PATCH", self.repo_path(f"/issues/{number}"), json=fields).json()
        return Issue.from_json(data)

    def ensure_label(self, name: str) -> None:
        # GitHub would create a missing label on use, grey and unexplained; make it readable.
        if self.request("GET", self.repo_path(f"/labels/{name}"), ok_missing=True).is_success:
            return
        color, description = _LABEL_INFO.get(name, ("ededed", "managed by orgctl"))
        self.request(
            "POST",
            self.repo_path("/labels"),
            json={"name": name, "color": color, "description": description},
        )

    # -- commits

    def pulls_for_commit(self, sha: str) -> list[dict[str, Any]]:
        return list(self.paginate(self.repo_path(f"/commits/{sha}/pulls")))

    def create_status(
        self, sha: str, state: str, context: str, description: str, target_url: str = ""
    ) -> None:
        data = {"state": state, "context": context, "description": description[:140]}
        if target_url:
            data["target_url"] = target_url
        self.request("POST", self.repo_path(f"/statuses/{sha}"), json=data)

    # -- approvals: labels and who added them, permissions, reviews, teams

    def issue_labels(self, number: int) -> list[str]:
        return list(
            Issue.from_json(self.request("GET", self.repo_path(f"/issues/{number}")).json()).labels
        )

    def list_issue_events(self, number: int) -> list[dict[str, Any]]:
        return list(self.paginate(self.repo_path(f"/issues/{number}/events")))

    def collaborator_role(self, login: str) -> str:
        """The user's role here: admin, maintain, write, triage, read, or "" (none, or GitHub
        does not know them as a collaborator)."""
        response = self.request(
            "GET",
            self.repo_path(f"/collaborators/{quote(login, safe='')}/permission"),
            ok_missing=True,
        )
        if response.status_code == 404:
            return ""
        data = response.json()
        # role_name tells maintain from write; `permission` folds it into write.
        return str(data.get("role_name") or data.get("permission") or "")

    def list_reviews(self, number: int) -> list[dict[str, Any]]:
        return list(self.paginate(self.repo_path(f"/pulls/{number}/reviews")))

    def is_team_member(self, team: str, login: str, token: str = "") -> bool:
        """Is ``login`` an active member of ``team`` (``slug``, or ``org/slug``; the org is the
        repository's owner by default)? GITHUB_TOKEN cannot read teams: pass a token with
        members:read (``token``) for this call only."""
        org, _, slug = team.rpartition("/")
        org = org or self.repository.split("/")[0]
        org, slug, login = (quote(part, safe="") for part in (org, slug, login))
        path = f"/orgs/{org}/teams/{slug}/memberships/{login}"
        headers = {"Authorization": f"Bearer {token}"} if token else None
        response = self.request("GET", path, ok_missing=True, headers=headers)
        return response.status_code == 200 and response.json().get("state") == "active"

    # -- artifacts

    def list_run_artifacts(self, run_id: str) -> list[dict[str, Any]]:
        response = self.request("GET", self.repo_path(f"/actions/runs/{run_id}/artifacts"))
        items = response.json().get("artifacts", [])
        return [a for a in items if isinstance(a, dict)]

    def download_artifact_file(self, artifact_id: int, name: str) -> str | None:
        """The text of file ``name`` in an artifact, or None when the artifact or the file
        is gone. GitHub answers the zip's URL with a redirect to storage on another host,
        signed: that request carries no token."""
        response = self.request(
            "GET", self.repo_path(f"/actions/artifacts/{artifact_id}/zip"), ok_missing=True
        )
        if response.status_code in (404, 410):
            return None
        data = response.content
        if response.is_redirect:
            location = response.headers.get("location", "")
            if urlsplit(location).scheme not in ("http", "https"):
                raise GitHubError("GitHub API: an artifact redirect without an http(s) URL")
            try:
                with (
                    httpx.Client(transport=self.transport, timeout=self.timeout) as plain,
                    plain.stream("GET", location) as blob,
                ):
                    if blob.status_code >= 400:
                        raise GitHubError(
                            f"artifact {artifact_id}: storage answered HTTP {blob.status_code}"
                        )
                    chunks: list[bytes] = []
                    size = 0
                    for chunk in blob.iter_bytes():
                        size += len(chunk)
                        if size > ARTIFACT_MAX_BYTES:
                            raise GitHubError(f"artifact {artifact_id} is too large")
                        chunks.append(chunk)
                    data = b"".join(chunks)
            except httpx.HTTPError as exc:
                raise GitHubError(f"artifact {artifact_id}: {type(exc).__name__}") from None
        try:
            with zipfile.ZipFile(io.BytesIO(data)) as archive:
                if name not in archive.namelist():
                    return None
                return archive.read(name).decode("utf-8")
        except (zipfile.BadZipFile, UnicodeDecodeError):
            raise GitHubError(f"artifact {artifact_id} is not a zip holding {name}") from None


def _describe_failure(method: str, path: str, response: httpx.Response) -> str:
    try:
        message = str(response.json().get("message", ""))
    except ValueError:
        message = ""
    text = f"GitHub API {method} {path}: HTTP {response.status_code}"
    if message:
        text += f" {message}"
    if response.status_code in (401, 403, 404):
        text += (
            " (check the job's `permissions:` (pull-requests: write for PR comments, "
            "issues: write for issues) and that GITHUB_TOKEN is passed to this step)"
        )
    return text
