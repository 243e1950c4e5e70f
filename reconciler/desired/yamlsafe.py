"""Read one YAML file safely, remembering where every value came from.
I/O: reads that one file (after a stat() size check).

`read_yaml(path, file)` returns a `Document`: plain data (dict / list / str / int / float /
bool / None / date) plus a parallel tree of *marks* (line and column of every key and value),
or raises `ConfigError` with every problem found in the file. What it refuses, and why:

- files over `MAX_FILE_BYTES` (checked with stat() before reading a byte),
- binary files (a NUL byte), UTF-16/32, bytes that are not UTF-8, control characters,
- anchors and aliases (`&a`, `*a`): a few lines of them expand to gigabytes ("billion
  laughs"), and org files never need them,
- merge keys (`<<`), complex keys, tags other than the YAML core ones,
- more than one document in a file, a nesting depth over `MAX_DEPTH` (libyaml's composer
  recurses on the C stack and crashes the interpreter on ~30 000 nested brackets),
- duplicate keys in one mapping (PyYAML silently keeps the last one).

Speed: PyYAML's C composer reads about 1 MB/s here, so 100 000 users (~15 MB) would take
15 s. Files written in the plain block style that people and `orgctl dump` write are read
by `_FastParser`, a line-based reader for a strict subset of YAML that gives up (returns
None) on anything outside that subset; PyYAML then reads the file. Where the fast reader
succeeds it must produce exactly what the PyYAML path produces, data and marks alike: the
differential tests in tests/desired/test_yamlsafe.py check that on generated documents.
It reads 100 000 people four times faster than PyYAML's C loader; the measurement and the
decision to keep it are in docs/benchmarks/load.md. The two readers stay in this one module
(over the usual ~600 lines) because they must agree value for value and mark for mark.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from yaml.constructor import ConstructorError, SafeConstructor
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode
from yaml.resolver import Resolver

from reconciler.errors import ConfigError, Problem

MAX_FILE_BYTES = 32 * 1024 * 1024
"""Per file: ~170 bytes a person, so ~190 000 people. `orgctl dump` writes one file per
top-level department, which may hold nearly everyone; anything bigger is not an org file
(a log or a binary with a .yaml name) and is refused before it is read."""

MAX_DEPTH = 200
"""Nesting levels. Org files need 4; libyaml needs C stack per level (see the module doc)."""

Marks = Any
"""The marks tree, parallel to the data:

- a mapping's marks: ``dict[key, (key_pos, value_pos, child_marks)]``
- a sequence's marks: ``list[(value_pos, child_marks)]``
- a scalar's marks: its source text when YAML gave it a type other than string (so an error
  can say ``quote it: "007"``), else None.

A ``pos`` packs a 0-based line and column as ``line << 32 | column`` (cheap to store for a
million values; see `line_col`).
"""

_SHIFT = 32
_COL_MASK = (1 << _SHIFT) - 1


def pos(line: int, column: int) -> int:
    return (line << _SHIFT) | column


def line_col(packed: int) -> tuple[int, int]:
    """1-based (line, column) of a packed position."""
    return (packed >> _SHIFT) + 1, (packed & _COL_MASK) + 1


@dataclass(frozen=True, slots=True)
class Document:
    file: str  # as shown in messages
    data: Any  # None for an empty file
    marks: Marks
    root: int  # pos of the top-level value
    clean: bool = False
    """True when the text holds no backslash and none of the characters
    `reconciler.desired.strings` refuses that YAML lets through, so no string in it can."""


# --- bytes → text -----------------------------------------------------------------------------

_UTF8_BOM = b"\xef\xbb\xbf"
_OTHER_BOMS = {
    b"\xff\xfe\x00\x00": "UTF-32",
    b"\x00\x00\xfe\xff": "UTF-32",
    b"\xff\xfe": "UTF-16",
    b"\xfe\xff": "UTF-16",
}
# What the YAML reader refuses (PyYAML Reader.NON_PRINTABLE), found before parsing so the
# message can name the line and column, and so the fast reader never sees such text.
_NON_PRINTABLE = re.compile(
    "[^\x09\x0a\x0d\x20-\x7e\x85\xa0-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]"
)

# What YAML text may hold (or make with an escape) that strings.HOSTILE refuses: the rest of
# HOSTILE is refused above, before parsing. A file without any is not walked string by string.
_MAY_HIDE = re.compile("[\\\\\x85\u200b-\u200d\u2060\u202a-\u202e\u2066-\u2069\ufeff]")

_NO_ANCHORS = "YAML anchors and aliases (&name, *name) are not allowed; write the value out"


def read_yaml(path: Path, file: str) -> Document:
    """Read, decode and parse one file. Raises ConfigError with the file's problems."""
    try:
        size = os.stat(path).st_size
        if size > MAX_FILE_BYTES:
            raise _fail(
                file,
                f"file is {_mb(size)}; the limit is {_mb(MAX_FILE_BYTES)} per "
                "file (split it into several files)",
            )
        with open(path, "rb") as handle:
            raw = handle.read(MAX_FILE_BYTES + 1)
    except OSError as exc:
        raise _fail(file, f"cannot read: {exc.strerror or exc}") from None
    if len(raw) > MAX_FILE_BYTES:  # it grew between stat() and read()
        raise _fail(file, f"file is over {_mb(MAX_FILE_BYTES)}")
    return parse_yaml(decode(raw, file), file)


