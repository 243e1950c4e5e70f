"""The pure half of reconciler.gitops: markers, splitting, masking, bodies and decisions."""

from __future__ import annotations

import re

import pytest

from reconciler.gitops import client, comments, drift, failures, markdown, markers
from reconciler.gitops.comments import CreateComment, DeleteComment, KeepComment, UpdateComment
from reconciler.gitops.issues import CloseIssue, CommentOnIssue, CreateIssue, UpdateIssue
from reconciler.gitops.markers import Comment, Issue

HEADER = re.compile(r"\A<!-- orgctl-plan part=(\d+)/(\d+) -->\n(_Part \d+ of \d+:.*\n\n)?")

BOT = markers.BOT_LOGIN


def strip_header(part: str) -> str:
    return HEADER.sub("", part, count=1)


def details_balance(text: str) -> int:
    return len(re.findall(r"<details[ >]", text)) - len(re.findall(r"</details>", text))


def fences_balanced(text: str) -> bool:
    return len(re.findall(r"^```", text, re.MULTILINE)) % 2 == 0


def big_plan(departments: int = 60, lines: int = 40) -> str:
    blocks = [
        f"<details><summary>研发中心 {i}: {lines} changes</summary>\n\n```diff\n"
        + "".join(f"+ user{i}-{j} 张三 +86-151****{j:04d}\n" for j in range(lines))
        + "```\n\n</details>\n\n"
        for i in range(departments)
    ]
    return "## orgctl plan\n\n| kind | n |\n|---|---|\n| create | 3 |\n\n" + "".join(blocks)


# --------------------------------------------------------------------------- markers


@pytest.mark.parametrize(
    ("body", "part"),
    [
        ("<!-- orgctl-plan part=1/1 -->\nplan", 1),
        ("<!-- orgctl-plan part=3/4 -->\nplan", 3),
        ("<!-- orgctl-plan -->\nlegacy", 1),
        ("> <!-- orgctl-plan part=1/1 -->\nquoted by a human", None),
        ("text first\n<!-- orgctl-plan part=1/1 -->", None),
        ("<!-- orgctl-planner part=1/1 -->", None),
        ("", None),
    ],
)
def test_marker_must_start_the_body(body: str, part: int | None) -> None:
    assert markers.marker_part(body, "orgctl-plan") == part
    assert markers.has_marker(body, "orgctl-plan") is (part is not None)


@pytest.mark.parametrize("marker", ["a-->b", "x--y", "", "has space", "<b>"])
def test_markers_that_would_break_the_html_comment_are_refused(marker: str) -> None:
    with pytest.raises(ValueError, match="marker"):
        markers.marker_line(marker)


def test_find_marked_comments_ignores_others_and_prefers_the_oldest() -> None:
    marked = [
        Comment(9, "<!-- orgctl-plan part=1/1 -->\nnewer duplicate", BOT),
        Comment(3, "LGTM", "reviewer"),
        Comment(5, "<!-- orgctl-plan part=1/1 -->\nolder", BOT),
        Comment(7, "<!-- other-tool -->\nx", BOT),
        Comment(4, "<!-- orgctl-plan part=1/1 -->\nplanted by someone else", "mallory"),
    ]
    found = markers.find_marked_comments(marked, "orgctl-plan")
    assert {part: c.id for part, c in found.items()} == {1: 5}
    assert [c.id for c in markers.duplicate_marked_comments(marked, "orgctl-plan")] == [9]
    assert markers.find_marked_comments(marked[1:2], "orgctl-plan") == {}
    # Only the workflow's own identity counts: the planted comment is neither ours nor ours
    # to delete. GitHub logins ignore case; another token's login can be given.
    assert markers.find_marked_comments(marked[4:], "orgctl-plan") == {}
    assert [
        c.id for c in markers.find_marked_comments(marked[4:], "orgctl-plan", "Mallory").values()
    ] == [4]


