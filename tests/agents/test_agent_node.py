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
