"""Durable payment state in SQLite: what a paid server has charged and served, its channels' latest
vouchers, and a facilitator's broadcast-but-unconfirmed settlements.

Every write commits before the caller goes on (WAL, synchronous=FULL): a paid response is never sent before
its voucher or its settlement is on disk, and a server killed at any point restarts knowing what it was paid.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from x402.mechanisms.evm.batch_settlement.server.storage import Channel, ChannelUpdate, ChannelUpdateResult
from x402.mechanisms.evm.batch_settlement.utils import normalize_channel_id

SCHEMA = """
PRAGMA journal_mode=WAL;
PRAGMA synchronous=FULL;
CREATE TABLE IF NOT EXISTS payments (
    id TEXT PRIMARY KEY,            -- the payment identity: payment-identifier id, else the payload's hash
    payload_hash TEXT NOT NULL,     -- a second request under one id must carry the very same payment
    route TEXT NOT NULL,
    scheme TEXT NOT NULL,
    payer TEXT NOT NULL,
    amount TEXT NOT NULL,
    status TEXT NOT NULL,           -- pending | served (a refused payment is forgotten)
    tx TEXT NOT NULL DEFAULT '',
    response_status INTEGER,
    response_headers TEXT,
    response_body BLOB,
    created REAL NOT NULL,
    updated REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS channels (id TEXT PRIMARY KEY, state TEXT NOT NULL, updated REAL NOT NULL);
CREATE TABLE IF NOT EXISTS pending_settlements (k TEXT PRIMARY KEY, tx TEXT NOT NULL, created REAL NOT NULL);
"""


def connect(path: Path | str) -> sqlite3.Connection:
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False)
    conn.row_factory = sqlite3.Row
    conn.executescript(SCHEMA)
    return conn


@dataclass(frozen=True)
class PaymentRecord:
    id: str
    payload_hash: str
    route: str
    scheme: str
    payer: str
    amount: int
    status: str
    tx: str
    response_status: int | None
    response_headers: dict[str, str]
    response_body: bytes

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "route": self.route, "scheme": self.scheme, "payer": self.payer,
                "amount": str(self.amount), "status": self.status, "transaction": self.tx}


class PaymentJournal:
    """Payments a server took: journalled `pending` before settlement, `served` with the response after."""

    def __init__(self, conn: sqlite3.Connection, lock: threading.RLock | None = None) -> None:
        self.conn = conn
        self._lock = lock or threading.RLock()  # shared with the channel storage on the same connection

    def get(self, payment_id: str) -> PaymentRecord | None:
        with self._lock:
            row = self.conn.execute("SELECT * FROM payments WHERE id = ?", (payment_id,)).fetchone()
        return None if row is None else _record(row)

    def begin(self, payment_id: str, payload_hash: str, route: str, scheme: str, payer: str, amount: int) -> None:
        now = time.time()
        with self._lock:
            self.conn.execute(
                "INSERT INTO payments (id, payload_hash, route, scheme, payer, amount, status, created, updated) "
                "VALUES (?, ?, ?, ?, ?, ?, 'pending', ?, ?) ON CONFLICT(id) DO UPDATE SET updated = excluded.updated",
                (payment_id, payload_hash, route, scheme, payer, str(amount), now, now))

    def served(self, payment_id: str, tx: str, status: int, headers: dict[str, str], body: bytes) -> None:
        with self._lock:
            self.conn.execute(
                "UPDATE payments SET status = 'served', tx = ?, response_status = ?, response_headers = ?, "
                "response_body = ?, updated = ? WHERE id = ?",
                (tx, status, json.dumps(headers), body, time.time(), payment_id))

    def insert_served(self, served: "ServedPayment") -> None:
        """Record a payment as served in one statement (the caller may hold a wider transaction)."""
        now = time.time()
        with self._lock:
            self.conn.execute(
                "INSERT INTO payments (id, payload_hash, route, scheme, payer, amount, status, tx, response_status, "
                "response_headers, response_body, created, updated) VALUES (?, ?, ?, ?, ?, ?, 'served', '', ?, ?, ?, ?, ?) "
                "ON CONFLICT(id) DO UPDATE SET status = 'served', response_status = excluded.response_status, "
                "response_headers = excluded.response_headers, response_body = excluded.response_body, "
                "updated = excluded.updated",
                (served.id, served.payload_hash, served.route, served.scheme, served.payer, str(served.amount),
                 served.status, json.dumps(served.headers), served.body, now, now))

    def forget(self, payment_id: str) -> None:
        """A payment that was not taken: forget it, so the same id may pay again once fixed."""
        with self._lock:
            self.conn.execute("DELETE FROM payments WHERE id = ? AND status = 'pending'", (payment_id,))

    def list(self, status: str | None = None) -> list[PaymentRecord]:
        with self._lock:
            rows = self.conn.execute(
                "SELECT * FROM payments" + (" WHERE status = ?" if status else "") + " ORDER BY created",
                (status,) if status else ()).fetchall()
        return [_record(r) for r in rows]


def _record(row: sqlite3.Row) -> PaymentRecord:
    return PaymentRecord(row["id"], row["payload_hash"], row["route"], row["scheme"], row["payer"], int(row["amount"]),
                         row["status"], row["tx"], row["response_status"],
                         json.loads(row["response_headers"] or "{}"), bytes(row["response_body"] or b""))


@dataclass(frozen=True)
class ServedPayment:
    """A paid response, as the journal keeps it for replay."""

    id: str
    payload_hash: str
    route: str
    scheme: str
    payer: str
    amount: int
    status: int
    headers: dict[str, str]
    body: bytes


class SqliteChannelStorage:
    """The SDK's batch-settlement `ChannelStorage`, durable: each voucher is committed before it is answered."""

    def __init__(self, conn: sqlite3.Connection, lock: threading.RLock | None = None) -> None:
        self.conn = conn
        self._lock = lock or threading.RLock()

    def get(self, channel_id: str) -> Channel | None:
        key = normalize_channel_id(channel_id)
        with self._lock:
            row = self.conn.execute("SELECT state FROM channels WHERE id = ?", (key,)).fetchone()
        return None if row is None else Channel.from_dict(json.loads(row["state"]))

    def list(self) -> list[Channel]:
        with self._lock:
            rows = self.conn.execute("SELECT state FROM channels ORDER BY id").fetchall()
        return [Channel.from_dict(json.loads(r["state"])) for r in rows]

    def update_channel(self, channel_id: str, update: ChannelUpdate) -> ChannelUpdateResult:
        key = normalize_channel_id(channel_id)
        with self._lock:  # one writer at a time: the SDK's read-modify-write must not interleave
            current = self.get(key)
            nxt = update(current)
            if nxt is current:
                return ChannelUpdateResult(channel=current, status="unchanged")
            if nxt is None:
                if current is None:
                    return ChannelUpdateResult(channel=None, status="unchanged")
                self.conn.execute("DELETE FROM channels WHERE id = ?", (key,))
                return ChannelUpdateResult(channel=None, status="deleted")
            self.conn.execute(
                "INSERT INTO channels (id, state, updated) VALUES (?, ?, ?) "
                "ON CONFLICT(id) DO UPDATE SET state = excluded.state, updated = excluded.updated",
                (key, json.dumps(nxt.to_dict()), time.time()))
            return ChannelUpdateResult(channel=nxt.copy(), status="updated")

    def charge(self, expected: Channel, current: Channel, journal: PaymentJournal, served: ServedPayment) -> bool:
        """Move a channel from `expected` to `current` and journal the served response, in one commit.

        False (and nothing written) when the channel changed since `expected` was read."""
        key = normalize_channel_id(expected.channel_id)
        with self._lock:
            self.conn.execute("BEGIN IMMEDIATE")
            try:
                row = self.conn.execute("SELECT state FROM channels WHERE id = ?", (key,)).fetchone()
                if row is None or Channel.from_dict(json.loads(row["state"])).to_dict() != expected.to_dict():
                    self.conn.execute("ROLLBACK")
                    return False
                self.conn.execute("UPDATE channels SET state = ?, updated = ? WHERE id = ?",
                                  (json.dumps(current.to_dict()), time.time(), key))
                journal.insert_served(served)
                self.conn.execute("COMMIT")
            except BaseException:
                self.conn.execute("ROLLBACK")
                raise
        return True


class SqlitePendingSettlementStore:
    """The SDK's `PendingSettlementStore`, durable: a facilitator restarted after broadcasting a settlement
    reconciles against that transaction instead of broadcasting a second one."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn
        self._lock = threading.Lock()

    def get(self, key: str) -> str | None:
        with self._lock:
            row = self.conn.execute("SELECT tx FROM pending_settlements WHERE k = ?", (key,)).fetchone()
        return None if row is None else str(row["tx"])

    def set(self, key: str, tx_hash: str) -> None:
        with self._lock:
            self.conn.execute("INSERT INTO pending_settlements (k, tx, created) VALUES (?, ?, ?) "
                              "ON CONFLICT(k) DO UPDATE SET tx = excluded.tx", (key, tx_hash, time.time()))

    def delete(self, key: str) -> None:
        with self._lock:
            self.conn.execute("DELETE FROM pending_settlements WHERE k = ?", (key,))