def test_a_marker_comment_by_another_author_is_never_edited_or_deleted() -> None:
    planted = Comment(3, "<!-- orgctl-plan part=1/1 -->\nlooks official", "mallory")
    duplicate = Comment(5, "<!-- orgctl-plan part=1/1 -->\nalso planted", "")
    actions = comments.sync_sticky_comment([planted, duplicate], "orgctl-plan", ["p1"])
    assert actions == [CreateComment("p1", 1)]


def test_a_marked_issue_opened_by_another_author_is_not_ours() -> None:
    planted = Issue(2, drift.DRIFT_TITLE, "<!-- orgctl-drift -->\nfake", "open", (), "mallory")
    assert markers.find_marked_issues([planted], markers.DRIFT_MARKER) == []
    actions = drift.decide_drift_issue([planted], drifted=False, body="", resolved_comment="R")
    assert actions == []  # nothing of someone else's is commented on or closed
    failure = Issue(
        4, failures.FAILURE_TITLE, "<!-- orgctl-apply-failure -->\nx", "open", (), "eve"
    )
    assert failures.decide_failure_resolved([failure], "ok") == []


# --------------------------------------------------------------------------- splitting


def test_short_body_is_one_part_with_marker() -> None:
    parts = markdown.split_comment("hello\n", marker="orgctl-plan")
    assert parts == ["<!-- orgctl-plan part=1/1 -->\nhello\n"]


@pytest.mark.parametrize("limit", [3000, 7000, 20000])
def test_long_body_splits_under_the_limit_and_loses_nothing(limit: int) -> None:
    body = big_plan()
    parts = markdown.split_comment(body, limit=limit)
    assert len(parts) > 1
    assert all(len(p) <= limit for p in parts)
    total = len(parts)
    for i, part in enumerate(parts, 1):
        match = HEADER.match(part)
        assert match is not None
        assert (int(match.group(1)), int(match.group(2))) == (i, total)
        assert f"_Part {i} of {total}:" in part
        inner = strip_header(part)
        assert details_balance(inner) == 0, f"part {i} leaves <details> open"
        assert fences_balanced(inner), f"part {i} leaves a code fence open"
    # Every line of the plan is in some part, in order.
    joined = "".join(strip_header(p) for p in parts)
    original_lines = [line for line in body.splitlines() if line.strip()]
    it = iter(joined.splitlines())
    assert all(any(line == seen for seen in it) for line in original_lines)


def test_a_split_inside_details_closes_and_reopens_it() -> None:
    body = (
        "<details open><summary>Users (500)</summary>\n\n```diff\n"
        + "".join(f"+ user{j}\n" for j in range(500))
        + "```\n</details>\n"
    )
    parts = markdown.split_comment(body, limit=2000)
    assert len(parts) > 2
    first, second = strip_header(parts[0]), strip_header(parts[1])
    assert first.rstrip().endswith("</details>")
    assert "```\n" in first[-30:]  # the fence is closed before </details>
    assert second.startswith(
        "<details open>\n<summary>Users (500) (continued)</summary>\n\n```diff\n"
    )


def test_nested_details_and_tilde_fences_are_closed_inner_first_and_reopened_outer_first() -> None:
    inner = "".join(f"+ user{j}\n" for j in range(300))
    body = (
        "<details><summary>Users</summary>\n\n<details><summary>研发中心</summary>\n\n"
        f"~~~~diff\n{inner}~~~~\n\n</details>\n\n</details>\n"
    )
    parts = [strip_header(p) for p in markdown.split_comment(body, limit=1500)]
    assert len(parts) > 2
    for part in parts:
        assert details_balance(part) == 0
        assert part.count("~~~~") % 2 == 0
    assert parts[0].rstrip().endswith("~~~~\n\n</details>\n</details>".rstrip())
    assert parts[1].startswith(
        "<details>\n<summary>Users (continued)</summary>\n\n"
        "<details>\n<summary>研发中心 (continued)</summary>\n\n~~~~diff\n"
    )


