"""Hypothesis stateful test: every TSR unit the SubnetRegistry holds is, at every step, in the root
pool, in a subnet's pending emission, in a stake vault, or owed to the unclaimed leaves of a
finalized epoch, or unbonding. Stake, unstake, withdrawals, registration fees, emission pulls, root epochs,
subnet epochs with arbitrary leaves, claims and equivocation slashes move TSR between those places; nothing
else does. An attacker stakes, signs and unstakes around epoch boundaries: stake that lands after the boundary
an epoch reads never finalizes anything, stake that lands in the boundary block is that epoch's snapshot,
and either way the attacker's TSR stays slashable while it unbonds.

Runs on the embedded chain; one deployment is shared and each example starts from a snapshot.
"""

from __future__ import annotations

import os
from typing import Any

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from tessera.accounts.dev import dev_account
from tessera.chain import EmbeddedChain
from tessera.errors import ContractRevert
from tessera.protocol.deploy import Deployment, deploy_protocol
from tessera.protocol.faucet import fund_tsr
from tessera.subnet.client import SubnetClient, SubnetHyper
from tessera.subnet.settlement import EpochResult, Leaf, MerkleTree, order_signatures, root_leaf_hash

TSR = 10**18
TEMPO = 5
_WORLD: dict[str, Any] = {}


def part(whole: int, fraction: float) -> int:
    """`whole * fraction` in integers: a float product of an 18-decimal amount can round above `whole`."""
    return whole * round(fraction * 1_000_000) // 1_000_000


def world() -> dict[str, Any]:
    if not _WORLD:
        chain = EmbeddedChain()
        owner = dev_account(0)
        manifest, _ = deploy_protocol(chain, owner, path=None)
        d = Deployment.from_manifest(chain, manifest)
        c = SubnetClient(chain, d)
        validators = [dev_account(i) for i in (1, 2, 3)]
        attacker = dev_account(5)
        fund_tsr(chain, d, owner, attacker.address, 1000 * TSR)
        d.token.transact(attacker, "approve", c.registry.address, 2**256 - 1)
        for who in validators + [owner]:
            fund_tsr(chain, d, owner, who.address, 300 * TSR)
            d.token.transact(who, "approve", c.registry.address, 2**256 - 1)
        netuid = c.create_subnet(owner, SubnetHyper(max_uids=8, max_validators=4, tempo=TEMPO, immunity_period=10,
                                                    reveal_window=TEMPO))
        for v in validators:
            c.register(v, netuid)
            c.register(v, 0)
            c.stake(v, netuid, v.address, 10 * TSR)
            c.stake(v, 0, v.address, 10 * TSR)
        chain.mine(20)
        c.pull_emission(owner)
        c.register(attacker, 0)
        _WORLD.update(chain=chain, d=d, c=c, owner=owner, validators=validators, netuid=netuid, attacker=attacker,
                      snapshot=chain.snapshot())
    return _WORLD


