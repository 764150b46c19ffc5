"""An agent hires another agent from its PolicyWallet: the job is funded by a reserved EIP-3009 authorization
whose nonce binds the post (a front-runner with the signature cannot post anything else with it), the hired
agent delivers (commit, then reveal), and the hiring agent accepts through the wallet's `execute`."""

from __future__ import annotations

from pathlib import Path

import pytest
from agents_harness import USD, AgentEnv, agent_env  # noqa: F401  (agent_env: the fixture)

from tessera.accounts.dev import dev_account
from tessera.agents.jobs import AgentRegistryClient, JobBoardClient, read_card
from tessera.errors import AgentError, ContractRevert, PolicyRefusal

CARD = ('{"name": "summariser", "endpoint": "https://summariser.example/api", "skills": ["summarise"], '
        '"prices": {"summarise": "0.20"}}')


def test_an_agent_hires_another_and_pays_on_delivery(agent_env: AgentEnv, tmp_path: Path) -> None:
    env = agent_env
    d = env.deployment
    env.wallet.pin(env.owner, env.write_policy(2, payees=[d.jobs.address], contracts=[d.jobs.address]))
    hiring = env.agent_wallet()
    card = tmp_path / "card.json"
    card.write_text(CARD)
    worker_owner = dev_account(8)
    registry = AgentRegistryClient(d)
    worker, _ = registry.register(worker_owner, card)
    jobs = JobBoardClient(d)
    args = jobs.post_args("summarise the quarterly report", 20 * USD // 100, 2, priority_agent=worker,
                          priority_window=600, review_window=3600)
    now = env.chain.get_block("latest").timestamp
    nonce = jobs.post_nonce(args, env.wallet.address)
    sig = hiring.authorize(d.jobs.address, args[1], 0, now + 600, nonce, receive=True)
    # a front-runner takes the signature and tries to post something else with the wallet's money
    stolen = (args[0], args[1], args[2], 0, 0, args[5], args[6], args[7], args[8])
    with pytest.raises(ContractRevert, match="InvalidSignature"):
        jobs.post_with_authorization(env.stranger, stolen, env.wallet.address, 0, now + 600, sig)
    job, _ = jobs.post_with_authorization(env.stranger, args, env.wallet.address, 0, now + 600, sig)
    assert jobs.view(job).poster == env.wallet.address and jobs.view(job).state == "open"
    jobs.deliver(worker_owner, job, worker, b"Revenue grew 12%.", 15 * USD // 100)
    before = env.balance(worker_owner.address)
    hiring.call(d.jobs.address, d.jobs.encode("accept", job))  # the poster is the wallet: it accepts via execute
    assert env.balance(worker_owner.address) == before + 15 * USD // 100
    assert env.balance(env.wallet.address) == 20 * USD - 20 * USD // 100 + 5 * USD // 100  # the rest came back
    view = registry.view(worker)
    assert (view.paid_volume, view.payers) == (15 * USD // 100, 1) and jobs.view(job).state == "paid"
    with pytest.raises(PolicyRefusal, match="over the per-payment cap"):
        hiring.authorize(d.jobs.address, USD, 0, now + 600, b"\1" * 32, receive=True)


def test_agent_cards_are_checked(tmp_path: Path) -> None:
    card = tmp_path / "card.json"
    card.write_text('{"name": "x", "endpoint": "not a url", "skills": ["a"]}')
    with pytest.raises(Exception, match="endpoint"):
        read_card(card)
    card.write_text('{"name": "x", "endpoint": "https://a.example", "skills": ["a"], "schemes": ["lightning"]}')
    with pytest.raises(AgentError, match="lightning unknown"):
        read_card(card)
    card.write_text("{oops")
    with pytest.raises(AgentError, match="is not JSON"):
        read_card(card)
