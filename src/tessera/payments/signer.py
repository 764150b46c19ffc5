"""The x402 SDK's facilitator signer, built on `tessera.chain.Chain`.

The SDK's own `FacilitatorWeb3Signer` needs a JSON-RPC URL; the embedded chain has none. This signer
implements the SDK's `FacilitatorEvmSigner` protocol over any Tessera chain backend (embedded or JSON-RPC),
so the SDK's `exact` and `batch-settlement` facilitators verify and settle through Tessera's chain layer
and its decoded custom errors (which the SDK maps to reasons such as `nonce_already_used`).
"""

from __future__ import annotations

import threading
from typing import Any

from eth_account import Account
from eth_account.messages import encode_typed_data
from eth_account.signers.local import LocalAccount
from eth_utils import to_checksum_address
from x402.mechanisms.evm.types import TransactionReceipt, TypedDataDomain, TypedDataField

from ..chain.abi import AbiFunction
from ..chain.base import CallRequest, Chain, Receipt
from ..chain.contract import decode_revert, submit_transaction
from ..errors import ContractRevert

_ERC20_BALANCE_OF = [{"type": "function", "name": "balanceOf", "stateMutability": "view",
                      "inputs": [{"name": "account", "type": "address"}],
                      "outputs": [{"name": "", "type": "uint256"}]}]


def _function(abi: list[dict[str, Any]], name: str) -> AbiFunction:
    """The SDK hands one overload per ABI (e.g. the v,r,s or the bytes transferWithAuthorization)."""
    for entry in abi:
        if entry.get("type") == "function" and entry.get("name") == name:
            return AbiFunction(name, tuple(entry.get("inputs", [])), tuple(entry.get("outputs", [])),
                               entry.get("stateMutability", "nonpayable"))
    raise ValueError(f"function {name} is not in the ABI given")


class ChainRevertError(Exception):
    """A reverted call, its message naming the decoded custom error (the SDK classifies by that text)."""


class ChainFacilitatorSigner:
    """`FacilitatorEvmSigner` over a Tessera `Chain` and one funded key."""

    def __init__(self, chain: Chain, account: LocalAccount) -> None:
        self.chain = chain
        self.account = account
        # the SDK may call from several threads (one per request); one key means one nonce sequence
        self._lock = threading.RLock()

    # -- reads ------------------------------------------------------------------
    def get_addresses(self) -> list[str]:
        return [self.account.address]

    def get_chain_id(self) -> int:
        return self.chain.chain_id

    def get_code(self, address: str) -> bytes:
        with self._lock:
            return self.chain.get_code(to_checksum_address(address))

    def get_balance(self, address: str, token_address: str) -> int:
        if not token_address or int(token_address, 16) == 0:
            with self._lock:
                return self.chain.get_balance(to_checksum_address(address))
        return int(self.read_contract(token_address, _ERC20_BALANCE_OF, "balanceOf", address))

    def read_contract(self, address: str, abi: list[dict[str, Any]], function_name: str, *args: Any) -> Any:
        fn = _function(abi, function_name)
        request = CallRequest(to=to_checksum_address(address), data=fn.encode(args), sender=self.account.address)
        try:
            with self._lock:
                raw = self.chain.call(request)
        except ContractRevert as e:
            decoded = decode_revert(e, f"{function_name} on {address}")
            raise ChainRevertError(f"execution reverted: {decoded.error_name or ''} {decoded}") from e
        return fn.decode_output(raw) if fn.outputs else None

    def verify_typed_data(self, address: str, domain: TypedDataDomain | dict[str, Any],
                          types: dict[str, list[TypedDataField]] | dict[str, Any], primary_type: str,
                          message: dict[str, Any], signature: bytes) -> bool:
        """EOA recovery; contract wallets are checked by the SDK itself through ERC-1271 reads."""
        if isinstance(domain, TypedDataDomain):
            domain_dict: dict[str, Any] = {"name": domain.name, "version": domain.version,
                                           "chainId": domain.chain_id, "verifyingContract": domain.verifying_contract}
        else:
            domain_dict = dict(domain)
        message_types = {
            name: [{"name": f.name, "type": f.type} if isinstance(f, TypedDataField) else f for f in fields]
            for name, fields in types.items() if name != "EIP712Domain"
        }
        try:
            signable = encode_typed_data(domain_data=domain_dict, message_types=message_types, message_data=message)
            recovered = Account.recover_message(signable, signature=signature)
        except Exception:  # a malformed signature is simply not valid
            return False
        return bool(recovered.lower() == address.lower())

    # -- writes -----------------------------------------------------------------
    def write_contract(self, address: str, abi: list[dict[str, Any]], function_name: str, *args: Any,
                       data_suffix: str | None = None) -> str:
        data = _function(abi, function_name).encode(args)
        if data_suffix:
            data += bytes.fromhex(data_suffix.removeprefix("0x"))
        return self._send(address, data, function_name)

    def send_transaction(self, to: str, data: bytes) -> str:
        return self._send(to, data, "transaction")

    def _send(self, to: str, data: bytes, context: str) -> str:
        with self._lock:
            try:
                tx_hash, _ = submit_transaction(self.chain, self.account, to=to_checksum_address(to), data=data,
                                                context=context)
            except ContractRevert as e:
                raise ChainRevertError(f"execution reverted: {e.error_name or ''} {e}") from e
            return "0x" + tx_hash.hex()

    def wait_for_transaction_receipt(self, tx_hash: str) -> TransactionReceipt:
        with self._lock:
            receipt = self.chain.wait_for_receipt(bytes.fromhex(tx_hash.removeprefix("0x")))
        return TransactionReceipt(status=receipt.status, block_number=receipt.block_number,
                                  tx_hash=tx_hash, logs=receipt_logs(receipt))


def receipt_logs(receipt: Receipt) -> list[dict[str, Any]]:
    """Logs in the JSON-RPC shape the SDK reads (address, hex topics, hex data)."""
    return [{"address": log.address, "topics": ["0x" + t.hex() for t in log.topics], "data": "0x" + log.data.hex(),
             "logIndex": log.log_index, "blockNumber": log.block_number,
             "transactionHash": "0x" + log.transaction_hash.hex()} for log in receipt.logs]
