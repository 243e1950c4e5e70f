"""Refuse characters that make text look different from what it is. Pure.

After YAML unescaping (``"\\e[31m"``, ``"\\x07"``, ``"\\u202e"`` are one character each), no
string value or key of an org file or the policy may hold:

- C0 control characters other than tab and line feed, DEL and C1 controls: a terminal acts on
  them (``ESC [31m`` colours the rest of a plan red, ``\\r`` rewrites the start of a line,
  ``BEL`` rings), so a name could hide or fake a line of `orgctl plan`;
- bidi controls (U+202A–U+202E, U+2066–U+2069): they reorder what follows on screen, so a
  reviewer reads one name and DingTalk stores another ("Trojan Source");
- zero-width characters (U+200B–U+200D, U+2060, U+FEFF): two names that look identical
  would differ, and a userid could impersonate another.

Multi-line text (a `remark: |` block) keeps its line feeds and tabs.
"""

from __future__ import annotations

import re
import unicodedata
from typing import Any

from reconciler.desired.locate import Path, field_path
from reconciler.desired.yamlsafe import Document, Marks, line_col
from reconciler.errors import Problem

HOSTILE = re.compile(
    "[\x00-\x08\x0b-\x1f\x7f-\x9f\u200b-\u200d\u2060\u202a-\u202e\u2066-\u2069\ufeff]"
)
"""Every character refused here (see the module doc)."""

_BIDI = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")
_ZERO_WIDTH = frozenset("\u200b\u200c\u200d\u2060\ufeff")


def hostile_strings(document: Document) -> list[Problem]:
    """One problem per string value or key of ``document`` holding a `HOSTILE` character."""
    if document.clean:
        return []  # the reader saw no such character and no escape that could make one
    problems: list[Problem] = []
    _walk(document, document.data, document.marks, document.root, (), problems)
    return problems


def _walk(
    document: Document, value: Any, marks: Marks, pos: int, path: Path, problems: list[Problem]
) -> None:
    if isinstance(value, str):
        bad = HOSTILE.search(value)
        if bad:
            problems.append(_problem(document, pos, path, bad.group(), ""))
    elif isinstance(value, dict):
        for key, item in value.items():
            entry = marks.get(key) if isinstance(marks, dict) else None
            key_pos, value_pos, item_marks = entry if entry is not None else (pos, pos, None)
            bad = HOSTILE.search(key)
            if bad:
                problems.append(_problem(document, key_pos, (*path, key), bad.group(), "key "))
            _walk(document, item, item_marks, value_pos, (*path, key), problems)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            entry = marks[index] if isinstance(marks, list) and index < len(marks) else None
            item_pos, item_marks = entry if entry is not None else (pos, None)
            _walk(document, item, item_marks, item_pos, (*path, index), problems)


def _problem(document: Document, pos: int, path: Path, char: str, what: str) -> Problem:
    code = f"U+{ord(char):04X}"
    name = unicodedata.name(char, "")
    named = f"{code} ({name})" if name else code
    if char in _BIDI:
        why = "a bidi control: it reorders the text on screen, so what reviewers read differs"
    elif char in _ZERO_WIDTH:
        why = "an invisible character: names that look the same would differ"
    else:
        why = "a control character: terminals act on it instead of showing it"
    line, column = line_col(pos)
    message = f"{what}contains {named}, {why}; remove it"
    return Problem(document.file, line, column, field_path(path), message)
