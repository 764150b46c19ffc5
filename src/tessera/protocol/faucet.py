"""Devnet funding: stablecoin from the dev stablecoin's owner, TSR from devnet emission.

On a devnet the deployer is an emission recipient (see `deploy_protocol`), so TSR for bonds and
stake is earned the honest way: blocks are mined, `distribute()` mints, the deployer transfers.
Both helpers refuse to run off a devnet.
"""

from __future__ import annotations

from ..chain.base import Chain
from ..chain.contract import Signer
from ..errors import DeploymentError
from .deploy import Deployment
from .emission import emission_for

MAX_ROUNDS = 8


def _require_devnet(chain: Chain) -> None:
    if not chain.is_devnet:
        raise DeploymentError(f"chain {chain.chain_id} is not a devnet: there is no faucet; "
                              "fund the account from a real holder")


def fund_stablecoin(chain: Chain, deployment: Deployment, owner: Signer, to: str, amount: int) -> None:
    _require_devnet(chain)
    if not deployment.manifest.stablecoin_is_dev:
        raise DeploymentError("the stablecoin is external, so it cannot be minted: fund accounts from a real holder")
    deployment.stablecoin.transact(owner, "mint", to, amount)


def fund_tsr(chain: Chain, deployment: Deployment, owner: Signer, to: str, amount: int) -> None:
    """Mine and distribute until `owner` holds `amount` TSR, then transfer it to `to`."""
    _require_devnet(chain)
    token, schedule = deployment.token, deployment.emission
    if schedule.call("weightOf", owner.address) == 0:
        raise DeploymentError(f"{owner.address} is not an emission recipient on this devnet: "
                              "fund TSR from the account that ran `tessera deploy`")
    base = deployment.manifest.params["base_emission"]
    interval = deployment.manifest.params["block_interval"]
    for _ in range(MAX_ROUNDS):
        have = token.call("balanceOf", owner.address)
        if have >= amount:
            break
        share_num, share_den = schedule.call("weightOf", owner.address), schedule.call("totalWeight")
        supply = token.call("totalSupply")
        # periods needed so that the owner's share covers the shortfall, assuming the current rate holds
        periods, need = 1, amount - have
        while emission_for(supply, periods, base) * share_num // share_den < need and periods < 1 << 40:
            periods *= 2
        chain.mine(max(periods * interval - 1, 0))  # distribute's own block adds one
        schedule.transact(owner, "distribute")
    else:
        raise DeploymentError(f"could not mint {amount} TSR wei for {owner.address}: is emission exhausted?")
    if to != owner.address:
        token.transact(owner, "transfer", to, amount)
