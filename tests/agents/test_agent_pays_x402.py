"""An agent pays x402 endpoints from its PolicyWallet through the official SDK: `exact` through the token's
authorization (ERC-1271, reserved against the caps first) and a channel whose deposit comes from the wallet and
whose vouchers the agent's key signs. The caps hold on both."""

from __future__ import annotations

import asyncio

import httpx
import pytest
from agents_harness import USD, AgentEnv, agent_env  # noqa: F401  (agent_env: the fixture)
from fastapi import FastAPI
from x402.mechanisms.evm.batch_settlement.constants import ERC3009_DEPOSIT_COLLECTOR_ADDRESS

from tessera.accounts.dev import dev_account
from tessera.agents import PolicyWalletSigner
from tessera.errors import PaymentError
from tessera.payments import PaidAPI, PaidRoute, Payer, PaymentAsset, build_facilitator

URL = "http://api.test"
CENTS = USD // 100


def paid_api(env: AgentEnv) -> tuple[FastAPI, PaidAPI]:
    app = FastAPI()

    @app.get("/report")
    async def report() -> dict[str, str]:
        return {"report": "ok"}

    @app.get("/call")
    async def call() -> dict[str, int]:
        return {"answer": 7}

    @app.get("/pricey")
    async def pricey() -> dict[str, int]:
        return {"answer": 0}

    asset = PaymentAsset.read(env.chain, env.deployment.stablecoin.address)
    paid = PaidAPI.install(app, chain=env.chain, facilitator=build_facilitator(env.chain, dev_account(6),
                                                                               state=env.policy_path.with_name("f.db")),
                           asset=asset, payee=env.payee, state=env.policy_path.with_name("s.db"),
                           routes=[PaidRoute("GET /report", 10 * CENTS, ("exact",)),
                                   PaidRoute("GET /call", CENTS // 10, ("batch-settlement",)),
                                   PaidRoute("GET /pricey", 60 * CENTS, ("exact",))])
    return app, paid


def test_the_agent_pays_exact_and_a_channel_from_its_wallet_within_the_caps(agent_env: AgentEnv) -> None:
    env = agent_env
    env.wallet.pin(env.owner, env.write_policy(2, payees=[env.payee.address, ERC3009_DEPOSIT_COLLECTOR_ADDRESS]))
    agent = env.agent_wallet()
    app, paid = paid_api(env)
    asset = PaymentAsset.read(env.chain, env.deployment.stablecoin.address)
    payer = Payer(env.agent, asset, max_per_payment=USD, signer=PolicyWalletSigner(agent), calls_per_deposit=100,
                  channel_state=env.policy_path.with_name("channels"))
    before = env.balance(env.wallet.address)

    async def go() -> list[object]:
        http = payer.http(httpx.ASGITransport(app=app))
        try:
            out: list[object] = [await payer.get(f"{URL}/report", client=http)]
            out += [await payer.get(f"{URL}/call", client=http) for _ in range(20)]
            with pytest.raises(PaymentError, match="over the per-payment cap of 0.50 tUSD"):
                await payer.get(f"{URL}/pricey", client=http)
            return out
        finally:
            await http[0].aclose()

    results = asyncio.run(go())
    assert all(r.paid and r.status == 200 for r in results)  # type: ignore[attr-defined]
    # the exact call and one deposit of 100 calls came out of the wallet, nothing else
    assert env.balance(env.wallet.address) == before - 10 * CENTS - 100 * (CENTS // 10)
    assert agent.engine.budget_left() == int(env.wallet.contract.call("budgetLeft", asset.address)) \
        == 5 * USD - 10 * CENTS - 10 * CENTS
    asyncio.run(paid.settle_channels(direct=True))
    assert env.balance(env.payee.address) == 10 * CENTS + 20 * (CENTS // 10)
    assert paid.fast is not None and paid.fast.served == 19  # vouchers signed by the agent's EOA take the fast path
