"""Demo stage `agents`: an agent spends from its PolicyWallet under its owner's signed, pinned policy (5 tUSD
a day): it buys 200 paid API calls over a channel (one settlement), hires a second agent through the job board
and pays on delivery, is refused a payment over its cap and a call to a low-ranked contract; and a signer agent
on a 2-of-2 Safe approves one transaction and rejects another, each with its reason."""

from __future__ import annotations

import asyncio
import json
import tempfile
from pathlib import Path
from typing import Any

import httpx
import yaml

from ..accounts.dev import dev_account
from ..chain.contract import Contract
from ..errors import ContractRevert, PolicyRefusal
from ..protocol.deploy import Deployment
from ..protocol.faucet import fund_stablecoin
from .runner import DemoContext, StageResult

USD = 10**6
CALLS = 200
CALL_PRICE = USD // 1000  # 0.001 tUSD
URL = "http://market-data.demo"


def agents_stage(ctx: DemoContext, out: StageResult) -> None:
    with tempfile.TemporaryDirectory(prefix="tessera-demo-agents-") as tmp:
        asyncio.run(_run(ctx, out, Path(tmp)))


def _api() -> Any:
    from fastapi import FastAPI

    app = FastAPI()

    @app.get("/quote")
    async def quote(n: int = 0) -> dict[str, Any]:
        return {"n": n, "mid": round(3000 + (n * 7919 % 200) / 10, 1)}

    return app


