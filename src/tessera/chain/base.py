"""The one chain interface that both backends implement.

`Chain` speaks in Python values (ints, bytes, checksummed address strings), never in
hex-encoded JSON-RPC quantities, so domain code is identical on the embedded py-evm chain
and on a JSON-RPC node. Capabilities only a devnet has (setting balances, moving time,
snapshots) are part of the interface; a backend that cannot do them raises
:class:`~tessera.errors.UnsupportedByBackend` with the reason.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any, Sequence

BlockId = int | str  # a block number, or "latest" / "earliest"


@dataclass(frozen=True)
class Block:
    number: int
    hash: bytes
    parent_hash: bytes
    timestamp: int
    base_fee_per_gas: int
    gas_used: int
    gas_limit: int


@dataclass(frozen=True)
class Log:
    address: str
    topics: tuple[bytes, ...]
    data: bytes
    block_number: int
    block_hash: bytes
    transaction_hash: bytes
    log_index: int
    transaction_index: int = 0


@dataclass(frozen=True)
class Receipt:
    transaction_hash: bytes
    block_number: int
    block_hash: bytes
    status: int
    gas_used: int
    effective_gas_price: int
    contract_address: str | None
    logs: tuple[Log, ...] = field(default_factory=tuple)
    sender: str = ""
    to: str | None = None

    @property
    def ok(self) -> bool:
        return self.status == 1


@dataclass(frozen=True)
class CallRequest:
    """An unsigned message for `call` and `estimate_gas`."""

    to: str | None
    data: bytes = b""
    sender: str | None = None
    value: int = 0
    gas: int | None = None


class Chain(ABC):
    """A connection to one EVM chain."""

    #: short name of the backend: "embedded" or "rpc"
    backend: str = ""

    @property
    @abstractmethod
    def chain_id(self) -> int: ...

    @property
    @abstractmethod
    def is_devnet(self) -> bool:
        """True on chains where dev keys and cheat methods are acceptable."""

    @abstractmethod
    def describe(self) -> str:
        """A short human description: backend and location."""

    # -- reading ---------------------------------------------------------------
    @abstractmethod
    def block_number(self) -> int: ...

    @abstractmethod
    def get_block(self, block: BlockId = "latest") -> Block: ...

    @abstractmethod
    def block_transactions(self, block: BlockId = "latest") -> list[bytes]:
        """The hashes of a block's transactions, in order."""

    @abstractmethod
    def get_balance(self, address: str, block: BlockId = "latest") -> int: ...

    @abstractmethod
    def get_nonce(self, address: str, block: BlockId = "latest") -> int:
        """Transaction count including pending transactions when block is "latest"."""

    @abstractmethod
    def get_code(self, address: str, block: BlockId = "latest") -> bytes: ...

    @abstractmethod
    def get_storage_at(self, address: str, slot: int, block: BlockId = "latest") -> int: ...

    @abstractmethod
    def call(self, request: CallRequest, block: BlockId = "latest") -> bytes:
        """Execute without a transaction. Raises ContractRevert with the raw data on revert."""

    @abstractmethod
    def estimate_gas(self, request: CallRequest) -> int:
        """Raises ContractRevert with the raw data when the call would revert."""

    @abstractmethod
    def get_logs(
        self,
        *,
        from_block: int,
        to_block: int,
        address: str | Sequence[str] | None = None,
        topics: Sequence[bytes | Sequence[bytes] | None] | None = None,
    ) -> list[Log]: ...

    @abstractmethod
    def gas_price_hint(self) -> tuple[int, int]:
        """(max_fee_per_gas, max_priority_fee_per_gas) suitable for a new transaction."""

    # -- writing ---------------------------------------------------------------
    @abstractmethod
    def send_raw_transaction(self, raw: bytes) -> bytes:
        """Submit a signed transaction; returns its hash."""

    @abstractmethod
    def get_receipt(self, tx_hash: bytes) -> Receipt | None: ...

    @abstractmethod
    def wait_for_receipt(self, tx_hash: bytes, timeout: float = 30.0) -> Receipt: ...

    # -- devnet capabilities -----------------------------------------------------
    @abstractmethod
    def mine(self, blocks: int = 1) -> None: ...

    @abstractmethod
    def increase_time(self, seconds: int) -> None:
        """Move the clock of the next block forward."""

    @abstractmethod
    def set_balance(self, address: str, wei: int) -> None: ...

    @abstractmethod
    def set_code(self, address: str, code: bytes) -> None:
        """Place runtime code at an address (devnets only), as devnet tooling does for Multicall3."""

    @abstractmethod
    def snapshot(self) -> Any: ...

    @abstractmethod
    def revert(self, snapshot_id: Any) -> None: ...

    def close(self) -> None:
        """Release files, locks and connections. Idempotent."""

    def __enter__(self) -> "Chain":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
