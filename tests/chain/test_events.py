"""The event follower: exactly-once delivery across restarts, reorgs, and RPC failures."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

import pytest

from tessera.accounts.dev import dev_account
from tessera.chain import Chain, Contract, EmbeddedChain, EventFollower
from tessera.errors import ChainConnectionError

A, B = dev_account(0), dev_account(1)


def _key(i: int) -> bytes:
    return f"k{i}".encode().ljust(32, b"\0")


def _seen_table(conn: sqlite3.Connection) -> None:
    conn.execute("CREATE TABLE IF NOT EXISTS seen (block INTEGER, log_index INTEGER, name BLOB, "
                 "PRIMARY KEY (block, log_index))")


def record(log, conn: sqlite3.Connection) -> None:  # type: ignore[no-untyped-def]
    conn.execute("INSERT INTO seen VALUES (?, ?, ?)", (log.block_number, log.log_index, log.topics[1]))


def test_follows_confirmed_logs_and_resumes_after_restart(chain: Chain, tmp_path: Path) -> None:
    registry, _ = Contract.deploy(chain, A, "Registry", A.address)
    db = tmp_path / "node.sqlite"
    conn = sqlite3.connect(db, isolation_level=None)
    _seen_table(conn)
    entry_set = [registry.event("EntrySet").topic]
    follower = EventFollower(chain, conn, "registry", address=registry.address, topics=entry_set,
                             confirmations=2, batch_size=3)
    for i in range(5):
        registry.transact(A, "set", _key(i), B.address)
    follower.catch_up(record)
    # the last two blocks are not yet confirmed
    assert conn.execute("SELECT COUNT(*) FROM seen").fetchone()[0] == 3
    conn.close()

    chain.mine(2)
    # a restarted node (new connection, new follower) resumes exactly where it stopped
    conn = sqlite3.connect(db, isolation_level=None)
    follower = EventFollower(chain, conn, "registry", address=registry.address, topics=entry_set,
                             confirmations=2, batch_size=3)
    follower.catch_up(record)
    names = [bytes(r[0]) for r in conn.execute("SELECT name FROM seen ORDER BY block")]
    assert names == [_key(i) for i in range(5)]  # each exactly once


def test_handler_failure_loses_nothing_and_duplicates_nothing(tmp_path: Path) -> None:
    with EmbeddedChain() as chain:
        registry, _ = Contract.deploy(chain, A, "Registry", A.address)
        for i in range(3):
            registry.transact(A, "set", _key(i), B.address)
        conn = sqlite3.connect(tmp_path / "n.sqlite", isolation_level=None)
        _seen_table(conn)
        follower = EventFollower(chain, conn, "r", address=registry.address,
                                 topics=[registry.event("EntrySet").topic], confirmations=0)
        calls = []

        def crashing(log, c):  # type: ignore[no-untyped-def]
            calls.append(log)
            record(log, c)
            if len(calls) == 2:
                raise RuntimeError("node killed mid-batch")

        with pytest.raises(RuntimeError):
            follower.poll(crashing)
        assert conn.execute("SELECT COUNT(*) FROM seen").fetchone()[0] == 0  # the batch rolled back whole
        follower.catch_up(record)
        assert conn.execute("SELECT COUNT(*) FROM seen").fetchone()[0] == 3


def test_reorg_rolls_back_and_redelivers_the_new_branch(tmp_path: Path) -> None:
    with EmbeddedChain() as chain:
        registry, _ = Contract.deploy(chain, A, "Registry", A.address)
        registry.transact(A, "set", _key(0), B.address)
        fork_point = chain.snapshot()
        registry.transact(A, "set", _key(1), B.address)
        registry.transact(A, "set", _key(2), B.address)
        conn = sqlite3.connect(tmp_path / "n.sqlite", isolation_level=None)
        _seen_table(conn)
        rollbacks: list[int] = []

        def undo(block: int, c: sqlite3.Connection) -> None:
            rollbacks.append(block)
            c.execute("DELETE FROM seen WHERE block > ?", (block,))

        follower = EventFollower(chain, conn, "r", address=registry.address,
                                 topics=[registry.event("EntrySet").topic], confirmations=0, on_reorg=undo)
        follower.catch_up(record)
        assert conn.execute("SELECT COUNT(*) FROM seen").fetchone()[0] == 3

        # a deeper reorg than the confirmation depth: another branch replaces the last two blocks
        chain.revert(fork_point)
        registry.transact(A, "set", _key(7), B.address)
        chain.mine(2)
        follower.catch_up(record)
        assert follower.status.reorgs == 1
        assert rollbacks and rollbacks[0] <= chain.block_number()
        names = [bytes(r[0]) for r in conn.execute("SELECT name FROM seen ORDER BY block")]
        assert names == [_key(0), _key(7)]


class FlakyChain:
    """Delegates to a real chain but fails the first `failures` block-number reads (an rpc outage)."""

    def __init__(self, inner: Chain, failures: int) -> None:
        self.inner, self.failures = inner, failures

    def __getattr__(self, name: str):  # type: ignore[no-untyped-def]
        return getattr(self.inner, name)

    def block_number(self) -> int:
        if self.failures:
            self.failures -= 1
            raise ChainConnectionError("cannot reach the RPC node (test outage)")
        return self.inner.block_number()


def test_run_backs_off_on_rpc_errors_and_recovers() -> None:
    with EmbeddedChain() as inner:
        registry, _ = Contract.deploy(inner, A, "Registry", A.address)
        registry.transact(A, "set", _key(0), B.address)
        chain = FlakyChain(inner, failures=3)
        follower = EventFollower(chain, ":memory:", "r", address=registry.address,  # type: ignore[arg-type]
                                 topics=[registry.event("EntrySet").topic], confirmations=0)
        got: list[int] = []
        sleeps: list[float] = []
        stop = asyncio.Event()

        async def fake_sleep(seconds: float) -> None:
            sleeps.append(seconds)
            if got:
                stop.set()

        asyncio.run(follower.run(lambda log, c: got.append(log.block_number), interval=1.0, stop=stop,
                                 sleep=fake_sleep))
        assert sleeps[:3] == [2.0, 4.0, 8.0]  # exponential backoff during the outage
        assert len(got) == 1
        assert follower.status.consecutive_errors == 0 and follower.status.last_error is None


def test_run_raises_after_too_many_errors() -> None:
    with EmbeddedChain() as inner:
        follower = EventFollower(FlakyChain(inner, failures=100), ":memory:", "r")  # type: ignore[arg-type]

        async def no_sleep(_: float) -> None:
            return None

        with pytest.raises(ChainConnectionError):
            asyncio.run(follower.run(lambda log, c: None, sleep=no_sleep, max_consecutive_errors=5))
        assert follower.status.consecutive_errors == 6
        assert "test outage" in (follower.status.last_error or "")
