"""Edits to org YAML files that keep everything they do not change: comments, key order,
quoting, blank lines and the split into files. I/O: reads and writes files under one org
directory, nothing else.

An edit names an entry by what identifies it (``users`` by userid, ``departments`` by key):

    SetField(kind, ident, field, value)   change one field of an entry; value None removes it
    RemoveEntry(kind, ident)              delete an entry from its file
    AddEntry(kind, entry, file, after)    insert a new entry into a file, after another entry
                                          (``after=None``: first in the file)

`OrgFiles.load(org_dir)` reads every org file round-trip (ruamel.yaml), `apply(edits)` edits
them in memory, `changed()` says which files' text now differs and `write()` writes those.

How each edit keeps the rest of the file:

- A field is set in ruamel's round-trip tree and the file is dumped again; ruamel keeps
  comments, key order and the quoting of the values it read (a value set in place of a quoted
  one is quoted the same way; a flow list ``[eng, hr]`` stays on one line, keeping the order
  of the items that stay).
- Entries are removed and inserted as *lines*, at the places the round-trip parse gives, so
  no other line of the file moves: the comments and blank lines around a removed entry stay
  (a section comment above it now heads the next entry), and a new entry is separated from
  its neighbours the way the file's entries are (by a blank line or not). The new entry's own
  text is written by ruamel, in the file's indentation.

Why one module of ~800 lines: the fast path (line patches at positions the loader recorded)
and the fallback (a whole-file ruamel round trip) edit the same text, and every write is read
back and checked against the same expectations, so the two are kept side by side; `OrgFiles`
is the one place that knows both.
"""

from __future__ import annotations

import difflib
import io
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any, Literal

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import YAMLError
from ruamel.yaml.scalarstring import (
    DoubleQuotedScalarString,
    LiteralScalarString,
    SingleQuotedScalarString,
)
from ruamel.yaml.util import load_yaml_guess_indent

from reconciler.desired.yamlsafe import line_col, parse_yaml
from reconciler.errors import ConfigError, InputError, Problem
from reconciler.model import Org

Kind = Literal["departments", "users"]
KINDS: tuple[Kind, ...] = ("departments", "users")
ID_FIELD: Mapping[Kind, str] = {"departments": "key", "users": "userid"}
POLICY_FILES = ("orgctl.yaml", "orgctl.yml")
_SUFFIXES = (".yaml", ".yml")


@dataclass(frozen=True, slots=True)
class SetField:
    kind: Kind
    ident: str
    field: str
    value: Any
    """str, int, a sequence of str, a mapping of str → str, or None to remove the field (which
    makes it unmanaged)."""


@dataclass(frozen=True, slots=True)
class RemoveEntry:
    kind: Kind
    ident: str


@dataclass(frozen=True, slots=True)
class AddEntry:
    kind: Kind
    entry: Mapping[str, Any]
    """Field → value, written in this order; must hold the identifying field."""
    file: str
    """Relative to the org directory, e.g. ``people/engineering.yaml``; created if missing."""
    after: str | None = None
    """Ident of the entry (in the same file) the new one follows; None: first in the file."""

    @property
    def ident(self) -> str:
        return str(self.entry[ID_FIELD[self.kind]])


Edit = SetField | RemoveEntry | AddEntry


def _yaml() -> YAML:
    yaml = YAML(typ="rt")
    yaml.preserve_quotes = True
    yaml.width = 4096  # never fold a long line that was not folded
    return yaml


