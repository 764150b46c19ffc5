"""A node service's SQLite state: autocommit (so the event follower's explicit transactions are the only
ones), rows readable by column name, and three short query helpers."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

from .errors import StaleStateError


class SqliteStore:
    def __init__(self, path: Path | str, schema: str, *, check_same_thread: bool = True) -> None:
        self.conn = sqlite3.connect(str(path), isolation_level=None, check_same_thread=check_same_thread)
        self.conn.row_factory = sqlite3.Row
        self.conn.executescript(schema)

    def q(self, sql: str, *args: Any) -> list[sqlite3.Row]:
        return self.conn.execute(sql, args).fetchall()

    def one(self, sql: str, *args: Any) -> sqlite3.Row | None:
        row: sqlite3.Row | None = self.conn.execute(sql, args).fetchone()
        return row

    def x(self, sql: str, *args: Any) -> None:
        self.conn.execute(sql, args)

    def bind_chain(self, chain_id: int, genesis_hash: bytes, contract: str, path: Path | str) -> None:
        """State belongs to one chain and one deployment: a devnet restarted with the same chain id (new
        genesis) or a redeployed protocol must not meet the old chain's jobs, orders and checkpoints."""
        bind_chain(self.conn, chain_id, genesis_hash, contract, path)


def bind_chain(conn: sqlite3.Connection, chain_id: int, genesis_hash: bytes, contract: str, path: Path | str) -> None:
    conn.execute("CREATE TABLE IF NOT EXISTS chain_binding (k TEXT PRIMARY KEY, v TEXT NOT NULL)")
    want = {"chain_id": str(chain_id), "genesis": "0x" + bytes(genesis_hash).hex(), "contract": contract.lower()}
    have = dict(conn.execute("SELECT k, v FROM chain_binding").fetchall())
    if not have:
        conn.executemany("INSERT INTO chain_binding (k, v) VALUES (?, ?)", list(want.items()))
        conn.commit() if conn.in_transaction else None
        return
    if have != want:
        what = "a chain with another genesis (the devnet was restarted)" if have.get("genesis") != want["genesis"] \
            else f"another deployment ({have.get('contract')})" if have.get("contract") != want["contract"] \
            else f"chain {have.get('chain_id')}"
        raise StaleStateError(f"{path} holds state of {what}, not of chain {chain_id} at {contract}: move it "
                              f"aside (or delete it) and start the node again")
