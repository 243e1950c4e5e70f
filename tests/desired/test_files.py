"""Which files the loader reads, in what order, and how it names them."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from reconciler.desired.load import load, load_desired
from reconciler.errors import ConfigError
from tests.desired.conftest import problems_of

USER = 'users:\n  - userid: {0}\n    name: {0}\n    mobile: "{1}"\n    departments: [root]\n'


def test_files_are_read_recursively_in_sorted_order_and_listed(write_org):
    org = write_org(
        {
            "b.yaml": USER.format("b", "18678657975"),
            "a/z.yml": USER.format("z", "13562527601"),
            "a.yaml": USER.format("a", "15951819093"),
            "orgctl.yaml": "prune: {users: true}\n",
        }
    )
    desired = load(org)
    assert desired.files == ("org/a.yaml", "org/a/z.yml", "org/b.yaml", "org/orgctl.yaml")
    assert list(desired.org.users) == ["a", "b", "z"]
    assert desired.policy.prune_users is True


def test_hidden_and_non_yaml_files_are_skipped(write_org):
    org = write_org(
        {
            "a.yaml": USER.format("a", "15951819093"),
            ".draft.yaml": "garbage: [",
            ".git/config.yaml": "garbage: [",
            "README.md": "users: nope",
            "notes.txt": "x",
        }
    )
    assert load(org).files == ("org/a.yaml",)


def test_a_symlink_inside_is_skipped_because_its_target_is_read(write_org):
    org = write_org({"people/a.yaml": USER.format("a", "15951819093")})
    os.symlink("people/a.yaml", org / "alias.yaml")
    os.symlink("people", org / "folk")
    desired = load(org)
    assert desired.files == ("org/people/a.yaml",)  # no duplicate userid from a second read


def test_a_broken_symlink_is_reported(write_org):
    org = write_org({"a.yaml": USER.format("a", "15951819093")})
    os.symlink("gone.yaml", org / "b.yaml")
    with pytest.raises(ConfigError) as caught:
        load_desired(org)
    assert problems_of(caught.value) == ["org/b.yaml: broken symlink (to gone.yaml)"]


def test_the_policy_file_must_not_be_a_symlink(write_org):
    org = write_org({"a.yaml": USER.format("a", "15951819093"), "policies/p.yml": "{}\n"})
    os.symlink("policies/p.yml", org / "orgctl.yaml")
    with pytest.raises(ConfigError) as caught:
        load_desired(org)
    assert problems_of(caught.value) == [
        "org/orgctl.yaml: the policy file must be a regular file, not a symlink"
    ]


def test_missing_directory(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ConfigError) as caught:
        load_desired(Path("nowhere"))
    assert problems_of(caught.value) == ["nowhere: does not exist"]


def test_a_file_instead_of_a_directory(write_org):
    org = write_org({"a.yaml": USER.format("a", "15951819093")})
    with pytest.raises(ConfigError) as caught:
        load_desired(org / "a.yaml")
    assert problems_of(caught.value) == ["org/a.yaml: is not a directory"]


def test_a_directory_without_org_files_is_an_error(write_org):
    # Pointing apply with prune on at the wrong directory must not mean "delete everyone".
    org = write_org({"orgctl.yaml": "prune: {users: true}\n"})
    with pytest.raises(ConfigError) as caught:
        load_desired(org)
    assert problems_of(caught.value) == [
        "org: no org files (*.yaml) here: is this the right directory?"
    ]


def test_absolute_paths_are_shown_as_given(tmp_path):
    (tmp_path / "org").mkdir()
    (tmp_path / "org" / "a.yaml").write_text("users: 7\n")
    with pytest.raises(ConfigError) as caught:
        load_desired(tmp_path / "org")
    assert caught.value.problems[0].file == f"{tmp_path}/org/a.yaml"