@dataclass
class _File:
    name: str  # relative, POSIX
    original: str
    text: str
    header: str = ""  # for a created file: what comes before the list
    _parsed: tuple[str, YAML, Any] | None = None
    parses: int = 0  # round-trip parses and read-backs of the whole file, for tests

    def fast_read(self, text: str | None = None) -> tuple[Any, Any]:
        """(data, marks) of the text (or ``text``) by the loader's reader."""
        self.parses += 1
        document = parse_yaml(self.text if text is None else text, self.name)
        return document.data, document.marks

    def parse(self) -> tuple[YAML, Any]:
        """The text as a round-trip tree (a fresh one: callers edit it)."""
        self.parses += 1
        yaml = _yaml()
        try:
            # The guess reads without keeping quotes; the data comes from our own reader.
            _, indent, offset = load_yaml_guess_indent(self.text)
            data = yaml.load(self.text)
        except YAMLError as exc:
            raise ConfigError([Problem(self.name, 0, 0, "", f"cannot edit: {exc}")]) from None
        yaml.indent(mapping=indent or 2, sequence=indent or 4, offset=offset or 0)
        return yaml, data

    def entries(self, kind: Kind) -> CommentedSeq | None:
        """The list of ``kind`` for reading (parsed once per text: placing many new entries
        reads the same files many times)."""
        if self._parsed is None or self._parsed[0] != self.text:
            self._parsed = (self.text, *self.parse())
        data = self._parsed[2]
        seq = data.get(kind) if isinstance(data, CommentedMap) else None
        return seq if isinstance(seq, CommentedSeq) else None


