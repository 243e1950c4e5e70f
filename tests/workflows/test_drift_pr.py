"""The drift pull request's pure decisions and body: one PR from orgctl/drift, ours only."""

from __future__ import annotations

from reconciler.gitops import drift, markers

BODY = drift.build_drift_pr_body(["person lisi: title 总监 → CTO"], [], "https://x/run/1")


def ours(number: int, body: str = BODY) -> drift.PullRequest:
    return drift.PullRequest(number, body, "open", drift.DRIFT_BRANCH)


def test_drift_opens_one_pr_then_updates_it() -> None:
    assert drift.decide_drift_pr([], drifted=True, body=BODY, closed_comment="c") == [
        drift.CreatePull(BODY)
    ]
    assert drift.decide_drift_pr([ours(4)], drifted=True, body=BODY, closed_comment="c") == [
        drift.UpdatePull(4, BODY)
    ]


def test_no_drift_closes_ours_and_leaves_other_prs_alone() -> None:
    human_same_branch = drift.PullRequest(5, "my own PR", "open", drift.DRIFT_BRANCH)
    other_branch = drift.PullRequest(6, BODY, "open", "feature")
    pulls = [ours(4), human_same_branch, other_branch]
    assert drift.decide_drift_pr(pulls, drifted=False, body=BODY, closed_comment="gone") == [
        drift.ClosePull(4, "gone")
    ]


def test_a_duplicate_from_a_race_is_closed_in_favour_of_the_oldest() -> None:
    actions = drift.decide_drift_pr([ours(9), ours(4)], drifted=True, body=BODY, closed_comment="c")
    assert actions == [drift.UpdatePull(4, BODY), drift.ClosePull(9, "Duplicate of #4.\n")]


def test_the_body_says_in_plain_words_what_is_kept_and_masks_what_slipped_through() -> None:
    body = drift.build_drift_pr_body(
        ["person lisi: title 总监 → CTO", "new person wang (people/a.yaml) +86-13812345678"],
        ["department dept-7 has no usable key"],
        "https://x/run/1",
    )
    assert markers.has_marker(body, drift.DRIFT_PR_MARKER)
    assert "- kept from the console: person lisi: title 总监 → CTO" in body
    assert "13812345678" not in body
    assert "+86-138****5678" in body
    assert "> department dept-7 has no usable key" in body
    assert "[workflow run](https://x/run/1)" in body
