"""Epoch settlement: Merkle leaves of per-UID emission, proofs, and EIP-712 signatures of the root.

Hashing matches ``SubnetRegistry``: a leaf is ``keccak(abi.encode(fields))``, the tree hashes it
once more (``keccak(abi.encode(leaf))``, so a leaf can never pass for an inner node), and inner
nodes hash the sorted pair ``keccak(abi.encode(min, max))``, so proofs need no left/right flags.
"""

from __future__ import annotations

from dataclasses import dataclass

from eth_abi import encode
from eth_account.signers.local import LocalAccount
from eth_utils import keccak

from ..accounts.typed_data import contract_domain, sign_typed_data, typed_data, typed_data_digest

RAO = 10**9  # TSR has 18 decimals; epochs count in rao (1e-9 TSR), as Bittensor does for TAO
NO_PRUNE = 0xFFFF
EPOCH_RESULT_TYPES = {
    "EpochResult": [
        {"name": "netuid", "type": "uint16"},
        {"name": "epoch", "type": "uint64"},
        {"name": "stateRoot", "type": "bytes32"},
        {"name": "resultRoot", "type": "bytes32"},
        {"name": "emission", "type": "uint256"},
        {"name": "pruneUid", "type": "uint16"},
    ]
}


@dataclass(frozen=True)
class Leaf:
    """One UID's emission in a subnet epoch (wei of TSR)."""

    uid: int
    hotkey: str
    incentive: int
    dividend: int

    def hash(self, netuid: int, epoch: int) -> bytes:
        return keccak(encode(["uint16", "uint64", "uint16", "address", "uint256", "uint256"],
                             [netuid, epoch, self.uid, self.hotkey, self.incentive, self.dividend]))


def root_leaf_hash(epoch: int, netuid: int, amount: int) -> bytes:
    """A root-network leaf: subnet ``netuid``'s allocation from root epoch ``epoch``."""
    return keccak(encode(["uint16", "uint64", "uint16", "uint256"], [0, epoch, netuid, amount]))


class MerkleTree:
    """Sorted-pair Merkle tree over leaf hashes; ``proof(i)`` proves the i-th leaf."""

    def __init__(self, leaf_hashes: list[bytes]) -> None:
        if not leaf_hashes:
            raise ValueError("a Merkle tree needs at least one leaf")
        self.layers = [[keccak(h) for h in leaf_hashes]]
        while len(self.layers[-1]) > 1:
            layer = self.layers[-1]
            self.layers.append([
                _pair(layer[i], layer[i + 1]) if i + 1 < len(layer) else layer[i]
                for i in range(0, len(layer), 2)
            ])

    @property
    def root(self) -> bytes:
        return self.layers[-1][0]

    def proof(self, index: int) -> list[bytes]:
        path = []
        for layer in self.layers[:-1]:
            sibling = index ^ 1
            if sibling < len(layer):
                path.append(layer[sibling])
            index //= 2
        return path


def _pair(a: bytes, b: bytes) -> bytes:
    return keccak(a + b) if a < b else keccak(b + a)


def verify(leaf_hash: bytes, proof: list[bytes], root: bytes) -> bool:
    node = keccak(leaf_hash)
    for sibling in proof:
        node = _pair(node, sibling)
    return node == root


@dataclass(frozen=True)
class EpochResult:
    """What validators sign: the subnet, the epoch, the roots and the amount the leaves pay."""

    netuid: int
    epoch: int
    state_root: bytes
    result_root: bytes
    emission: int
    prune_uid: int = NO_PRUNE

    def typed_data(self, chain_id: int, registry: str) -> dict[str, object]:
        return typed_data(contract_domain("Tessera SubnetRegistry", "1", chain_id, registry), EPOCH_RESULT_TYPES, "EpochResult", {
            "netuid": self.netuid, "epoch": self.epoch, "stateRoot": self.state_root,
            "resultRoot": self.result_root, "emission": self.emission, "pruneUid": self.prune_uid,
        })

    def digest(self, chain_id: int, registry: str) -> bytes:
        return typed_data_digest(self.typed_data(chain_id, registry))

    def sign(self, account: LocalAccount, chain_id: int, registry: str) -> bytes:
        sig = sign_typed_data(account, self.typed_data(chain_id, registry))
        return sig.packed

    def args(self) -> tuple[int, int, bytes, bytes, int, int]:
        return self.netuid, self.epoch, self.state_root, self.result_root, self.emission, self.prune_uid


def order_signatures(signatures: dict[str, bytes]) -> list[bytes]:
    """The contract wants signatures sorted by signer address (it rejects duplicates that way)."""
    return [signatures[a] for a in sorted(signatures, key=lambda a: int(a, 16))]