def test_small_blocks_move_whole_to_the_next_part_instead_of_being_cut() -> None:
    body = big_plan(departments=30, lines=10)
    parts = [strip_header(p) for p in markdown.split_comment(body, limit=4000)]
    assert len(parts) > 2  # it was split, so there were cuts to make
    for part in parts:
        # Cut where nothing is open: no part needs a "(continued)" block.
        assert "(continued)" not in part
    blocks = body.split("<details>")[1:]
    assert len(blocks) == 30
    for block in blocks:  # each block whole in exactly one part
        assert sum(f"<details>{block.rstrip()}" in part for part in parts) == 1


def test_a_single_huge_line_is_cut_inside() -> None:
    body = "x" * 10_000 + "\n"
    parts = markdown.split_comment(body, limit=3000)
    assert all(len(p) <= 3000 for p in parts)
    assert "".join(strip_header(p) for p in parts) == body


def test_max_parts_truncates_with_a_note() -> None:
    parts = markdown.split_comment(big_plan(), limit=3000, max_parts=3, truncated_note="SEE RUN")
    assert len(parts) == 3
    assert all(len(p) <= 3000 for p in parts)
    assert parts[-1].rstrip().endswith("SEE RUN")
    assert "part=3/3" in parts[-1]


def test_default_limit_is_githubs_and_cjk_counts_as_one_character() -> None:
    body = "张" * 70_000
    parts = markdown.split_comment(body)
    assert len(parts) == 2
    assert all(len(p) <= markdown.GITHUB_BODY_LIMIT for p in parts)


def test_truncate_markdown_keeps_blocks_balanced() -> None:
    text = markdown.truncate_markdown(big_plan(), 5000, "NOTE")
    assert len(text) <= 5000
    assert text.rstrip().endswith("NOTE")
    assert details_balance(text) == 0
    assert fences_balanced(text)
    assert markdown.truncate_markdown("short", 5000, "NOTE") == "short"


# --------------------------------------------------------------------------- masking


@pytest.mark.parametrize(
    ("raw", "masked"),
    [
        ("mobile +86-15172391968 taken", "mobile +86-151****1968 taken"),
        ("mobile 15172391968 taken", "mobile 151****1968 taken"),
        ("user zhangsan@example.com", "user z***@example.com"),
        ("+1-2025550123", "+1-202***0123"),
    ],
)
def test_mask_pii(raw: str, masked: str) -> None:
    assert markdown.mask_pii(raw) == masked


@pytest.mark.parametrize(
    "text",
    [
        "dept_id 534928062",  # department ids are not mobiles
        "userid 166234556712345678",  # nor are long numeric userids
        "errcode 60020",
        "+86-151****1968",  # already masked
    ],
)
def test_mask_pii_leaves_non_personal_numbers(text: str) -> None:
    assert markdown.mask_pii(text) == text


def test_mask_pii_hides_unseparated_international_numbers() -> None:
    assert "15172391968" not in markdown.mask_pii("mobile +8615172391968")


# --------------------------------------------------------------------------- bodies


def test_plan_comment_for_a_clean_plan_is_the_plan_plus_footer() -> None:
    body = comments.build_plan_comment(
        "## Plan\n\n2 to create\n", exit_code=0, run_url="https://gh/r/1", sha="a" * 40
    )
    assert body.startswith("## Plan\n\n2 to create\n")
    assert "`aaaaaaaaaaaa`" in body
    assert "[workflow run](https://gh/r/1)" in body
    assert "failed" not in body


def test_plan_comment_for_a_failed_plan_shows_masked_errors() -> None:
    errors = "org/people.yaml:3:5: users[0].mobile: +86-15172391968 is taken by lisi@example.com"
    body = comments.build_plan_comment("", exit_code=1, errors=errors)
    assert "orgctl plan failed" in body
    assert "org/people.yaml:3:5" in body
    assert "15172391968" not in body
    assert "lisi@example.com" not in body


def test_plan_comment_errors_cannot_break_out_of_their_code_block() -> None:
    body = comments.build_plan_comment("", exit_code=1, errors="a ```` b\n```\n# injected")
    fence = re.search(r"^(`{3,})text$", body, re.MULTILINE)
    assert fence is not None
    assert len(fence.group(1)) >= 5


