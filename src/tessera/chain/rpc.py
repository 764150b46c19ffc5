"""The JSON-RPC backend: any Ethereum node URL (a local anvil, or a real network)."""

from __future__ import annotations

import itertools
import time
from typing import Any, Callable, Sequence

import httpx
from eth_utils import to_checksum_address

from ..accounts.dev import DEVNET_CHAIN_IDS
from ..errors import ChainConnectionError, ChainError, ContractRevert, TransactionError, UnsupportedByBackend
from .base import Block, BlockId, CallRequest, Chain, Log, Receipt

_METHOD_NOT_FOUND = -32601


def _hex(value: int | bytes) -> str:
    if isinstance(value, int):
        return hex(value)
    return "0x" + bytes(value).hex()


def _bytes(value: str | None) -> bytes:
    if not value:
        return b""
    return bytes.fromhex(value[2:] if value.startswith("0x") else value)


def _block_id(block: BlockId) -> str:
    return hex(block) if isinstance(block, int) else block


class RpcChain(Chain):
    backend = "rpc"

    def __init__(
        self,
        url: str,
        *,
        timeout: float = 10.0,
        retries: int = 2,
        sleep: Callable[[float], None] = time.sleep,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        if not url.startswith(("http://", "https://")):
            raise ChainConnectionError(
                f"unsupported RPC URL {url!r}: use an http(s):// URL, e.g. http://127.0.0.1:8545"
            )
        self.url = url
        self._retries = retries
        self._sleep = sleep
        self._ids = itertools.count(1)
        self._client = httpx.Client(timeout=timeout, transport=transport)
        self._chain_id: int | None = None

    def close(self) -> None:
        self._client.close()

    def describe(self) -> str:
        return f"JSON-RPC node at {self.url}"

    # -- transport ------------------------------------------------------------
    def request(self, method: str, params: list[Any]) -> Any:
        """Send one JSON-RPC request; transport errors are retried with backoff."""
        payload = {"jsonrpc": "2.0", "id": next(self._ids), "method": method, "params": params}
        delay = 0.2
        for attempt in range(self._retries + 1):
            try:
                response = self._client.post(self.url, json=payload)
                response.raise_for_status()
                body = response.json()
                break
            except (httpx.TransportError, httpx.HTTPStatusError, ValueError) as e:
                if attempt == self._retries:
                    raise ChainConnectionError(
                        f"cannot reach the RPC node at {self.url} ({type(e).__name__}: {e}); "
                        "check --rpc-url, or start a local one with `tessera devnet up`"
                    ) from e
                self._sleep(delay)
                delay *= 2
        error = body.get("error")
        if error:
            self._raise_rpc_error(method, error)
        return body.get("result")

    def _raise_rpc_error(self, method: str, error: dict[str, Any]) -> None:
        code = error.get("code")
        message = str(error.get("message", ""))
        data = error.get("data")
        lowered = message.lower()
        # geth answers -32000 "the method X does not exist/is not available"; others use -32601
        if code == _METHOD_NOT_FOUND or ("method" in lowered and any(
                phrase in lowered for phrase in ("does not exist", "not supported", "not available", "not found"))):
            raise UnsupportedByBackend(
                f"the node at {self.url} does not support {method}: "
                "only a devnet such as anvil (`tessera devnet up`) offers it"
            )
        if "revert" in message.lower() or code == 3:
            raw = _bytes(data) if isinstance(data, str) and data.startswith("0x") else b""
            raise ContractRevert(f"execution reverted (0x{raw.hex()}) {message}".strip(), data=raw)
        raise TransactionError(f"{method} failed: {message} (code {code})")

    # -- identity ---------------------------------------------------------------
    @property
    def chain_id(self) -> int:
        if self._chain_id is None:
            self._chain_id = int(self.request("eth_chainId", []), 16)
        return self._chain_id

    @property
    def is_devnet(self) -> bool:
        return self.chain_id in DEVNET_CHAIN_IDS

    # -- reading ----------------------------------------------------------------
    def block_number(self) -> int:
        return int(self.request("eth_blockNumber", []), 16)

    def get_block(self, block: BlockId = "latest") -> Block:
        raw = self.request("eth_getBlockByNumber", [_block_id(block), False])
        if raw is None:
            raise ChainError(f"block {block} does not exist yet on {self.url}")
        return Block(
            number=int(raw["number"], 16),
            hash=_bytes(raw["hash"]),
            parent_hash=_bytes(raw["parentHash"]),
            timestamp=int(raw["timestamp"], 16),
            base_fee_per_gas=int(raw.get("baseFeePerGas") or "0x0", 16),
            gas_used=int(raw["gasUsed"], 16),
            gas_limit=int(raw["gasLimit"], 16),
        )

    def block_transactions(self, block: BlockId = "latest") -> list[bytes]:
        raw = self.request("eth_getBlockByNumber", [_block_id(block), False])
        if raw is None:
            raise ChainError(f"block {block} does not exist yet on {self.url}")
        return [_bytes(h) for h in raw["transactions"]]

    def get_balance(self, address: str, block: BlockId = "latest") -> int:
        return int(self.request("eth_getBalance", [address, _block_id(block)]), 16)

    def get_nonce(self, address: str, block: BlockId = "latest") -> int:
        tag = "pending" if block == "latest" else _block_id(block)
        return int(self.request("eth_getTransactionCount", [address, tag]), 16)

    def get_code(self, address: str, block: BlockId = "latest") -> bytes:
        return _bytes(self.request("eth_getCode", [address, _block_id(block)]))

    def get_storage_at(self, address: str, slot: int, block: BlockId = "latest") -> int:
        return int(self.request("eth_getStorageAt", [address, hex(slot), _block_id(block)]), 16)

    @staticmethod
    def _message(request: CallRequest) -> dict[str, Any]:
        msg: dict[str, Any] = {"data": _hex(request.data), "value": hex(request.value)}
        if request.to:
            msg["to"] = request.to
        if request.sender:
            msg["from"] = request.sender
        if request.gas:
            msg["gas"] = hex(request.gas)
        return msg

    def call(self, request: CallRequest, block: BlockId = "latest") -> bytes:
        return _bytes(self.request("eth_call", [self._message(request), _block_id(block)]))

    def estimate_gas(self, request: CallRequest) -> int:
        return int(self.request("eth_estimateGas", [self._message(request)]), 16)

    def get_logs(
        self,
        *,
        from_block: int,
        to_block: int,
        address: str | Sequence[str] | None = None,
        topics: Sequence[bytes | Sequence[bytes] | None] | None = None,
    ) -> list[Log]:
        flt: dict[str, Any] = {"fromBlock": hex(from_block), "toBlock": hex(to_block)}
        if address is not None:
            flt["address"] = address if isinstance(address, str) else list(address)
        if topics:
            flt["topics"] = [
                None if t is None else (_hex(t) if isinstance(t, (bytes, bytearray)) else [_hex(x) for x in t])
                for t in topics
            ]
        return [self._log(raw) for raw in self.request("eth_getLogs", [flt])]

    @staticmethod
    def _log(raw: dict[str, Any]) -> Log:
        return Log(
            address=to_checksum_address(raw["address"]),
            topics=tuple(_bytes(t) for t in raw["topics"]),
            data=_bytes(raw["data"]),
            block_number=int(raw["blockNumber"], 16),
            block_hash=_bytes(raw["blockHash"]),
            transaction_hash=_bytes(raw["transactionHash"]),
            log_index=int(raw["logIndex"], 16),
            transaction_index=int(raw.get("transactionIndex") or "0x0", 16),
        )

    def gas_price_hint(self) -> tuple[int, int]:
        base = self.get_block("latest").base_fee_per_gas
        try:
            priority = int(self.request("eth_maxPriorityFeePerGas", []), 16)
        except UnsupportedByBackend:
            priority = 10**9
        return 2 * base + priority, priority

    # -- writing ----------------------------------------------------------------
    def send_raw_transaction(self, raw: bytes) -> bytes:
        return _bytes(self.request("eth_sendRawTransaction", [_hex(raw)]))

    def get_receipt(self, tx_hash: bytes) -> Receipt | None:
        raw = self.request("eth_getTransactionReceipt", [_hex(tx_hash)])
        if raw is None:
            return None
        return Receipt(
            transaction_hash=_bytes(raw["transactionHash"]),
            block_number=int(raw["blockNumber"], 16),
            block_hash=_bytes(raw["blockHash"]),
            status=int(raw["status"], 16),
            gas_used=int(raw["gasUsed"], 16),
            effective_gas_price=int(raw.get("effectiveGasPrice") or "0x0", 16),
            contract_address=to_checksum_address(raw["contractAddress"]) if raw.get("contractAddress") else None,
            logs=tuple(self._log(log) for log in raw["logs"]),
            sender=to_checksum_address(raw["from"]),
            to=to_checksum_address(raw["to"]) if raw.get("to") else None,
        )

    def wait_for_receipt(self, tx_hash: bytes, timeout: float = 30.0) -> Receipt:
        deadline = time.monotonic() + timeout
        delay = 0.01
        while True:
            receipt = self.get_receipt(tx_hash)
            if receipt is not None:
                return receipt
            if time.monotonic() > deadline:
                raise TransactionError(
                    f"transaction 0x{tx_hash.hex()} was not mined within {timeout:.0f} s on {self.url}; "
                    "it may be underpriced: check the node, or resend with a higher fee"
                )
            self._sleep(delay)
            delay = min(delay * 2, 1.0)

    # -- devnet capabilities ------------------------------------------------------
    def mine(self, blocks: int = 1) -> None:
        try:
            self.request("anvil_mine", [hex(blocks)])
        except UnsupportedByBackend:
            for _ in range(blocks):
                self.request("evm_mine", [])

    def increase_time(self, seconds: int) -> None:
        if seconds < 0:
            raise ChainError(f"cannot move time backwards ({seconds} s): pass a positive number of seconds")
        self.request("evm_increaseTime", [seconds])

    def set_balance(self, address: str, wei: int) -> None:
        self.request("anvil_setBalance", [address, hex(wei)])

    def set_code(self, address: str, code: bytes) -> None:
        self.request("anvil_setCode", [address, "0x" + bytes(code).hex()])

    def snapshot(self) -> Any:
        return self.request("evm_snapshot", [])

    def revert(self, snapshot_id: Any) -> None:
        if not self.request("evm_revert", [snapshot_id]):
            raise ChainError(f"unknown snapshot {snapshot_id!r}: take one with snapshot() first")
