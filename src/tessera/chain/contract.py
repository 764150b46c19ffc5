"""Deployed contracts: calls, transactions and decoded events over any `Chain`."""

from __future__ import annotations

from typing import Any, Iterable, Protocol, Sequence

from eth_abi import encode as abi_encode
from eth_utils import is_address, to_checksum_address

from ..errors import ContractRevert, TransactionError
from .abi import AbiEvent, AbiFunction, DecodedEvent, type_string
from .artifacts import Artifact, error_decoder, load_artifact
from .base import CallRequest, Chain, Log, Receipt

GAS_MARGIN = 1.25  # headroom over the estimate: state can change between estimate and inclusion


class Signer(Protocol):
    """What Tessera needs of an account: eth-account's LocalAccount satisfies it."""

    @property
    def address(self) -> str: ...

    def sign_transaction(self, transaction_dict: dict[str, Any]) -> Any: ...


def decode_revert(e: ContractRevert, context: str) -> ContractRevert:
    if e.error_name is not None:
        return e
    return error_decoder().decode(e.data, context)


def gas_limit_for(chain: Chain, request: CallRequest, context: str) -> int:
    """The estimate with headroom. A transaction that would revert raises its decoded ContractRevert."""
    try:
        return int(chain.estimate_gas(request) * GAS_MARGIN) + 10_000
    except ContractRevert as e:
        raise decode_revert(e, context) from None


def submit_transaction(
    chain: Chain,
    signer: Signer,
    *,
    to: str | None,
    data: bytes = b"",
    value: int = 0,
    gas: int | None = None,
    context: str = "transaction",
) -> tuple[bytes, int]:
    """Estimate, check funds, sign and send without waiting: (transaction hash, gas limit). A transaction that
    would revert raises its decoded ContractRevert before it is sent."""
    request = CallRequest(to=to, data=data, sender=signer.address, value=value)
    if gas is None:
        gas = gas_limit_for(chain, request, context)
    max_fee, priority = chain.gas_price_hint()
    needed = gas * max_fee + value
    balance = chain.get_balance(signer.address)
    if balance < needed:
        raise TransactionError(
            f"insufficient funds for {context}: {signer.address} has {balance / 1e18:.6f} ETH but needs up to "
            f"{needed / 1e18:.6f} ETH for gas and value; fund the account first"
        )
    tx: dict[str, Any] = {
        "type": 2,
        "chainId": chain.chain_id,
        "nonce": chain.get_nonce(signer.address),
        "gas": gas,
        "maxFeePerGas": max_fee,
        "maxPriorityFeePerGas": priority,
        "value": value,
        "data": data,
    }
    if to is not None:
        tx["to"] = to
    signed = signer.sign_transaction(tx)
    return chain.send_raw_transaction(bytes(signed.raw_transaction)), gas


def send_transaction(
    chain: Chain,
    signer: Signer,
    *,
    to: str | None,
    data: bytes = b"",
    value: int = 0,
    gas: int | None = None,
    context: str = "transaction",
) -> Receipt:
    """Sign, send and wait. A transaction that would revert raises ContractRevert before it is sent."""
    tx_hash, gas = submit_transaction(chain, signer, to=to, data=data, value=value, gas=gas, context=context)
    receipt = chain.wait_for_receipt(tx_hash)
    if not receipt.ok:
        request = CallRequest(to=to, data=data, sender=signer.address, value=value)
        # replay on the parent block to recover the revert data the receipt does not carry
        try:
            chain.call(request, block=max(receipt.block_number - 1, 0))
        except ContractRevert as e:
            raise decode_revert(e, context) from None
        raise TransactionError(
            f"{context} failed in block {receipt.block_number} (out of gas at {gas}?): "
            "retry with a higher gas limit"
        )
    return receipt