@dataclass
class OrgFiles:
    """The org files of one directory, as text, edited in memory until `write`."""

    root: Path
    files: dict[str, _File] = field(default_factory=dict)
    _where: dict[tuple[Kind, str], str] = field(default_factory=dict)
    _order: dict[tuple[str, Kind], list[str]] = field(default_factory=dict)
    """(file, kind) → idents in file order, edits queued included."""
    _starts: dict[tuple[str, Kind], list[tuple[int, int, str]]] = field(default_factory=dict)
    """(file, kind) → (0-based line, dash column, ident) of each entry in the file's text."""
    _pending: dict[str, list[Edit]] = field(default_factory=dict)

    @classmethod
    def load(cls, org_dir: Path, desired: Org | None = None) -> OrgFiles:
        """Read the org files as text. Where each entry is (file, line) comes from
        ``desired``'s locations when given (the loader read every file already), else from
        the fast YAML reader; ruamel parses a file only when an edit needs it."""
        tree = cls(org_dir)
        for path in _discover(org_dir):
            name = path.relative_to(org_dir).as_posix()
            text = path.read_text(encoding="utf-8")
            tree.files[name] = _File(name, text, text)
        if desired is None or not tree._index_from(desired):
            tree._index()
        return tree

    def _index_from(self, desired: Org) -> bool:
        """Index the entries from the loader's locations; False if they do not fit."""
        prefix = self.root.as_posix().rstrip("/") or "."
        found: dict[tuple[str, Kind], list[tuple[int, int, str]]] = {}
        kinds: tuple[tuple[Kind, Mapping[str, Any]], ...] = (
            ("departments", desired.departments),
            ("users", desired.users),
        )
        for kind, entries in kinds:
            for ident, entry in entries.items():
                where = entry.location
                if where is None:
                    return False
                name = where.file if prefix == "." else where.file.removeprefix(prefix + "/")
                if name not in self.files:
                    return False
                found.setdefault((name, kind), []).append((where.line - 1, where.column - 1, ident))
        self._set_index(found)
        return True

    def _index(self) -> None:
        for _, file in sorted(self.files.items()):
            self._reindex(file)
        found = {
            at: [(line, dash + 2, ident) for line, dash, ident in rows]
            for at, rows in self._starts.items()
        }
        self._set_index(found)

    def _set_index(self, found: Mapping[tuple[str, Kind], list[tuple[int, int, str]]]) -> None:
        self._where = {}
        self._order = {}
        self._starts = {}
        for (name, kind), entries in sorted(found.items()):
            entries.sort()
            self._order[(name, kind)] = [ident for _, _, ident in entries]
            self._starts[(name, kind)] = [(line, col - 2, ident) for line, col, ident in entries]
            for _, _, ident in entries:
                self._where.setdefault((kind, ident), name)

    def file_of(self, kind: Kind, ident: str) -> str | None:
        """The file that holds the entry, or None."""
        return self._where.get((kind, ident))

    def value(self, kind: Kind, ident: str, name: str) -> Any:
        """Field ``name`` of an entry as written (None if the entry or field is absent)."""
        where = self.file_of(kind, ident)
        if where is None:
            return None
        # The known lines are those of the text as it is, queued edits not made yet: an
        # entry already there is read from them without making the edits.
        file = self.files[where]
        rows = [r for r in self._starts.get((where, kind), ()) if r[2] == ident]
        lines = file.text.splitlines(keepends=True)
        if rows:  # the entry's own lines, not the whole file
            same = [
                [kind, ident_, line, dash] for line, dash, ident_ in self._starts[(where, kind)]
            ]
            start, end = _span(same, [r[1] for r in same].index(ident), lines)
            try:
                entry = YAML(typ="rt").load(f"{kind}:\n" + "".join(lines[start:end]))[kind][0]
            except (YAMLError, TypeError, KeyError, IndexError):
                entry = None
            if isinstance(entry, Mapping) and entry.get(ID_FIELD[kind]) == ident:
                return entry.get(name)
        self._flush()
        for entry in self.files[where].entries(kind) or ():
            if isinstance(entry, Mapping) and entry.get(ID_FIELD[kind]) == ident:
                return entry.get(name)
        return None

    def idents(self, kind: Kind, name: str) -> list[str]:
        """The idents of the entries of ``kind`` in file ``name``, in file order."""
        return list(self._order.get((name, kind), ()))

    def names(self) -> list[str]:
        """The files, those that queued edits create included."""
        return sorted(set(self.files) | set(self._pending))

    # -- editing

    def apply(self, edits: Iterable[Edit]) -> None:
        """Queue edits, in order; the index (`file_of`, `idents`) follows at once, the text
        when it is next asked for (`changed`, `write`, `value`), so every edit of one file
        is made in one pass. Raises InputError for an entry that is not there."""
        for edit in edits:
            key = (edit.kind, edit.ident)
            if isinstance(edit, AddEntry):
                if key in self._where:
                    raise InputError(
                        f"{edit.kind[:-1]} {edit.ident!r} is already in {self._where[key]}"
                    )
                name = self._where[key] = edit.file
                order = self._order.setdefault((name, edit.kind), [])
                at = order.index(edit.after) + 1 if edit.after in order else len(order)
                order.insert(0 if edit.after is None else at, edit.ident)
            else:
                found = self._where.get(key)
                if found is None:
                    raise InputError(f"no {edit.kind[:-1]} {edit.ident!r} in the org files")
                name = found
                if isinstance(edit, RemoveEntry):
                    del self._where[key]
                    self._order[(name, edit.kind)].remove(edit.ident)
            self._pending.setdefault(name, []).append(edit)

    def parsed(self) -> dict[str, int]:
        """File → how many times it was parsed (round-trip or read back) so far."""
        return {n: f.parses for n, f in sorted(self.files.items()) if f.parses}

    def _flush(self) -> None:
        pending, self._pending = self._pending, {}
        for name, edits in pending.items():
            file = self.files.get(name)
            text = self._line_edits(file, edits) if file is not None else None
            if text is not None:
                assert file is not None
                file.text = text
                continue
            if file is None:
                file = self.files[name] = _File(name, "", f"{edits[0].kind}: []\n")
                file.text = file.header
            fields: list[SetField] = []
            for edit in edits:
                if isinstance(edit, SetField):
                    fields.append(edit)
                    continue
                _set_all(file, fields)
                fields = []
                if isinstance(edit, RemoveEntry):
                    _remove(file, edit)
                else:
                    _add(file, edit)
            _set_all(file, fields)
            self._reindex(file)

    def _reindex(self, file: _File) -> None:
        """The entries' lines after ``file`` changed."""
        for kind in KINDS:
            self._starts.pop((file.name, kind), None)
        try:
            data, marks = file.fast_read()
        except ConfigError:
            return
        for kind in KINDS:
            entries = data.get(kind) if isinstance(data, dict) else None
            for index, entry in enumerate(entries if isinstance(entries, list) else ()):
                ident = entry.get(ID_FIELD[kind]) if isinstance(entry, dict) else None
                if isinstance(ident, str):
                    line, column = line_col(marks[kind][2][index][0])
                    rows = self._starts.setdefault((file.name, kind), [])
                    rows.append((line - 1, column - 3, ident))

    def _line_edits(self, file: _File, edits: Sequence[Edit]) -> str | None:
        """``file``'s text with ``edits`` made as line patches at the entries' known lines,
        no round-trip parse of the file; None where that does not fit (a flow list, a list
        left empty, a new list, lines that are not where the index says): the caller then
        edits the round-trip tree."""
        lines = file.text.splitlines(keepends=True)
        rows: list[list[Any]] = []  # [kind, ident, line, dash], sorted by line
        for kind in KINDS:
            for line, dash, ident in self._starts.get((file.name, kind), ()):
                if dash < 0 or line >= len(lines) or lines[line][dash : dash + 2] != "- ":
                    return None
                rows.append([kind, ident, line, dash])
        rows.sort(key=lambda r: r[2])
        expected: dict[tuple[Kind, str], Any] = {}
        spacing: dict[Kind, bool] = {}

        def shift(at: int, delta: int) -> None:
            for row in rows:
                if row[2] >= at:
                    row[2] += delta

        i = 0
        while i < len(edits):
            edit = edits[i]
            same = [r for r in rows if r[0] == edit.kind]
            idents = [r[1] for r in same]
            if isinstance(edit, SetField):
                j = i + 1
                while j < len(edits) and isinstance(edits[j], SetField):
                    nxt = edits[j]
                    if (nxt.kind, nxt.ident) != (edit.kind, edit.ident):
                        break
                    j += 1
                if edit.ident not in idents:
                    return None
                start, end = _span(same, idents.index(edit.ident), lines)
                done = _edit_entry(edit.kind, lines[start:end], edits[i:j])  # type: ignore[arg-type]
                if done is None:
                    return None
                new_lines, plain = done
                lines[start:end] = new_lines
                shift(start + 1, len(new_lines) - (end - start))
                expected[(edit.kind, edit.ident)] = plain
                i = j
                continue
            i += 1
            if isinstance(edit, RemoveEntry):
                if edit.ident not in idents or len(same) < 2:
                    return None
                index = idents.index(edit.ident)
                start, end = _span(same, index, lines)
                start = _with_its_comments(lines, start, same[index][3])
                del lines[start:end]
                removed = end - start
                above = lines[start - 1] if start > 0 else ""
                tight = _blank(above) or _comment(above) or above.rstrip().endswith(f"{edit.kind}:")
                if start < len(lines) and _blank(lines[start]) and tight:
                    del lines[start]
                    removed += 1
                rows.remove(same[index])
                shift(start, -removed)
                expected.pop((edit.kind, edit.ident), None)
            else:
                if not same:
                    return None
                position = idents.index(edit.after) + 1 if edit.after in idents else len(same)
                if edit.after is None:
                    position = 0
                if edit.kind not in spacing:  # decided once, on the file as it was
                    spans = [_span(same, k, lines) for k in range(len(same))]
                    spacing[edit.kind] = _spaced(spans, lines)
                spaced = spacing[edit.kind]
                dash = same[0][3]
                snippet = _entry_text(edit.kind, edit.entry, dash)
                if position < len(same):
                    at = same[position][2]
                    text, first = snippet + ("\n" if spaced else ""), at
                else:
                    at = _span(same, len(same) - 1, lines)[1]
                    text = ("\n" if spaced else "") + snippet
                    first = at + (1 if spaced else 0)
                    if at > 0 and not lines[at - 1].endswith("\n"):
                        lines[at - 1] += "\n"
                added = text.splitlines(keepends=True)
                lines[at:at] = added
                shift(at, len(added))
                rows.append([edit.kind, edit.ident, first, dash])
                rows.sort(key=lambda r: r[2])
                expected[(edit.kind, edit.ident)] = _plain(_new_entry(edit.entry))
        text = "".join(lines)
        # Read back: the patched file must hold the entries in the expected order, at the
        # expected lines, the edited ones with the expected values.
        try:
            data, marks = file.fast_read(text)
        except ConfigError:
            return None
        for kind in KINDS:
            want = [r for r in rows if r[0] == kind]
            got = data.get(kind) if isinstance(data, dict) else None
            if not want:
                continue
            if not isinstance(got, list) or len(got) != len(want):
                return None
            for row, entry, (where, _) in zip(want, got, marks[kind][2], strict=True):
                line, column = line_col(where)
                if not isinstance(entry, dict) or entry.get(ID_FIELD[kind]) != row[1]:
                    return None
                if (line - 1, column - 3) != (row[2], row[3]):
                    return None
                if (kind, row[1]) in expected and entry != expected[(kind, row[1])]:
                    return None
        for kind in KINDS:
            found = [(r[2], r[3], r[1]) for r in rows if r[0] == kind]
            self._starts[(file.name, kind)] = found
        return text

    # -- results

    def changed(self) -> dict[str, str]:
        """Relative file name → new text, for each file whose text changed (sorted)."""
        self._flush()
        return {n: f.text for n, f in sorted(self.files.items()) if f.text != f.original}

    def write(self) -> list[str]:
        """Write the changed files; return their relative names."""
        written = []
        for name, text in self.changed().items():
            path = self.root / PurePosixPath(name)
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
            self.files[name].original = text
            written.append(name)
        return written