def decode(raw: bytes, file: str) -> str:
    """UTF-8 bytes → text, or a ConfigError saying exactly where the file stops being text."""
    for bom, name in _OTHER_BOMS.items():
        if raw.startswith(bom):
            raise _fail(file, f"file is encoded as {name}; save it as UTF-8")
    if raw.startswith(_UTF8_BOM):
        raw = raw[len(_UTF8_BOM) :]
    nul = raw.find(b"\x00")
    if nul >= 0:
        line = raw.count(b"\n", 0, nul) + 1
        raise _fail(file, f"binary file, not YAML (NUL byte at offset {nul}, line {line})")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line_start = raw.rfind(b"\n", 0, exc.start) + 1
        line = raw.count(b"\n", 0, exc.start) + 1
        column = len(raw[line_start : exc.start].decode("utf-8", "replace")) + 1
        message = f"not UTF-8: byte 0x{raw[exc.start]:02x} at offset {exc.start}; save the file "
        raise _fail(file, message + "as UTF-8", line, column) from None
    return text


# --- text → data + marks ----------------------------------------------------------------------


def parse_yaml(text: str, file: str) -> Document:
    """Parse one YAML document. Raises ConfigError with every problem in it."""
    bad = _NON_PRINTABLE.search(text)
    if bad:
        line = text.count("\n", 0, bad.start()) + 1
        column = bad.start() - (text.rfind("\n", 0, bad.start()) + 1) + 1
        message = f"control character U+{ord(bad.group()):04X} is not allowed in YAML"
        raise _fail(file, message, line, column)
    clean = _MAY_HIDE.search(text) is None
    fast = _FastParser(text).parse()
    if fast is not None:
        data, marks, root = fast
        return Document(file, data, marks, root, clean)
    document = _parse_with_pyyaml(text, file)
    return Document(document.file, document.data, document.marks, document.root, clean)


_Loader: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

_STR = "tag:yaml.org,2002:str"
_MAP = "tag:yaml.org,2002:map"
_SEQ = "tag:yaml.org,2002:seq"
_SCALAR_TAGS = frozenset(
    {
        "tag:yaml.org,2002:null",
        "tag:yaml.org,2002:bool",
        "tag:yaml.org,2002:int",
        "tag:yaml.org,2002:float",
        "tag:yaml.org,2002:timestamp",
    }
)
_constructor = SafeConstructor()
_resolver = Resolver()


