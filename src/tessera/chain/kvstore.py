"""A SQLite key-value store for py-evm's state, with writes buffered until `commit`.

py-evm writes many trie nodes per block; buffering them and committing once per block
keeps the embedded chain fast and makes every block atomic on disk: a crash loses at most
the block being built, never half of one.
"""

from __future__ import annotations

import sqlite3
from typing import Any

from eth.db.backends.base import BaseDB

_DELETED: Any = object()


class SqliteKV(BaseDB):
    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn
        self._conn.execute("CREATE TABLE IF NOT EXISTS kv (k BLOB PRIMARY KEY, v BLOB NOT NULL)")
        self._pending: dict[bytes, Any] = {}

    def __getitem__(self, key: bytes) -> bytes:
        value = self._pending.get(key)
        if value is _DELETED:
            raise KeyError(key)
        if value is not None:
            return value  # type: ignore[no-any-return]
        row = self._conn.execute("SELECT v FROM kv WHERE k = ?", (key,)).fetchone()
        if row is None:
            raise KeyError(key)
        return bytes(row[0])

    def __setitem__(self, key: bytes, value: bytes) -> None:
        self._pending[key] = value

    def _exists(self, key: bytes) -> bool:
        try:
            self[key]
        except KeyError:
            return False
        return True

    def __delitem__(self, key: bytes) -> None:
        if not self._exists(key):
            raise KeyError(key)
        self._pending[key] = _DELETED

    def discard(self) -> None:
        """Drop buffered changes (the block being built failed)."""
        self._pending.clear()

    def flush(self) -> None:
        """Write buffered changes into the open SQLite transaction (the caller commits)."""
        if not self._pending:
            return
        puts = [(k, v) for k, v in self._pending.items() if v is not _DELETED]
        dels = [(k,) for k, v in self._pending.items() if v is _DELETED]
        if puts:
            self._conn.executemany("INSERT OR REPLACE INTO kv (k, v) VALUES (?, ?)", puts)
        if dels:
            self._conn.executemany("DELETE FROM kv WHERE k = ?", dels)
        self._pending.clear()