# --------------------------------------------------------------------------- helpers


def _set(entry: CommentedMap, edit: SetField) -> bool:
    """Set one field of a parsed entry; False if it already had that value."""
    if edit.value is None:
        if edit.field not in entry:
            return False
        del entry[edit.field]
    elif edit.field in entry:
        if _plain(entry[edit.field]) == _plain(edit.value):
            return False
        entry[edit.field] = _styled(entry[edit.field], edit.value)
    else:
        entry.insert(len(entry), edit.field, _styled(None, edit.value))
    return True


def _discover(org_dir: Path) -> list[Path]:
    """Org files as the loader reads them: sorted, no dot names, no symlinks, no policy."""
    found: list[Path] = []
    for current, dirnames, filenames in os.walk(org_dir, followlinks=False):
        here = Path(current)
        dirnames[:] = sorted(
            d for d in dirnames if not d.startswith(".") and not os.path.islink(here / d)
        )
        for name in filenames:
            path = here / name
            if name.startswith(".") or not name.endswith(_SUFFIXES) or os.path.islink(path):
                continue
            if name in POLICY_FILES and here == org_dir:
                continue
            found.append(path)
    return sorted(found)


def _dump(yaml: YAML, data: Any) -> str:
    stream = io.StringIO()
    yaml.dump(data, stream)
    return stream.getvalue()