def _parse_with_pyyaml(text: str, file: str) -> Document:
    _check_depth(text, file)
    try:
        if "&" in text or "*" in text:
            _reject_anchors(text, file)
        node = yaml.compose(text, Loader=_Loader)
    except yaml.MarkedYAMLError as exc:
        raise ConfigError([_syntax_problem(exc, text, file)]) from None
    except yaml.YAMLError as exc:  # no position (should not happen after decode())
        raise _fail(file, f"invalid YAML: {exc}") from None
    if node is None:
        return Document(file, None, None, 0)
    walker = _NodeWalker(file)
    data, marks = walker.walk(node, 0)
    if walker.problems:
        raise ConfigError(walker.problems)
    return Document(file, data, marks, pos(node.start_mark.line, node.start_mark.column))


def _check_depth(text: str, file: str) -> None:
    """Refuse what would nest deeper than MAX_DEPTH, before libyaml recurses into it.

    A conservative bound: unmatched ``[``/``{`` so far (even ones inside strings), plus the
    indentation and leading block indicators (``- - -``) of the line.
    """
    depth = 0
    for match in re.finditer(r"[][{}]", text):
        depth = depth + 1 if match.group() in "[{" else max(depth - 1, 0)
        if depth > MAX_DEPTH:
            line = text.count("\n", 0, match.start()) + 1
            raise _fail(file, f"nested more than {MAX_DEPTH} levels deep (line {line})")
    for number, line_text in enumerate(text.split("\n"), 1):
        content = line_text.lstrip(" ")
        indicators = _LEADING_INDICATORS.match(content)
        width = len(line_text) - len(content) + (indicators.end() if indicators else 0)
        if width > MAX_DEPTH:
            raise _fail(file, f"nested more than {MAX_DEPTH} levels deep (line {number})")


_LEADING_INDICATORS = re.compile(r"(?:[-?:](?: +|$))*")


def _reject_anchors(text: str, file: str) -> None:
    for event in yaml.parse(text, Loader=_Loader):
        if isinstance(event, yaml.AliasEvent) or getattr(event, "anchor", None):
            mark = event.start_mark
            line, column = (mark.line + 1, mark.column + 1) if mark else (0, 0)
            raise _fail(file, _NO_ANCHORS, line, column)


def _syntax_problem(exc: yaml.MarkedYAMLError, text: str, file: str) -> Problem:
    mark = exc.problem_mark or exc.context_mark
    line, column = (mark.line, mark.column) if mark else (0, 0)
    lines = text.split("\n")
    here = lines[line][column : column + 1] if line < len(lines) else ""
    problem = exc.problem or "invalid YAML"
    if here == "\t" or "\\t" in problem or "tab" in problem.lower():
        message = "tab character: YAML indents with spaces only, never tabs"
    elif "another document" in problem:
        message = "more than one YAML document (---) in one file; use one file per document"
    elif "undefined alias" in problem:
        message = _NO_ANCHORS
    else:
        message = f"invalid YAML: {problem}"
        if exc.context and exc.context_mark is not None:
            context_line = exc.context_mark.line + 1
            message += f" ({exc.context} started at line {context_line})"
    return Problem(file, line + 1, column + 1, "", message)


