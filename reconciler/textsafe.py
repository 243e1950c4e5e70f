"""Text from DingTalk made safe to show: on a terminal, and in Markdown for GitHub.

Any console admin can type a department or person name, so live strings are hostile input.
On a terminal a control character can recolour, hide or rewrite what the reader sees
(``"\\x1b[8m"`` conceals text, ``"\\r"`` overwrites a line, an OSC sequence retitles the
window), a bidi override (U+202E) reverses the order a name reads in, and a zero-width
character makes two different names look alike. In a GitHub comment, ``@someone`` in a name
notifies that person and ``#123`` links an issue.
"""

from __future__ import annotations

import re

_INVISIBLE = (
    "\x00-\x08\x0b-\x1f\x7f"  # C0 controls but tab and newline, and DEL
    "\x80-\x9f"  # C1 controls (a lone \x9b is CSI on many terminals)
    "\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069"  # bidi marks, embeddings, overrides, isolates
    "\u200b-\u200d\u2060\ufeff"  # zero-width space, (non-)joiner, word joiner, BOM
    "\u2028\u2029"  # line and paragraph separators
)
_UNSAFE = re.compile(f"[{_INVISIBLE}]")
_OWN_STYLES = re.compile(r"\x1b\[(?:0|1|2|31|32|33|35|1;31)m|\x1b\[K")
"""The codes orgctl itself writes: plan colours, and erase-to-end-of-line after a progress
line (which starts with a carriage return). Nothing else passes."""


def _escaped(match: re.Match[str]) -> str:
    code = ord(match.group(0))
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def terminal_safe(text: str) -> str:
    """``text`` with every control, bidi and zero-width character shown as its escape
    (``\\x1b``, ``\\u202e``): the reader sees that it is there, and the terminal obeys none."""
    return _UNSAFE.sub(_escaped, text)


def terminal_safe_styled(text: str) -> str:
    """Like `terminal_safe`, but orgctl's own codes survive: its colours, and a progress line
    rewriting itself (a leading carriage return, erase-to-end-of-line). For whole output lines
    whose data parts were escaped already (a hostile colour code in data was escaped then)."""
    lead = "\r" if text.startswith("\r") else ""
    text = text[len(lead) :]
    parts = _OWN_STYLES.split(text)
    styles = _OWN_STYLES.findall(text)
    out = [lead, terminal_safe(parts[0])]
    for style, part in zip(styles, parts[1:], strict=True):
        out += [style, terminal_safe(part)]
    return "".join(out)


_AUTOLINK = re.compile(r"@(?=[A-Za-z0-9])|(?:\\?#|\b(?:GH|gh)-)(?=\d)")
_ZERO_WIDTH_SPACE = "&#8203;"  # an HTML entity: invisible once rendered, breaks the autolink


def markdown_inert(text: str) -> str:
    """Markdown-escaped text with GitHub's autolinks broken: ``@name`` notifies nobody and
    ``#123`` / ``GH-123`` link nothing (a zero-width space after the ``@`` or ``#``)."""
    return _AUTOLINK.sub(lambda m: m.group(0) + _ZERO_WIDTH_SPACE, text)
