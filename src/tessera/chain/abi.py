"""ABI encoding and decoding: function calls, events and revert data.

A thin layer over eth-abi so that Tessera depends on no web3 client and both chain
backends share one code path.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterable, Sequence

from eth_abi import decode as abi_decode
from eth_abi import encode as abi_encode
from eth_abi.exceptions import DecodingError
from eth_utils import keccak, to_checksum_address

from ..errors import ContractRevert

PANIC_CODES = {
    0x01: "assertion failed",
    0x11: "arithmetic overflow or underflow",
    0x12: "division or modulo by zero",
    0x21: "invalid enum value",
    0x22: "invalid storage byte array",
    0x31: "pop on empty array",
    0x32: "array index out of bounds",
    0x41: "out of memory",
    0x51: "call to an uninitialised function",
}
_ERROR_STRING = keccak(text="Error(string)")[:4]
_PANIC = keccak(text="Panic(uint256)")[:4]


def type_string(param: dict[str, Any]) -> str:
    """The canonical ABI type of one input/output, expanding tuples."""
    t = param["type"]
    if t.startswith("tuple"):
        inner = ",".join(type_string(c) for c in param["components"])
        return f"({inner}){t[5:]}"
    return str(t)


def signature(item: dict[str, Any]) -> str:
    return f"{item['name']}({','.join(type_string(i) for i in item.get('inputs', []))})"


def _normalize(value: Any, abi_type: str) -> Any:
    """Make decoded values friendly: checksummed addresses, lists for arrays."""
    if abi_type.endswith("]"):
        base = abi_type[: abi_type.rindex("[")]
        return [_normalize(v, base) for v in value]
    if abi_type == "address":
        return to_checksum_address(value)
    if abi_type.startswith("("):
        return tuple(_normalize(v, t) for v, t in zip(value, _tuple_components(abi_type)))
    return value


def _show(value: Any, abi_type: str) -> str:
    """How an error argument reads in a message: a bytes32 that holds short text (a field name) as that text,
    other bytes as 0x hex."""
    if isinstance(value, (bytes, bytearray)):
        text = bytes(value).rstrip(b"\0")
        if abi_type == "bytes32" and text and all(32 <= c < 127 for c in text):
            return repr(text.decode())
        return "0x" + bytes(value).hex()
    return str(value)


def _tuple_components(abi_type: str) -> list[str]:
    """'(uint8,(address,bool)[],bytes32)' → ['uint8', '(address,bool)[]', 'bytes32']."""
    inner, parts, depth, start = abi_type[1:-1], [], 0, 0
    for i, ch in enumerate(inner):
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        elif ch == "," and depth == 0:
            parts.append(inner[start:i])
            start = i + 1
    if inner:
        parts.append(inner[start:])
    return parts


@dataclass(frozen=True)
class AbiFunction:
    name: str
    inputs: tuple[dict[str, Any], ...]
    outputs: tuple[dict[str, Any], ...]
    state_mutability: str

    @property
    def selector(self) -> bytes:
        return keccak(text=signature({"name": self.name, "inputs": self.inputs}))[:4]

    @property
    def input_types(self) -> list[str]:
        return [type_string(i) for i in self.inputs]

    @property
    def output_types(self) -> list[str]:
        return [type_string(o) for o in self.outputs]

    def encode(self, args: Sequence[Any]) -> bytes:
        if len(args) != len(self.inputs):
            expected = ", ".join(f"{type_string(i)} {i['name']}".strip() for i in self.inputs)
            raise TypeError(f"{self.name}() takes ({expected}) but got {len(args)} argument(s)")
        return self.selector + abi_encode(self.input_types, list(args))

    def decode_output(self, data: bytes) -> Any:
        values = [_normalize(v, t) for v, t in zip(abi_decode(self.output_types, data), self.output_types)]
        if len(values) == 1:
            return values[0]
        return tuple(values)


@dataclass(frozen=True)
class DecodedEvent:
    name: str
    args: dict[str, Any]
    address: str
    block_number: int
    transaction_hash: bytes
    log_index: int


@dataclass(frozen=True)
class AbiEvent:
    name: str
    inputs: tuple[dict[str, Any], ...]
    anonymous: bool = False

    @property
    def topic(self) -> bytes:
        return keccak(text=signature({"name": self.name, "inputs": self.inputs}))

    def decode(self, topics: Sequence[bytes], data: bytes) -> dict[str, Any]:
        indexed = [i for i in self.inputs if i.get("indexed")]
        plain = [i for i in self.inputs if not i.get("indexed")]
        values: dict[str, Any] = {}
        for param, topic in zip(indexed, topics[1:]):
            t = type_string(param)
            if t in ("string", "bytes") or t.endswith("]") or t.startswith("("):
                values[param["name"]] = topic  # dynamic indexed values are only hashes
            else:
                values[param["name"]] = _normalize(abi_decode([t], topic)[0], t)
        decoded = abi_decode([type_string(p) for p in plain], data)
        for param, value in zip(plain, decoded):
            values[param["name"]] = _normalize(value, type_string(param))
        return {i["name"]: values[i["name"]] for i in self.inputs}


class ErrorDecoder:
    """Turns revert data into a readable ContractRevert, from every known ABI."""

    def __init__(self) -> None:
        self._errors: dict[bytes, tuple[str, list[dict[str, Any]]]] = {}

    def add_abi(self, abi: Iterable[dict[str, Any]]) -> None:
        for item in abi:
            if item.get("type") == "error":
                selector = keccak(text=signature(item))[:4]
                self._errors[selector] = (item["name"], list(item.get("inputs", [])))

    def decode(self, data: bytes, context: str = "call") -> ContractRevert:
        data = bytes(data)
        selector, body = data[:4], data[4:]
        try:
            if selector == _ERROR_STRING:
                (reason,) = abi_decode(["string"], body)
                return ContractRevert(f"{context} reverted: {reason}", error_name="Error",
                                      error_args={"reason": reason}, data=data)
            if selector == _PANIC:
                (code,) = abi_decode(["uint256"], body)
                meaning = PANIC_CODES.get(code, "unknown panic")
                return ContractRevert(f"{context} reverted: panic 0x{code:02x} ({meaning})",
                                      error_name="Panic", error_args={"code": code}, data=data)
            if selector in self._errors:
                name, inputs = self._errors[selector]
                types = [type_string(i) for i in inputs]
                values = [_normalize(v, t) for v, t in zip(abi_decode(types, body), types)]
                args = {i["name"] or f"arg{n}": v for n, (i, v) in enumerate(zip(inputs, values))}
                shown = ", ".join(f"{k}={_show(v, t)}" for (k, v), t in zip(args.items(), types))
                return ContractRevert(f"{context} reverted: {name}({shown})", error_name=name,
                                      error_args=args, data=data)
        except DecodingError:
            pass
        if not data:
            return ContractRevert(f"{context} reverted without a reason", data=data)
        return ContractRevert(f"{context} reverted with unknown error data 0x{data.hex()}", data=data)
