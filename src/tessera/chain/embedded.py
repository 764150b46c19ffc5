"""The embedded chain: py-evm in this process, Cancun rules, one block per transaction.

State lives in a SQLite file in the data directory (or in memory with ``path=None``) so
that `tessera deploy` and a later command see the same chain. One process at a time owns
a file-backed chain: several processes (nodes plus CLI) should share an rpc devnet.
"""

from __future__ import annotations

import fcntl
import os
import sqlite3
import time
from pathlib import Path
from contextlib import contextmanager
from typing import Any, Callable, Iterator, Sequence

from eth.abc import SignedTransactionAPI
from eth.chains.base import MiningChain
from eth.consensus import ConsensusApplier, NoProofConsensus
from eth.constants import GENESIS_PARENT_HASH, POST_MERGE_DIFFICULTY, POST_MERGE_MIX_HASH, POST_MERGE_NONCE
from eth.db.atomic import AtomicDB
from eth.db.chain import ChainDB
from eth.exceptions import CanonicalHeadNotFound, Revert, TransactionNotFound, VMError
from eth.vm.forks import CancunVM
from eth.vm.spoof import SpoofTransaction
from eth_utils import to_canonical_address, to_checksum_address
from eth._utils.address import generate_contract_address

from ..accounts.dev import DEV_BALANCE_WEI, dev_accounts
from ..errors import ChainError, ChainInUseError, ContractRevert, TransactionError
from .base import Block, BlockId, CallRequest, Chain, Log, Receipt
from .kvstore import SqliteKV

EMBEDDED_CHAIN_ID = 1337
GAS_LIMIT = 30_000_000
_ZERO_ADDRESS = b"\x00" * 20

_VM_CONFIG = ConsensusApplier(NoProofConsensus).amend_vm_configuration(((0, CancunVM),))


class _TesseraMiningChain(MiningChain):
    chain_id = EMBEDDED_CHAIN_ID
    vm_configuration = _VM_CONFIG

    def create_header_from_parent(self, parent_header: Any, **header_params: Any) -> Any:
        # a constant gas limit keeps gas figures comparable between runs
        header_params["gas_limit"] = parent_header.gas_limit
        return super().create_header_from_parent(parent_header, **header_params)


_SCHEMA = """
CREATE TABLE IF NOT EXISTS logs (
    block_number INTEGER NOT NULL, log_index INTEGER NOT NULL, block_hash BLOB NOT NULL,
    tx_hash BLOB NOT NULL, tx_index INTEGER NOT NULL, address BLOB NOT NULL,
    topic0 BLOB, topic1 BLOB, topic2 BLOB, topic3 BLOB, data BLOB NOT NULL,
    PRIMARY KEY (block_number, log_index));
CREATE INDEX IF NOT EXISTS logs_address ON logs (address, block_number);
CREATE TABLE IF NOT EXISTS meta (k TEXT PRIMARY KEY, v TEXT NOT NULL);
"""


