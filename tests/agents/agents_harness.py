"""The `agent_env` fixture: an owner, an agent and its PolicyWallet on a fresh deployment, with a signed,
pinned policy. A module of its own name (not `conftest`), so helper imports cannot shadow another directory's."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from eth_account.signers.local import LocalAccount

from tessera.accounts.dev import dev_account
from tessera.agents import AgentWallet, PolicyWallet, sign_policy
from tessera.chain import Chain
from tessera.protocol.deploy import Deployment

USD = 1_000_000
FUNDS = 20 * USD


@dataclass
class AgentEnv:
    chain: Chain
    deployment: Deployment
    owner: LocalAccount
    agent: LocalAccount
    payee: LocalAccount
    stranger: LocalAccount
    wallet: PolicyWallet
    policy_path: Path

    def balance(self, who: str) -> int:
        return int(self.deployment.stablecoin.call("balanceOf", who))

    def write_policy(self, version: int, *, sign: bool = True, **changes: Any) -> Path:
        doc = policy_doc(self, version)
        for key, value in changes.items():
            if key in doc["caps"]:
                doc["caps"][key] = value
            else:
                doc[key] = value
        self.policy_path.write_text(yaml.safe_dump(doc, sort_keys=False))
        if sign:
            sign_policy(self.policy_path, self.owner, self.chain.chain_id)
        return self.policy_path

    def agent_wallet(self) -> AgentWallet:
        return AgentWallet(self.wallet, self.agent, self.wallet.trusted_policy(self.policy_path))

    def advance(self, seconds: int) -> None:
        self.chain.increase_time(seconds)
        self.chain.mine(1)


def policy_doc(env: AgentEnv, version: int) -> dict[str, Any]:
    return {
        "version": version,
        "agent": env.agent.address,
        "wallet": env.wallet.address,
        "token": env.deployment.stablecoin.address,
        "caps": {"per_payment": "0.50", "per_window": "5.00", "window": "1d", "approval_above": "0.25"},
        "payees": [env.payee.address],
        "contracts": [],
        "min_contract_score": 50,
    }


@pytest.fixture
def agent_env(deployment: Deployment, tmp_path: Path) -> AgentEnv:
    chain = deployment.stablecoin.chain
    owner, agent, payee, stranger = dev_account(1), dev_account(2), dev_account(5), dev_account(7)
    wallet = PolicyWallet.deploy(chain, owner, agent.address)
    deployment.stablecoin.transact(dev_account(0), "mint", wallet.address, FUNDS)
    env = AgentEnv(chain, deployment, owner, agent, payee, stranger, wallet, tmp_path / "policy.yaml")
    wallet.pin(owner, env.write_policy(1))
    return env
