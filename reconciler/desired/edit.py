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

from reconciler.errors import ConfigError, InputError, Problem

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

    def parse(self) -> tuple[YAML, Any]:
        """The text as a round-trip tree (a fresh one: callers edit it)."""
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

    @classmethod
    def load(cls, org_dir: Path) -> OrgFiles:
        tree = cls(org_dir)
        for path in _discover(org_dir):
            name = path.relative_to(org_dir).as_posix()
            text = path.read_text(encoding="utf-8")
            tree.files[name] = _File(name, text, text)
        tree._index()
        return tree

    def _index(self) -> None:
        self._where = {}
        for name, file in sorted(self.files.items()):
            for kind in KINDS:
                for entry in file.entries(kind) or ():
                    if isinstance(entry, Mapping) and isinstance(entry.get(ID_FIELD[kind]), str):
                        self._where.setdefault((kind, entry[ID_FIELD[kind]]), name)

    def file_of(self, kind: Kind, ident: str) -> str | None:
        """The file that holds the entry, or None."""
        return self._where.get((kind, ident))

    def value(self, kind: Kind, ident: str, name: str) -> Any:
        """Field ``name`` of an entry as written (None if the entry or field is absent)."""
        where = self.file_of(kind, ident)
        if where is None:
            return None
        for entry in self.files[where].entries(kind) or ():
            if isinstance(entry, Mapping) and entry.get(ID_FIELD[kind]) == ident:
                return entry.get(name)
        return None

    def idents(self, kind: Kind, name: str) -> list[str]:
        """The idents of the entries of ``kind`` in file ``name``, in file order."""
        file = self.files.get(name)
        entries = file.entries(kind) if file is not None else None
        return [str(e.get(ID_FIELD[kind])) for e in entries or () if isinstance(e, Mapping)]

    def names(self) -> list[str]:
        return sorted(self.files)

    # -- editing

    def apply(self, edits: Iterable[Edit]) -> None:
        """Apply edits in order. Raises InputError for an entry that is not there. Fields set
        one after another are set together, one parse and one write of each file."""
        fields: list[SetField] = []
        for edit in edits:
            if isinstance(edit, SetField):
                fields.append(edit)
                continue
            self._set_all(fields)
            fields = []
            if isinstance(edit, RemoveEntry):
                self._remove(edit)
            else:
                self._add(edit)
        self._set_all(fields)

    def _located(self, kind: Kind, ident: str) -> tuple[_File, int]:
        name = self.file_of(kind, ident)
        if name is None:
            raise InputError(f"no {kind[:-1]} {ident!r} in the org files")
        file = self.files[name]
        for index, entry in enumerate(file.entries(kind) or ()):
            if isinstance(entry, Mapping) and entry.get(ID_FIELD[kind]) == ident:
                return file, index
        raise InputError(f"no {kind[:-1]} {ident!r} in {name}")  # pragma: no cover

    def _set_all(self, edits: Sequence[SetField]) -> None:
        by_file: dict[str, list[tuple[int, SetField]]] = {}
        for edit in edits:
            file, index = self._located(edit.kind, edit.ident)
            by_file.setdefault(file.name, []).append((index, edit))
        for name, located in by_file.items():
            file = self.files[name]
            yaml, data = file.parse()
            changed = [_set(data[edit.kind][index], edit) for index, edit in located]
            if any(changed):
                file.text = _rewrite(file.text, yaml, data)

    def _remove(self, edit: RemoveEntry) -> None:
        file, index = self._located(edit.kind, edit.ident)
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
        else:
            start, end = block
            del lines[start:end]
            # Two blank lines meeting where the entry was become one; a blank line left
            # right under `users:` or under the comment that heads the next entry goes.
            above = lines[start - 1] if start > 0 else ""
            tight = _blank(above) or _comment(above) or above.rstrip().endswith(f"{edit.kind}:")
            if start < len(lines) and _blank(lines[start]) and tight:
                del lines[start]
            file.text = "".join(lines)
        del self._where[(edit.kind, edit.ident)]

    def _add(self, edit: AddEntry) -> None:
        key = (edit.kind, edit.ident)
        if key in self._where:
            raise InputError(f"{edit.kind[:-1]} {edit.ident!r} is already in {self._where[key]}")
        file = self.files.get(edit.file)
        if file is None:
            file = self.files[edit.file] = _File(edit.file, "", f"{edit.kind}: []\n")
            file.text = file.header
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
            position = _position(target, edit)
            target.insert(position, _new_entry(edit.entry))
            if yaml.sequence_dash_offset == 0:
                yaml.indent(mapping=2, sequence=4, offset=2)
            file.text = _rewrite(file.text, yaml, data)
        else:
            position = _position(seq, edit)
            dash = seq[0].lc.col - 2 if seq else 2
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
        self._where[key] = edit.file

    # -- results

    def changed(self) -> dict[str, str]:
        """Relative file name → new text, for each file whose text changed (sorted)."""
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
    if index + 1 < len(seq):
        limit = seq[index + 1].lc.line
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
