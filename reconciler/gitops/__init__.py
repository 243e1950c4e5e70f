"""What the GitHub workflows need: sticky plan comments, drift issues, failure reports.

Pure decisions (what to post, where, split how) and a small httpx client that carries them out;
the workflows stay thin, every rule lives here, under test.

- `markers`: which comments and issues are ours (a hidden marker, and the author).
- `markdown`: splitting a body within GitHub's limit, cutting it short, masking, run links.
- `client`: the GitHub REST client (pagination, errors, labels).
- `comments`: the sticky plan comment on a pull request.
- `issues`: actions on issues, shared by `drift` and `failures`.
- `drift`: the drift issue and the drift pull request.
- `failures`: reports of a failed apply, and closing them once apply succeeds.
- `approvals`: what a plan needs approved (label, team reviews) and whether a PR has it.
- `reviewed`: reviewed = applied: what apply may apply on merge, the plan-changed issue.
- `gate`: the GitHub reads behind those two (record, label events, permissions, artifact).
"""
