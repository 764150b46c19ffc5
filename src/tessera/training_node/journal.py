"""The training nodes' SQLite journal: one row per task the node follows, the specs it knows by hash, and (in
the same file) the event follower's checkpoint and the transaction manager's records.

A row's status moves forward only after what it depends on is durable: a solver's secret is written before its
claim is sent (without it the solver could never settle), a verifier's challenge salt before its commitment.
Transactions are journaled by key before they are broadcast, so a node killed at any point sends each one once.
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

from eth_utils import keccak

from ..sqlite_store import SqliteStore

SCHEMA = """
PRAGMA journal_mode = WAL;
PRAGMA busy_timeout = 5000;
CREATE TABLE IF NOT EXISTS tasks (
    task_id INTEGER PRIMARY KEY, block INTEGER NOT NULL, spec_hash BLOB NOT NULL, params_hash BLOB NOT NULL,
    fee INTEGER NOT NULL, status TEXT NOT NULL, detail TEXT,
    secret BLOB,                      -- solver: written before the claim is sent, revealed to settle
    forced TEXT,                      -- solver: JSON list of the steps whose leaves are forced errors
    audit TEXT,                       -- verifier: JSON {checked, wrong, refused, seconds}
    salt BLOB, challenge_step INTEGER,-- verifier: written before the challenge commitment is sent
    dispute_id INTEGER, outcome TEXT
);
CREATE TABLE IF NOT EXISTS specs (spec_hash BLOB PRIMARY KEY, text BLOB NOT NULL, base TEXT NOT NULL);
"""

FINAL = ("skipped", "gone", "done", "slashed", "failed", "closed")


class Journal(SqliteStore):
    def __init__(self, path: Path | str) -> None:
        super().__init__(path, SCHEMA, check_same_thread=False)

    def set(self, task_id: int, **fields: Any) -> None:
        cols = ", ".join(f"{k} = ?" for k in fields)
        self.conn.execute(f"UPDATE tasks SET {cols} WHERE task_id = ?", (*fields.values(), task_id))

    def open_tasks(self) -> list[sqlite3.Row]:
        marks = ", ".join("?" * len(FINAL))
        return self.q(f"SELECT * FROM tasks WHERE status NOT IN ({marks}) ORDER BY task_id", *FINAL)

    def task(self, task_id: int) -> dict[str, Any] | None:
        row = self.one("SELECT * FROM tasks WHERE task_id = ?", task_id)
        return None if row is None else task_json(row)

    def tasks(self, limit: int = 200) -> list[dict[str, Any]]:
        return [task_json(r) for r in self.q("SELECT * FROM tasks ORDER BY task_id DESC LIMIT ?", limit)]

    def counts(self) -> dict[str, int]:
        return {r["status"]: r["n"] for r in self.q("SELECT status, COUNT(*) n FROM tasks GROUP BY status")}

    # ---- specs, content-addressed: a spec's hash is keccak of its bytes (what `train submit` posts)
    def add_spec(self, text: bytes, base: Path) -> bytes:
        h = keccak(text)
        self.x("INSERT OR IGNORE INTO specs (spec_hash, text, base) VALUES (?, ?, ?)", h, text, str(base))
        return h

    def spec(self, spec_hash: bytes) -> tuple[bytes, Path] | None:
        row = self.one("SELECT text, base FROM specs WHERE spec_hash = ?", spec_hash)
        return None if row is None else (bytes(row["text"]), Path(row["base"]))


def task_json(row: sqlite3.Row) -> dict[str, Any]:
    out: dict[str, Any] = {k: row[k] for k in ("task_id", "block", "status", "detail", "challenge_step",
                                               "dispute_id", "outcome")}
    out["fee"] = str(row["fee"])
    out["spec_hash"] = "0x" + bytes(row["spec_hash"]).hex()
    out["audit"] = json.loads(row["audit"]) if row["audit"] else None
    # never shown: the secret and the salt (either would let anyone take the node's move), and which leaves are
    # forced errors (a verifier that knew would audit only the tasks that carry none)
    return out


__all__ = ["FINAL", "Journal", "task_json"]
