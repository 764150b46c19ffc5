"""A node's outgoing transactions: its own nonce sequence, EIP-1559 fee caps, fee bumping, and a journal.

Every transaction is written to SQLite under a caller-chosen key *before* it is broadcast, with its nonce and
hash. So after a crash (kill -9 between signing and sending, or while waiting for inclusion) the node finds
the transaction it may have sent and waits for it, rather than sending a second one. A transaction that is
not included within `bump_after` seconds is re-sent with the same nonce and fees raised by `bump_percent`
(nodes require at least 10% to replace), never above the caller's fee cap.
"""

from __future__ import annotations

import json
import sqlite3
import time
from dataclasses import dataclass
from typing import Any, Callable

from .base import CallRequest, Chain, Receipt
from .contract import Signer, gas_limit_for
from ..errors import TransactionError

SCHEMA = """
CREATE TABLE IF NOT EXISTS txs (
    key TEXT PRIMARY KEY, nonce INTEGER NOT NULL, to_address TEXT NOT NULL, data BLOB NOT NULL,
    gas INTEGER NOT NULL, max_fee INTEGER NOT NULL, priority_fee INTEGER NOT NULL, fee_cap INTEGER NOT NULL,
    hashes TEXT NOT NULL,             -- JSON list of every hash broadcast for this nonce, newest last
    status TEXT NOT NULL,             -- pending | mined | replaced
    sent_at REAL NOT NULL, bumps INTEGER NOT NULL DEFAULT 0,
    nonce_used_at INTEGER,            -- first block at which the nonce was seen used without our receipt
    block INTEGER, ok INTEGER, gas_used INTEGER, effective_gas_price INTEGER
);
"""


REPLACED_AFTER_BLOCKS = 3


@dataclass(frozen=True)
class TxRecord:
    key: str
    nonce: int
    hashes: tuple[bytes, ...]
    status: str
    max_fee: int
    bumps: int
    block: int | None = None
    ok: bool | None = None
    gas_used: int | None = None
    effective_gas_price: int | None = None

    @classmethod
    def from_row(cls, row: sqlite3.Row | tuple[Any, ...]) -> "TxRecord":
        key, nonce, hashes, status, max_fee, bumps, block, ok, gas_used, price = row
        return cls(key, nonce, tuple(bytes.fromhex(h) for h in json.loads(hashes)), status, max_fee, bumps, block,
                   None if ok is None else bool(ok), gas_used, price)


class FeeCapExceeded(TransactionError):
    """The network's fee is above what the caller allows for this transaction."""


