"""Agents benchmark: policy decisions per second on one core, time from a sentence to a plan offline, and the
gas of each contract step against an ERC-20 transfer measured in the same run. Writes bench/results/agents.json.

    python bench/agents.py [--decisions 200000]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import tempfile
import time
from pathlib import Path

import yaml
from eth_utils import keccak

from tessera.accounts.dev import dev_account
from tessera.accounts.typed_data import contract_domain, transfer_authorization_data, typed_data_digest
from tessera.agents import AgentWallet, PolicyEngine, PolicyWallet, sign_policy
from tessera.agents.planner import Planner
from tessera.chain import EmbeddedChain
from tessera.protocol.deploy import Deployment, deploy_protocol

SENTENCES = ["rent a GPU under 2 dollars an hour for 3 hours", "lease 2 A100 GPUs for a day at most 3.50 usd per hour",
             "pay 0.10 to 0x9965507D1a55bcC2695C58ba16FB37d819B0A4dc for a summary",
             "hire an agent to summarise report.pdf for at most 1 dollar within 2 hours",
             "prove model.onnx on input.json", "tip 0x9965507D1a55bcC2695C58ba16FB37d819B0A4dc fifty cents"]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--decisions", type=int, default=200_000)
    args = ap.parse_args()
    chain = EmbeddedChain()
    manifest, _ = deploy_protocol(chain, dev_account(0), path=None)
    d = Deployment.from_manifest(chain, manifest)
    owner, agent, payee, other = dev_account(1), dev_account(2), dev_account(5), dev_account(6)
    gas: dict[str, int] = {}
    d.stablecoin.transact(dev_account(0), "mint", owner.address, 10**9)
    gas["erc20_transfer"] = d.stablecoin.transact(owner, "transfer", other.address, 1).gas_used
    wallet = PolicyWallet.deploy(chain, owner, agent.address)
    d.stablecoin.transact(dev_account(0), "mint", wallet.address, 10**9)
    path = Path(tempfile.mkdtemp()) / "policy.yaml"
    path.write_text(yaml.safe_dump({
        "version": 1, "agent": agent.address, "wallet": wallet.address, "token": d.stablecoin.address,
        "caps": {"per_payment": "0.50", "per_window": "500.00", "window": "1d", "approval_above": "0.25"},
        "payees": [payee.address, d.jobs.address]}))
    sign_policy(path, owner, chain.chain_id)
    receipts = wallet.pin(owner, path)
    gas["policy_pin_all"] = sum(r.gas_used for r in receipts)
    policy = wallet.trusted_policy(path)
    aw = AgentWallet(wallet, agent, policy)
    aw.pay(payee.address, 10_000)  # first payment warms the payee's balance slot
    gas["wallet_pay"] = aw.pay(payee.address, 10_000).receipt.gas_used  # type: ignore[union-attr]
    proposal = aw.pay(payee.address, 400_000)
    gas["wallet_propose"] = proposal.receipt.gas_used  # type: ignore[union-attr]
    gas["wallet_approve"] = wallet.approve(owner, proposal.proposal or 0).gas_used
    coin = d.stablecoin
    domain = contract_domain(coin.call("name"), coin.call("version"), chain.chain_id, coin.address)
    now = chain.get_block("latest").timestamp
    data = transfer_authorization_data(domain, wallet.address, payee.address, 10_000, 0, now + 3600)
    m = data["message"]
    t0 = chain.block_number()
    sig = aw.authorize(payee.address, 10_000, 0, m["validBefore"], m["nonce"])
    gas["wallet_reserve"] = chain.get_block(t0 + 1).gas_used
    gas["erc1271_transfer_with_authorization"] = coin.transact(
        other, "transferWithAuthorization", wallet.address, payee.address, 10_000, 0, m["validBefore"], m["nonce"],
        sig[64], sig[:32], sig[32:64]).gas_used
    assert typed_data_digest(data)
    r = d.agents.transact(payee, "register", "https://agent.example/card.json", keccak(b"card"))
    gas["agent_register"] = r.gas_used
    agent_id = int(d.agents.events(r, "Registered")[0].args["id"])
    deadline = now + 3600
    digest = d.agents.call("payoutDigest", agent_id, other.address, deadline)
    gas["agent_set_payout"] = d.agents.transact(payee, "setPayoutWallet", agent_id, other.address, deadline,
                                                bytes(other.unsafe_sign_hash(digest).signature)).gas_used
    coin.transact(owner, "approve", d.jobs.address, 10**9)
    r = d.jobs.transact(owner, "post", (keccak(b"task"), 10**6, now + 7200, 0, 0, 3600, b"\0" * 32, b"\0" * 32, 0))
    gas["job_post"] = r.gas_used
    job = int(d.jobs.events(r, "Posted")[0].args["id"])
    salt = os.urandom(32)
    h = d.jobs.call("deliveryHash", job, agent_id, payee.address, keccak(b"r"), 10**6, [], salt)
    gas["job_commit"] = d.jobs.transact(payee, "commit", job, agent_id, h).gas_used
    gas["job_deliver"] = d.jobs.transact(payee, "deliver", job, agent_id, keccak(b"r"), 10**6, [], salt).gas_used
    gas["job_accept_and_record"] = d.jobs.transact(owner, "accept", job).gas_used

    # policy decisions per second, one core
    engine = PolicyEngine(policy, clock=lambda: 1_800_000_000.0)
    t = time.perf_counter()
    for i in range(args.decisions):
        engine.check_payment(payee.address, 1 + i % 400_000)
    decisions = args.decisions / (time.perf_counter() - t)
    # sentence to plan, offline (no chain reads in these sentences)
    planner = Planner(d, engine)
    times = []
    for _ in range(50):
        for s in SENTENCES:
            t = time.perf_counter()
            planner.plan(s)
            times.append((time.perf_counter() - t) * 1000)
    out = {
        "machine": platform.processor() or platform.machine(),
        "policy_decisions_per_s": round(decisions),
        "sentence_to_plan_ms": {"median": round(statistics.median(times), 3), "max": round(max(times), 3)},
        "gas": gas,
        "gas_vs_erc20": {k: round(v / gas["erc20_transfer"], 2) for k, v in gas.items()},
    }
    Path("bench/results").mkdir(parents=True, exist_ok=True)
    Path("bench/results/agents.json").write_text(json.dumps(out, indent=2) + "\n")
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