class _NodeWalker:
    """PyYAML nodes → (data, marks), rejecting what the module doc lists."""

    def __init__(self, file: str) -> None:
        self.file = file
        self.problems: list[Problem] = []

    def problem(self, node: Node, message: str) -> None:
        mark = node.start_mark
        self.problems.append(Problem(self.file, mark.line + 1, mark.column + 1, "", message))

    def walk(self, node: Node, depth: int, key: str = "") -> tuple[Any, Marks]:
        # No node is reached twice: _reject_anchors refused every anchor and alias.
        if isinstance(node, ScalarNode):
            return self.scalar(node, key)
        if depth >= MAX_DEPTH:
            self.problem(node, f"nested more than {MAX_DEPTH} levels deep")
            return None, None
        if isinstance(node, SequenceNode):
            if node.tag != _SEQ:
                self.problem(node, f"unsupported YAML tag {node.tag}")
                return None, None
            data: list[Any] = []
            seq_marks: list[tuple[int, Marks]] = []
            for item in node.value:
                value, marks = self.walk(item, depth + 1)
                data.append(value)
                seq_marks.append((pos(item.start_mark.line, item.start_mark.column), marks))
            return data, seq_marks
        assert isinstance(node, MappingNode)
        if node.tag != _MAP:
            self.problem(node, f"unsupported YAML tag {node.tag}")
            return None, None
        mapping: dict[str, Any] = {}
        map_marks: dict[str, tuple[int, int, Marks]] = {}
        for key_node, value_node in node.value:
            if not isinstance(key_node, ScalarNode):
                self.problem(key_node, "a key must be a plain name, not a list or mapping")
                continue
            if key_node.tag == "tag:yaml.org,2002:merge":
                self.problem(key_node, "merge keys (<<) are not allowed; write the fields out")
                continue
            # The key's source text, not its YAML type: `2024: x` in `extension` is "2024".
            key = key_node.value
            key_pos = pos(key_node.start_mark.line, key_node.start_mark.column)
            if key in map_marks:
                first_line, first_column = line_col(map_marks[key][0])
                self.problem(
                    key_node,
                    f"duplicate key {key!r} (first at line {first_line}, "
                    f"column {first_column}); YAML keeps only one of them",
                )
                continue
            value, marks = self.walk(value_node, depth + 1, key)
            mapping[key] = value
            map_marks[key] = (
                key_pos,
                pos(value_node.start_mark.line, value_node.start_mark.column),
                marks,
            )
        return mapping, map_marks

    def scalar(self, node: ScalarNode, key: str = "") -> tuple[Any, Marks]:
        """``key``: the mapping key the scalar is the value of, named in the problem (a
        ``leaves_on: 2026-02-30`` is read by YAML as a date before any schema sees it)."""
        if node.tag == _STR:
            return node.value, None
        if node.tag not in _SCALAR_TAGS:
            self.problem(node, f"unsupported YAML tag {node.tag}")
            return None, None
        try:
            return _constructor.yaml_constructors[node.tag](_constructor, node), node.value
        except (ConstructorError, ValueError, OverflowError) as exc:
            what = node.tag.rsplit(":", 1)[-1]
            if what == "timestamp":
                what = "a date (YYYY-MM-DD)"
            mark = node.start_mark
            self.problems.append(
                Problem(
                    self.file,
                    mark.line + 1,
                    mark.column + 1,
                    key,
                    f"cannot read {node.value!r} as {what}: {exc}",
                )
            )
            return None, None


def _fail(file: str, message: str, line: int = 0, column: int = 0) -> ConfigError:
    """The error for a problem with the whole file (line 0: no position)."""
    return ConfigError([Problem(file, line, column, "", message)])


def _mb(size: int) -> str:
    return f"{size / (1024 * 1024):.1f} MB" if size >= 1024 * 1024 else f"{size} bytes"


# --- the fast path ----------------------------------------------------------------------------


class _Bail(Exception):
    """The text leaves the subset _FastParser understands: let PyYAML read it."""


# Characters that make the fast parser give up wherever they appear: other line breaks,
# tabs and a BOM in the middle of the text (PyYAML treats them specially).
_BAIL_ANYWHERE = re.compile("[\t\x85\u2028\u2029\ufeff]")
# A block-mapping key: a plain name (no quotes, no indicators), then ':' and a space or EOL.
_PLAIN_KEY = r"([^\s#'\"\[\]{},&*!|>%@`?:<=-][^\s:#,\[\]{}]*)"
_KEY = re.compile(_PLAIN_KEY + r":(?: +|$)")
_PLAIN_FIRST_BAD = frozenset(",[]{}#&*!|>'\"%@`")
# The everyday line in one regex call: "key: value  # comment" where the value is plain
# (group 2: it may hold ':' not followed by a space and '#' not preceded by one; trailing
# spaces are not part of it), "double quoted" without escapes (3) or 'single quoted' (4).
# Anything else (flow, escapes, "key:" alone) goes the longer way through `inline`.
_KEY_SCALAR = re.compile(
    _PLAIN_KEY + r": +"
    r"(?:([^ '\"\[\]{},#&*!|>%@`?:-](?:[^ :]|:(?=[^ ])| +(?=[^ #]))*)"
    r"|\"([^\"\\]*)\"|'([^']*(?:''[^']*)*)')"
    r"(?: +#.*| *)$"
)
_FLOW_ITEM = re.compile(r"[^\s\-?:#,\[\]{}&*!|>'\"%@`<=][^:#,\[\]{}'\"]*")
_FLOW_BAD = re.compile(r"[\[\]{}'\"#?]")
_DQ_ESCAPES = {
    "\\": "\\",
    '"': '"',
    "/": "/",
    "n": "\n",
    "t": "\t",
    "r": "\r",
    "0": "\0",
}
_DQ_ESCAPE = re.compile(r"\\(x[0-9A-Fa-f]{2}|u[0-9A-Fa-f]{4}|U[0-9A-Fa-f]{8}|.)")
_SINGLE_QUOTED = re.compile(r"'((?:[^']|'')*)'")
_DOUBLE_QUOTED = re.compile(r'"((?:[^"\\]|\\.)*)"')
_AFTER_VALUE = re.compile(r"(?: +#.*| *)$")
# First characters for which YAML 1.1 might type a plain scalar as something other than a
# string (taken from the resolver itself, so it cannot drift from PyYAML).
_MAYBE_TYPED = frozenset(k for k in Resolver.yaml_implicit_resolvers if k)


