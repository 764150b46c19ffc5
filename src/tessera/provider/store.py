"""The provider node's SQLite state. Event handlers write here inside the follower's checkpoint
transaction (exactly once); the node's actions read from here, so a restart resumes cleanly."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..sqlite_store import SqliteStore

SCHEMA = """
CREATE TABLE IF NOT EXISTS orders (
    order_id INTEGER PRIMARY KEY, block INTEGER NOT NULL,
    status TEXT NOT NULL,            -- new | bid | skipped | refunded | won
    reason TEXT, price INTEGER, bid_id INTEGER
);
CREATE TABLE IF NOT EXISTS leases (
    lease_id INTEGER PRIMARY KEY, order_id INTEGER NOT NULL, block INTEGER NOT NULL,
    status TEXT NOT NULL,            -- awaiting_manifest | running | paused | failed | closed
    detail TEXT, pid INTEGER, port INTEGER, started_at REAL,
    last_withdraw INTEGER NOT NULL DEFAULT 0, served INTEGER NOT NULL DEFAULT 0
);
"""


class ProviderStore(SqliteStore):
    def __init__(self, path: Path | str) -> None:
        super().__init__(path, SCHEMA)

    def summary(self) -> dict[str, Any]:
        orders = {r["status"]: r["n"] for r in self.q("SELECT status, COUNT(*) n FROM orders GROUP BY status")}
        leases = [dict(r) for r in self.q("SELECT lease_id, order_id, status, detail, port, served FROM leases "
                                          "ORDER BY lease_id")]
        return {"orders": orders, "leases": leases}