def test_plan_comment_for_an_unsafe_plan_keeps_the_plan_and_says_refused() -> None:
    body = comments.build_plan_comment(
        "## Plan\n- delete 40 users\n", exit_code=3, errors="refused"
    )
    assert "refused by a safety rule" in body
    assert "delete 40 users" in body


def test_drift_issue_body_has_marker_plan_and_stays_under_the_limit() -> None:
    body = drift.build_drift_issue_body(big_plan(), "https://gh/run/5", limit=8000)
    assert markers.has_marker(body, markers.DRIFT_MARKER)
    assert len(body) <= 8000
    assert details_balance(body) == 0
    # Cut to fit, it ends by saying where the rest is (the run link is in the head too).
    assert body.rstrip().endswith(
        "_The plan is too long for an issue; the full plan is in the "
        "[workflow run](https://gh/run/5)._"
    )
    unlinked = drift.build_drift_issue_body(big_plan(), "", limit=8000)
    assert unlinked.rstrip().endswith("the full plan is in the workflow run._")
    small = drift.build_drift_issue_body("## Plan\n- x\n", "", unsafe=True)
    assert "- x" in small
    assert "[!WARNING]" in small


@pytest.mark.parametrize(
    ("code", "words"), [(1, "Some steps failed"), (3, "safety rule"), (None, "run log")]
)
def test_failure_report_explains_the_exit_code(code: int | None, words: str) -> None:
    body = failures.build_failure_report("b" * 40, "https://gh/run/9", code)
    assert markers.has_marker(body, markers.FAILURE_MARKER)
    assert words in body
    assert "`bbbbbbbbbbbb`" in body
    assert "re-run" in body


def test_run_url_from_env() -> None:
    env = {
        "GITHUB_SERVER_URL": "https://ghe.example",
        "GITHUB_REPOSITORY": "o/r",
        "GITHUB_RUN_ID": "42",
    }
    assert markdown.run_url_from_env(env) == "https://ghe.example/o/r/actions/runs/42"
    assert markdown.run_url_from_env({}) == ""


# --------------------------------------------------------------------------- decisions


def plan_comment(cid: int, part: int, total: int, text: str = "old") -> Comment:
    return Comment(cid, f"<!-- orgctl-plan part={part}/{total} -->\n{text}", BOT)


def test_sticky_first_run_creates_every_part() -> None:
    actions = comments.sync_sticky_comment([Comment(1, "LGTM", BOT)], "orgctl-plan", ["p1", "p2"])
    assert actions == [CreateComment("p1", 1), CreateComment("p2", 2)]


def test_sticky_later_run_updates_in_place_and_deletes_extra_parts() -> None:
    existing = [plan_comment(10, 1, 3), plan_comment(11, 2, 3), plan_comment(12, 3, 3)]
    new = "<!-- orgctl-plan part=1/1 -->\nnew"
    actions = comments.sync_sticky_comment(existing, "orgctl-plan", [new])
    assert actions == [UpdateComment(10, new, 1), DeleteComment(11), DeleteComment(12)]


def test_sticky_unchanged_part_is_kept_and_growth_creates_parts() -> None:
    same = "<!-- orgctl-plan part=1/2 -->\nsame"
    existing = [Comment(10, same, BOT)]
    actions = comments.sync_sticky_comment(existing, "orgctl-plan", [same, "second"])
    assert actions == [KeepComment(10, 1), CreateComment("second", 2)]


def test_sticky_removes_duplicates_left_by_a_race() -> None:
    existing = [plan_comment(10, 1, 1), plan_comment(12, 1, 1)]
    actions = comments.sync_sticky_comment(existing, "orgctl-plan", ["x"])
    assert actions == [UpdateComment(10, "x", 1), DeleteComment(12)]


def drift_issue(number: int, state: str = "open", body: str = "") -> Issue:
    return Issue(
        number,
        drift.DRIFT_TITLE,
        body or "<!-- orgctl-drift -->\nold",
        state,
        (markers.DRIFT_LABEL,),
        BOT,
    )


