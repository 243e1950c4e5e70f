"""Where a value came from: field paths (``users[3].mobile``) and file:line:column. Pure.

Every problem the loader reports goes through here, so they all name the file, the line and
column of the value (or of its key, or of the mapping missing it) and the field path.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from reconciler.desired.yamlsafe import Document, Marks, line_col
from reconciler.errors import Problem
from reconciler.model import Location

Path = tuple[str | int, ...]
"""A path into a document: ``("users", 3, "mobile")``."""

_PLAIN_NAME = re.compile(r"[^\s.\[\]\"]+")


def field_path(path: Path, *more: str | int) -> str:
    """("users", 3, "mobile") → "users[3].mobile"; odd keys are quoted as JSON."""
    text = ""
    for part in (*path, *more):
        if isinstance(part, int):
            text += f"[{part}]"
        elif _PLAIN_NAME.fullmatch(part) and part.isprintable():
            text += f".{part}" if text else part
        else:  # a key with a control or bidi character must not reach the terminal raw
            quoted = json.dumps(part, ensure_ascii=False)
            text += (
                "[" + "".join(c if c.isprintable() else f"\\u{ord(c):04x}" for c in quoted) + "]"
            )
    return text


def walk_marks(document: Document, path: Path) -> tuple[int, int | None, Marks]:
    """(value pos, key pos or None, marks) of the value at ``path``, or of its nearest
    ancestor that exists."""
    packed, key_pos, marks = document.root, None, document.marks
    for part in path:
        if isinstance(marks, dict) and isinstance(part, str) and part in marks:
            key_pos, packed, marks = marks[part]
        elif isinstance(marks, list) and isinstance(part, int) and part < len(marks):
            packed, marks = marks[part]
            key_pos = None
        else:
            break
    return packed, key_pos, marks


def raw_text(document: Document, path: Path) -> str | None:
    """The source text of a scalar YAML typed as something other than a string."""
    marks = walk_marks(document, path)[2]
    return marks if isinstance(marks, str) else None


def problem_at(
    document: Document,
    path: Path,
    message: str,
    *,
    key: bool = False,
    container: bool = False,
) -> Problem:
    """A problem at the value at ``path`` (at its key with ``key``; at the mapping holding
    it with ``container``, for a field that is missing)."""
    packed, key_pos, _ = walk_marks(document, path[:-1] if container else path)
    if key and key_pos is not None:
        packed = key_pos
    line, column = line_col(packed)
    return Problem(document.file, line, column, field_path(path), message)


def describe(value: Any) -> str:
    """A value's kind in words, for "expected …, got …"."""
    if value is None:
        return "nothing"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return f"the number {value}"
    if isinstance(value, str):
        return "text"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "a mapping"
    return f"a {type(value).__name__}"  # a date or a time: YAML 1.1 reads 2024-01-01 as one


@dataclass(slots=True)
class Item:
    """One department or user mapping from a file, with the marks of its fields."""

    doc: Document
    path: tuple[str, int]  # ("users", 3)
    data: dict[str, Any]
    marks: dict[str, tuple[int, int, Marks]]
    pos: int

    @property
    def location(self) -> Location:
        line, column = line_col(self.pos)
        return Location(self.doc.file, line, column)

    def at(self, name: str, message: str) -> Problem:
        """A problem about field ``name`` of this item, located at its value."""
        entry = self.marks.get(name)
        packed = self.pos if entry is None else entry[1]
        line, column = line_col(packed)
        return Problem(self.doc.file, line, column, field_path(self.path, name), message)

    def at_element(self, name: str, index: int, message: str) -> Problem:
        """A problem about element ``index`` of list field ``name``."""
        entry = self.marks.get(name)
        packed = self.pos if entry is None else entry[1]
        if entry is not None and isinstance(entry[2], list) and index < len(entry[2]):
            packed = entry[2][index][0]
        line, column = line_col(packed)
        return Problem(self.doc.file, line, column, field_path(self.path, name, index), message)

    def where(self, name: str) -> str:
        """file:line:column of field ``name``, for "also defined at …"."""
        problem = self.at(name, "")
        return f"{problem.file}:{problem.line}:{problem.column}"
