"""`--save` rewrites only the tenant: section of orgctl.yaml; plan and apply read it back."""

from __future__ import annotations

from pathlib import Path

import pytest

from reconciler.desired.load import load_policy
from reconciler.doctor.save import save_traits, with_tenant
from reconciler.errors import InputError
from reconciler.policy import TenantTraits
from tests.conftest import REPO

OBSERVED = TenantTraits(empty_string_clears=False, unknown_user_errcode=33012, rate_limit="sliding")


def test_appends_the_section_and_keeps_every_other_byte(tmp_path: Path) -> None:
    original = (REPO / "org" / "orgctl.yaml").read_text(encoding="utf-8")
    path = tmp_path / "orgctl.yaml"
    path.write_text(original, encoding="utf-8")
    save_traits(path, OBSERVED)
    text = path.read_text(encoding="utf-8")
    assert text.startswith(original)
    assert load_policy(path).tenant == OBSERVED


def test_replaces_an_earlier_section_in_place(tmp_path: Path) -> None:
    path = tmp_path / "orgctl.yaml"
    path.write_text(
        "# policy\n"
        "prune:\n  users: true   # keep this comment\n"
        "tenant: {rate_limit: bucket}  # by hand\n"
        "\n# about the timezone\n"
        "timezone: Asia/Shanghai\n",
        encoding="utf-8",
    )
    save_traits(path, OBSERVED)
    text = path.read_text(encoding="utf-8")
    assert text.startswith("# policy\nprune:\n  users: true   # keep this comment\ntenant:")
    assert text.endswith("\n# about the timezone\ntimezone: Asia/Shanghai\n")
    assert "bucket" not in text
    policy = load_policy(path)
    assert policy.tenant == OBSERVED
    assert policy.prune_users is True

    # Twice gives the same file: a second run does not pile up sections.
    save_traits(path, OBSERVED)
    assert path.read_text(encoding="utf-8") == text


def test_a_block_section_followed_by_comments(tmp_path: Path) -> None:
    text = "tenant:\n  rate_limit: bucket\n  empty_string_clears: true\n\n# next\nqps_note: 1\n"
    updated = with_tenant(text, TenantTraits(rate_limit="sliding"))
    assert updated.endswith("  rate_limit: sliding\n\n# next\nqps_note: 1\n")
    assert updated.count("tenant:") == 1
    assert "empty_string_clears: null" in updated


def test_an_empty_or_missing_file_gets_only_the_section(tmp_path: Path) -> None:
    path = tmp_path / "orgctl.yaml"
    save_traits(path, OBSERVED)
    assert load_policy(path).tenant == OBSERVED


def test_a_broken_file_is_not_touched(tmp_path: Path) -> None:
    path = tmp_path / "orgctl.yaml"
    path.write_text("prune: [\n", encoding="utf-8")
    with pytest.raises(InputError, match="not valid YAML, not changed"):
        save_traits(path, OBSERVED)
    assert path.read_text(encoding="utf-8") == "prune: [\n"


def test_a_wrong_tenant_value_is_located(tmp_path: Path) -> None:
    from reconciler.errors import ConfigError

    path = tmp_path / "orgctl.yaml"
    path.write_text("tenant:\n  rate_limit: fast\n  guess: 1\n", encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_policy(path)
    problems = [str(p) for p in caught.value.problems]
    assert problems == [
        f"{path}:2:15: tenant.rate_limit: 'fast' is not sliding, bucket or unknown",
        f"{path}:3:3: tenant.guess: unknown field; expected one of: empty_string_clears, "
        "rate_limit, unknown_user_errcode",
    ]
