"""Live strings on a terminal and in a PR comment: nothing in a name can steer either."""

from __future__ import annotations

import asyncio
import functools
import re
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

import reconciler.cli.plan as cli_plan
from reconciler.apply.executor import apply_plan
from reconciler.cli import app
from reconciler.clock import FakeClock
from reconciler.live.target import open_target
from reconciler.reconcile import make_plan
from reconciler.sandbox import Sandbox
from reconciler.textsafe import markdown_inert, terminal_safe, terminal_safe_styled

HOSTILE = "\x1b[8m隐藏\x1b]0;pwned\x07\r\u202etxt.exe\u200b\u2066\x9b2J\x7f"


def test_every_control_bidi_and_zero_width_character_is_shown_escaped() -> None:
    shown = terminal_safe(HOSTILE)
    assert shown == ("\\x1b[8m隐藏\\x1b]0;pwned\\x07\\x0d\\u202etxt.exe\\u200b\\u2066\\x9b2J\\x7f")
    assert shown.isprintable()
    assert terminal_safe("张三\tline\nnext") == "张三\tline\nnext"  # layout survives


def test_only_orgctl_own_colours_survive_in_a_styled_line() -> None:
    line = "\x1b[32m  + create user\x1b[0m \x1b[8mhidden\x1b[2J"
    assert terminal_safe_styled(line) == "\x1b[32m  + create user\x1b[0m \\x1b[8mhidden\\x1b[2J"
    # A progress line rewrites itself; a carriage return inside data does not pass.
    progress = "\rreading: tree 3/9 a\rb\x1b[K"
    assert terminal_safe_styled(progress) == "\rreading: tree 3/9 a\\x0db\x1b[K"


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("@boss 请看", "@&#8203;boss 请看"),
        ("见 \\#12 与 GH-7", "见 \\#&#8203;12 与 GH-&#8203;7"),
        ("a@example.com", "a@&#8203;example.com"),
        ("#tag 和 # 12", "#tag 和 # 12"),  # no digits right after: no link
    ],
)
def test_markdown_breaks_mentions_and_issue_links(text: str, shown: str) -> None:
    assert markdown_inert(text) == shown


@pytest.fixture
def org_dir(tmp_path: Path, repo_root: Path, monkeypatch: pytest.MonkeyPatch, clock: FakeClock):
    monkeypatch.setattr(cli_plan, "open_target", functools.partial(open_target, clock=clock))
    target = tmp_path / "org"
    shutil.copytree(repo_root / "org", target)

    async def seed() -> None:
        async with open_target(sandbox=True, clock=clock) as opened:
            result = await make_plan(target, opened.client)
            assert (await apply_plan(result.plan, opened.client, result.live, clock=clock)).ok

    asyncio.run(seed())
    return target


def test_a_name_typed_in_the_console_cannot_steer_the_terminal_or_ping_anyone(
    org_dir: Path, tmp_path: Path
) -> None:
    with Sandbox(tmp_path / ".orgctl" / "sandbox.db") as sb:
        sb.tenant.add_user("console01", f"@boss #42 {HOSTILE}", "+86-13700000009", [1])
    text = CliRunner().invoke(app, ["plan", str(org_dir), "--sandbox"])
    assert "console01" in text.stdout, text.output
    for raw in ("\x1b", "\x07", "\r", "\u202e", "\u200b", "\u2066", "\x9b", "\x7f"):
        assert raw not in text.output
    assert "\\u202etxt.exe" in text.stdout
    markdown = CliRunner().invoke(app, ["plan", str(org_dir), "--sandbox", "--format", "markdown"])
    assert "console01" in markdown.stdout, markdown.output
    assert "\x1b" not in markdown.stdout
    # Outside code fences (where GitHub links nothing) the name pings nobody, links nothing.
    prose = re.sub(r"^```.*?^```$", "", markdown.stdout, flags=re.DOTALL | re.MULTILINE)
    assert "@&#8203;boss" in prose
    assert "@boss" not in prose
    assert "#&#8203;42" in prose
    assert not re.search(r"(?<!&)#\d", prose)
