"""Contract ranking from on-chain facts, and the policy refusing a low-ranked contract."""

from __future__ import annotations

from pathlib import Path

from agents_harness import AgentEnv, agent_env  # noqa: F401  (agent_env: the fixture)
import pytest

from tessera.accounts.dev import dev_account
from tessera.agents.ranking import ContractRanker, load_known_bad
from tessera.chain.contract import Contract
from tessera.errors import ConfigError, PolicyRefusal


def test_a_used_verified_protocol_contract_outranks_a_fresh_unknown_one(agent_env: AgentEnv, tmp_path: Path) -> None:
    env = agent_env
    d = env.deployment
    for i in range(3, 6):  # some traffic: distinct callers paying into the market
        d.stablecoin.transact(dev_account(0), "mint", dev_account(i).address, 10**6)
        d.stablecoin.transact(dev_account(i), "approve", d.market.address, 1)
    fresh, _ = Contract.deploy(env.chain, env.stranger, "ERC1271Wallet", env.stranger.address)
    ranker = ContractRanker(env.chain, token=d.stablecoin.address)
    good, unknown = ranker.rank(d.stablecoin.address), ranker.rank(fresh.address)
    assert good.facts.verified_as == "DevStablecoin" and good.facts.callers >= 3
    assert dict((f, p) for f, p, _ in good.reasons)["verified"] == 30
    assert unknown.facts.verified_as == "ERC1271Wallet"  # an example contract of ours, so verified, but idle
    assert good.score > unknown.score
    assert "transactions in blocks" in good.explain() and "/100" in good.explain()
    nobody = ranker.rank(env.stranger.address)
    assert nobody.score == 0 and "not a contract" in nobody.explain()
    bad = tmp_path / "bad.yaml"
    bad.write_text(f"{fresh.address}: drained in a test exploit\n")
    flagged = ContractRanker(env.chain, known_bad=load_known_bad(bad)).rank(fresh.address)
    assert flagged.score == 0 and "drained in a test exploit" in flagged.explain()
    bad.write_text("- not a mapping\n")
    with pytest.raises(ConfigError, match="must map addresses to reasons"):
        load_known_bad(bad)


def test_the_policy_refuses_a_low_ranked_contract_and_asks_the_owner_for_a_good_one(agent_env: AgentEnv) -> None:
    env = agent_env
    agent = env.agent_wallet()
    ranker = ContractRanker(env.chain)
    fresh, _ = Contract.deploy(env.chain, env.stranger, "HostileCollector")
    low = ranker.rank(fresh.address)
    with pytest.raises(PolicyRefusal, match=f"ranked {low.score}/100, below 50"):
        agent.call(fresh.address, b"\x12\x34\x56\x78", score=low.score)
    with pytest.raises(PolicyRefusal, match="needs the owner"):
        agent.call(fresh.address, b"\x12\x34\x56\x78", score=80)