def _rewrite(text: str, yaml: YAML, data: Any) -> str:
    """The file after an edit of its tree ``data`` (parsed from ``text``).

    ruamel writes back what it read, but not byte for byte in every file: it normalises
    ``name:   x`` to ``name: x`` or ``[ eng ]`` to ``[eng]``. So the edit is carried over as
    a patch: the lines where the dump of the edited tree differs from the dump of the
    untouched one replace the matching lines of ``text``, and every other line stays as it
    was. If the patched text does not read back as the edited tree, the whole dump is used.
    """
    edited = _dump(yaml, data)
    base = _dump(yaml, yaml.load(text))
    if base == text:
        return edited
    patched = _patch(text, base, edited)
    try:
        same = _plain(_yaml().load(patched)) == _plain(_yaml().load(edited))
    except YAMLError:
        same = False
    return patched if same else edited


def _patch(original: str, base: str, edited: str) -> str:
    """``original`` with the changes from ``base`` to ``edited`` (``base`` being ``original``
    normalised), hunk by hunk, bottom up."""
    o_lines = original.splitlines(keepends=True)
    b_lines = base.splitlines(keepends=True)
    e_lines = edited.splitlines(keepends=True)
    b_to_o: dict[int, int] = {}
    matcher = difflib.SequenceMatcher(None, b_lines, o_lines, autojunk=False)
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        # A normalised line stands for the original line in its place (same count of lines):
        # so an edit next to it does not take it along.
        if tag == "equal" or (tag == "replace" and i2 - i1 == j2 - j1):
            b_to_o.update((i1 + k, j1 + k) for k in range(i2 - i1))
    hunks = difflib.SequenceMatcher(None, b_lines, e_lines, autojunk=False).get_opcodes()
    for tag, i1, i2, j1, j2 in reversed(hunks):
        if tag == "equal":
            continue
        before = max((b_to_o[k] for k in range(i1) if k in b_to_o), default=-1)
        after = min(
            (b_to_o[k] for k in range(i2, len(b_lines)) if k in b_to_o), default=len(o_lines)
        )
        o_lines[before + 1 : after] = e_lines[j1:j2]
    return "".join(o_lines)