class SubnetConservation(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        w = world()
        w["chain"].revert(w["snapshot"])
        w["snapshot"] = w["chain"].snapshot()
        self.chain: EmbeddedChain = w["chain"]
        self.d: Deployment = w["d"]
        self.c: SubnetClient = w["c"]
        self.r = self.c.registry
        self.owner = w["owner"]
        self.validators = w["validators"]
        self.attacker = w["attacker"]
        self.netuid: int = w["netuid"]
        self.open_results: list[tuple[int, int, list[Leaf], MerkleTree]] = []  # (netuid, epoch, leaves, tree)
        self.claimed: set[tuple[int, int, int]] = set()

    def _finalize(self, netuid: int, amount: int, leaves_or_amounts: Any, tree: MerkleTree) -> None:
        s = self.c.subnet(netuid)
        first = int(s["lastEpochBlock"]) + s["hyper"].tempo
        self.chain.mine(max(0, first - self.chain.block_number()))
        # the finalize (next block) reads the latest boundary passed, which is `first` only if no later one is
        boundary = int(self.r.call("epochBoundaryFor", netuid, self.chain.block_number() + 1))
        if self.r.call("totalStakeAt", netuid, boundary) == 0:
            return
        result = EpochResult(netuid, int(s["lastEpoch"]) + 1, b"\x01" * 32, tree.root, amount)
        # signatures weigh the stake at the boundary: validators with stake then sign
        stakers = [v for v in self.validators + [self.attacker]
                   if self.r.call("stakeAt", netuid, v.address, boundary) > 0
                   and self.r.call("uidOf", netuid, v.address)[0]]
        sigs = {v.address: result.sign(v, self.chain.chain_id, self.r.address) for v in stakers}
        self.c.finalize(self.owner, result, order_signatures(sigs))
        self.open_results.append((netuid, result.epoch, leaves_or_amounts, tree))

    @rule(who=st.integers(0, 2), netuid=st.sampled_from([0, 1]), amount=st.integers(1, 50 * TSR))
    def stake(self, who: int, netuid: int, amount: int) -> None:
        v = self.validators[who]
        self.r.transact(v, "stake", netuid, v.address, amount)

    @rule(who=st.integers(0, 2), netuid=st.sampled_from([0, 1]), fraction=st.floats(0.01, 1.0))
    def unstake(self, who: int, netuid: int, fraction: float) -> None:
        v = self.validators[who]
        shares = self.r.call("sharesOf", netuid, v.address, v.address)
        if shares:
            self.r.transact(v, "unstake", netuid, v.address, max(1, part(shares, fraction)))

    @rule(who=st.integers(0, 2), netuid=st.sampled_from([0, 1]))
    def withdraw_unstaked(self, who: int, netuid: int) -> None:
        v = self.validators[who]
        shares, release_epoch, release_block = self.r.call("unbonding", netuid, v.address, v.address)
        if not shares:
            return
        due = (self.c.subnet(netuid)["lastEpoch"] >= release_epoch
               or self.chain.block_number() + 1 >= release_block)
        if due:
            self.c.withdraw_unstaked(v, netuid, v.address)
        else:
            try:
                self.c.withdraw_unstaked(v, netuid, v.address)
            except ContractRevert as e:
                assert "StillUnbonding" in str(e)
            else:
                raise AssertionError("unstaked TSR left before its equivocation window passed")

    @rule(multiple=st.integers(2, 50), in_boundary_block=st.booleans())
    def attacker_flash_stakes_root(self, multiple: int, in_boundary_block: bool) -> None:
        """Stake many times the honest stake on root, sign a root epoch giving the whole pool to subnet 1,
        try to finalize it in the next block, and unstake. The finalize reads the boundary's checkpoint, so
        it succeeds exactly when the stake landed in the boundary block itself and outweighs 2/3 there (stake
        held over the boundary is that epoch's snapshot, not a flash loan); stake that landed after the
        boundary weighs nothing. Either way the stake then only enters unbonding."""
        a = self.attacker
        root = self.c.subnet(0)
        pool = int(self.r.call("rootPool"))
        amount = min(multiple * max(1, int(root["totalStake"])), int(self.d.token.call("balanceOf", a.address)))
        if amount == 0:
            return
        if in_boundary_block:  # the stake lands in the block that closes an epoch
            boundary = self.c.reveal_opens(0, self.chain.block_number() + 2) - 1
            self.chain.mine(max(0, boundary - 1 - self.chain.block_number()))
        self.r.transact(a, "stake", 0, a.address, amount)
        boundary = int(self.r.call("epochBoundaryFor", 0, self.chain.block_number() + 1))
        held = self.r.call("stakeAt", 0, a.address, boundary) if boundary else 0
        total = self.r.call("totalStakeAt", 0, boundary) if boundary else 0
        decides = bool(self.r.call("uidOf", 0, a.address)[0]) and held > 0 and held * 3 > total * 2
        epoch = int(root["lastEpoch"]) + 1
        amounts = [0, pool]
        tree = MerkleTree([root_leaf_hash(epoch, k, x) for k, x in enumerate(amounts)])
        result = EpochResult(0, epoch, b"\x09" * 32, tree.root, pool)
        try:
            self.c.finalize(a, result, [result.sign(a, self.chain.chain_id, self.r.address)])
        except ContractRevert as e:
            assert not decides, f"stake held over boundary {boundary} should decide it: {e}"
            assert any(err in str(e) for err in ("EpochTooSoon", "SignerNotStaked", "InsufficientSignedStake"))
            assert int(self.r.call("rootPool")) == pool
        else:
            assert decides, "a flash stake (landed after the boundary) finalized a root epoch"
            self.open_results.append((0, epoch, amounts, tree))
        shares = self.r.call("sharesOf", 0, a.address, a.address)
        before = self.d.token.call("balanceOf", a.address)
        self.r.transact(a, "unstake", 0, a.address, shares)
        assert self.d.token.call("balanceOf", a.address) == before  # still in the registry, unbonding

    @rule(blocks=st.integers(1, 30))
    def pull_emission(self, blocks: int) -> None:
        self.chain.mine(blocks)
        self.c.pull_emission(self.owner)
        assert self.d.token.call("balanceOf", self.r.address) == self.r.call("accounted")

    @rule(blocks=st.integers(1, 30))
    def someone_else_distributes(self, blocks: int) -> None:
        self.chain.mine(blocks)
        self.d.emission.transact(self.validators[0], "distribute")

    @precondition(lambda self: self.r.call("rootPool") > 0 and self.c.subnet(0)["totalStake"] > 0)
    @rule(fraction=st.floats(0.0, 1.0))
    def root_epoch(self, fraction: float) -> None:
        amount = part(self.r.call("rootPool"), fraction)
        epoch = int(self.c.subnet(0)["lastEpoch"]) + 1
        amounts = [0, amount]
        tree = MerkleTree([root_leaf_hash(epoch, k, a) for k, a in enumerate(amounts)])
        self._finalize(0, amount, amounts, tree)

    @precondition(lambda self: self.c.subnet(1)["pending"] > 0 and self.c.subnet(1)["totalStake"] > 0)
    @rule(splits=st.lists(st.integers(0, 1000), min_size=1, max_size=4))
    def subnet_epoch(self, splits: list[int]) -> None:
        budget = int(self.c.subnet(self.netuid)["pending"]) * 8200 // 10_000
        total = max(1, sum(splits))
        leaves = [Leaf(uid, self.validators[uid % 3].address, budget * x // total // 2, budget * x // total // 2)
                  for uid, x in enumerate(splits)]
        epoch = int(self.c.subnet(self.netuid)["lastEpoch"]) + 1
        tree = MerkleTree([leaf.hash(self.netuid, epoch) for leaf in leaves])
        self._finalize(self.netuid, sum(l.incentive + l.dividend for l in leaves), leaves, tree)

    @precondition(lambda self: bool(self.open_results))
    @rule(pick=st.integers(0, 1000), uid_pick=st.integers(0, 1000))
    def claim(self, pick: int, uid_pick: int) -> None:
        netuid, epoch, leaves, tree = self.open_results[pick % len(self.open_results)]
        uid = uid_pick % len(leaves)
        if (netuid, epoch, uid) in self.claimed or (netuid == 0 and uid == 0):
            return
        if netuid == 0:
            self.r.transact(self.owner, "creditSubnet", epoch, uid, leaves[uid], tree.proof(uid))
        else:
            leaf = leaves[uid]
            self.r.transact(self.owner, "claim", netuid, epoch, uid, leaf.hotkey, leaf.incentive, leaf.dividend,
                            tree.proof(uid))
        self.claimed.add((netuid, epoch, uid))

    @precondition(lambda self: self.c.subnet(1)["totalStake"] > 0)
    @rule(who=st.integers(0, 2))
    def equivocate(self, who: int) -> None:
        v = self.validators[who]
        epoch = int(self.c.subnet(self.netuid)["lastEpoch"]) + 1
        if self.r.call("slashed", self.netuid, epoch, v.address) or not self.r.call("stakeOf", self.netuid, v.address):
            return
        a = EpochResult(self.netuid, epoch, b"\x02" * 32, b"\x03" * 32, 0)
        b = EpochResult(self.netuid, epoch, b"\x02" * 32, b"\x04" * 32, 0)
        sigs = [x.sign(v, self.chain.chain_id, self.r.address) for x in (a, b)]
        pairs = list(zip(a.args(), b.args()))
        self.r.transact(self.owner, "slashEquivocation", self.netuid, epoch, list(pairs[2]), list(pairs[3]),
                        list(pairs[4]), list(pairs[5]), sigs)

    @invariant()
    def tsr_is_conserved(self) -> None:
        # TSR minted to the registry by anyone's distribute() is unaccounted until pullEmission
        # sweeps it into the root pool: the books must cover exactly what is accounted, and what is
        # held can only exceed it (never fall short of what is owed).
        held = self.d.token.call("balanceOf", self.r.address)
        books = int(self.r.call("accounted"))
        assert held >= books
        accounted = int(self.r.call("rootPool"))
        for netuid in (0, self.netuid):
            accounted += int(self.c.subnet(netuid)["pending"])
            for v in self.validators + [self.attacker]:
                accounted += self.r.call("stakeOf", netuid, v.address)
                accounted += self.r.call("unbondingPool", netuid, v.address)[0]
        for netuid, epoch, _, _ in self.open_results:
            root, emission, claimed = self.r.call("results", netuid, epoch)
            accounted += emission - claimed
        assert books == accounted

    @invariant()
    def total_stake_matches_vaults(self) -> None:
        for netuid in (0, self.netuid):
            vaults = sum(self.r.call("stakeOf", netuid, v.address) for v in self.validators + [self.attacker]
                         if self.r.call("uidOf", netuid, v.address)[0])
            assert int(self.c.subnet(netuid)["totalStake"]) == vaults


SubnetConservation.TestCase.settings = settings(
    max_examples=int(os.environ.get("SUBNET_EXAMPLES", "12")), stateful_step_count=14, deadline=None,
    suppress_health_check=[HealthCheck.too_slow])
TestSubnetConservation = SubnetConservation.TestCase
