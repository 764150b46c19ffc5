"""What a coprocessor request is: its parameters, its input encoding, and its off-chain signed form.

Inputs travel in the request as bytes in one of two encodings:
- ABI `(int256[] values, uint8 fracBits)`, for contracts: the model's single input tensor, flattened, as
  fixed-point integers (value / 2**fracBits);
- JSON `{"input_data": [[...], ...]}` (ezkl's input format), for accounts and multi-input models.

A request names its input by `inputHash = keccak256(abi.encode(uint256[] inputInstances))`: the public
instances a proof of that input carries (Poseidon hashes or quantized values, depending on the model's
input visibility). Nodes recompute it from the input bytes and refuse inputs that do not match.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from enum import IntEnum
from typing import Any

from eth_abi import decode as abi_decode
from eth_abi import encode as abi_encode
from eth_account import Account
from eth_account.messages import encode_typed_data
from eth_account.signers.local import LocalAccount
from eth_utils import keccak, to_checksum_address

from ..accounts.typed_data import contract_domain, sign_typed_data, typed_data
from ..errors import CoprocessorError, RequestInputError

MAX_JSON_INPUT = 1 << 20


class ProofMode(IntEnum):
    NONE = 0
    ZK = 1
    OPTIMISTIC = 2

    @classmethod
    def parse(cls, name: str) -> "ProofMode":
        try:
            return cls[name.upper()]
        except KeyError:
            raise CoprocessorError(f"unknown proof mode {name!r}: use none, zk or optimistic") from None


class JobStatus(IntEnum):
    OPEN = 0
    CHALLENGEABLE = 1
    COMPLETED = 2
    REFUNDED = 3


@dataclass(frozen=True)
class RequestParams:
    model_id: bytes
    input_hash: bytes  # 32 zero bytes: the consumer contract gives the input per interval
    fee: int  # stablecoin base units per node per interval
    max_gas_price: int  # wei
    callback_gas_limit: int = 200_000
    ttl: int = 600
    redundancy: int = 1
    mode: ProofMode = ProofMode.NONE
    count: int = 1
    period: int = 0

    def as_tuple(self) -> tuple[Any, ...]:
        return (self.model_id, self.input_hash, self.fee, self.max_gas_price, self.callback_gas_limit, self.ttl,
                self.redundancy, int(self.mode), self.count, self.period)

    @classmethod
    def from_tuple(cls, t: Any) -> "RequestParams":
        return cls(bytes(t[0]), bytes(t[1]), int(t[2]), int(t[3]), int(t[4]), int(t[5]), int(t[6]),
                   ProofMode(int(t[7])), int(t[8]), int(t[9]))

    def to_json(self) -> dict[str, Any]:
        out = asdict(self)
        out["model_id"] = "0x" + self.model_id.hex()
        out["input_hash"] = "0x" + self.input_hash.hex()
        out["mode"] = self.mode.name.lower()
        return out

    @classmethod
    def from_json(cls, raw: dict[str, Any]) -> "RequestParams":
        try:
            return cls(
                model_id=_bytes32(raw["model_id"], "model_id"), input_hash=_bytes32(raw["input_hash"], "input_hash"),
                fee=int(raw["fee"]), max_gas_price=int(raw["max_gas_price"]),
                callback_gas_limit=int(raw.get("callback_gas_limit", 200_000)), ttl=int(raw.get("ttl", 600)),
                redundancy=int(raw.get("redundancy", 1)), mode=ProofMode.parse(str(raw.get("mode", "none"))),
                count=int(raw.get("count", 1)), period=int(raw.get("period", 0)),
            )
        except (KeyError, TypeError, ValueError) as e:
            raise CoprocessorError(f"malformed request parameters ({e!r}): give model_id, input_hash, fee and "
                                   "max_gas_price, and optionally callback_gas_limit, ttl, redundancy, mode, count, "
                                   "period") from e


def _bytes32(value: Any, name: str) -> bytes:
    raw = bytes.fromhex(str(value).removeprefix("0x"))
    if len(raw) != 32:
        raise ValueError(f"{name} must be 32 bytes, got {len(raw)}")
    return raw


def hash_instances(instances: list[int]) -> bytes:
    """keccak256(abi.encode(uint256[] instances)): how a request names its input (the Coordinator's
    `hashInstances`)."""
    return keccak(abi_encode(["uint256[]"], [list(instances)]))


def output_hash(output: list[int]) -> bytes:
    """keccak256(abi.encode(uint256[] output)): how the Coordinator names a delivered result."""
    return keccak(abi_encode(["uint256[]"], [output]))


def delivery_payload(output: list[int], salt: bytes) -> bytes:
    """What a None/Optimistic delivery commits to: the result and a secret salt (so a small output space cannot
    be guessed from the commitment)."""
    return keccak(abi_encode(["bytes32", "bytes32"], [output_hash(output), salt]))


def proof_payload(proof_bytes: bytes) -> bytes:
    """What a zk delivery or a challenge commits to: the proof itself (no one can commit to it before seeing it)."""
    return keccak(proof_bytes)


def commitment_of(sender: str, request_id: int, interval: int, payload: bytes) -> bytes:
    """Coordinator.commitmentOf: the commitment names its sender, so it cannot be reused by another node."""
    return keccak(abi_encode(["address", "uint64", "uint32", "bytes32"], [sender, request_id, interval, payload]))


def encode_abi_input(values: list[float] | list[int], frac_bits: int = 0) -> bytes:
    """A flat input as fixed-point integers, the encoding contracts produce."""
    if not 0 <= frac_bits <= 64:
        raise RequestInputError(f"fracBits must be between 0 and 64, got {frac_bits}")
    return abi_encode(["int256[]", "uint8"], [[round(float(v) * 2**frac_bits) for v in values], frac_bits])


def encode_json_input(data: dict[str, Any]) -> bytes:
    return json.dumps(data, separators=(",", ":")).encode()


def decode_input(raw: bytes) -> dict[str, Any]:
    """Request input bytes → ezkl input JSON. Raises RequestInputError naming the problem."""
    if raw[:1] == b"{":
        if len(raw) > MAX_JSON_INPUT:
            raise RequestInputError(f"JSON input is {len(raw)} bytes, over the {MAX_JSON_INPUT}-byte limit")
        try:
            data = json.loads(raw)
        except ValueError as e:
            raise RequestInputError(f"request input is not valid JSON ({e}): send {{\"input_data\": [[...]]}}") from e
        if not isinstance(data, dict) or not isinstance(data.get("input_data"), list):
            raise RequestInputError("JSON request input must be {\"input_data\": [[...], ...]}")
        return data
    try:
        values, frac_bits = abi_decode(["int256[]", "uint8"], raw)
    except Exception as e:  # eth_abi raises several decoding errors
        raise RequestInputError(
            f"request input ({len(raw)} bytes) is neither JSON nor abi.encode(int256[] values, uint8 fracBits): "
            "encode it with one of the two") from e
    if frac_bits > 64:
        raise RequestInputError(f"request input has fracBits {frac_bits}: at most 64 are supported")
    return {"input_data": [[int(v) / 2**frac_bits for v in values]]}


# ---- off-chain signed requests (EIP-712), submitted on-chain by a node with requestFor -------------------

SIGNED_REQUEST_TYPES = {"CoprocessorRequest": [
    {"name": "consumer", "type": "address"}, {"name": "modelId", "type": "bytes32"},
    {"name": "inputHash", "type": "bytes32"}, {"name": "inputDataHash", "type": "bytes32"},
    {"name": "fee", "type": "uint128"}, {"name": "maxGasPrice", "type": "uint128"},
    {"name": "callbackGasLimit", "type": "uint32"}, {"name": "ttl", "type": "uint32"},
    {"name": "redundancy", "type": "uint8"}, {"name": "mode", "type": "uint8"}, {"name": "count", "type": "uint32"},
    {"name": "period", "type": "uint64"}, {"name": "nonce", "type": "uint256"}, {"name": "deadline", "type": "uint64"},
]}


@dataclass(frozen=True)
class SignedRequest:
    consumer: str
    params: RequestParams
    input: bytes
    nonce: int
    deadline: int
    signature: bytes

    def to_json(self) -> dict[str, Any]:
        return {"consumer": self.consumer, "params": self.params.to_json(), "input": "0x" + self.input.hex(),
                "nonce": self.nonce, "deadline": self.deadline, "signature": "0x" + self.signature.hex()}

    @classmethod
    def from_json(cls, raw: Any) -> "SignedRequest":
        if not isinstance(raw, dict):
            raise CoprocessorError("a signed request must be a JSON object: build it with sign_request")
        try:
            return cls(to_checksum_address(raw["consumer"]), RequestParams.from_json(raw["params"]),
                       bytes.fromhex(str(raw["input"]).removeprefix("0x")), int(raw["nonce"]), int(raw["deadline"]),
                       bytes.fromhex(str(raw["signature"]).removeprefix("0x")))
        except (KeyError, TypeError, ValueError) as e:
            raise CoprocessorError(f"malformed signed request ({e!r}): build it with sign_request") from e


def _signed_message(chain_id: int, coordinator: str, consumer: str, params: RequestParams, input_data: bytes,
                    nonce: int, deadline: int) -> dict[str, Any]:
    message = {
        "consumer": consumer, "modelId": params.model_id, "inputHash": params.input_hash,
        "inputDataHash": keccak(input_data), "fee": params.fee, "maxGasPrice": params.max_gas_price,
        "callbackGasLimit": params.callback_gas_limit, "ttl": params.ttl, "redundancy": params.redundancy,
        "mode": int(params.mode), "count": params.count, "period": params.period, "nonce": nonce,
        "deadline": deadline,
    }
    domain = contract_domain("TesseraCoordinator", "1", chain_id, coordinator)
    return typed_data(domain, SIGNED_REQUEST_TYPES, "CoprocessorRequest", message)


def sign_request(account: LocalAccount, chain_id: int, coordinator: str, params: RequestParams, input_data: bytes,
                 nonce: int, deadline: int) -> SignedRequest:
    data = _signed_message(chain_id, coordinator, account.address, params, input_data, nonce, deadline)
    return SignedRequest(account.address, params, input_data, nonce, deadline, sign_typed_data(account, data).packed)


def request_signer(chain_id: int, coordinator: str, req: SignedRequest) -> str:
    data = _signed_message(chain_id, coordinator, req.consumer, req.params, req.input, req.nonce, req.deadline)
    try:
        return str(Account.recover_message(encode_typed_data(full_message=data), signature=req.signature))
    except Exception as e:  # malformed signature bytes
        raise CoprocessorError(f"the request signature is malformed ({e}): sign it with sign_request") from e
