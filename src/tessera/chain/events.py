"""A reorg-safe event follower with a persistent checkpoint.

The follower reads logs in block ranges up to ``head - confirmations``, hands each log to
a handler *inside the SQLite transaction that advances its checkpoint* (so a handler that
writes to the same database has exactly-once effects, even across a kill -9), and on
restart resumes where it stopped.

Reorgs: the follower remembers the hash of its checkpoint block and of every block it
delivered logs from. When the chain's hash at the checkpoint changes, it rolls back to the
newest remembered block that is still canonical, calls ``on_reorg(block, conn)`` in the
same transaction so consumers can undo what they derived from orphaned logs, and reads
forward again. Reorgs shallower than ``confirmations`` are never seen at all.

RPC failures: `run` retries with exponential backoff and records the error in `status`;
it never stops silently (pass ``max_consecutive_errors`` to make it raise instead).
"""

from __future__ import annotations

import asyncio
import sqlite3
from dataclasses import dataclass
from pathlib import Path
from typing import Awaitable, Callable, Sequence

from ..errors import ChainError
from .base import Chain, Log

Handler = Callable[[Log, sqlite3.Connection], None]
ReorgHandler = Callable[[int, sqlite3.Connection], None]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS follower_checkpoint (name TEXT PRIMARY KEY, block INTEGER NOT NULL, hash BLOB);
CREATE TABLE IF NOT EXISTS follower_blocks (name TEXT NOT NULL, number INTEGER NOT NULL, hash BLOB NOT NULL,
                                            PRIMARY KEY (name, number));
"""


@dataclass
class FollowerStatus:
    name: str
    checkpoint: int
    head: int | None = None
    delivered: int = 0
    reorgs: int = 0
    consecutive_errors: int = 0
    last_error: str | None = None


class EventFollower:
    def __init__(
        self,
        chain: Chain,
        db: sqlite3.Connection | str | Path,
        name: str,
        *,
        address: str | Sequence[str] | None = None,
        topics: Sequence[bytes | Sequence[bytes] | None] | None = None,
        confirmations: int = 2,
        batch_size: int = 2000,
        start_block: int = 0,
        on_reorg: ReorgHandler | None = None,
    ) -> None:
        if confirmations < 0 or batch_size < 1:
            raise ValueError("confirmations must be >= 0 and batch_size >= 1")
        self.chain = chain
        self.conn = db if isinstance(db, sqlite3.Connection) else sqlite3.connect(str(db), isolation_level=None)
        self.conn.executescript(_SCHEMA)
        self.name = name
        self.address = address
        self.topics = topics
        self.confirmations = confirmations
        self.batch_size = batch_size
        self.start_block = start_block
        self.on_reorg = on_reorg
        self.status = FollowerStatus(name=name, checkpoint=self._checkpoint()[0])

    def _checkpoint(self) -> tuple[int, bytes | None]:
        row = self.conn.execute("SELECT block, hash FROM follower_checkpoint WHERE name = ?", (self.name,)).fetchone()
        if row is None:
            return self.start_block - 1, None
        return int(row[0]), (bytes(row[1]) if row[1] is not None else None)

    def _set_checkpoint(self, block: int, block_hash: bytes | None) -> None:
        self.conn.execute("INSERT OR REPLACE INTO follower_checkpoint (name, block, hash) VALUES (?, ?, ?)",
                          (self.name, block, block_hash))
        self.status.checkpoint = block

    def _canonical_hash(self, number: int, head: int) -> bytes | None:
        return self.chain.get_block(number).hash if 0 <= number <= head else None

    def _handle_reorg(self, head: int) -> None:
        block, block_hash = self._checkpoint()
        if block_hash is None or self._canonical_hash(block, head) == block_hash:
            return
        remembered = self.conn.execute(
            "SELECT number, hash FROM follower_blocks WHERE name = ? AND number < ? ORDER BY number DESC",
            (self.name, block),
        ).fetchall()
        rollback_to, rollback_hash = self.start_block - 1, None
        for number, stored in remembered:
            if self._canonical_hash(number, head) == bytes(stored):
                rollback_to, rollback_hash = number, bytes(stored)
                break
        self.conn.execute("BEGIN IMMEDIATE")
        try:
            if self.on_reorg is not None:
                self.on_reorg(rollback_to, self.conn)
            self.conn.execute("DELETE FROM follower_blocks WHERE name = ? AND number > ?", (self.name, rollback_to))
            self._set_checkpoint(rollback_to, rollback_hash)
            self.conn.execute("COMMIT")
        except BaseException:
            self.conn.execute("ROLLBACK")
            raise
        self.status.reorgs += 1

    def poll(self, handler: Handler) -> int:
        """Deliver the confirmed logs available now (at most one batch). Returns how many."""
        head = self.chain.block_number()
        self.status.head = head
        self._handle_reorg(head)
        checkpoint, _ = self._checkpoint()
        safe = head - self.confirmations
        start = checkpoint + 1
        if safe < start:
            return 0
        end = min(safe, start + self.batch_size - 1)
        logs = self.chain.get_logs(from_block=start, to_block=end, address=self.address, topics=self.topics)
        end_hash = self.chain.get_block(end).hash
        self.conn.execute("BEGIN IMMEDIATE")
        try:
            for log in logs:
                handler(log, self.conn)
            seen = {(log.block_number, log.block_hash) for log in logs} | {(end, end_hash)}
            self.conn.executemany("INSERT OR REPLACE INTO follower_blocks (name, number, hash) VALUES (?, ?, ?)",
                                  [(self.name, n, h) for n, h in seen])
            # keep the table bounded: reorgs deeper than this many blocks are not survivable anyway
            self.conn.execute("DELETE FROM follower_blocks WHERE name = ? AND number < ?",
                              (self.name, end - 10_000))
            self._set_checkpoint(end, end_hash)
            self.conn.execute("COMMIT")
        except BaseException:
            self.conn.execute("ROLLBACK")
            raise
        self.status.delivered += len(logs)
        return len(logs)

    def catch_up(self, handler: Handler) -> int:
        """Poll until the follower is at the confirmed head. Returns logs delivered."""
        total = 0
        while True:
            total += self.poll(handler)
            if self.status.checkpoint >= (self.status.head or 0) - self.confirmations:
                return total

    async def run(
        self,
        handler: Handler,
        *,
        interval: float = 1.0,
        stop: asyncio.Event | None = None,
        max_backoff: float = 30.0,
        max_consecutive_errors: int | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        """Follow until `stop` is set. Chain errors are retried with backoff and recorded in `status`."""
        stop = stop or asyncio.Event()
        while not stop.is_set():
            try:
                delivered = self.poll(handler)
            except ChainError as e:
                self.status.consecutive_errors += 1
                self.status.last_error = str(e)
                if max_consecutive_errors is not None and self.status.consecutive_errors > max_consecutive_errors:
                    raise
                await sleep(min(interval * 2 ** self.status.consecutive_errors, max_backoff))
                continue
            self.status.consecutive_errors = 0
            self.status.last_error = None
            if delivered == 0 or self.status.checkpoint >= (self.status.head or 0) - self.confirmations:
                await sleep(interval)