class Contract:
    """A contract at an address, with its ABI."""

    def __init__(self, chain: Chain, address: str, abi: list[dict[str, Any]], name: str = "contract") -> None:
        if not is_address(address):
            raise TransactionError(f"{address!r} is not an address: use a 0x-prefixed 20-byte hex string")
        self.chain = chain
        self.address = to_checksum_address(address)
        self.abi = abi
        self.name = name
        self._functions: dict[str, list[AbiFunction]] = {}
        self._events: dict[str, AbiEvent] = {}
        for item in abi:
            if item.get("type") == "function":
                fn = AbiFunction(item["name"], tuple(item.get("inputs", [])), tuple(item.get("outputs", [])),
                                 item.get("stateMutability", "nonpayable"))
                self._functions.setdefault(fn.name, []).append(fn)
            elif item.get("type") == "event":
                self._events[item["name"]] = AbiEvent(item["name"], tuple(item.get("inputs", [])),
                                                      item.get("anonymous", False))
        error_decoder().add_abi(abi)

    @classmethod
    def at(cls, chain: Chain, name: str, address: str) -> "Contract":
        artifact = load_artifact(name)
        return cls(chain, address, artifact.abi, artifact.name)

    @classmethod
    def deploy(cls, chain: Chain, signer: Signer, artifact: Artifact | str, *args: Any) -> tuple["Contract", Receipt]:
        if isinstance(artifact, str):
            artifact = load_artifact(artifact)
        ctor: dict[str, Any] = next((i for i in artifact.abi if i.get("type") == "constructor"), {"inputs": []})
        types = [type_string(i) for i in ctor["inputs"]]
        if len(types) != len(args):
            raise TypeError(f"{artifact.name} constructor takes {len(types)} argument(s) ({', '.join(types)}), got {len(args)}")
        data = artifact.bytecode + abi_encode(types, list(args))
        receipt = send_transaction(chain, signer, to=None, data=data, context=f"deploy {artifact.name}")
        assert receipt.contract_address is not None
        return cls(chain, receipt.contract_address, artifact.abi, artifact.name), receipt

    def function(self, name: str, nargs: int | None = None) -> AbiFunction:
        candidates = self._functions.get(name)
        if not candidates:
            known = ", ".join(sorted(self._functions))
            raise AttributeError(f"{self.name} has no function {name!r}; it has: {known}")
        if nargs is not None:
            for fn in candidates:
                if len(fn.inputs) == nargs:
                    return fn
        return candidates[0]

    def encode(self, fn_name: str, *args: Any) -> bytes:
        return self.function(fn_name, len(args)).encode(args)

    def call(self, fn_name: str, *args: Any, sender: str | None = None, block: int | str = "latest") -> Any:
        fn = self.function(fn_name, len(args))
        context = f"{self.name}.{fn_name}"
        try:
            out = self.chain.call(CallRequest(to=self.address, data=fn.encode(args), sender=sender), block)
        except ContractRevert as e:
            raise decode_revert(e, context) from None
        return fn.decode_output(out)

    def transact(self, signer: Signer, fn_name: str, *args: Any, value: int = 0, gas: int | None = None) -> Receipt:
        data = self.encode(fn_name, *args)
        return send_transaction(self.chain, signer, to=self.address, data=data, value=value, gas=gas,
                                context=f"{self.name}.{fn_name}")

    def event(self, name: str) -> AbiEvent:
        if name not in self._events:
            raise AttributeError(f"{self.name} has no event {name!r}; it has: {', '.join(sorted(self._events))}")
        return self._events[name]

    def decode_logs(self, logs: Iterable[Log], name: str | None = None) -> list[DecodedEvent]:
        by_topic = {e.topic: e for e in self._events.values()}
        out = []
        for log in logs:
            if log.address != self.address or not log.topics:
                continue
            event = by_topic.get(log.topics[0])
            if event is None or (name is not None and event.name != name):
                continue
            out.append(DecodedEvent(event.name, event.decode(log.topics, log.data), log.address,
                                    log.block_number, log.transaction_hash, log.log_index))
        return out

    def events(self, receipt: Receipt, name: str | None = None) -> list[DecodedEvent]:
        return self.decode_logs(receipt.logs, name)

    def get_events(self, name: str, from_block: int = 0, to_block: int | None = None,
                   topics: Sequence[bytes | None] = ()) -> list[DecodedEvent]:
        end = self.chain.block_number() if to_block is None else to_block
        logs = self.chain.get_logs(from_block=from_block, to_block=end, address=self.address,
                                   topics=[self.event(name).topic, *topics])
        return self.decode_logs(logs, name)
