"""A node service's SQLite state: autocommit (so the event follower's explicit transactions are the only
ones), rows readable by column name, and three short query helpers."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any


class SqliteStore:
    def __init__(self, path: Path | str, schema: str) -> None:
        self.conn = sqlite3.connect(str(path), isolation_level=None)
        self.conn.row_factory = sqlite3.Row
        self.conn.executescript(schema)

    def q(self, sql: str, *args: Any) -> list[sqlite3.Row]:
        return self.conn.execute(sql, args).fetchall()

    def one(self, sql: str, *args: Any) -> sqlite3.Row | None:
        row: sqlite3.Row | None = self.conn.execute(sql, args).fetchone()
        return row

    def x(self, sql: str, *args: Any) -> None:
        self.conn.execute(sql, args)