def _plain(value: Any) -> Any:
    """A value without ruamel's styling, for comparison."""
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, str):
        return str(value)
    return value


def _styled(old: Any, new: Any) -> Any:
    """``new`` written the way ``old`` was: same quotes, same flow style, and for a list or
    mapping the same object edited in place (its comments and the order of what stays)."""
    if isinstance(new, str):
        if "\n" in new:
            return LiteralScalarString(new)
        if isinstance(old, DoubleQuotedScalarString):
            return DoubleQuotedScalarString(new)
        if isinstance(old, SingleQuotedScalarString):
            return SingleQuotedScalarString(new)
        return new
    if isinstance(new, Mapping):
        if isinstance(old, CommentedMap):
            for key in [k for k in old if k not in new]:
                del old[key]
            for key, value in new.items():
                if key not in old or _plain(old[key]) != value:
                    old[key] = _styled(old.get(key), value)
            return old
        mapping = CommentedMap((k, v) for k, v in new.items())
        mapping.fa.set_flow_style()
        return mapping
    if isinstance(new, (list, tuple)):
        if isinstance(old, CommentedSeq):
            for index in reversed(range(len(old))):
                if old[index] not in new:
                    del old[index]
            old.extend(v for v in new if v not in old)
            return old
        seq = CommentedSeq(new)
        seq.fa.set_flow_style()
        return seq
    return new


def _new_entry(entry: Mapping[str, Any]) -> CommentedMap:
    """A new entry the way `orgctl dump` writes one: lists of keys on one line, a mobile
    quoted (so it is never read as a number), a remark with lines as a literal block."""
    result = CommentedMap()
    for name, value in entry.items():
        if name == "mobile" and isinstance(value, str):
            value = DoubleQuotedScalarString(value)
        elif isinstance(value, (list, tuple, Mapping)):
            value = _styled(None, value)
            if isinstance(value, CommentedMap) and len(value) > 3:
                value.fa.set_block_style()
        elif isinstance(value, str) and "\n" in value:
            value = LiteralScalarString(value)
        result[name] = value
    return result


def _entry_text(kind: Kind, entry: Mapping[str, Any], dash: int) -> str:
    """One ``- key: value`` list item as text, its dash in column ``dash``."""
    yaml = _yaml()
    yaml.indent(mapping=2, sequence=dash + 2, offset=dash)
    seq = CommentedSeq([_new_entry(entry)])
    text = _dump(yaml, CommentedMap([(kind, seq)]))
    return text.split("\n", 1)[1]


def _blank(line: str) -> bool:
    return not line.strip()


def _comment(line: str) -> bool:
    return line.lstrip().startswith("#")


