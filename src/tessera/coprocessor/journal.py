"""The coprocessor node's SQLite journal. Chain events write requests here exactly once (inside the event
follower's checkpoint transaction); every job's progress is written before the next step starts, so a node
killed at any point resumes the job where it was and never delivers twice."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

from ..sqlite_store import SqliteStore

SCHEMA = """
CREATE TABLE IF NOT EXISTS requests (
    request_id INTEGER PRIMARY KEY, block INTEGER NOT NULL, consumer TEXT NOT NULL, params TEXT NOT NULL,
    start INTEGER NOT NULL, input BLOB NOT NULL,
    status TEXT NOT NULL,             -- active | skipped | done
    reason TEXT, next_interval INTEGER NOT NULL DEFAULT 0, cancelled_from INTEGER
);
CREATE TABLE IF NOT EXISTS jobs (
    request_id INTEGER NOT NULL, interval INTEGER NOT NULL,
    status TEXT NOT NULL,             -- ready | computed | committing | committed | sent | delivered
                                      -- | awaiting_finalize | finalizing | verify | challenge_committing
                                      -- | challenge_committed | challenging | done | skipped | failed
    detail TEXT, input_hash BLOB, output TEXT, outputs TEXT, proof_path TEXT,
    claimed BLOB,                     -- an optimistic majority result this node is checking (verify)
    opened_block INTEGER, computed_at REAL, compute_seconds REAL, delivered_block INTEGER, gas_used INTEGER,
    challenge_ends INTEGER, completed_block INTEGER,
    salt BLOB,                        -- a delivery commitment's secret, journaled before the commit is sent
    commit_block INTEGER,             -- where the commitment was mined: the reveal goes in a later block
    PRIMARY KEY (request_id, interval)
);
"""

class Journal(SqliteStore):
    def __init__(self, path: Path | str) -> None:
        super().__init__(path, SCHEMA)
        # journals written before deliveries were committed and revealed lack these columns
        have = {r["name"] for r in self.q("PRAGMA table_info(jobs)")}
        for column, kind in (("salt", "BLOB"), ("commit_block", "INTEGER")):
            if column not in have:
                self.conn.execute(f"ALTER TABLE jobs ADD COLUMN {column} {kind}")

    def set_job(self, request_id: int, interval: int, **fields: Any) -> None:
        cols = ", ".join(f"{k} = ?" for k in fields)
        self.conn.execute(f"UPDATE jobs SET {cols} WHERE request_id = ? AND interval = ?",
                          (*fields.values(), request_id, interval))

    def job(self, request_id: int, interval: int) -> dict[str, Any] | None:
        row = self.one("SELECT * FROM jobs WHERE request_id = ? AND interval = ?", request_id, interval)
        return None if row is None else _job_json(row)

    def jobs(self, status: str | None = None, limit: int = 200) -> list[dict[str, Any]]:
        if status is None:
            rows = self.q("SELECT * FROM jobs ORDER BY request_id DESC, interval DESC LIMIT ?", limit)
        else:
            rows = self.q("SELECT * FROM jobs WHERE status = ? ORDER BY request_id DESC, interval DESC LIMIT ?",
                          status, limit)
        return [_job_json(r) for r in rows]

    def counts(self) -> dict[str, int]:
        return {r["status"]: r["n"] for r in self.q("SELECT status, COUNT(*) n FROM jobs GROUP BY status")}


def _job_json(row: sqlite3.Row) -> dict[str, Any]:
    out = dict(row)
    out["input_hash"] = "0x" + bytes(row["input_hash"]).hex() if row["input_hash"] is not None else None
    out["claimed"] = "0x" + bytes(row["claimed"]).hex() if row["claimed"] is not None else None
    out["salt"] = None if row["salt"] is None else "(secret)"  # never shown: it would let anyone copy the reveal
    out["output"] = json.loads(row["output"]) if row["output"] else None
    out["outputs"] = json.loads(row["outputs"]) if row["outputs"] else None
    return out
