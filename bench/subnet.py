"""Subnet settlement benchmark: gas of each SubnetRegistry step on the embedded chain, with the ratio to
an ERC-20 transfer measured in the same run. Writes bench/results/subnet.json.

Steps: commitWeights, revealWeights (3 UIDs), a root epoch finalized with 3 signatures, creditSubnet,
a subnet epoch finalized with 2 of 3 signatures (>2/3 of stake), a miner's claim and a validator's
claim (take paid, the rest reinvested into its stake).

    python bench/subnet.py
"""

from __future__ import annotations

import json
import os
import platform
from pathlib import Path

from tessera.accounts.dev import dev_account
from tessera.chain import EmbeddedChain
from tessera.protocol.deploy import Deployment, deploy_protocol
from tessera.protocol.faucet import fund_tsr
from tessera.subnet.client import Carry, SubnetClient, SubnetHyper, commit_hash
from tessera.subnet.devnet import join_root, settle_root_epoch
from tessera.subnet.settlement import order_signatures

TSR = 10**18


def measure() -> dict[str, int]:
    gas: dict[str, int] = {}
    with EmbeddedChain() as chain:
        owner = dev_account(0)
        manifest, _ = deploy_protocol(chain, owner, path=None)
        d = Deployment.from_manifest(chain, manifest)
        validators, miners = [dev_account(i) for i in (1, 2, 3)], [dev_account(i) for i in (4, 5, 6)]
        for who in validators + miners + [owner]:
            fund_tsr(chain, d, owner, who.address, 200 * TSR)
        c = SubnetClient(chain, d)
        r = c.registry
        netuid = c.create_subnet(owner, SubnetHyper(max_uids=8, max_validators=4, tempo=30, immunity_period=1000,
                                                    reveal_window=30))
        for who in miners + validators:
            c.register(who, netuid)
        for v, amount in zip(validators, (60, 30, 10)):
            c.stake(v, netuid, v.address, amount * TSR)
            d.token.transact(v, "approve", r.address, 2**255)
        # stake now writes a checkpoint per block for the vault and the subnet total (boundary-weighted votes)
        gas["stake_again"] = r.transact(validators[0], "stake", netuid, validators[0].address, TSR).gas_used
        gas["unstake_to_unbonding"] = r.transact(validators[0], "unstake", netuid, validators[0].address,
                                                 TSR // 2).gas_used
        salts = {}
        for v in validators:
            salts[v.address] = os.urandom(32)
            receipt = r.transact(v, "commitWeights", netuid,
                                 commit_hash(netuid, v.address, [0, 1, 2], [65535, 30000, 100], salts[v.address]))
        gas["commitWeights"] = receipt.gas_used
        for v in validators:  # a reveal opens after the epoch boundary following its commit
            c.wait_for_reveal(netuid, v.address)
            receipt = r.transact(v, "revealWeights", netuid, [0, 1, 2], [65535, 30000, 100], salts[v.address])
        gas["revealWeights_3_uids"] = receipt.gas_used
        join_root(c, validators, netuid)
        root = settle_root_epoch(c, owner, validators, netuid, min_pool=5 * TSR)
        gas["finalizeEpoch_root_3_signatures"] = root.finalize_receipt.gas_used
        gas["creditSubnet"] = root.credit_receipt.gas_used
        chain.mine(30)
        comp = c.compute_epoch(netuid, Carry())
        sigs = {v.address: comp.result.sign(v, chain.chain_id, r.address) for v in validators[:2]}
        gas["finalizeEpoch_subnet_2_signatures"] = c.finalize(owner, comp.result, order_signatures(sigs)).gas_used
        gas["claim_miner"] = c.claim(owner, comp, 0).gas_used
        gas["claim_validator_reinvest"] = c.claim(owner, comp, 3).gas_used
        shares, release_epoch, release_block = r.call("unbonding", netuid, validators[0].address, validators[0].address)
        chain.mine(max(0, release_block - chain.block_number()))
        gas["withdrawUnstaked"] = r.transact(validators[0], "withdrawUnstaked", netuid, validators[0].address).gas_used
        gas["baseline_erc20_transfer"] = d.token.transact(owner, "transfer", validators[0].address, 1).gas_used
    return gas


def main() -> None:
    gas = measure()
    base = gas["baseline_erc20_transfer"]
    for name, used in gas.items():
        print(f"{name:<36} {used:>10,}  {used / base:5.2f}x transfer")
    out = Path(__file__).parent / "results" / "subnet.json"
    out.write_text(json.dumps({"machine": platform.machine(), "gas": gas,
                               "ratio_to_transfer": {k: round(v / base, 3) for k, v in gas.items()}}, indent=2) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
