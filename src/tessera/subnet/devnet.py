"""Devnet helpers that act for every root validator at once (the demo, tests and benchmarks hold
all their keys). On a real network each validator signs its own root epoch through its node."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from eth_account.signers.local import LocalAccount

from ..chain.contract import Signer
from .client import SubnetClient
from .settlement import EpochResult, order_signatures

TSR = 10**18


@dataclass
class RootSettlement:
    result: EpochResult
    amount: int  # what the subnet was credited
    finalize_receipt: Any
    credit_receipt: Any


def join_root(client: SubnetClient, validators: list[LocalAccount], netuid: int, stake: int = 10 * TSR) -> None:
    """Register and stake ``validators`` on the root network; each commits and reveals full weight on
    ``netuid``."""
    for v in validators:
        client.register(v, 0)
        client.stake(v, 0, v.address, stake)
        salt = client.commit_weights(v, 0, [netuid], [65535])
        client.wait_for_reveal(0, v.address)
        client.reveal_weights(v, 0, [netuid], [65535], salt)


def settle_root_epoch(client: SubnetClient, submitter: Signer, validators: list[LocalAccount], netuid: int,
                      min_pool: int) -> RootSettlement:
    """Pull emission until the root pool holds ``min_pool``, run the root epoch signed by every root
    validator, and credit ``netuid`` its share."""
    chain = client.chain
    while int(client.registry.call("rootPool")) < min_pool:
        chain.mine(20)
        client.pull_emission(submitter)
    chain.mine(max(0, client.next_epoch_block(0) - chain.block_number()))
    result, amounts, tree = client.root_allocation()
    sigs = {str(v.address): result.sign(v, chain.chain_id, client.registry.address) for v in validators}
    finalized = client.finalize(submitter, result, order_signatures(sigs))
    credited = client.credit_subnet(submitter, result.epoch, netuid, amounts[netuid], tree)
    return RootSettlement(result, amounts[netuid], finalized, credited)