async def _run(ctx: DemoContext, out: StageResult, tmp: Path) -> None:
    from x402.mechanisms.evm.batch_settlement.constants import BATCH_SETTLEMENT_ADDRESS, ERC3009_DEPOSIT_COLLECTOR_ADDRESS

    from ..agents import AgentWallet, PolicyWallet, PolicyWalletSigner, sign_policy
    from ..agents.jobs import AgentRegistryClient, JobBoardClient
    from ..agents.ranking import ContractRanker
    from ..agents.safe import Safe, SignerAgent, SignerRules, deploy_safe_contracts, erc20_transfer, sign_safe_tx
    from ..payments import PaidAPI, PaidRoute, Payer, PaymentAsset, build_facilitator

    chain = ctx.chain
    d: Deployment = ctx.state["deployment"]
    treasury, owner, agent_key, api_payee, worker_owner = (dev_account(i) for i in (0, 1, 2, 7, 6))
    asset = PaymentAsset.read(chain, d.stablecoin.address)
    text = asset.text

    # the owner's wallet and policy
    wallet = PolicyWallet.deploy(chain, owner, agent_key.address)
    fund_stablecoin(chain, d, treasury, wallet.address, 20 * USD)
    policy_file = tmp / "policy.yaml"
    policy_file.write_text(yaml.safe_dump({
        "version": 1, "agent": agent_key.address, "wallet": wallet.address, "token": d.stablecoin.address,
        "caps": {"per_payment": "0.50", "per_window": "5.00", "window": "1d", "approval_above": "0.50"},
        "payees": [api_payee.address, ERC3009_DEPOSIT_COLLECTOR_ADDRESS, d.jobs.address],
        "contracts": [d.jobs.address], "min_contract_score": 50}, sort_keys=False))
    sign_policy(policy_file, owner, chain.chain_id)
    wallet.pin(owner, policy_file)
    agent = AgentWallet(wallet, agent_key, wallet.trusted_policy(policy_file))

    who = {wallet.address: "agent's PolicyWallet", api_payee.address: "market-data API",
           worker_owner.address: "hired agent (owner)", BATCH_SETTLEMENT_ADDRESS: "channel contract",
           d.jobs.address: "job board escrow"}
    balance = lambda a: int(d.stablecoin.call("balanceOf", a))  # noqa: E731
    before = {a: balance(a) for a in who}

    # 1. 200 paid calls over a channel funded from the wallet; vouchers signed by the agent's key
    app = _api()
    paid = PaidAPI.install(app, chain=chain, facilitator=build_facilitator(chain, dev_account(3), state=tmp / "f.db"),
                           asset=asset, payee=api_payee, state=tmp / "api.db",
                           routes=[PaidRoute("GET /quote", CALL_PRICE, ("batch-settlement",), "a price quote")])
    payer = Payer(agent_key, asset, max_per_payment=agent.policy.caps.per_payment, signer=PolicyWalletSigner(agent),
                  calls_per_deposit=CALLS, channel_state=tmp / "channels")
    http = payer.http(httpx.ASGITransport(app=app))
    try:
        results = [await payer.get(f"{URL}/quote?n={i}", client=http) for i in range(CALLS)]
    finally:
        await http[0].aclose()
    start = chain.block_number()
    await paid.settle_channels(direct=True)
    settlements = sum(1 for n in range(start + 1, chain.block_number() + 1) if chain.get_block(n).gas_used)

    # 2. hire a second agent through the job board, funded by a reserved authorization from the wallet
    card = tmp / "card.json"
    card.write_text(json.dumps({"name": "summariser", "endpoint": "https://summariser.demo/api",
                                "skills": ["summarise"], "prices": {"summarise": "0.25"}}))
    registry, jobs = AgentRegistryClient(d), JobBoardClient(d)
    worker, _ = registry.register(worker_owner, card)
    args = jobs.post_args("summarise the day's quotes", 30 * USD // 100, 2, priority_agent=worker,
                          priority_window=600, review_window=3600)
    now = int(chain.get_block("latest").timestamp)
    sig = agent.authorize(d.jobs.address, args[1], 0, now + 600, jobs.post_nonce(args, wallet.address), receive=True)
    job, _ = jobs.post_with_authorization(agent_key, args, wallet.address, 0, now + 600, sig)
    jobs.deliver(worker_owner, job, worker, b"ETH traded calm between 3000 and 3020.", 25 * USD // 100)
    agent.call(d.jobs.address, d.jobs.encode("accept", job))
    job_view, worker_view = jobs.view(job), registry.view(worker)

    # 3. refusals: over the cap (the policy, then the contract itself), and a low-ranked contract
    budget_refusals, reasons = 0, []
    try:
        agent.pay(api_payee.address, 60 * USD // 100)
    except PolicyRefusal as e:
        budget_refusals += 1
        reasons.append(str(e))
    try:
        wallet.contract.transact(agent_key, "pay", d.stablecoin.address, api_payee.address, 60 * USD // 100)
    except ContractRevert as e:
        contract_refusal = e.error_name or "reverted"
    unknown, _ = Contract.deploy(chain, dev_account(5), "HostileCollector")
    ranking = ContractRanker(chain, token=d.stablecoin.address).rank(unknown.address)
    ranking_refusals = 0
    try:
        agent.call(unknown.address, b"\x12\x34\x56\x78", score=ranking.score)
    except PolicyRefusal as e:
        ranking_refusals += 1
        reasons.append(str(e))
    after = {a: balance(a) for a in who}

    # 4. a signer agent on a 2-of-2 Safe with the human owner
    safe = Safe.create(chain, deploy_safe_contracts(chain, treasury), treasury, [owner.address, agent_key.address], 2)
    fund_stablecoin(chain, d, treasury, safe.address, 10 * USD)
    rules = SignerRules.model_validate({"tokens": [{"token": d.stablecoin.address, "max_per_tx": "1.00"}],
                                        "targets": [d.stablecoin.address, api_payee.address]})
    signer = SignerAgent(safe, agent_key, rules)
    approved = rejected = 0
    decisions = []
    for amount in (50 * USD // 100, 5 * USD):
        tx = erc20_transfer(d.stablecoin.address, api_payee.address, amount)
        review, signature = signer.sign(tx)
        decisions.append(f"{text(amount)} to the API: {review.reason}")
        if signature is not None:
            safe.execute(treasury, tx, {owner.address: sign_safe_tx(owner, safe.tx_hash(tx)),
                                        agent_key.address: signature})
            approved += 1
        else:
            rejected += 1
    safe_paid = balance(api_payee.address) - after[api_payee.address]

    delta = {a: after[a] - before[a] for a in who}
    calls_ok = all(r.status == 200 and r.paid for r in results)
    out.ok = (calls_ok and settlements == 1 and job_view.state == "paid" and budget_refusals == 1
              and ranking_refusals == 1 and approved == 1 and rejected == 1 and sum(delta.values()) == 0
              and delta[api_payee.address] == CALLS * CALL_PRICE and safe_paid == 50 * USD // 100
              and worker_view.paid_volume == job_view.price)
    out.figures = {
        "paid_calls": sum(1 for r in results if r.paid),
        "onchain_settlements": settlements,
        "budget_refusals": budget_refusals,
        "ranking_refusals": ranking_refusals,
        "jobs_paid": int(job_view.state == "paid"),
        "signer_approved": approved,
        "signer_rejected": rejected,
        "budget_left": str(agent.engine.budget_left()),
        "low_ranked_score": ranking.score,
    }
    out.lines = [
        f"The owner pins a signed policy on the agent's PolicyWallet {wallet.address[:10]}…: at most "
        f"{text(agent.policy.caps.per_payment)} a payment, {text(agent.policy.caps.per_window)} a day, "
        "three allowed payees, the job board as the only contract",
        f"{CALLS} paid calls to the market-data API over a channel: one deposit of {text(CALLS * CALL_PRICE)} "
        f"reserved in the wallet's caps, vouchers signed by the agent's key, {settlements} settlement at close",
        f"hired agent {worker} (\"summariser\") for at most {text(job_view.max_price)}: delivered (commit, then "
        f"reveal), accepted through the wallet, paid {text(job_view.price)}; its reputation now rests on "
        f"{text(worker_view.paid_volume)} from {worker_view.payers} payer",
        f"refused: {reasons[0] if reasons else '-'} (the contract alone says {contract_refusal})",
        f"refused: {reasons[1] if len(reasons) > 1 else '-'}",
        f"signer agent on a 2-of-2 Safe: {decisions[0]}",
        f"signer agent on a 2-of-2 Safe: {decisions[1]}",
        f"the day's budget left: {text(agent.engine.budget_left())}",
        "Balances (stablecoin), before the Safe:",
        *[f"  {who[a]:<22} {text(before[a]):>14} -> {text(after[a]):>14}  ({delta[a] / USD:+,.6f})" for a in who],
        f"  sum of changes {sum(delta.values())}",
    ]