def _unescape(match: re.Match[str]) -> str:
    code = match.group(1)
    if code in _DQ_ESCAPES:
        return _DQ_ESCAPES[code]
    if code[0] in "xuU" and len(code) > 1:
        char = chr(int(code[1:], 16))
        if _NON_PRINTABLE.match(char) and char not in "\t\n":
            raise _Bail
        return char
    raise _Bail


def _is_entry(content: str) -> bool:
    """A block sequence entry: "- …" or a lone "-"."""
    return content[0] == "-" and (len(content) == 1 or content[1] == " ")


class _FastParser:
    """Block YAML in the style people write and `orgctl dump` emits: block mappings and
    sequences (`- key: value` included), plain, 'single' and "double" quoted one-line
    scalars, one-line flow lists and mappings of plain scalars, comments. Anything else
    raises _Bail, and `parse` returns None. Hot loops use locals: this runs per line.
    """

    def __init__(self, text: str) -> None:
        self.text = text
        self.lines: list[tuple[int, int, str]] = []  # (line number, indent, content)

    def parse(self) -> tuple[Any, Marks, int] | None:
        try:
            return self._parse()
        except (_Bail, RecursionError):
            return None

    def _parse(self) -> tuple[Any, Marks, int]:
        text = self.text
        if "\r" in text:
            # Windows line ends: "\r\n" is one line break to YAML, and dropping the "\r" moves
            # no line or column. A lone "\r" (old Mac) is left to PyYAML.
            if text.count("\r") != text.count("\r\n"):
                raise _Bail
            text = text.replace("\r\n", "\n")
        if _BAIL_ANYWHERE.search(text):
            raise _Bail
        self.lines = lines = [
            (number, len(line) - len(content), content)
            for number, line in enumerate(text.split("\n"))
            if (content := line.lstrip(" ")) and content[0] != "#"
        ]
        if not lines:
            return None, None, 0
        for _, indent, content in lines:
            if indent == 0 and (content[0] == "%" or content.startswith(("---", "..."))):
                raise _Bail  # directives and document markers
        data, marks, root, end = self.block(0, lines[0][1], 0)
        if end != len(lines):
            raise _Bail
        return data, marks, root

    def block(self, i: int, indent: int, depth: int) -> tuple[Any, Marks, int, int]:
        """The block collection starting at line i: (data, marks, start pos, next line)."""
        if depth >= MAX_DEPTH:
            raise _Bail
        if _is_entry(self.lines[i][2]):
            return self.sequence(i, indent, depth)
        return self.mapping(i, indent, depth)

    def sequence(self, i: int, indent: int, depth: int) -> tuple[Any, Marks, int, int]:
        lines = self.lines
        count = len(lines)
        key_match = _KEY.match
        start = (lines[i][0] << _SHIFT) | indent
        data: list[Any] = []
        marks: list[tuple[int, Marks]] = []
        while i < count:
            number, line_indent, content = lines[i]
            if line_indent != indent or not _is_entry(content):
                break
            rest = content[1:].lstrip(" ")
            if not rest or rest[0] == "#" or _is_entry(rest):
                raise _Bail  # entry continued on the next lines, or "- - x"
            column = indent + len(content) - len(rest)
            if key_match(rest):
                # "- key: value": a mapping whose keys line up under `key`
                lines[i] = (number, column, rest)
                value, value_marks, value_pos, i = self.mapping(i, column, depth + 1)
            else:
                value, value_marks = self.inline(rest, number, column)
                value_pos = (number << _SHIFT) | column
                i += 1
                if i < count and lines[i][1] > indent:
                    raise _Bail  # a scalar continued on the next line
            data.append(value)
            marks.append((value_pos, value_marks))
        if i < count and lines[i][1] > indent:
            raise _Bail
        return data, marks, start, i

    def mapping(self, i: int, indent: int, depth: int) -> tuple[Any, Marks, int, int]:
        lines = self.lines
        count = len(lines)
        key_match = _KEY.match
        key_scalar = _KEY_SCALAR.match
        maybe_typed = _MAYBE_TYPED
        inline = self.inline
        start = (lines[i][0] << _SHIFT) | indent
        data: dict[str, Any] = {}
        marks: dict[str, tuple[int, int, Marks]] = {}
        while i < count:
            number, line_indent, content = lines[i]
            if line_indent != indent:
                break
            scalar = key_scalar(content)
            if scalar is not None:
                key = scalar.group(1)
                if key in marks:
                    raise _Bail  # duplicate key: the slow path reports it
                which = scalar.lastindex or 2
                text = scalar.group(which)
                if which == 2:  # plain: YAML may type it
                    value_pos = indent + scalar.start(2)
                    if text[0] in maybe_typed:
                        data[key], value_marks = _resolve(text)
                    else:
                        data[key], value_marks = text, None
                else:  # quoted: always a string; the mark is on the quote
                    value_pos = indent + scalar.start(which) - 1
                    data[key] = text if which == 3 else text.replace("''", "'")
                    value_marks = None
                marks[key] = (
                    (number << _SHIFT) | indent,
                    (number << _SHIFT) | value_pos,
                    value_marks,
                )
                i += 1
                if i < count and lines[i][1] > indent:
                    raise _Bail  # a scalar continued on the next line
                continue
            match = key_match(content)
            if match is None:
                if _is_entry(content):
                    break  # an indentless sequence ends here; the caller checks
                raise _Bail
            key = match.group(1)
            if key in marks:
                raise _Bail  # duplicate key: the slow path reports it
            end = match.end()
            key_pos = (number << _SHIFT) | indent
            if end < len(content) and content[end] != "#":
                column = indent + end
                value, value_marks = inline(content[end:], number, column)
                value_pos = (number << _SHIFT) | column
                i += 1
                if i < count and lines[i][1] > indent:
                    raise _Bail  # a scalar continued on the next line
            else:
                nxt = lines[i + 1] if i + 1 < count else None
                if nxt is not None and nxt[1] > indent:
                    value, value_marks, value_pos, i = self.block(i + 1, nxt[1], depth + 1)
                elif nxt is not None and nxt[1] == indent and _is_entry(nxt[2]):
                    # "key:" then "- a" at the same indent: an indentless sequence
                    value, value_marks, value_pos, i = self.sequence(i + 1, indent, depth + 1)
                else:  # "key:" alone: null, positioned right after the colon
                    value, value_marks = None, ""
                    value_pos = (number << _SHIFT) | (indent + len(key) + 1)
                    i += 1
            data[key] = value
            marks[key] = (key_pos, value_pos, value_marks)
        if i < count and lines[i][1] > indent:
            raise _Bail
        return data, marks, start, i

    def inline(self, rest: str, number: int, column: int) -> tuple[Any, Marks]:
        """A value that fits on its line: a scalar or a one-line flow collection."""
        first = rest[0]
        if first not in _PLAIN_FIRST_BAD:
            if first in "-?:" and (len(rest) == 1 or rest[1] == " "):
                raise _Bail
            comment = rest.find(" #")
            text = (rest[:comment] if comment >= 0 else rest).rstrip(" ")
            if ": " in text or text[-1] == ":":
                raise _Bail
            if first not in _MAYBE_TYPED:
                return text, None
            return _resolve(text)
        if first == "'":
            match = _SINGLE_QUOTED.match(rest)
            if match is None or not _AFTER_VALUE.match(rest, match.end()):
                raise _Bail
            return match.group(1).replace("''", "'"), None
        if first == '"':
            match = _DOUBLE_QUOTED.match(rest)
            if match is None or not _AFTER_VALUE.match(rest, match.end()):
                raise _Bail
            body = match.group(1)
            return (_DQ_ESCAPE.sub(_unescape, body) if "\\" in body else body), None
        if first == "[":
            return self.flow_sequence(rest, number, column)
        if first == "{":
            return self.flow_mapping(rest, number, column)
        raise _Bail

    def flow_sequence(self, rest: str, number: int, column: int) -> tuple[Any, Marks]:
        close = rest.find("]")
        if close < 0 or not _AFTER_VALUE.match(rest, close + 1):
            raise _Bail
        body = rest[1:close]
        if ":" in body:
            raise _Bail  # "[a: b]" is a list holding a mapping
        data: list[Any] = []
        marks: list[tuple[int, Marks]] = []
        line_pos = (number << _SHIFT) | column
        for offset, item in _flow_items(body):
            value, value_marks = _flow_scalar(item)
            data.append(value)
            marks.append((line_pos + offset, value_marks))
        return data, marks

    def flow_mapping(self, rest: str, number: int, column: int) -> tuple[Any, Marks]:
        close = rest.find("}")
        if close < 0 or not _AFTER_VALUE.match(rest, close + 1):
            raise _Bail
        data: dict[str, Any] = {}
        marks: dict[str, tuple[int, int, Marks]] = {}
        line_pos = (number << _SHIFT) | column
        for offset, item in _flow_items(rest[1:close]):
            key, sep, value_text = item.partition(": ")
            if not sep or key in marks or not _FLOW_ITEM.fullmatch(key) or key[-1] == " ":
                raise _Bail
            stripped = value_text.lstrip(" ")
            value, value_marks = _flow_scalar(stripped)
            value_offset = offset + len(key) + 2 + len(value_text) - len(stripped)
            data[key] = value
            marks[key] = (line_pos + offset, line_pos + value_offset, value_marks)
        return data, marks


