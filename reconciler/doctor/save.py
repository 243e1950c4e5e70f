"""Record what doctor observed in the ``tenant:`` section of orgctl.yaml, where plan and apply
read it (`Policy.tenant`). The rest of the file — comments, order, spacing — stays byte for
byte: only the lines of the ``tenant:`` section are replaced (or the section is appended).

`with_tenant` is pure (text in, text out); `save_traits` reads and writes the file.
"""

from __future__ import annotations

from pathlib import Path

import yaml

from reconciler.errors import InputError
from reconciler.policy import TenantTraits

HEADER = "tenant:  # observed by `orgctl doctor --save`; plan and apply follow it"


def render_tenant(traits: TenantTraits) -> str:
    """The ``tenant:`` section as YAML lines (null for what is still unknown)."""

    def show(value: object) -> str:
        if value is None:
            return "null"
        if isinstance(value, bool):
            return "true" if value else "false"
        return str(value)

    return (
        f"{HEADER}\n"
        f"  empty_string_clears: {show(traits.empty_string_clears)}\n"
        f"  unknown_user_errcode: {show(traits.unknown_user_errcode)}\n"
        f"  rate_limit: {show(traits.rate_limit or 'unknown')}\n"
    )


def with_tenant(text: str, traits: TenantTraits, file: str = "orgctl.yaml") -> str:
    """``text`` (an orgctl.yaml) with its ``tenant:`` section replaced by ``traits``."""
    section = render_tenant(traits)
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as error:
        raise InputError(f"{file}: not valid YAML, not changed: {error}") from None
    if root is None:
        return (text.rstrip("\n") + "\n\n" if text.strip() else text) + section
    if not isinstance(root, yaml.MappingNode):
        raise InputError(f"{file}: expected a mapping of policy settings, not changed")
    lines = text.splitlines(keepends=True)
    for key, value in root.value:
        if isinstance(key, yaml.ScalarNode) and key.value == "tenant":
            start = key.start_mark.line
            end = value.end_mark.line
            # A block mapping ends at the start of the next line; a flow one (or a scalar)
            # ends on its own line, which then goes too.
            if value.end_mark.column > 0 or end == start:
                end += 1
            # Keep comments and blank lines that follow the section's last entry.
            while end > start + 1 and _blank_or_comment(lines[end - 1]):
                end -= 1
            return "".join(lines[:start]) + section + "".join(lines[end:])
    body = text if text.endswith("\n") else text + "\n"
    return body + "\n" + section


def save_traits(path: Path, traits: TenantTraits) -> None:
    try:
        text = path.read_text(encoding="utf-8") if path.exists() else ""
    except OSError as error:
        raise InputError(f"cannot read {path}: {error.strerror}") from None
    updated = with_tenant(text, traits, str(path))
    try:
        path.write_text(updated, encoding="utf-8")
    except OSError as error:
        raise InputError(f"cannot write {path}: {error.strerror}") from None


def _blank_or_comment(line: str) -> bool:
    stripped = line.strip()
    return not stripped or stripped.startswith("#")
