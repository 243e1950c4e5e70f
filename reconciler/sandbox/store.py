"""The tenant's storage: one SQLite database, its schema, transactions and counters.
I/O: the database file (or memory).

Thread safety: one `sqlite3.Connection` (``check_same_thread=False``) guarded by `lock`, an
RLock. Hold it around any direct use of `db`; `transaction()` takes it for you. Each API call
runs in one transaction, so a write is atomic and its write-log row commits with it.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from reconciler.clock import SYSTEM_CLOCK, Clock
from reconciler.sandbox.profile import STRICT, Profile
from reconciler.sandbox.rules import ROOT_DEPT_ID

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS departments (
    dept_id INTEGER PRIMARY KEY,
    name TEXT NOT NULL,
    parent_id INTEGER,                      -- NULL only for the root
    sort_order INTEGER NOT NULL,
    source_identifier TEXT,
    managers TEXT NOT NULL DEFAULT '[]',    -- JSON list of userids, in the order given
    attrs TEXT NOT NULL DEFAULT '{}'        -- JSON: DEPT_ATTR_DEFAULTS keys that were set
);
CREATE UNIQUE INDEX IF NOT EXISTS departments_sibling_name ON departments (parent_id, name);
CREATE TABLE IF NOT EXISTS users (
    userid TEXT PRIMARY KEY,
    seq INTEGER NOT NULL,
    unionid TEXT NOT NULL,
    name TEXT NOT NULL,
    mobile TEXT NOT NULL UNIQUE,            -- canonical +cc-national
    email TEXT,
    fields TEXT NOT NULL DEFAULT '{}'       -- JSON: the other USER_FIELDS that were set
);
CREATE TABLE IF NOT EXISTS memberships (
    userid TEXT NOT NULL,
    dept_id INTEGER NOT NULL,
    sort_order INTEGER NOT NULL DEFAULT 0,  -- larger sorts first inside the department
    PRIMARY KEY (userid, dept_id)
);
CREATE INDEX IF NOT EXISTS memberships_dept ON memberships (dept_id);
CREATE TABLE IF NOT EXISTS tokens (
    token TEXT PRIMARY KEY,
    app_key TEXT NOT NULL,
    expires_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS writes (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    api TEXT NOT NULL,
    body TEXT NOT NULL,
    errcode INTEGER NOT NULL,
    at REAL NOT NULL
);
"""

_EXTRA_SCHEMAS: list[str] = []


def register_schema(ddl: str) -> None:
    """Add tables for another part of the sandbox (attendance) to every tenant.

    `ddl` must be idempotent (``CREATE TABLE IF NOT EXISTS …``); each Tenant runs it when it
    opens its database. `Tenant.reset()` empties every table, these included.
    """
    if ddl not in _EXTRA_SCHEMAS:
        _EXTRA_SCHEMAS.append(ddl)


def dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


class Store:
    """The database with the root department (id 1, named `corp_name`), and the profile and
    seed the rules above it consult."""

    def __init__(
        self,
        db_path: Path | None = None,
        *,
        clock: Clock = SYSTEM_CLOCK,
        corp_name: str = "示例科技",
        profile: Profile = STRICT,
        seed: int = 0,
    ) -> None:
        self.clock = clock
        self.corp_name = corp_name
        self.profile = profile
        self.seed = seed
        self.lock = threading.RLock()
        self._depth = 0
        target = ":memory:" if db_path is None else str(db_path)
        if db_path is not None:
            db_path.parent.mkdir(parents=True, exist_ok=True)
        # isolation_level=None: we issue BEGIN/SAVEPOINT ourselves (one transaction per call).
        self.db = sqlite3.connect(target, check_same_thread=False, isolation_level=None)
        self.db.row_factory = sqlite3.Row
        with self.lock:
            if db_path is not None:
                # Another process (`orgctl sandbox serve`, a CLI run) may share the file.
                self.db.execute("PRAGMA busy_timeout = 5000")
                self.db.execute("PRAGMA journal_mode = WAL")
            self.db.executescript(_SCHEMA)
            for ddl in _EXTRA_SCHEMAS:
                self.db.executescript(ddl)
            with self.transaction():
                self._ensure_root()

    def close(self) -> None:
        with self.lock:
            self.db.close()

    # -- transactions --------------------------------------------------------------------

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """Hold the lock and run the block atomically; nested blocks become savepoints."""
        with self.lock:
            depth = self._depth
            if depth == 0:
                self.db.execute("BEGIN IMMEDIATE")
            else:
                self.db.execute(f"SAVEPOINT sp{depth}")
            self._depth = depth + 1
            try:
                yield self.db
            except BaseException:
                if depth == 0:
                    self.db.execute("ROLLBACK")
                else:
                    self.db.execute(f"ROLLBACK TO sp{depth}")
                    self.db.execute(f"RELEASE sp{depth}")
                raise
            else:
                if depth == 0:
                    self.db.execute("COMMIT")
                else:
                    self.db.execute(f"RELEASE sp{depth}")
            finally:
                self._depth = depth

    def reset(self) -> None:
        """Empty the tenant (every table, tokens and write log included); keep the root."""
        with self.transaction():
            tables = [
                row["name"]
                for row in self.db.execute(
                    "SELECT name FROM sqlite_master WHERE type = 'table' "
                    "AND name NOT LIKE 'sqlite_%'"
                )
            ]
            for table in tables:
                self.db.execute(f'DELETE FROM "{table}"')
            if self.db.execute(
                "SELECT 1 FROM sqlite_master WHERE name = 'sqlite_sequence'"
            ).fetchone():
                self.db.execute("DELETE FROM sqlite_sequence")
            self._ensure_root()

    def _ensure_root(self) -> None:
        if (
            self.db.execute(
                "SELECT 1 FROM departments WHERE dept_id = ?", (ROOT_DEPT_ID,)
            ).fetchone()
            is None
        ):
            self.db.execute(
                "INSERT INTO departments (dept_id, name, parent_id, sort_order) "
                "VALUES (?, ?, NULL, 0)",
                (ROOT_DEPT_ID, self.corp_name),
            )

    def counter(self, key: str) -> int:
        """The current value of a `_next` counter (0 if never counted)."""
        row = self.db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return int(row["value"]) if row else 0

    def next_value(self, key: str) -> int:
        """Count one more under `key` and return the new value (call in a transaction)."""
        return self._next(key)

    def _next(self, key: str) -> int:
        row = self.db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        value = int(row["value"]) + 1 if row else 1
        self.db.execute(
            "INSERT INTO meta (key, value) VALUES (?, ?) "
            "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            (key, str(value)),
        )
        return value
