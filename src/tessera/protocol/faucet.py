"""Devnet funding: stablecoin from the dev stablecoin's owner, TSR from devnet emission.

On a devnet the deployer is an emission recipient (see `deploy_protocol`), so TSR for bonds and
stake is earned the honest way: blocks are mined, `distribute()` mints, the deployer transfers.
Both helpers refuse to run off a devnet.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..chain.base import Chain
from ..chain.contract import Signer
from ..errors import DeploymentError
from ..units import amount_json, units_text
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


@dataclass(frozen=True)
class Balances:
    """What an address holds, in base units, with the tokens' symbols and decimals."""

    address: str
    eth: int
    stable: int
    tsr: int
    stable_symbol: str
    stable_decimals: int

    def as_json(self) -> dict[str, Any]:
        amount = amount_json
        return {"address": self.address, "eth": amount(self.eth, 18, "ETH"),
                "stable": amount(self.stable, self.stable_decimals, self.stable_symbol),
                "tsr": amount(self.tsr, 18, "TSR")}

    def lines(self) -> list[str]:
        return [f"{self.address}",
                f"  {units_text(self.eth, 18):>24} ETH",
                f"  {units_text(self.stable, self.stable_decimals):>24} {self.stable_symbol}",
                f"  {units_text(self.tsr, 18):>24} TSR"]


def balances(chain: Chain, deployment: Deployment, address: str) -> Balances:
    coin = deployment.stablecoin
    return Balances(address, chain.get_balance(address), int(coin.call("balanceOf", address)),
                    int(deployment.token.call("balanceOf", address)), str(coin.call("symbol")),
                    int(coin.call("decimals")))


def fund(chain: Chain, deployment: Deployment, owner: Signer, to: str, *, eth: int = 0, stable: int = 0,
         tsr: int = 0) -> None:
    """Devnet faucet: ETH is set directly (a devnet cheat both backends have), the stablecoin is minted by its
    dev owner, TSR is earned through emission (mined and distributed, never minted by a side door)."""
    _require_devnet(chain)
    if eth:
        chain.set_balance(to, chain.get_balance(to) + eth)
    if stable:
        fund_stablecoin(chain, deployment, owner, to, stable)
    if tsr:
        fund_tsr(chain, deployment, owner, to, tsr)


def fund_hint(address: str, *, stable: int = 0, tsr: int = 0, stable_decimals: int = 6) -> str:
    """The command that funds `address` with what it lacks, for "fund the account first" messages."""
    parts = [f"tessera devnet fund {address}"]
    if stable:
        parts.append(f"--stable {units_text(stable, stable_decimals).replace(',', '')}")
    if tsr:
        parts.append(f"--tsr {units_text(tsr, 18).replace(',', '')}")
    return " ".join(parts)


def require_balance(chain: Chain, deployment: Deployment, address: str, amount: int, *, token: str,
                    what: str) -> None:
    """Raise InsufficientFunds, naming the faucet command on a devnet, when `address` holds less than `amount`
    of `token` ("stable" or "tsr"): a transfer that would revert with the token's InsufficientBalance."""
    from ..errors import InsufficientFunds

    contract = deployment.stablecoin if token == "stable" else deployment.token
    have = int(contract.call("balanceOf", address))
    if have >= amount:
        return
    decimals, unit = (int(contract.call("decimals")), str(contract.call("symbol"))) if token == "stable" \
        else (18, "TSR")
    short = {"stable": amount - have} if token == "stable" else {"tsr": amount - have}
    fix = (f"fund it first: `{fund_hint(address, stable_decimals=decimals, **short)}`" if chain.is_devnet
           else f"send it {unit} from an account that holds some")
    raise InsufficientFunds(f"{address} holds {units_text(have, decimals)} {unit}; {what} needs "
                            f"{units_text(amount, decimals)} {unit}: {fix}")


def top_up_on_devnet(chain: Chain, deployment: Deployment, to: str, *, stable: int = 0, tsr: int = 0) -> dict[str, int]:
    """What a node needs to start (a bond in TSR, bid deposits in stablecoin), funded on a devnet by its
    deployer (dev account 0) when `to` holds less. Returns what was sent. Off a devnet, or when the deployer is
    someone else, a shortfall is an InsufficientFunds naming the amounts."""
    from ..accounts.dev import dev_account
    from ..errors import InsufficientFunds

    short_stable = max(stable - int(deployment.stablecoin.call("balanceOf", to)), 0)
    short_tsr = max(tsr - int(deployment.token.call("balanceOf", to)), 0)
    if not (short_stable or short_tsr):
        return {}
    owner = dev_account(0)
    can = chain.is_devnet and int(deployment.emission.call("weightOf", owner.address)) > 0 and (
        not short_stable or deployment.manifest.stablecoin_is_dev)
    if not can:
        dec = int(deployment.stablecoin.call("decimals"))
        need = " and ".join(x for x in (f"{units_text(short_tsr, 18)} TSR" if short_tsr else "",
                                        f"{units_text(short_stable, dec)} stablecoin" if short_stable else "") if x)
        fix = fund_hint(to, stable=short_stable, tsr=short_tsr, stable_decimals=dec) if chain.is_devnet \
            else "send them from an account that holds some"
        raise InsufficientFunds(f"{to} needs {need} more to start: {fix}")
    _fund_racing(chain, deployment, owner, to, stable, tsr)
    return {k: v for k, v in (("stable", short_stable), ("tsr", short_tsr)) if v}


def _fund_racing(chain: Chain, deployment: Deployment, owner: Signer, to: str, stable: int, tsr: int) -> None:
    """Fund `to` up to `stable` and `tsr`. Several nodes started at once all top up from the deployer, and their
    transactions can take the same nonce ("replacement transaction underpriced", "nonce too low"): the loser
    waits a moment and tries again with what it still lacks."""
    import time

    from ..errors import TransactionError

    for attempt in range(6):
        short_stable = max(stable - int(deployment.stablecoin.call("balanceOf", to)), 0)
        short_tsr = max(tsr - int(deployment.token.call("balanceOf", to)), 0)
        if not (short_stable or short_tsr):
            return
        try:
            fund(chain, deployment, owner, to, stable=short_stable, tsr=short_tsr)
            return
        except TransactionError as e:
            text = str(e).lower()
            if attempt == 5 or not ("nonce" in text or "underpriced" in text or "already known" in text):
                raise
            time.sleep(0.5 + attempt * 0.5)
