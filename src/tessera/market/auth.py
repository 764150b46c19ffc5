"""Tenant ↔ provider request signatures (EIP-191 personal messages), bound to chain, market and lease."""

from __future__ import annotations

from typing import Any

from eth_account import Account
from eth_account.messages import encode_defunct

from ..errors import ManifestError

LOGS_MAX_SKEW = 300  # seconds a signed logs request stays valid


def manifest_message(chain_id: int, market: str, lease_id: int, manifest_hash: bytes) -> str:
    return f"tessera:manifest:{chain_id}:{market.lower()}:{lease_id}:0x{manifest_hash.hex()}"


def logs_message(chain_id: int, market: str, lease_id: int, timestamp: int) -> str:
    return f"tessera:logs:{chain_id}:{market.lower()}:{lease_id}:{timestamp}"


def sign(account: Any, message: str) -> str:
    """`account` is an eth-account LocalAccount (dev key or unlocked keystore)."""
    return "0x" + bytes(account.sign_message(encode_defunct(text=message)).signature).hex()


def recover(message: str, signature: str) -> str:
    try:
        return str(Account.recover_message(encode_defunct(text=message), signature=bytes.fromhex(
            signature.removeprefix("0x"))))
    except Exception as e:  # eth-account raises several types for malformed signatures
        raise ManifestError(f"malformed signature ({e}): sign with the tenant's key") from e