def _flow_items(body: str) -> list[tuple[int, str]]:
    """Split the inside of "[a, b ,c]" into (offset from the bracket, item text); a trailing
    comma is fine, an empty item in the middle is not."""
    if _FLOW_BAD.search(body):
        raise _Bail
    items: list[tuple[int, str]] = []
    offset = 1
    parts = body.split(",")
    last = len(parts) - 1
    for index, part in enumerate(parts):
        stripped = part.strip(" ")
        if not stripped:
            if index == last and (index > 0 or last == 0):
                break  # "[a, b,]", "[]" and "[ ]"
            raise _Bail
        items.append((offset + len(part) - len(part.lstrip(" ")), stripped))
        offset += len(part) + 1
    return items


def _flow_scalar(item: str) -> tuple[Any, Marks]:
    if not _FLOW_ITEM.fullmatch(item):
        raise _Bail
    if item[0] not in _MAYBE_TYPED:
        return item, None
    return _resolve(item)


def _resolve(text: str) -> tuple[Any, Marks]:
    """A plain scalar's value, typed the way YAML 1.1 (PyYAML) types it."""
    tag = _resolver.resolve(ScalarNode, text, (True, False))  # type: ignore[no-untyped-call]
    if tag == _STR:
        return text, None
    if tag not in _SCALAR_TAGS:
        raise _Bail
    try:
        return _constructor.yaml_constructors[tag](_constructor, ScalarNode(tag, text)), text
    except (ConstructorError, ValueError, OverflowError):
        raise _Bail from None