class EmbeddedChain(Chain):
    backend = "embedded"

    def __init__(
        self,
        path: str | Path | None = None,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._path = Path(path) if path is not None else None
        self._clock = clock
        self._lock_fd: int | None = None
        if self._path is not None:
            self._path.parent.mkdir(parents=True, exist_ok=True)
            self._acquire_lock(self._path.with_suffix(".lock"))
        self._conn = sqlite3.connect(str(self._path) if self._path else ":memory:", isolation_level=None)
        self._conn.execute("PRAGMA journal_mode=WAL" if self._path else "PRAGMA journal_mode=MEMORY")
        self._conn.execute("PRAGMA synchronous=NORMAL")
        self._conn.executescript(_SCHEMA)
        self._kv = SqliteKV(self._conn)
        self._db = AtomicDB(self._kv)
        self._snapshots: dict[int, tuple[bytes, int]] = {}
        self._next_snapshot = 1
        self._time_offset = int(self._meta_get("time_offset", "0"))
        self._evm: Any  # py-evm's stubs are stricter than its runtime API; kept untyped here
        try:
            ChainDB(self._db).get_canonical_head()
            self._evm = _TesseraMiningChain(self._db)
        except CanonicalHeadNotFound:
            self._evm = self._create_genesis()
        self._closed = False

    # -- lifecycle ------------------------------------------------------------
    def _acquire_lock(self, lock_path: Path) -> None:
        fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.read(fd, 32).decode(errors="replace").strip() or "unknown"
            os.close(fd)
            raise ChainInUseError(
                f"the embedded chain at {lock_path.parent} is in use by another process "
                f"(pid {holder}); stop it, or run several processes against an rpc devnet "
                "(`tessera devnet up`, then --rpc-url)"
            ) from None
        os.ftruncate(fd, 0)
        os.write(fd, str(os.getpid()).encode())
        self._lock_fd = fd

    def _create_genesis(self) -> Any:
        params: dict[str, Any] = {
            "coinbase": _ZERO_ADDRESS,
            "difficulty": POST_MERGE_DIFFICULTY,
            "extra_data": b"tessera",
            "gas_limit": GAS_LIMIT,
            "mix_hash": POST_MERGE_MIX_HASH,
            "nonce": POST_MERGE_NONCE,
            "timestamp": int(self._clock()),
        }
        state: dict[Any, Any] = {
            to_canonical_address(a.address): {"balance": DEV_BALANCE_WEI, "nonce": 0, "code": b"", "storage": {}}
            for a in dev_accounts()
        }
        self._begin()
        evm = _TesseraMiningChain.from_genesis(self._db, params, state)
        self._commit()
        return evm

    def close(self) -> None:
        if getattr(self, "_closed", True):
            return
        self._closed = True
        self._conn.close()
        if self._lock_fd is not None:
            fcntl.flock(self._lock_fd, fcntl.LOCK_UN)
            os.close(self._lock_fd)
            self._lock_fd = None

    def _begin(self) -> None:
        self._conn.execute("BEGIN")

    def _commit(self) -> None:
        self._kv.flush()
        self._conn.execute("COMMIT")

    @contextmanager
    def _block_transaction(self) -> Iterator[None]:
        """All-or-nothing: on any error the SQLite transaction, buffered trie writes and the
        half-built block are dropped, and the chain reloads from its last committed head."""
        self._begin()
        try:
            yield
            self._commit()
        except BaseException:
            self._conn.execute("ROLLBACK")
            self._kv.discard()
            self._evm = _TesseraMiningChain(self._db)
            raise

    def _meta_get(self, key: str, default: str) -> str:
        row = self._conn.execute("SELECT v FROM meta WHERE k = ?", (key,)).fetchone()
        return row[0] if row else default

    def _meta_set(self, key: str, value: str) -> None:
        self._conn.execute("INSERT OR REPLACE INTO meta (k, v) VALUES (?, ?)", (key, value))

    # -- identity -------------------------------------------------------------
    @property
    def chain_id(self) -> int:
        return EMBEDDED_CHAIN_ID

    @property
    def is_devnet(self) -> bool:
        return True

    def describe(self) -> str:
        return f"embedded py-evm chain ({self._path or 'in memory'})"

    # -- reading --------------------------------------------------------------
    def _header(self, block: BlockId) -> Any:
        head = self._evm.chaindb.get_canonical_head()
        if block in ("latest", "pending", "safe", "finalized"):
            return head
        if block == "earliest":
            number = 0
        elif isinstance(block, int):
            number = block
        else:
            raise ChainError(f"unknown block id {block!r}: use a number, 'latest' or 'earliest'")
        if number > head.block_number or number < 0:
            raise ChainError(f"block {number} does not exist yet: the head is {head.block_number}")
        return self._evm.chaindb.get_canonical_block_header_by_number(number)

    def _state(self, block: BlockId) -> Any:
        return self._evm.get_vm(self._header(block)).state

    def block_number(self) -> int:
        return int(self._evm.chaindb.get_canonical_head().block_number)

    def get_block(self, block: BlockId = "latest") -> Block:
        h = self._header(block)
        return Block(
            number=h.block_number,
            hash=bytes(h.hash),
            parent_hash=bytes(h.parent_hash),
            timestamp=h.timestamp,
            base_fee_per_gas=h.base_fee_per_gas,
            gas_used=h.gas_used,
            gas_limit=h.gas_limit,
        )

    def block_transactions(self, block: BlockId = "latest") -> list[bytes]:
        number = self._header(block).block_number
        return [bytes(tx.hash) for tx in self._evm.get_canonical_block_by_number(number).transactions]

    def get_balance(self, address: str, block: BlockId = "latest") -> int:
        return int(self._state(block).get_balance(to_canonical_address(address)))

    def get_nonce(self, address: str, block: BlockId = "latest") -> int:
        return int(self._state(block).get_nonce(to_canonical_address(address)))

    def get_code(self, address: str, block: BlockId = "latest") -> bytes:
        return bytes(self._state(block).get_code(to_canonical_address(address)))

    def get_storage_at(self, address: str, slot: int, block: BlockId = "latest") -> int:
        return int(self._state(block).get_storage(to_canonical_address(address), slot))

    def _spoof(self, request: CallRequest, header: Any, gas: int) -> Any:
        sender = to_canonical_address(request.sender) if request.sender else _ZERO_ADDRESS
        vm: Any = self._evm.get_vm(header)
        unsigned = vm.get_transaction_builder().new_unsigned_dynamic_fee_transaction(
            chain_id=EMBEDDED_CHAIN_ID,
            nonce=vm.state.get_nonce(sender),
            max_priority_fee_per_gas=0,
            max_fee_per_gas=0,
            gas=gas,
            to=to_canonical_address(request.to) if request.to else b"",
            value=request.value,
            data=request.data,
            access_list=(),
        )
        return SpoofTransaction(unsigned, from_=sender)

    def _call_header(self, block: BlockId) -> Any:
        # calls see the requested block's post-state and its block context (number, timestamp), as
        # eth_call does on geth and anvil; a zero base fee lets any sender call for free
        return self._header(block).copy(base_fee_per_gas=0)

    def call(self, request: CallRequest, block: BlockId = "latest") -> bytes:
        header = self._call_header(block)
        tx = self._spoof(request, header, request.gas or GAS_LIMIT)
        vm: Any = self._evm.get_vm(header)
        state = vm.state
        snap = state.snapshot()
        try:
            computation = state.apply_transaction(tx)
        finally:
            state.revert(snap)
        _raise_for_computation(computation)
        return bytes(computation.output)

    def estimate_gas(self, request: CallRequest) -> int:
        # estimate in the context of the next block (its number and timestamp), where the
        # transaction will actually run, as anvil and geth do with the pending block
        head = self._evm.chaindb.get_canonical_head()
        header = head.copy(block_number=head.block_number + 1, timestamp=self._next_timestamp(head),
                           parent_hash=head.hash, base_fee_per_gas=0)
        tx = self._spoof(request, header, request.gas or GAS_LIMIT)
        # py-evm estimates in a child of the header it is given: hand it a parent whose child is `header`
        # (number head + 1, our timestamp), or the estimate would run one block and one second too late
        parent = head.copy(timestamp=int(header.timestamp) - 1)
        try:
            return int(self._evm.estimate_gas(tx, parent))
        except Revert as e:
            raise _revert_from(e.args[0] if e.args else b"") from None
        except VMError as e:
            raise TransactionError(f"gas estimation failed: {e}") from e

    def get_logs(
        self,
        *,
        from_block: int,
        to_block: int,
        address: str | Sequence[str] | None = None,
        topics: Sequence[bytes | Sequence[bytes] | None] | None = None,
    ) -> list[Log]:
        where = ["block_number BETWEEN ? AND ?"]
        args: list[Any] = [from_block, to_block]
        if address is not None:
            addrs = [address] if isinstance(address, str) else list(address)
            where.append(f"address IN ({','.join('?' * len(addrs))})")
            args += [to_canonical_address(a) for a in addrs]
        for i, topic in enumerate(topics or ()):
            if topic is None:
                continue
            options = [topic] if isinstance(topic, (bytes, bytearray)) else list(topic)
            where.append(f"topic{i} IN ({','.join('?' * len(options))})")
            args += [bytes(t) for t in options]
        rows = self._conn.execute(
            "SELECT address, topic0, topic1, topic2, topic3, data, block_number, block_hash, tx_hash, "
            f"log_index, tx_index FROM logs WHERE {' AND '.join(where)} ORDER BY block_number, log_index",
            args,
        ).fetchall()
        return [
            Log(
                address=to_checksum_address(r[0]),
                topics=tuple(bytes(t) for t in r[1:5] if t is not None),
                data=bytes(r[5]),
                block_number=r[6],
                block_hash=bytes(r[7]),
                transaction_hash=bytes(r[8]),
                log_index=r[9],
                transaction_index=r[10],
            )
            for r in rows
        ]

    def gas_price_hint(self) -> tuple[int, int]:
        base = self._evm.chaindb.get_canonical_head().base_fee_per_gas
        priority = 10**9
        return 2 * base + priority, priority

    # -- writing --------------------------------------------------------------
    def _next_timestamp(self, parent: Any) -> int:
        return max(int(parent.timestamp) + 1, int(self._clock()) + self._time_offset)

    def send_raw_transaction(self, raw: bytes) -> bytes:
        vm = self._evm.get_vm()
        try:
            tx: SignedTransactionAPI = vm.get_transaction_builder().decode(raw)
            tx.validate()
        except Exception as e:  # rlp, validation and type errors alike mean a malformed transaction
            raise TransactionError(f"malformed signed transaction: {e}") from e
        if tx.chain_id != EMBEDDED_CHAIN_ID:
            raise TransactionError(
                f"transaction is signed for chain {tx.chain_id}, but this is chain {EMBEDDED_CHAIN_ID}: "
                "sign it with the right chain id"
            )
        with self._block_transaction():
            self._evm.set_header_timestamp(self._next_timestamp(self._evm.chaindb.get_canonical_head()))
            try:
                self._evm.apply_transaction(tx)
            except Exception as e:  # py-evm's validation errors (nonce, funds, fees) and VM errors
                raise TransactionError(f"transaction rejected: {e}") from e
            self._mine_pending()
        return bytes(tx.hash)

    def _mine_pending(self) -> None:
        block = self._evm.mine_block(mix_hash=os.urandom(32))
        receipts = block.get_receipts(self._evm.chaindb)
        rows = []
        log_index = 0
        for tx_index, (tx, receipt) in enumerate(zip(block.transactions, receipts)):
            for log in receipt.logs:
                topics = [t.to_bytes(32, "big") for t in log.topics] + [None] * (4 - len(log.topics))
                rows.append(
                    (block.number, log_index, bytes(block.hash), bytes(tx.hash), tx_index,
                     bytes(log.address), *topics, bytes(log.data))
                )
                log_index += 1
        if rows:
            self._conn.executemany("INSERT INTO logs VALUES (?,?,?,?,?,?,?,?,?,?,?)", rows)

    def get_receipt(self, tx_hash: bytes) -> Receipt | None:
        chaindb = self._evm.chaindb
        try:
            block_number, index = chaindb.get_transaction_index(tx_hash)
        except TransactionNotFound:
            return None
        if block_number > self.block_number():
            return None  # reverted away by a snapshot revert
        header = chaindb.get_canonical_block_header_by_number(block_number)
        block = self._evm.get_block_by_header(header)
        if index >= len(block.transactions) or block.transactions[index].hash != tx_hash:
            return None  # reverted away by a snapshot revert
        tx = block.transactions[index]
        receipts = block.get_receipts(chaindb)
        receipt = receipts[index]
        prior = receipts[index - 1].gas_used if index else 0
        logs = tuple(
            log for log in self.get_logs(from_block=block_number, to_block=block_number)
            if log.transaction_hash == tx_hash
        )
        contract = None
        if not tx.to:
            contract = to_checksum_address(generate_contract_address(tx.sender, tx.nonce))
        priority = min(tx.max_priority_fee_per_gas, tx.max_fee_per_gas - header.base_fee_per_gas)
        return Receipt(
            transaction_hash=bytes(tx_hash),
            block_number=block_number,
            block_hash=bytes(header.hash),
            status=1 if receipt.state_root == b"\x01" else 0,
            gas_used=receipt.gas_used - prior,
            effective_gas_price=header.base_fee_per_gas + priority,
            contract_address=contract,
            logs=logs,
            sender=to_checksum_address(tx.sender),
            to=to_checksum_address(tx.to) if tx.to else None,
        )

    def wait_for_receipt(self, tx_hash: bytes, timeout: float = 30.0) -> Receipt:
        receipt = self.get_receipt(tx_hash)
        if receipt is None:
            raise TransactionError(f"transaction 0x{tx_hash.hex()} is not on the embedded chain")
        return receipt

    # -- devnet capabilities ----------------------------------------------------
    def mine(self, blocks: int = 1) -> None:
        with self._block_transaction():
            for _ in range(blocks):
                self._evm.set_header_timestamp(self._next_timestamp(self._evm.chaindb.get_canonical_head()))
                self._mine_pending()

    def increase_time(self, seconds: int) -> None:
        if seconds < 0:
            raise ChainError(f"cannot move time backwards ({seconds} s): pass a positive number of seconds")
        # relative to the chain's own time: blocks mined in quick succession run ahead of the wall
        # clock (each is at least one second after its parent), so the next block must land at least
        # `seconds` after the head, not merely after the wall clock
        head = self._evm.chaindb.get_canonical_head()
        self._time_offset = max(self._time_offset + seconds, int(head.timestamp) + seconds - int(self._clock()))
        self._meta_set("time_offset", str(self._time_offset))

    def set_balance(self, address: str, wei: int) -> None:
        self._edit_state(lambda state: state.set_balance(to_canonical_address(address), wei))

    def set_code(self, address: str, code: bytes) -> None:
        self._edit_state(lambda state: state.set_code(to_canonical_address(address), bytes(code)))

    def _edit_state(self, edit: Callable[[Any], None]) -> None:
        """A devnet edit of account state, sealed in its own block."""
        with self._block_transaction():
            vm = self._evm.get_vm()
            edit(vm.state)
            vm.state.persist()
            self._evm.header = self._evm.header.copy(state_root=vm.state.state_root)
            self._mine_pending()

    def snapshot(self) -> int:
        sid = self._next_snapshot
        self._next_snapshot += 1
        self._snapshots[sid] = (bytes(self._evm.chaindb.get_canonical_head().hash), self._time_offset)
        return sid

    def revert(self, snapshot_id: Any) -> None:
        if snapshot_id not in self._snapshots:
            raise ChainError(f"unknown snapshot {snapshot_id!r}: take one with snapshot() first")
        block_hash, offset = self._snapshots[snapshot_id]
        # like anvil, a revert consumes the snapshot and every later one
        for sid in [s for s in self._snapshots if s >= snapshot_id]:
            del self._snapshots[sid]
        with self._block_transaction():
            chaindb = self._evm.chaindb
            header = chaindb.get_block_header_by_hash(block_hash)
            chaindb._set_as_canonical_chain_head(chaindb.db, header, GENESIS_PARENT_HASH)
            self._conn.execute("DELETE FROM logs WHERE block_number > ?", (header.block_number,))
            self._meta_set("time_offset", str(offset))
        self._time_offset = offset
        self._evm = _TesseraMiningChain(self._db)


def _revert_from(data: bytes) -> ContractRevert:
    data = bytes(data)
    return ContractRevert(f"execution reverted (0x{data.hex()})", data=data)


def _raise_for_computation(computation: Any) -> None:
    if not computation.is_error:
        return
    error = computation.error
    if isinstance(error, Revert):
        raise _revert_from(error.args[0] if error.args else b"")
    raise ContractRevert(f"execution failed: {type(error).__name__} {error}".strip())


__all__ = ["EMBEDDED_CHAIN_ID", "EmbeddedChain"]
