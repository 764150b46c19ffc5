"""The demo's stages. Each fills in a StageResult: readable lines and figures."""

from __future__ import annotations

from ..accounts.dev import dev_account, dev_accounts
from ..chain.base import Log
from ..chain.contract import Contract
from ..chain.events import EventFollower
from ..protocol.deploy import Deployment, deploy_protocol
from ..protocol.emission import TSR, emission_for, halving_threshold
from .runner import DemoContext, StageResult


def _tsr(wei: int) -> str:
    return f"{wei / TSR:,.4f} TSR"


def chain_stage(ctx: DemoContext, out: StageResult) -> None:
    chain = ctx.chain
    head = chain.get_block()
    out.figures = {"backend": chain.backend, "chain_id": chain.chain_id, "head": head.number,
                   "dev_accounts": len(dev_accounts())}
    out.lines = [
        f"Started {chain.describe()}",
        f"chain id {chain.chain_id}, head block {head.number}, Cancun rules",
        f"{len(dev_accounts())} funded dev accounts (the anvil test mnemonic; never use them off a devnet)",
    ]


def deploy_stage(ctx: DemoContext, out: StageResult) -> None:
    chain, deployer = ctx.chain, dev_account(0)
    start = chain.block_number()
    manifest, _ = deploy_protocol(chain, deployer, path=None)
    gas = sum(chain.get_block(n).gas_used for n in range(start + 1, chain.block_number() + 1))
    ctx.state["deployment"] = Deployment.from_manifest(chain, manifest)
    out.figures = {
        "contracts": {name: rec.address for name, rec in manifest.contracts.items()},
        "deploy_gas": gas,
        "deploy_block": manifest.block,
    }
    out.lines = [f"Deployed the protocol from {deployer.address} in {manifest.block - start} blocks, {gas:,} gas:"]
    out.lines += [f"  {name:<17} {rec.address}" for name, rec in manifest.contracts.items()]
    out.lines.append(f"Manifest: chain {manifest.chain_id}, genesis {manifest.genesis_hash[:18]}…, block {manifest.block}")


def emission_stage(ctx: DemoContext, out: StageResult) -> None:
    chain = ctx.chain
    d: Deployment = ctx.state["deployment"]
    owner = dev_account(0)
    subnet_a, subnet_b = dev_account(1), dev_account(2)
    d.emission.transact(owner, "setRecipient", subnet_a.address, 3)
    d.emission.transact(owner, "setRecipient", subnet_b.address, 1)
    recipients = d.emission.call("recipients")  # on a devnet the deployer's treasury is one too (weight 1)
    weights = {r: d.emission.call("weightOf", r) for r in recipients}
    before = {r: d.token.call("balanceOf", r) for r in recipients}
    supply_before = d.token.call("totalSupply")
    chain.mine(10)
    due = d.emission.call("periodsDue") + 1  # the distribute transaction's own block adds one
    base = d.manifest.params["base_emission"]
    expected = emission_for(supply_before, due, base)
    receipt = d.emission.transact(owner, "distribute")
    after = {r: d.token.call("balanceOf", r) for r in recipients}
    supply = d.token.call("totalSupply")
    minted = sum(after.values()) - sum(before.values())
    out.ok = minted == expected == supply - supply_before
    out.figures = {
        "periods": due,
        "minted_wei": minted,
        "expected_wei": expected,
        "total_supply_wei": supply,
        "distribute_gas": receipt.gas_used,
        "balances_wei": after,
        "supply_matches_model": out.ok,
    }
    names = {rec.address: name for name, rec in d.manifest.contracts.items()}
    names.update({subnet_a.address: "subnet A", subnet_b.address: "subnet B", owner.address: "treasury"})
    total_weight = sum(weights.values())
    out.lines = [f"Mined {due} blocks and distributed to {len(recipients)} recipients by weight:"]
    out.lines += [f"  {names.get(r, 'account'):<15} {r} (weight {weights[r]}/{total_weight}): "
                  f"{_tsr(before[r])} -> {_tsr(after[r])}" for r in recipients]
    out.lines += [
        f"  minted {_tsr(minted)} = reference model {_tsr(expected)}: {'OK' if out.ok else 'MISMATCH'}",
        f"  distribute() used {receipt.gas_used:,} gas",
    ]


def halving_stage(ctx: DemoContext, out: StageResult) -> None:
    """A fast-forward schedule (4M TSR per block) to show the halvings that take years at 1 TSR."""
    chain, owner = ctx.chain, dev_account(0)
    base = 4_000_000 * TSR
    schedule, _ = Contract.deploy(chain, owner, "EmissionSchedule", base, 1, owner.address)
    token = Contract.at(chain, "TesseraToken", schedule.call("token"))
    schedule.transact(owner, "setRecipient", dev_account(3).address, 1)
    rows, rates = [], []
    for _ in range(9):
        before = token.call("totalSupply")
        rate = schedule.call("emissionAt", before)
        schedule.transact(owner, "distribute")
        after = token.call("totalSupply")
        rows.append(f"  issuance {_tsr(before):>22} rate {_tsr(rate):>18}/block  minted {_tsr(after - before)}")
        rates.append(rate)
    thresholds = [halving_threshold(k) for k in (1, 2, 3)]
    halved = all(b in (a, a // 2) for a, b in zip(rates, rates[1:])) and len(set(rates)) > 2
    out.ok = halved and token.call("totalSupply") <= token.call("CAP")
    out.figures = {"base_emission_wei": base, "rates_wei": rates, "halvings_seen": len(set(rates)) - 1,
                   "cap_respected": token.call("totalSupply") <= token.call("CAP")}
    out.lines = ["Fast-forward schedule at 4,000,000 TSR/block; halvings at "
                 + ", ".join(_tsr(t) for t in thresholds) + " ...", *rows]


def events_stage(ctx: DemoContext, out: StageResult) -> None:
    d: Deployment = ctx.state["deployment"]
    transfer = d.token.event("Transfer")
    follower = EventFollower(ctx.chain, ":memory:", "demo-tsr", address=d.token.address,
                             topics=[transfer.topic], confirmations=0)
    minted: list[int] = []

    def on_transfer(log: Log, _conn: object) -> None:
        args = transfer.decode(log.topics, log.data)
        if int(args["from"], 16) == 0:  # mints only: transfers between holders move, not create
            minted.append(args["value"])

    follower.catch_up(on_transfer)
    out.ok = sum(minted) == d.token.call("totalSupply")
    out.figures = {"transfer_events": len(minted), "sum_matches_supply": out.ok,
                   "checkpoint_block": follower.status.checkpoint}
    out.lines = [f"Event follower read {len(minted)} TSR Transfer events up to block {follower.status.checkpoint};"
                 f" their sum {'equals' if out.ok else 'DIFFERS FROM'} the total supply"]
