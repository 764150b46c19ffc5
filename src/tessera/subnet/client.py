"""The subnet registry from Python: create, register, stake, commit/reveal, and settle epochs.

``SubnetClient.compute_epoch`` is what every validator runs: it reads the subnet's state at the
epoch block, runs Yuma (bit-exact, :mod:`tessera.subnet.yuma`), and turns the emissions into
Merkle leaves. Bonds and permits are not stored on-chain (the chain would pay for 256 x 4096 u16
per epoch); validators carry them between epochs, and they are part of the hashed state, so two
validators that disagree on them sign different state roots and neither result finalizes.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from typing import Any

from eth_abi import encode
from eth_utils import keccak

from ..chain.base import Chain
from ..chain.contract import Contract, Signer
from ..errors import SubnetError
from ..protocol.deploy import Deployment
from .root import allocate, root_shares
from .settlement import NO_PRUNE, RAO, EpochResult, Leaf, MerkleTree, root_leaf_hash
from .yuma import run_epoch

VERSIONS = ("yuma2", "yuma3", "yuma3_liquid")
OWNER_CUT_BPS = 1800


@dataclass(frozen=True)
class SubnetHyper:
    """On-chain subnet hyperparameters (bounds are enforced by the contract)."""

    max_uids: int = 256
    max_validators: int = 64
    tempo: int = 360
    immunity_period: int = 4096
    reveal_window: int = 360
    kappa: int = 32767
    bonds_moving_average: int = 900_000
    yuma_version: str = "yuma3"

    def as_tuple(self) -> tuple[int, ...]:
        return (self.max_uids, self.max_validators, self.tempo, self.immunity_period, self.reveal_window,
                self.kappa, self.bonds_moving_average, VERSIONS.index(self.yuma_version))

    @classmethod
    def from_tuple(cls, t: Any) -> "SubnetHyper":
        return cls(max_uids=t[0], max_validators=t[1], tempo=t[2], immunity_period=t[3], reveal_window=t[4],
                   kappa=t[5], bonds_moving_average=t[6], yuma_version=VERSIONS[t[7]])


@dataclass
class Carry:
    """Off-chain state one epoch hands to the next: stored bond rows and validator permits."""

    bonds: dict[int, list[list[int]]] = field(default_factory=dict)
    permits: dict[int, bool] = field(default_factory=dict)

    def update(self, output: dict[str, Any]) -> None:
        for uid, row in enumerate(output["bonds_stored"]):
            if row is not None:
                self.bonds[uid] = row
        self.permits = dict(enumerate(output["new_validator_permits"]))


@dataclass
class EpochComputation:
    netuid: int
    epoch: int
    block: int
    state: dict[str, Any]
    output: dict[str, Any]
    leaves: list[Leaf]
    tree: MerkleTree
    result: EpochResult

    def proof(self, uid: int) -> list[bytes]:
        return self.tree.proof(uid)


def commit_hash(netuid: int, hotkey: str, uids: list[int], values: list[int], salt: bytes) -> bytes:
    return keccak(encode(["uint16", "address", "uint16[]", "uint16[]", "bytes32"], [netuid, hotkey, uids, values, salt]))


class SubnetClient:
    def __init__(self, chain: Chain, deployment: Deployment) -> None:
        self.chain = chain
        self.d = deployment
        self.registry: Contract = deployment.subnets

    # ------------------------------------------------------------ transactions

    def _approve(self, signer: Signer, amount: int) -> None:
        if amount > 0 and self.d.token.call("allowance", signer.address, self.registry.address) < amount:
            self.d.token.transact(signer, "approve", self.registry.address, amount)

    def create_subnet(self, owner: Signer, hyper: SubnetHyper, registration_cost: int = 0) -> int:
        self._approve(owner, self.registry.call("creationCost"))
        receipt = self.registry.transact(owner, "createSubnet", hyper.as_tuple(), registration_cost)
        return int(self.registry.events(receipt, "SubnetCreated")[0].args["netuid"])

    def register(self, hotkey: Signer, netuid: int) -> int:
        registered, uid = self.registry.call("uidOf", netuid, hotkey.address)
        if registered:
            return int(uid)
        self._approve(hotkey, self.subnet(netuid)["registrationCost"])
        receipt = self.registry.transact(hotkey, "register", netuid)
        return int(self.registry.events(receipt, "NeuronRegistered")[0].args["uid"])

    def stake(self, staker: Signer, netuid: int, hotkey: str, amount: int) -> None:
        self._approve(staker, amount)
        self.registry.transact(staker, "stake", netuid, hotkey, amount)

    def unstake(self, staker: Signer, netuid: int, hotkey: str, shares: int) -> int:
        """Stop staking ``shares``; returns the TSR that starts unbonding (``withdraw_unstaked`` takes it
        out once the equivocation window has passed)."""
        receipt = self.registry.transact(staker, "unstake", netuid, hotkey, shares)
        return int(self.registry.events(receipt, "Unstaked")[0].args["assets"])

    def withdraw_unstaked(self, staker: Signer, netuid: int, hotkey: str) -> int:
        receipt = self.registry.transact(staker, "withdrawUnstaked", netuid, hotkey)
        return int(self.registry.events(receipt, "Withdrawn")[0].args["assets"])

    def commit_weights(self, hotkey: Signer, netuid: int, uids: list[int], values: list[int]) -> bytes:
        salt = os.urandom(32)
        self.registry.transact(hotkey, "commitWeights", netuid, commit_hash(netuid, hotkey.address, uids, values, salt))
        return salt

    def reveal_weights(self, hotkey: Signer, netuid: int, uids: list[int], values: list[int], salt: bytes) -> None:
        self.registry.transact(hotkey, "revealWeights", netuid, uids, values, salt)

    def pull_emission(self, signer: Signer) -> int:
        receipt = self.registry.transact(signer, "pullEmission")
        return int(self.registry.events(receipt, "EmissionPulled")[0].args["amount"])

    def finalize(self, signer: Signer, result: EpochResult, signatures: list[bytes]) -> Any:
        return self.registry.transact(signer, "finalizeEpoch", *result.args(), signatures)

    def claim(self, signer: Signer, comp: EpochComputation, uid: int) -> Any:
        leaf = comp.leaves[uid]
        return self.registry.transact(signer, "claim", comp.netuid, comp.epoch, uid, leaf.hotkey, leaf.incentive,
                                      leaf.dividend, comp.proof(uid))

    # ------------------------------------------------------------ views

    def subnet(self, netuid: int, block: int | str = "latest") -> dict[str, Any]:
        owner, n, prune, last_epoch, last_block, cost, pending, total_stake, hyper = self.registry.call(
            "subnet", netuid, block=block)
        return {"owner": owner, "n": n, "pruneUid": prune, "lastEpoch": last_epoch, "lastEpochBlock": last_block,
                "registrationCost": cost, "pending": pending, "totalStake": total_stake,
                "hyper": SubnetHyper.from_tuple(hyper)}

    def next_epoch_block(self, netuid: int) -> int:
        """The pending epoch's earliest boundary; it can be finalized in any later block."""
        s = self.subnet(netuid)
        return int(s["lastEpochBlock"]) + s["hyper"].tempo

    def epoch_block(self, netuid: int, subnet: dict[str, Any] | None = None) -> int:
        """The block the pending epoch reads: the latest boundary (on the grid creation + k*tempo) reached
        since the previous epoch, or the due block itself when not yet reached. The contract weighs the
        signatures with the stake at the latest boundary before the finalizing block, so an epoch computed
        now is finalized before the next boundary passes."""
        s = self.subnet(netuid) if subnet is None else subnet
        last, tempo, now = int(s["lastEpochBlock"]), s["hyper"].tempo, self.chain.block_number()
        return last + tempo * max(1, (now - last) // tempo)

    def reveal_opens(self, netuid: int, commit_block: int) -> int:
        """The first block in which a commit made at ``commit_block`` may be revealed: the one after the
        first epoch boundary at or after the commit (so a reveal can never be copied into its own epoch)."""
        s = self.subnet(netuid)
        tempo = s["hyper"].tempo
        origin = int(s["lastEpochBlock"]) % tempo
        if commit_block <= origin:
            return origin + 1
        return origin + -(-(commit_block - origin) // tempo) * tempo + 1

    def pending_commit_block(self, netuid: int, hotkey: str) -> int | None:
        registered, uid = self.registry.call("uidOf", netuid, hotkey)
        if not registered:
            return None
        _, block = self.registry.call("commits", netuid, uid)
        return int(block) or None

    def wait_for_reveal(self, netuid: int, hotkey: str) -> None:
        """Devnets: mine until this hotkey's pending commit may be revealed in the next block."""
        block = self.pending_commit_block(netuid, hotkey)
        if block is not None:
            opens = self.reveal_opens(netuid, block)
            self.chain.mine(max(0, opens - 1 - self.chain.block_number()))

    def signed_stake(self, netuid: int, signers: list[str], boundary: int) -> tuple[int, int]:
        """(stake behind ``signers``, total stake), both as of the end of ``boundary``: what finalization weighs."""
        signed = sum(int(self.registry.call("stakeAt", netuid, a, boundary)) for a in signers)
        return signed, int(self.registry.call("totalStakeAt", netuid, boundary))

    # ------------------------------------------------------------ epochs

    def read_state(self, netuid: int, block: int, carry: Carry, emission_rao: int) -> tuple[dict[str, Any], list[str]]:
        """The Yuma input for ``netuid`` as of ``block`` (deterministic: every validator reads the same)."""
        s = self.subnet(netuid, block)
        h: SubnetHyper = s["hyper"]
        neurons = [self.registry.call("neuron", netuid, uid, block=block) for uid in range(s["n"])]
        hotkeys = [nrn[0] for nrn in neurons]
        registered = [int(nrn[1]) for nrn in neurons]
        weights: dict[int, list[list[int]]] = {}
        for ev in self.registry.get_events("WeightsRevealed", 0, block, topics=[netuid.to_bytes(32, "big")]):
            uid = int(ev.args["uid"])
            if ev.block_number >= registered[uid]:  # a previous holder's reveals do not count
                weights[uid] = [[u, v] for u, v in zip(ev.args["uids"], ev.args["values"])]
        owner_uid = hotkeys.index(s["owner"]) if s["owner"] in hotkeys else -1
        stakes = [self.registry.call("stakeOf", netuid, hk, block=block) // RAO for hk in hotkeys]
        if carry.permits:
            permits = [carry.permits.get(uid, False) for uid in range(s["n"])]
        else:
            # The subnet's first epoch has no previous permits to read: bootstrap with the top-k
            # non-zero stakes, which is what that epoch's own permit step will compute.
            ranked = sorted((-st, uid) for uid, st in enumerate(stakes) if st > 0)[: h.max_validators]
            permits = [False] * s["n"]
            for _, uid in ranked:
                permits[uid] = True
        state = {
            "yuma_version": h.yuma_version,
            "hyperparameters": {
                "kappa": h.kappa, "bonds_moving_average": h.bonds_moving_average,
                "max_allowed_validators": h.max_validators, "tempo": h.tempo, "activity_cutoff": 14 * h.tempo,
                "owner_uid": owner_uid, "commit_reveal_enabled": 1, "rao_emission": emission_rao,
            },
            "inputs": {
                "current_block": block, "last_mechanism_step_block": int(s["lastEpochBlock"]),
                "last_update": [int(nrn[2]) for nrn in neurons], "block_at_registration": registered,
                "alpha_stake": stakes,
                "tao_stake": [0] * s["n"],
                "validator_permit": permits,
                "weights_submitted": [weights.get(uid, []) for uid in range(s["n"])],
                "bonds": [carry.bonds.get(uid, []) for uid in range(s["n"])],
                "commit_block": [int(nrn[3]) if nrn[3] else None for nrn in neurons],
            },
        }
        return state, hotkeys

    def compute_epoch(self, netuid: int, carry: Carry, block: int | None = None) -> EpochComputation:
        s = self.subnet(netuid)
        at = self.epoch_block(netuid, s) if block is None else block
        if at > self.chain.block_number():
            raise SubnetError(f"subnet {netuid}'s next epoch is due at block {at}; the chain is at "
                              f"{self.chain.block_number()}: wait (or mine) until then")
        pending = int(self.subnet(netuid, at)["pending"])
        emission_rao = pending * (10_000 - OWNER_CUT_BPS) // 10_000 // RAO
        state, hotkeys = self.read_state(netuid, at, carry, emission_rao)
        output = run_epoch(state)
        leaves = [Leaf(uid, hk, output["server_emission"][uid] * RAO, output["validator_emission"][uid] * RAO)
                  for uid, hk in enumerate(hotkeys)]
        epoch = int(s["lastEpoch"]) + 1
        tree = MerkleTree([leaf.hash(netuid, epoch) for leaf in leaves] or [b"\0" * 32])
        state_root = keccak(json.dumps(state, sort_keys=True, separators=(",", ":")).encode())
        result = EpochResult(netuid, epoch, state_root, tree.root, sum(l.incentive + l.dividend for l in leaves),
                             _prune_uid(state, output, s["hyper"], at))
        return EpochComputation(netuid, epoch, at, state, output, leaves, tree, result)

    # ------------------------------------------------------------ root network

    def root_allocation(self, block: int | None = None) -> tuple[EpochResult, list[int], MerkleTree]:
        """The root epoch: split the root pool among subnets by root validators' revealed weights."""
        at = self.epoch_block(0) if block is None else block
        if at > self.chain.block_number():
            raise SubnetError(f"the root epoch is due at block {at}; the chain is at {self.chain.block_number()}: "
                              "wait (or mine) until then")
        root = self.subnet(0, at)
        subnets = int(self.registry.call("subnetCount", block=at))
        hotkeys = [self.registry.call("neuron", 0, uid, block=at)[0] for uid in range(root["n"])]
        stakes = [self.registry.call("stakeOf", 0, hk, block=at) for hk in hotkeys]
        weights: dict[int, dict[int, int]] = {}
        for ev in self.registry.get_events("WeightsRevealed", 0, at, topics=[(0).to_bytes(32, "big")]):
            weights[int(ev.args["uid"])] = dict(zip(ev.args["uids"], ev.args["values"]))
        shares = root_shares(stakes, [weights.get(uid, {}) for uid in range(root["n"])], subnets)
        pool = int(self.registry.call("rootPool", block=at))
        amounts = allocate(pool, shares)
        epoch = int(root["lastEpoch"]) + 1
        tree = MerkleTree([root_leaf_hash(epoch, k, a) for k, a in enumerate(amounts)])
        state_root = keccak(json.dumps({"stakes": stakes, "weights": {str(k): v for k, v in weights.items()},
                                        "pool": pool, "block": at}, sort_keys=True).encode())
        # root UIDs are pruned like a subnet's: when root is full, the lowest-stake one (earliest registered,
        # then lowest UID, on ties) past its immunity makes room for the next registration
        hyper: SubnetHyper = root["hyper"]
        registered = [int(self.registry.call("neuron", 0, uid, block=at)[1]) for uid in range(root["n"])]
        candidates = [(stakes[uid], registered[uid], uid) for uid in range(root["n"])
                      if at >= registered[uid] + hyper.immunity_period]
        prune = min(candidates)[2] if candidates else NO_PRUNE
        return EpochResult(0, epoch, state_root, tree.root, sum(amounts), prune), amounts, tree

    def credit_subnet(self, signer: Signer, root_epoch: int, netuid: int, amount: int, tree: MerkleTree) -> Any:
        return self.registry.transact(signer, "creditSubnet", root_epoch, netuid, amount, tree.proof(netuid))


def _prune_uid(state: dict[str, Any], output: dict[str, Any], hyper: SubnetHyper, block: int) -> int:
    """Lowest emission among non-immune UIDs; ties by earlier registration, then lower UID."""
    registered = state["inputs"]["block_at_registration"]
    owner = state["hyperparameters"]["owner_uid"]
    candidates = [
        (output["combined_emission"][uid], registered[uid], uid) for uid in range(len(registered))
        if uid != owner and block >= registered[uid] + hyper.immunity_period
    ]
    return min(candidates)[2] if candidates else NO_PRUNE