def test_drift_opens_one_issue_when_none_is_open() -> None:
    actions = drift.decide_drift_issue([], drifted=True, body="B", resolved_comment="R")
    assert actions == [CreateIssue(drift.DRIFT_TITLE, "B", (markers.DRIFT_LABEL,))]


def test_drift_updates_the_open_issue_and_closes_duplicates() -> None:
    other = Issue(3, "unrelated", "no marker", "open", (markers.DRIFT_LABEL,))
    actions = drift.decide_drift_issue(
        [drift_issue(7), other, drift_issue(5)], drifted=True, body="B", resolved_comment="R"
    )
    assert actions == [
        UpdateIssue(5, "B"),
        CommentOnIssue(7, "Duplicate of #5.\n"),
        CloseIssue(7, "not_planned"),
    ]


def test_drift_unchanged_body_is_not_rewritten() -> None:
    body = "<!-- orgctl-drift -->\nsame"
    actions = drift.decide_drift_issue(
        [drift_issue(5, body=body)], drifted=True, body=body, resolved_comment="R"
    )
    assert actions == []


def test_no_drift_closes_the_open_issue_with_a_comment() -> None:
    actions = drift.decide_drift_issue(
        [drift_issue(5)], drifted=False, body="", resolved_comment="R"
    )
    assert actions == [CommentOnIssue(5, "R"), CloseIssue(5)]
    assert drift.decide_drift_issue([], drifted=False, body="", resolved_comment="R") == []


def test_choose_merged_pull() -> None:
    pulls: list[dict[str, object]] = [
        {"number": 4, "merged_at": None, "merge_commit_sha": "abc"},
        {"number": 8, "merged_at": "2026-01-01T00:00:00Z", "merge_commit_sha": "zzz"},
        {"number": 9, "merged_at": "2026-01-02T00:00:00Z", "merge_commit_sha": "abc"},
    ]
    assert failures.choose_merged_pull(pulls, "abc") == 9
    assert failures.choose_merged_pull(pulls[:2], "abc") == 8
    assert failures.choose_merged_pull(pulls[:1], "abc") is None
    assert failures.choose_merged_pull([], "abc") is None


def test_failure_goes_to_the_pr_when_there_is_one() -> None:
    assert failures.decide_failure_report(12, [], "B") == [CommentOnIssue(12, "B")]


def test_failure_without_a_pr_opens_or_updates_one_issue() -> None:
    assert failures.decide_failure_report(None, [], "B") == [
        CreateIssue(failures.FAILURE_TITLE, "B", (markers.FAILURE_LABEL,))
    ]
    open_issue = Issue(
        4, failures.FAILURE_TITLE, "<!-- orgctl-apply-failure -->\nold", "open", (), BOT
    )
    assert failures.decide_failure_report(None, [open_issue], "B") == [
        UpdateIssue(4, "B"),
        CommentOnIssue(4, "B"),
    ]


def test_parse_link_header() -> None:
    header = (
        '<https://api.github.com/repositories/1/issues/2/comments?page=2>; rel="next", '
        '<https://api.github.com/repositories/1/issues/2/comments?page=5>; rel="last"'
    )
    links = client.parse_link_header(header)
    assert links["next"].endswith("page=2")
    assert links["last"].endswith("page=5")
    assert client.parse_link_header(None) == {}


def test_a_green_apply_closes_only_our_failure_issues() -> None:
    ours = Issue(4, failures.FAILURE_TITLE, "<!-- orgctl-apply-failure -->\nold", "open", (), BOT)
    other = Issue(5, "something else", "no marker", "open", (markers.FAILURE_LABEL,))
    assert failures.decide_failure_resolved([ours, other], "ok") == [
        CommentOnIssue(4, "ok"),
        CloseIssue(4),
    ]
    assert failures.decide_failure_resolved([other], "ok") == []
    text = failures.build_failure_resolved_comment("f" * 40, "https://gh/run/3")
    assert "`ffffffffffff`" in text
    assert "https://gh/run/3" in text