class TxManager:
    def __init__(self, chain: Chain, signer: Signer, conn: sqlite3.Connection, *, bump_after: float = 30.0,
                 bump_percent: int = 15, clock: Callable[[], float] = time.monotonic) -> None:
        if bump_percent < 10:
            raise ValueError("bump_percent must be at least 10: nodes refuse smaller replacements")
        self.chain = chain
        self.signer = signer
        self.conn = conn
        self.conn.executescript(SCHEMA)
        self.bump_after = bump_after
        self.bump_percent = bump_percent
        self.clock = clock

    _COLUMNS = "key, nonce, hashes, status, max_fee, bumps, block, ok, gas_used, effective_gas_price"

    def get(self, key: str) -> TxRecord | None:
        row = self.conn.execute(f"SELECT {self._COLUMNS} FROM txs WHERE key = ?", (key,)).fetchone()
        return None if row is None else TxRecord.from_row(row)

    def pending(self) -> list[TxRecord]:
        rows = self.conn.execute(f"SELECT {self._COLUMNS} FROM txs WHERE status = 'pending' ORDER BY nonce")
        return [TxRecord.from_row(r) for r in rows.fetchall()]

    def _next_nonce(self) -> int:
        chain_nonce = self.chain.get_nonce(self.signer.address)
        row = self.conn.execute("SELECT MAX(nonce) FROM txs WHERE status = 'pending'").fetchone()
        return max(chain_nonce, (row[0] + 1) if row and row[0] is not None else 0)

    def send(self, key: str, to: str, data: bytes, *, fee_cap: int, gas: int | None = None,
             context: str = "transaction") -> TxRecord:
        """Send once per key: a key already journaled returns its record and sends nothing. Simulates first
        (a transaction that would revert raises ContractRevert and is not journaled)."""
        existing = self.get(key)
        if existing is not None:
            return existing
        if gas is None:
            gas = gas_limit_for(self.chain, CallRequest(to=to, data=data, sender=self.signer.address), context)
        max_fee, priority = self.chain.gas_price_hint()
        if priority > fee_cap:
            raise FeeCapExceeded(f"{context}: the network asks a priority fee of {priority} wei/gas, above this "
                                 f"transaction's cap of {fee_cap}: wait for fees to fall or raise the cap")
        max_fee = min(max_fee, fee_cap)
        base = self.chain.get_block("latest").base_fee_per_gas
        if max_fee < base:
            raise FeeCapExceeded(f"{context}: the base fee is {base} wei/gas, above this transaction's cap of "
                                 f"{fee_cap}: wait for fees to fall or raise the cap")
        nonce = self._next_nonce()
        raw, tx_hash = self._sign(nonce, to, data, gas, max_fee, priority)
        # journal first: if we die after broadcasting, the restart knows this nonce and hash are ours
        self.conn.execute(
            "INSERT INTO txs (key, nonce, to_address, data, gas, max_fee, priority_fee, fee_cap, hashes, status, "
            "sent_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 'pending', ?)",
            (key, nonce, to, data, gas, max_fee, priority, fee_cap, json.dumps([tx_hash.hex()]), self.clock()))
        self._broadcast(raw)
        self.poll_one(key)
        record = self.get(key)
        assert record is not None
        return record

    def resume(self) -> None:
        """After a restart, re-broadcast every pending transaction. Signing is deterministic, so these are the
        very transactions journaled before: a node killed between journaling and broadcasting still sends
        its transaction, and one killed after sends nothing new."""
        rows = self.conn.execute("SELECT nonce, to_address, data, gas, max_fee, priority_fee FROM txs "
                                 "WHERE status = 'pending' ORDER BY nonce").fetchall()
        for nonce, to, data, gas, max_fee, priority in rows:
            raw, _ = self._sign(nonce, to, bytes(data), gas, max_fee, priority)
            try:
                self.chain.send_raw_transaction(raw)
            except TransactionError:
                pass  # already included or already known: poll() reads its receipt

    def _sign(self, nonce: int, to: str, data: bytes, gas: int, max_fee: int, priority: int) -> tuple[bytes, bytes]:
        tx = {"type": 2, "chainId": self.chain.chain_id, "nonce": nonce, "gas": gas, "maxFeePerGas": max_fee,
              "maxPriorityFeePerGas": min(priority, max_fee), "value": 0, "data": data, "to": to}
        signed = self.signer.sign_transaction(tx)
        return bytes(signed.raw_transaction), bytes(signed.hash)

    def _broadcast(self, raw: bytes) -> None:
        try:
            self.chain.send_raw_transaction(raw)
        except TransactionError as e:
            # "already known" / "nonce too low" after a restart: the receipt check decides what happened
            if "known" not in str(e).lower() and "nonce" not in str(e).lower():
                raise

    def wait_pending(self, timeout: float = 30.0) -> list[TxRecord]:
        """Wait (up to `timeout` each) for the pending transactions' receipts; returns those now final.
        A node's long-running loop polls instead; this is for one-shot passes."""
        for record in self.pending():
            try:
                self.chain.wait_for_receipt(record.hashes[-1], timeout)
            except TransactionError:
                continue  # still not included: poll() bumps it when its time comes
        return self.poll()

    def poll(self) -> list[TxRecord]:
        """Check every pending transaction: record inclusion, bump the stuck ones. Returns those now final."""
        done = []
        for record in self.pending():
            updated = self.poll_one(record.key)
            if updated is not None and updated.status != "pending":
                done.append(updated)
        return done

    def poll_one(self, key: str) -> TxRecord | None:
        record = self.get(key)
        if record is None or record.status != "pending":
            return record
        if self._find_receipt(record):
            return self.get(key)
        # the nonce as of the newest block ("latest" would count pending transactions, ours included)
        head = self.chain.block_number()
        if self.chain.get_nonce(self.signer.address, head) > record.nonce:
            # the nonce is used but none of our receipts is found: a node can index a receipt a moment after
            # the block, so only call it replaced once REPLACED_AFTER_BLOCKS have passed without one
            seen = self.conn.execute("SELECT nonce_used_at FROM txs WHERE key = ?", (key,)).fetchone()[0]
            if seen is None:
                self.conn.execute("UPDATE txs SET nonce_used_at = ? WHERE key = ?", (head, key))
            elif head - seen >= REPLACED_AFTER_BLOCKS:
                self.conn.execute("UPDATE txs SET status = 'replaced' WHERE key = ?", (key,))
            return self.get(key)
        if self.clock() - self._sent_at(key) >= self.bump_after:
            self._bump(key)
        return self.get(key)

    def _find_receipt(self, record: TxRecord) -> bool:
        for tx_hash in reversed(record.hashes):
            receipt = self.chain.get_receipt(tx_hash)
            if receipt is not None:
                self._mined(record.key, receipt)
                return True
        return False

    def _sent_at(self, key: str) -> float:
        return float(self.conn.execute("SELECT sent_at FROM txs WHERE key = ?", (key,)).fetchone()[0])

    def _mined(self, key: str, receipt: Receipt) -> None:
        self.conn.execute("UPDATE txs SET status = 'mined', block = ?, ok = ?, gas_used = ?, effective_gas_price = ? "
                          "WHERE key = ?", (receipt.block_number, int(receipt.ok), receipt.gas_used,
                                            receipt.effective_gas_price, key))

    def _bump(self, key: str) -> None:
        nonce, to, data, gas, max_fee, priority, fee_cap, hashes, bumps = self.conn.execute(
            "SELECT nonce, to_address, data, gas, max_fee, priority_fee, fee_cap, hashes, bumps FROM txs "
            "WHERE key = ?", (key,)).fetchone()
        new_max = max_fee * (100 + self.bump_percent) // 100
        new_priority = priority * (100 + self.bump_percent) // 100
        if new_max > fee_cap:
            if max_fee * (100 + 10) // 100 > fee_cap:
                return  # at the cap: wait (the caller decides whether the job is still worth it)
            new_max = fee_cap
        raw, tx_hash = self._sign(nonce, to, bytes(data), gas, new_max, min(new_priority, new_max))
        self.conn.execute("UPDATE txs SET max_fee = ?, priority_fee = ?, hashes = ?, sent_at = ?, bumps = ? "
                          "WHERE key = ?", (new_max, new_priority, json.dumps([*json.loads(hashes), tx_hash.hex()]),
                                            self.clock(), bumps + 1, key))
        self._broadcast(raw)