def _block_span(seq: CommentedSeq, index: int, lines: Sequence[str]) -> tuple[int, int] | None:
    """The lines [start, end) of entry ``index`` of a block list: from its ``-`` line to its
    last line of content, leaving out the blank lines and comments that follow it (they
    belong to what comes next). None when the list or the entry is in flow style."""
    if seq.fa.flow_style():
        return None
    entry = seq[index]
    if not isinstance(entry, CommentedMap) or entry.fa.flow_style():
        return None
    start = entry.lc.line
    dash = entry.lc.col - 2
    if start >= len(lines) or lines[start][dash : dash + 2] != "- ":
        return None
    return _entry_lines(
        lines, start, dash, seq[index + 1].lc.line if index + 1 < len(seq) else None
    )


def _entry_lines(
    lines: Sequence[str], start: int, dash: int, next_start: int | None
) -> tuple[int, int]:
    """Lines [start, end) of the entry whose dash is at (``start``, ``dash``): up to the next
    entry's first line (``next_start``; None for the last entry: up to the first line at or
    left of the dash), less the blank and comment lines that head the next entry."""
    if next_start is not None:
        limit = next_start
    else:
        limit = start + 1
        while limit < len(lines):
            line = lines[limit]
            indent = len(line) - len(line.lstrip(" "))
            if not _blank(line) and not _comment(line) and indent <= dash:
                break
            limit += 1
    end = limit
    while end > start + 1 and (_blank(lines[end - 1]) or _comment(lines[end - 1])):
        # A comment indented like the entry's own keys is its last line; at the dash or to
        # its left, it heads the next entry.
        line = lines[end - 1]
        if _comment(line) and len(line) - len(line.lstrip(" ")) > dash:
            break
        end -= 1
    return start, end


def _with_its_comments(lines: Sequence[str], start: int, dash: int) -> int:
    """Where an entry starting at line ``start`` begins once the comment lines written right
    above it are counted in: comments at its dash's column that sit directly under the
    previous entry's content say something about this entry and go when it goes. Comments
    with a blank line or the list's key above them head a group of entries and stay."""
    top = start
    while top > 0 and _comment(lines[top - 1]) and _indent(lines[top - 1]) == dash:
        top -= 1
    if top == start or top == 0:
        return start
    above = lines[top - 1]
    return top if not _blank(above) and _indent(above) > dash else start


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip(" "))


def _spaced(spans: Sequence[tuple[int, int] | None], lines: Sequence[str]) -> bool:
    """Are this list's entries separated by a blank line? (Most gaps decide.)"""
    gaps = [s[1] < len(lines) and _blank(lines[s[1]]) for s in spans[:-1] if s is not None]
    return sum(gaps) * 2 > len(gaps)


def _position(seq: CommentedSeq, edit: AddEntry) -> int:
    if edit.after is None:
        return 0
    id_field = ID_FIELD[edit.kind]
    for index, entry in enumerate(seq):
        if isinstance(entry, Mapping) and entry.get(id_field) == edit.after:
            return index + 1
    return len(seq)


__all__ = [
    "KINDS",
    "AddEntry",
    "Edit",
    "Kind",
    "OrgFiles",
    "RemoveEntry",
    "SetField",
]


# --------------------------------------------------------------------------- round-trip edits
# Where a line patch does not fit: the file's round-trip tree, parsed again after each
# removal or insertion (their lines come from the parse).


def _located(file: _File, kind: Kind, ident: str) -> int:
    for index, entry in enumerate(file.entries(kind) or ()):
        if isinstance(entry, Mapping) and entry.get(ID_FIELD[kind]) == ident:
            return index
    raise InputError(f"no {kind[:-1]} {ident!r} in {file.name}")  # pragma: no cover


def _set_all(file: _File, edits: Sequence[SetField]) -> None:
    if not edits:
        return
    located = [(_located(file, edit.kind, edit.ident), edit) for edit in edits]
    yaml, data = file.parse()
    changed = [_set(data[edit.kind][index], edit) for index, edit in located]
    if any(changed):
        file.text = _rewrite(file.text, yaml, data)


