"""The agent runtime in process: its card, a paid skill bought over x402 by another account, the tool API
(idempotent by id, bad bodies refused with one line), and a config refused when it names unknown skills."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
import pytest
import yaml
from agents_harness import USD, AgentEnv, agent_env  # noqa: F401  (agent_env: the fixture)

from tessera.accounts.dev import dev_account
from tessera.agent_node import AgentNode, create_app, load_agent_config
from tessera.errors import ConfigError
from tessera.payments import Payer, PaymentAsset

URL = "http://agent.test"


def test_the_agent_serves_a_paid_skill_and_pays_by_tool_id(agent_env: AgentEnv, tmp_path: Path) -> None:
    env = agent_env
    config = tmp_path / "agent.yaml"
    config.write_text(yaml.safe_dump({"name": "summariser", "account": "agent", "policy": str(env.policy_path),
                                      "skills": ["summarise", "echo"], "prices": {"summarise": "0.01"}}))
    node = AgentNode(env.chain, env.deployment, env.agent, load_agent_config(config), tmp_path / "state")
    assert node.ensure_registered() == node.ensure_registered() == 1
    app = create_app(node, tmp_path / "state")
    buyer = dev_account(4)
    env.deployment.stablecoin.transact(dev_account(0), "mint", buyer.address, USD)
    asset = PaymentAsset.read(env.chain, env.deployment.stablecoin.address)
    payer = Payer(buyer, asset, max_per_payment=USD // 10, prefer="exact")

    async def go() -> list[httpx.Response]:
        http, _ = payer.http(httpx.ASGITransport(app=app))
        plain = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=URL)
        try:
            return [await http.post(f"{URL}/skills/summarise", json={"text": "Sales rose. Costs fell. Done."}),
                    await plain.post("/skills/echo", json={"x": 1}),
                    await plain.get("/card"),
                    await plain.post("/tools/pay", json={"id": "t-1", "to": env.payee.address, "amount": "0.10"}),
                    await plain.post("/tools/pay", json={"id": "t-1", "to": env.payee.address, "amount": "0.10"}),
                    await plain.post("/tools/pay", json={"id": "t 2", "to": "nobody", "amount": "x"}),
                    await plain.post("/tools/pay", json={"id": "t-3", "to": env.payee.address, "amount": "0.001"})]
        finally:
            await http.aclose()
            await plain.aclose()

    skill, echo, card, paid, again, bad, tiny = asyncio.run(go())
    assert skill.status_code == 200 and skill.json()["summary"] == "Sales rose. Costs fell."
    assert echo.json() == {"echo": {"x": 1}} and card.json()["skills"] == ["summarise", "echo"]
    assert env.balance(env.agent.address) == USD // 100  # the buyer paid the agent's payee for the skill
    assert paid.json()["status"] == "paid" and again.json() == paid.json()
    assert env.balance(env.payee.address) == USD // 10 + USD // 1000  # t-1 once, then t-3
    assert bad.status_code == 400 and "\n" not in bad.json()["error"]
    assert tiny.json()["status"] == "paid"


def test_configs_name_known_skills(tmp_path: Path) -> None:
    config = tmp_path / "agent.yaml"
    config.write_text(yaml.safe_dump({"name": "a", "account": "agent", "policy": "p.yaml", "skills": ["fly"]}))
    with pytest.raises(ConfigError, match="fly unknown; the built-in skills are echo, summarise"):
        load_agent_config(config)
    config.write_text(yaml.safe_dump({"name": "a", "account": "agent", "policy": "p.yaml", "skills": ["echo"],
                                      "prices": {"summarise": "1"}}))
    with pytest.raises(ConfigError, match="summarise is not in `skills`"):
        load_agent_config(config)
    config.write_text(yaml.safe_dump({"name": "a", "account": "agent", "policy": "p.yaml", "skills": ["echo"],
                                      "key": "0xdeadbeef"}))
    with pytest.raises(ConfigError, match="key: unknown key"):  # keys never live in the config
        load_agent_config(config)


def test_the_agents_tools_hire_accept_and_call_a_paid_api(agent_env: AgentEnv, tmp_path: Path) -> None:
    from fastapi import FastAPI
    from x402.mechanisms.evm.batch_settlement.constants import ERC3009_DEPOSIT_COLLECTOR_ADDRESS

    from tessera.agents.jobs import AgentRegistryClient, JobBoardClient
    from tessera.payments import PaidAPI, PaidRoute, build_facilitator

    env = agent_env
    d = env.deployment
    env.wallet.pin(env.owner, env.write_policy(2, payees=[env.payee.address, d.jobs.address,
                                                          ERC3009_DEPOSIT_COLLECTOR_ADDRESS],
                                               contracts=[d.jobs.address]))
    config = tmp_path / "agent.yaml"
    config.write_text(yaml.safe_dump({"name": "buyer", "account": "agent", "policy": str(env.policy_path),
                                      "skills": ["echo"]}))
    node = AgentNode(env.chain, d, env.agent, load_agent_config(config), tmp_path / "state")
    api = FastAPI()

    @api.get("/quote")
    async def quote() -> dict[str, float]:
        return {"mid": 3000.5}

    PaidAPI.install(api, chain=env.chain, facilitator=build_facilitator(env.chain, dev_account(6), state=tmp_path / "f.db"),
                    asset=PaymentAsset.read(env.chain, d.stablecoin.address), payee=env.payee,
                    state=tmp_path / "api.db", routes=[PaidRoute("GET /quote", USD // 100, ("exact",))])
    app = create_app(node, tmp_path / "state", outbound=httpx.ASGITransport(app=api))
    card = tmp_path / "card.json"
    card.write_text('{"name": "w", "endpoint": "https://w.example", "skills": ["summarise"]}')
    worker_owner = dev_account(8)
    worker, _ = AgentRegistryClient(d).register(worker_owner, card)

    async def tools(*calls: tuple[str, str, dict | None]) -> list[httpx.Response]:  # type: ignore[type-arg]
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=URL) as c:
            return [await (c.post(path, json=body) if method == "POST" else c.get(path)) for method, path, body in calls]

    hire = {"id": "h-1", "task": "summarise the quotes", "max": "0.25", "hours": 2, "priority_agent": worker}
    posted, again, too_big, waits = asyncio.run(tools(
        ("POST", "/tools/hire", hire), ("POST", "/tools/hire", hire),
        ("POST", "/tools/hire", {**hire, "id": "h-2", "max": "3"}),
        ("POST", "/tools/hire", {**hire, "id": "h-3", "max": "0.40"})))
    assert posted.json()["status"] == "posted" and again.json() == posted.json()
    assert too_big.json()["status"] == "refused" and "per-payment cap" in too_big.json()["reason"]
    assert waits.json()["status"] == "refused" and "cannot wait for approval" in waits.json()["reason"]
    job = posted.json()["job"]
    JobBoardClient(d).deliver(worker_owner, job, worker, b"calm", 20 * USD // 100)
    before = env.balance(worker_owner.address)
    accepted, bought = asyncio.run(tools(("POST", f"/tools/accept/{job}", None),
                                         ("POST", "/tools/call", {"url": "http://api.test/quote", "max": "0.05"})))
    assert accepted.status_code == 200 and env.balance(worker_owner.address) == before + 20 * USD // 100
    assert bought.json()["status"] == 200 and bought.json()["body"] == {"mid": 3000.5} and bought.json()["paid"]
    assert env.balance(env.payee.address) == USD // 100
    # the same node answers a job another poster put up, as its own registered agent
    poster = dev_account(9)
    d.stablecoin.transact(dev_account(0), "mint", poster.address, USD)
    jobs = JobBoardClient(d)
    other, _ = jobs.post(poster, jobs.post_args("echo this", USD // 10, 1))
    before = env.balance(env.agent.address)
    delivered, twice = asyncio.run(tools(("POST", "/tools/deliver", {"job": other, "result": "this", "price": "0.05"}),
                                         ("POST", "/tools/deliver", {"job": other, "result": "this", "price": "0.05"})))
    assert delivered.json()["status"] == "delivered" and twice.json() == delivered.json()
    jobs.act(poster, "accept", other)
    assert env.balance(env.agent.address) == before + USD // 20  # paid to the agent identity's owner (its key)
