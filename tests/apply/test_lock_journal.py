"""The tenant lock (one apply at a time) and the masked journal."""

from __future__ import annotations

import json
import os
import socket
from pathlib import Path

import pytest

from reconciler.apply.journal import Journal, read_journal, scrub
from reconciler.apply.lock import TenantLock, lock_path
from reconciler.clock import FakeClock
from reconciler.dingtalk.redact import register_secret
from reconciler.errors import LockedError, TargetError


def test_a_second_apply_fails_fast_naming_the_holder(tmp_path: Path, clock: FakeClock) -> None:
    with TenantLock(tmp_path, "oapi.dingtalk.com-key1", clock=clock) as held:
        assert held.path == tmp_path / "locks" / "oapi.dingtalk.com-key1.lock"
        with pytest.raises(LockedError) as caught:
            TenantLock(tmp_path, "oapi.dingtalk.com-key1").acquire()
    message = str(caught.value)
    assert f"pid {os.getpid()}" in message
    assert socket.gethostname() in message
    assert "2026-01-01T00:00:00Z" in message
    assert "oapi.dingtalk.com-key1" in message


def test_the_lock_is_free_again_after_release_and_per_tenant(tmp_path: Path) -> None:
    with TenantLock(tmp_path, "a"), TenantLock(tmp_path, "b"):
        pass  # different tenants never block each other
    with TenantLock(tmp_path, "a") as again:
        assert again.held
    with TenantLock(tmp_path, "a") as third:  # released: taken again at once
        assert third.held
    assert lock_path(tmp_path, "a").read_text(encoding="utf-8") == ""  # no stale holder shown


def test_a_lock_file_left_by_a_dead_process_does_not_block(tmp_path: Path) -> None:
    path = lock_path(tmp_path, "t")
    path.parent.mkdir(parents=True)
    path.write_text('{"pid": 999999, "host": "gone", "since": "2025-01-01T00:00:00Z"}\n')
    with TenantLock(tmp_path, "t") as lock:  # flock died with its holder; contents are advice
        assert lock.held
        assert json.loads(path.read_text(encoding="utf-8"))["pid"] == os.getpid()


def test_tenant_ids_become_safe_file_names(tmp_path: Path) -> None:
    assert lock_path(tmp_path, "../../etc/passwd").parent == tmp_path / "locks"
    assert lock_path(tmp_path, "https://x/y?z").name == "https_x_y_z.lock"


def test_scrub_masks_mobiles_emails_and_credentials() -> None:
    text = (
        "手机号码+86-15172391968在公司中已存在; bare 13800138000; mail zhangsan@example.com; "
        "GET /gettoken?appkey=k&appsecret=s3cr3t&access_token=abcdef123"
    )
    scrubbed = scrub(text)
    assert "15172391968" not in scrubbed
    assert "+86-151****1968" in scrubbed
    assert "13800138000" not in scrubbed
    assert "zhangsan@" not in scrubbed
    assert "z***@example.com" in scrubbed
    assert "s3cr3t" not in scrubbed
    assert "abcdef123" not in scrubbed
    assert scrub("dept 560935057 and userid 16403377132689900") == (
        "dept 560935057 and userid 16403377132689900"
    )


def test_scrub_masks_a_secret_the_client_registered_even_without_a_key() -> None:
    register_secret("bare-token-9f8e7d6c")
    assert scrub("token bare-token-9f8e7d6c echoed by a proxy") == "token *** echoed by a proxy"


def test_journal_lines_are_json_masked_and_named_by_time_and_tenant(
    tmp_path: Path, clock: FakeClock
) -> None:
    with Journal.open(tmp_path, "sandbox", clock=clock) as journal:
        journal.write(
            "step",
            step="user.create:zhangsan",
            action="create_user",
            outcome="failed",
            errcode=60104,
            message="手机号码+86-15172391968在公司中已存在",
            payload={"mobile": "+86-15172391968", "email": "zs@example.com"},
        )
        clock.advance(1.5)
        journal.write("end", done=0, failed=1, skipped=None)
    assert journal.path == tmp_path / "journal" / "20260101T000000Z-sandbox.jsonl"
    raw = journal.path.read_text(encoding="utf-8")
    assert "15172391968" not in raw
    assert "zs@example.com" not in raw
    first, last = read_journal(journal.path)
    assert first["time"] == "2026-01-01T00:00:00.000Z"
    assert first["errcode"] == 60104
    assert first["payload"] == {"mobile": "+86-151****1968", "email": "z***@example.com"}
    assert last == {"time": "2026-01-01T00:00:01.500Z", "event": "end", "done": 0, "failed": 1}


def test_two_journals_in_one_second_do_not_overwrite(tmp_path: Path, clock: FakeClock) -> None:
    tenant = "https://oapi.dingtalk.com?corp=x"  # named in the file the way its lock file is
    with (
        Journal.open(tmp_path, tenant, clock=clock) as one,
        Journal.open(tmp_path, tenant, clock=clock) as two,
    ):
        one.write("start", n=1)
        two.write("start", n=2)
    name = "20260101T000000Z-" + lock_path(tmp_path, tenant).stem
    assert lock_path(tmp_path, tenant).stem == "https_oapi.dingtalk.com_corp_x"
    assert one.path == tmp_path / "journal" / f"{name}.jsonl"
    assert two.path == tmp_path / "journal" / f"{name}-2.jsonl"
    assert [r["n"] for r in read_journal(one.path)] == [1]
    assert [r["n"] for r in read_journal(two.path)] == [2]


def test_an_unusable_state_directory_is_a_target_error_not_a_traceback(
    tmp_path: Path, clock: FakeClock
) -> None:
    state_dir = tmp_path / "home"
    state_dir.write_text("a file where ORGCTL_HOME should be a directory\n")
    with pytest.raises(TargetError, match="cannot create the lock file"):
        TenantLock(state_dir, "t", clock=clock).acquire()
    with pytest.raises(TargetError, match="cannot create the journal directory"):
        Journal.open(state_dir, "t", clock=clock)
