"""Register -> stake -> commit/reveal -> epoch -> 2/3-signed root -> claims, with exact balances."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from tessera.accounts.dev import dev_account
from tessera.chain import Chain
from tessera.errors import ContractRevert, SubnetError
from tessera.protocol.deploy import Deployment
from tessera.protocol.faucet import fund_tsr
from tessera.subnet.client import Carry, SubnetClient, SubnetHyper
from tessera.subnet.devnet import join_root, settle_root_epoch
from tessera.subnet.settlement import RAO, order_signatures

TSR = 10**18
HYPER = SubnetHyper(max_uids=8, max_validators=4, tempo=30, immunity_period=1000, reveal_window=30,
                    yuma_version="yuma3")


@dataclass
class Net:
    chain: Chain
    d: Deployment
    client: SubnetClient
    netuid: int
    owner: object
    validators: list
    miners: list


@pytest.fixture
def net(chain: Chain, deployment: Deployment) -> Net:
    owner = dev_account(0)
    validators = [dev_account(i) for i in (1, 2, 3)]
    miners = [dev_account(i) for i in (4, 5, 6)]
    for who in validators + miners:
        fund_tsr(chain, deployment, owner, who.address, 200 * TSR)
    fund_tsr(chain, deployment, owner, owner.address, 150 * TSR)  # the subnet creation cost
    client = SubnetClient(chain, deployment)
    netuid = client.create_subnet(owner, HYPER)
    for v in validators:
        client.register(v, netuid)
    for m in miners:
        client.register(m, netuid)
    for v, amount in zip(validators, (60, 30, 10)):
        client.stake(v, netuid, v.address, amount * TSR)
    return Net(chain, deployment, client, netuid, owner, validators, miners)


def _fund_subnet(net: Net, amount: int) -> None:
    """Root network: validators stake on root, weigh the subnet, and finalize a root epoch."""
    join_root(net.client, net.validators, net.netuid)
    settle_root_epoch(net.client, net.owner, net.validators, net.netuid, min_pool=amount)


def test_epoch_settles_with_two_thirds_signatures_and_exact_claims(net: Net) -> None:
    c, registry, token = net.client, net.client.registry, net.d.token
    _fund_subnet(net, 5 * TSR)
    pending = c.subnet(net.netuid)["pending"]
    assert pending > 0
    # validators agree on the good miner (uid 3) and part on uid 4; uid 5 only from the small validator
    weights = {0: ([3, 4], [65535, 20000]), 1: ([3, 4], [65535, 20000]), 2: ([3, 5], [65535, 65535])}
    salts = {uid: c.commit_weights(net.validators[uid], net.netuid, *weights[uid]) for uid in weights}
    for uid, salt in salts.items():  # each reveal opens after the epoch boundary following its commit
        c.wait_for_reveal(net.netuid, net.validators[uid].address)
        c.reveal_weights(net.validators[uid], net.netuid, *weights[uid], salt)
    net.chain.mine(HYPER.tempo)  # the epoch reads the last tempo boundary, which is now after the reveals

    # every validator computes the epoch independently and gets the same result
    comps = [c.compute_epoch(net.netuid, Carry()) for _ in net.validators]
    assert len({comp.result for comp in comps}) == 1
    comp = comps[0]
    assert comp.output["incentive_bits"][3] > comp.output["incentive_bits"][4] > 0
    assert comp.output["incentive_bits"][5] == 0  # clipped: only 10% of stake voted for it

    # 60% alone is not enough; 60% + 30% is
    sig = {v.address: comp.result.sign(v, net.chain.chain_id, registry.address) for v in net.validators}
    with pytest.raises(ContractRevert) as err:
        c.finalize(net.owner, comp.result, [sig[net.validators[0].address]])
    assert err.value.error_name == "InsufficientSignedStake"
    with pytest.raises(ContractRevert) as err:
        c.finalize(net.owner, comp.result, [sig[a] for a in sorted(sig, key=lambda a: -int(a, 16))])
    assert err.value.error_name == "SignersNotSorted"
    two = {a: s for a, s in sig.items() if a != net.validators[2].address}
    owner_before = token.call("balanceOf", net.owner.address)
    receipt = c.finalize(net.owner, comp.result, order_signatures(two))
    owner_cut = registry.events(receipt, "EpochFinalized")[0].args["ownerCut"]
    assert owner_cut == comp.result.emission * 1800 // 8200
    assert token.call("balanceOf", net.owner.address) == owner_before + owner_cut
    assert c.subnet(net.netuid)["pending"] == pending - comp.result.emission - owner_cut

    # claims: miners get their incentive; a validator gets its take, the rest joins its stake
    miner = net.miners[0]
    before = token.call("balanceOf", miner.address)
    c.claim(net.owner, comp, 3)
    assert token.call("balanceOf", miner.address) == before + comp.leaves[3].incentive
    v0 = net.validators[0]
    before, stake_before = token.call("balanceOf", v0.address), c.registry.call("stakeOf", net.netuid, v0.address)
    c.claim(net.owner, comp, 0)
    dividend = comp.leaves[0].dividend
    take = dividend * 11796 // 65535
    assert token.call("balanceOf", v0.address) == before + take
    assert c.registry.call("stakeOf", net.netuid, v0.address) == stake_before + dividend - take
    with pytest.raises(ContractRevert) as err:
        c.claim(net.owner, comp, 0)
    assert err.value.error_name == "AlreadyClaimed"
    with pytest.raises(ContractRevert) as err:  # a forged amount does not match the root
        registry.transact(net.owner, "claim", net.netuid, comp.epoch, 4, comp.leaves[4].hotkey,
                          comp.leaves[4].incentive + RAO, 0, comp.proof(4))
    assert err.value.error_name == "BadProof"
    for uid in (1, 2, 4, 5):
        c.claim(net.owner, comp, uid)
    assert registry.call("results", net.netuid, comp.epoch)[2] == comp.result.emission


def test_equivocating_validator_is_slashed(net: Net) -> None:
    c, registry = net.client, net.client.registry
    net.chain.mine(max(0, c.next_epoch_block(net.netuid) - net.chain.block_number()))
    comp = c.compute_epoch(net.netuid, Carry())
    other = type(comp.result)(comp.result.netuid, comp.result.epoch, comp.result.state_root, b"\x01" * 32, 0)
    v = net.validators[1]
    sigs = [r.sign(v, net.chain.chain_id, registry.address) for r in (comp.result, other)]
    stake = registry.call("stakeOf", net.netuid, v.address)
    pairs = list(zip(comp.result.args(), other.args()))
    registry.transact(net.owner, "slashEquivocation", net.netuid, comp.result.epoch, list(pairs[2]), list(pairs[3]),
                      list(pairs[4]), list(pairs[5]), sigs)
    assert registry.call("stakeOf", net.netuid, v.address) == stake - stake // 2
    with pytest.raises(ContractRevert) as err:
        registry.transact(net.owner, "slashEquivocation", net.netuid, comp.result.epoch, list(pairs[2]),
                          list(pairs[3]), list(pairs[4]), list(pairs[5]), sigs)
    assert err.value.error_name == "AlreadySlashed"


def test_commit_reveal_rules(net: Net) -> None:
    c, registry = net.client, net.client.registry
    v = net.validators[0]
    salt = c.commit_weights(v, net.netuid, [3], [65535])
    with pytest.raises(ContractRevert) as err:  # other weights than committed
        c.reveal_weights(v, net.netuid, [3], [1], salt)
    assert err.value.error_name == "CommitMismatch"
    net.chain.mine(HYPER.reveal_window + 1)
    with pytest.raises(ContractRevert) as err:
        c.reveal_weights(v, net.netuid, [3], [65535], salt)
    assert err.value.error_name == "RevealWindowClosed"
    salt = c.commit_weights(v, net.netuid, [3, 4], [65535, 1])
    net.chain.mine(1)
    with pytest.raises(ContractRevert) as err:  # the right weights with the wrong salt
        registry.transact(v, "revealWeights", net.netuid, [3, 4], [65535, 1], b"\0" * 32)
    assert err.value.error_name == "CommitMismatch"
    with pytest.raises(ContractRevert) as err:
        c.reveal_weights(v, net.netuid, [4, 3], [1, 65535], salt)
    assert err.value.error_name == "CommitMismatch"  # order is part of the commitment
    with pytest.raises(ContractRevert) as err:  # not before the epoch boundary after the commit
        c.reveal_weights(v, net.netuid, [3, 4], [65535, 1], salt)
    assert err.value.error_name == "RevealBeforeBoundary"
    c.wait_for_reveal(net.netuid, v.address)
    c.reveal_weights(v, net.netuid, [3, 4], [65535, 1], salt)
    assert registry.call("neuron", net.netuid, 0)[2] == net.chain.block_number()


def test_epoch_not_due_is_refused_with_the_block(net: Net) -> None:
    with pytest.raises(SubnetError, match="due at block"):
        net.client.compute_epoch(net.netuid, Carry())
