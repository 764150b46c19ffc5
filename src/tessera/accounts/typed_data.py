"""EIP-712 typed-data signing, and the two standard token authorizations built on it:
EIP-2612 `permit` and EIP-3009 `transferWithAuthorization` (x402-style payments)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

from eth_account.messages import encode_typed_data
from eth_account.signers.local import LocalAccount
from eth_utils import keccak

_DOMAIN_FIELDS = [
    {"name": "name", "type": "string"},
    {"name": "version", "type": "string"},
    {"name": "chainId", "type": "uint256"},
    {"name": "verifyingContract", "type": "address"},
]


@dataclass(frozen=True)
class Signature:
    v: int
    r: bytes
    s: bytes

    @property
    def vrs(self) -> tuple[int, bytes, bytes]:
        return self.v, self.r, self.s

    @property
    def packed(self) -> bytes:
        """r ‖ s ‖ v: the 65-byte form contracts take as `bytes signature`."""
        return self.r + self.s + bytes([self.v])


def typed_data(domain: dict[str, Any], types: dict[str, list[dict[str, str]]], primary_type: str,
               message: dict[str, Any]) -> dict[str, Any]:
    return {
        "types": {"EIP712Domain": [f for f in _DOMAIN_FIELDS if f["name"] in domain], **types},
        "domain": domain,
        "primaryType": primary_type,
        "message": message,
    }


def typed_data_digest(data: dict[str, Any]) -> bytes:
    signable = encode_typed_data(full_message=data)
    return keccak(b"\x19" + signable.version + signable.header + signable.body)


def sign_typed_data(account: LocalAccount, data: dict[str, Any]) -> Signature:
    signed = account.sign_message(encode_typed_data(full_message=data))
    return Signature(signed.v, signed.r.to_bytes(32, "big"), signed.s.to_bytes(32, "big"))


def contract_domain(name: str, version: str, chain_id: int, contract: str) -> dict[str, Any]:
    """The EIP-712 domain of a contract (a token's for permits, a protocol contract's for its messages)."""
    return {"name": name, "version": version, "chainId": chain_id, "verifyingContract": contract}


def permit_data(domain: dict[str, Any], owner: str, spender: str, value: int, nonce: int,
                deadline: int) -> dict[str, Any]:
    """EIP-2612 Permit."""
    types = {"Permit": [
        {"name": "owner", "type": "address"}, {"name": "spender", "type": "address"},
        {"name": "value", "type": "uint256"}, {"name": "nonce", "type": "uint256"},
        {"name": "deadline", "type": "uint256"},
    ]}
    message = {"owner": owner, "spender": spender, "value": value, "nonce": nonce, "deadline": deadline}
    return typed_data(domain, types, "Permit", message)


def transfer_authorization_data(
    domain: dict[str, Any], sender: str, to: str, value: int, valid_after: int, valid_before: int,
    nonce: bytes | None = None, *, primary_type: str = "TransferWithAuthorization",
) -> dict[str, Any]:
    """EIP-3009 TransferWithAuthorization (or ReceiveWithAuthorization). A random nonce if none is given."""
    fields = [
        {"name": "from", "type": "address"}, {"name": "to", "type": "address"},
        {"name": "value", "type": "uint256"}, {"name": "validAfter", "type": "uint256"},
        {"name": "validBefore", "type": "uint256"}, {"name": "nonce", "type": "bytes32"},
    ]
    message = {"from": sender, "to": to, "value": value, "validAfter": valid_after,
               "validBefore": valid_before, "nonce": nonce if nonce is not None else os.urandom(32)}
    return typed_data(domain, {primary_type: fields}, primary_type, message)