def _remove(file: _File, edit: RemoveEntry) -> None:
    index = _located(file, edit.kind, edit.ident)
    seq = file.entries(edit.kind)
    assert seq is not None
    lines = file.text.splitlines(keepends=True)
    block = _block_span(seq, index, lines) if len(seq) > 1 else None
    if block is None:  # a flow-style list, or the last entry (`users: []`): in the tree
        yaml, data = file.parse()
        del data[edit.kind][index]
        if not data[edit.kind]:
            data[edit.kind] = CommentedSeq()
        file.text = _rewrite(file.text, yaml, data)
        return
    start, end = block
    start = _with_its_comments(lines, start, seq[index].lc.col - 2)
    del lines[start:end]
    # Two blank lines meeting where the entry was become one; a blank line left right under
    # `users:` or under the comment that heads the next entry goes.
    above = lines[start - 1] if start > 0 else ""
    tight = _blank(above) or _comment(above) or above.rstrip().endswith(f"{edit.kind}:")
    if start < len(lines) and _blank(lines[start]) and tight:
        del lines[start]
    file.text = "".join(lines)


def _add(file: _File, edit: AddEntry) -> None:
    seq = file.entries(edit.kind)
    lines = file.text.splitlines(keepends=True)
    spans = [_block_span(seq, i, lines) for i in range(len(seq))] if seq else []
    if seq is None or not seq or any(s is None for s in spans):
        # No list yet, an empty `[]` or a flow list: append in the tree.
        yaml, data = file.parse()
        if data is None:
            data = CommentedMap()
        target = data.get(edit.kind)
        if not isinstance(target, CommentedSeq) or not target:
            data[edit.kind] = target = CommentedSeq()
        target.insert(_position(target, edit), _new_entry(edit.entry))
        if yaml.sequence_dash_offset == 0:
            yaml.indent(mapping=2, sequence=4, offset=2)
        file.text = _rewrite(file.text, yaml, data)
        return
    position = _position(seq, edit)
    dash = seq[0].lc.col - 2
    snippet = _entry_text(edit.kind, edit.entry, dash)
    spaced = _spaced(spans, lines)
    if position < len(seq):
        at = spans[position][0]  # type: ignore[index]
        # Before the next entry's own lines, after the comments that head it.
        text = snippet + ("\n" if spaced else "")
    else:
        at = spans[-1][1]  # type: ignore[index]
        text = ("\n" if spaced else "") + snippet
        if at > 0 and not lines[at - 1].endswith("\n"):
            lines[at - 1] += "\n"
    lines[at:at] = [text]
    file.text = "".join(lines)


# --------------------------------------------------------------------------- line patches


def _span(rows: Sequence[Sequence[Any]], index: int, lines: Sequence[str]) -> tuple[int, int]:
    """Lines [start, end) of entry ``index`` of a block list whose entries start at
    ``rows[i][2]`` with their dash in column ``rows[i][3]`` (as `_block_span`)."""
    start, dash = rows[index][2], rows[index][3]
    return _entry_lines(lines, start, dash, rows[index + 1][2] if index + 1 < len(rows) else None)


def _edit_entry(
    kind: Kind, lines: Sequence[str], edits: Sequence[SetField]
) -> tuple[list[str], Any] | None:
    """Set fields of one entry, given as its lines: a round-trip of those lines alone (not the
    file), patched back as `_rewrite` does. (new lines, the entry's plain value) or None."""
    text = "".join(lines)
    if not text.endswith("\n"):
        text += "\n"
    snippet = f"{kind}:\n{text}"
    piece = _File(kind, snippet, snippet)
    try:
        yaml, data = piece.parse()
    except ConfigError:
        return None
    seq = data.get(kind) if isinstance(data, CommentedMap) else None
    if not isinstance(seq, CommentedSeq) or len(seq) != 1 or not isinstance(seq[0], CommentedMap):
        return None
    changed = [_set(seq[0], edit) for edit in edits]
    result = _rewrite(snippet, yaml, data) if any(changed) else snippet
    head = f"{kind}:\n"
    if not result.startswith(head):
        return None
    return result[len(head) :].splitlines(keepends=True), _plain(seq[0])
