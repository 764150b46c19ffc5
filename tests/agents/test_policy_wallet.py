"""The PolicyWallet and the policy engine: the agent spends within its owner's caps and cannot loosen them,
whatever its tools do; the contract refuses past the caps even when the agent's software is bypassed."""

from __future__ import annotations

import pytest
import yaml
from agents_harness import FUNDS, USD, AgentEnv, agent_env  # noqa: F401  (agent_env: the fixture)
from eth_abi import encode as abi_encode

from tessera.accounts.typed_data import contract_domain, transfer_authorization_data, typed_data_digest
from tessera.agents import sign_policy
from tessera.agents.wallet import random_nonce
from tessera.chain.contract import Contract
from tessera.errors import ContractRevert, PolicyError, PolicyRefusal, TesseraError

CENTS = USD // 100


def now(env: AgentEnv) -> int:
    return env.chain.get_block("latest").timestamp


def test_the_agent_pays_within_its_caps_until_the_budget_is_spent(agent_env: AgentEnv) -> None:
    env = agent_env
    agent = env.agent_wallet()
    for _ in range(20):  # 20 x 0.25 = the 5.00 daily budget
        assert agent.pay(env.payee.address, 25 * CENTS).decision.verdict == "allow"
    assert env.balance(env.payee.address) == 5 * USD
    with pytest.raises(PolicyRefusal, match=r"budget of 5\.00 tUSD per day is spent \(5\.00 tUSD used, 0\.01 tUSD "
                                            r"asked\); it renews at 20\d\d-"):
        agent.pay(env.payee.address, CENTS)
    with pytest.raises(ContractRevert, match="OverWindowBudget"):  # the agent's software bypassed: the contract says no
        env.wallet.contract.transact(env.agent, "pay", env.deployment.stablecoin.address, env.payee.address, CENTS)
    env.advance(86_400)
    assert agent.pay(env.payee.address, CENTS).receipt is not None  # a new day, a new budget
    assert env.balance(env.wallet.address) == FUNDS - 5 * USD - CENTS


def test_over_cap_payments_are_refused_by_the_contract_and_approval_is_the_owners(agent_env: AgentEnv) -> None:
    env = agent_env
    token = env.deployment.stablecoin.address
    c = env.wallet.contract
    with pytest.raises(ContractRevert, match="OverPaymentCap"):
        c.transact(env.agent, "pay", token, env.payee.address, 60 * CENTS)
    with pytest.raises(ContractRevert, match="PayeeNotAllowed"):
        c.transact(env.agent, "pay", token, env.stranger.address, CENTS)
    with pytest.raises(ContractRevert, match="NeedsApproval"):
        c.transact(env.agent, "pay", token, env.payee.address, 40 * CENTS)
    with pytest.raises(ContractRevert, match="TokenNotManaged"):
        c.transact(env.agent, "pay", env.deployment.token.address, env.payee.address, 1)
    agent = env.agent_wallet()
    with pytest.raises(PolicyRefusal, match="over the per-payment cap of 0.50 tUSD"):
        agent.pay(env.payee.address, 60 * CENTS)
    with pytest.raises(PolicyRefusal, match="is not an allowed payee"):
        agent.pay(env.stranger.address, CENTS)
    spent = agent.pay(env.payee.address, 40 * CENTS)
    assert spent.decision.verdict == "approve" and spent.proposal == 0
    assert env.balance(env.payee.address) == 0  # waiting for the owner
    with pytest.raises(ContractRevert, match="NotOwner"):
        env.wallet.approve(env.agent, 0)  # type: ignore[arg-type]
    env.wallet.approve(env.owner, 0)
    assert env.balance(env.payee.address) == 40 * CENTS
    with pytest.raises(ContractRevert, match="ProposalNotOpen"):
        env.wallet.approve(env.owner, 0)  # paid once
    second = agent.pay(env.payee.address, 30 * CENTS).proposal
    env.wallet.reject(env.owner, second)  # type: ignore[arg-type]
    with pytest.raises(ContractRevert, match="ProposalNotOpen"):
        env.wallet.approve(env.owner, second)  # type: ignore[arg-type]
    third = agent.pay(env.payee.address, 30 * CENTS).proposal
    env.advance(7 * 86_400)
    with pytest.raises(ContractRevert, match="ProposalExpired"):
        env.wallet.approve(env.owner, third)  # type: ignore[arg-type]


def _authorization(env: AgentEnv, value: int, to: str | None = None) -> tuple[tuple, bytes]:  # type: ignore[type-arg]
    coin = env.deployment.stablecoin
    domain = contract_domain(coin.call("name"), coin.call("version"), env.chain.chain_id, coin.address)
    nonce = random_nonce()
    fields = (env.wallet.address, to or env.payee.address, value, 0, now(env) + 3600, nonce)
    digest = typed_data_digest(transfer_authorization_data(domain, *fields))
    return fields, digest


def test_erc1271_validates_only_reserved_authorizations_within_the_caps(agent_env: AgentEnv) -> None:
    env = agent_env
    coin = env.deployment.stablecoin
    c = env.wallet.contract
    # signed by the agent but never reserved: the token refuses it
    fields, digest = _authorization(env, 20 * CENTS)
    sig = bytes(env.agent.unsafe_sign_hash(digest).signature)
    assert c.call("isValidSignature", digest, sig) == b"\xff\xff\xff\xff"
    with pytest.raises(ContractRevert, match="InvalidSignature"):
        coin.transact(env.stranger, "transferWithAuthorization", *fields, sig)
    # an over-cap authorization cannot be reserved, so it can never validate
    big, _ = _authorization(env, 60 * CENTS)
    with pytest.raises(ContractRevert, match="OverPaymentCap"):
        c.transact(env.agent, "reserve", coin.address, False, *big[1:])
    with pytest.raises(PolicyRefusal, match="over the per-payment cap"):
        env.agent_wallet().authorize(big[1], big[2], big[3], big[4], big[5])
    # a permit (or any other message) signed by the agent is never the wallet's signature
    permit = bytes(env.agent.unsafe_sign_hash(b"\x11" * 32).signature)
    assert c.call("isValidSignature", b"\x11" * 32, permit) == b"\xff\xff\xff\xff"
    # reserved within the caps: the x402 facilitator's v/r/s call settles it, once
    agent = env.agent_wallet()
    fields, digest = _authorization(env, 20 * CENTS)
    sig = agent.authorize(fields[1], fields[2], fields[3], fields[4], fields[5])
    assert c.call("isValidSignature", digest, sig) == b"\x16\x26\xba\x7e"
    stranger_sig = bytes(env.stranger.unsafe_sign_hash(digest).signature)
    assert c.call("isValidSignature", digest, stranger_sig) == b"\xff\xff\xff\xff"  # only the agent's key
    coin.transact(env.stranger, "transferWithAuthorization", *fields, sig[64], sig[:32], sig[32:64])
    assert env.balance(env.payee.address) == 20 * CENTS
    with pytest.raises(ContractRevert, match="AuthorizationAlreadyUsed"):
        coin.transact(env.stranger, "transferWithAuthorization", *fields, sig)
    assert agent.engine.budget_left() == 5 * USD - 20 * CENTS == c.call("budgetLeft", coin.address)


def test_an_unused_reservation_gives_its_budget_back_after_it_expires(agent_env: AgentEnv) -> None:
    env = agent_env
    coin = env.deployment.stablecoin
    c = env.wallet.contract
    agent = env.agent_wallet()
    fields, digest = _authorization(env, 20 * CENTS)
    agent.authorize(fields[1], fields[2], fields[3], fields[4], fields[5])
    assert c.call("budgetLeft", coin.address) == 480 * CENTS
    with pytest.raises(ContractRevert, match="NotReleasable"):
        c.transact(env.stranger, "release", digest)  # still valid: the payee may yet use it
    env.advance(3601)
    c.transact(env.stranger, "release", digest)
    assert c.call("budgetLeft", coin.address) == 5 * USD
    with pytest.raises(ContractRevert, match="NotReleasable"):
        c.transact(env.stranger, "release", digest)  # once


def test_the_agents_tools_cannot_change_the_policy(agent_env: AgentEnv) -> None:
    env = agent_env
    token = env.deployment.stablecoin.address
    # a tool writes the policy file: raises its own caps
    doc = yaml.safe_load(env.policy_path.read_text())
    doc["caps"]["per_window"] = "500.00"
    env.policy_path.write_text(yaml.safe_dump(doc))
    with pytest.raises(PolicyError, match="is not the policy the owner pinned"):
        env.agent_wallet()
    # ... and signs it with the agent's own key
    sign_policy(env.policy_path, env.agent, env.chain.chain_id)
    with pytest.raises(PolicyError, match="is not the policy the owner pinned"):
        env.agent_wallet()
    # the pinned file itself, with a signature that is not the owner's
    env.write_policy(1, sign=False)
    sign_policy(env.policy_path, env.agent, env.chain.chain_id)
    with pytest.raises(PolicyError, match=f"signed by {env.agent.address}, not by the wallet's owner"):
        env.agent_wallet()
    # the owner moves to version 2; a tool restores the older, genuinely signed version 1
    v1 = env.write_policy(1).read_bytes(), env.policy_path.with_name("policy.yaml.sig").read_bytes()
    env.wallet.pin(env.owner, env.write_policy(2, per_payment="0.40"))
    assert env.agent_wallet().policy.caps.per_payment == 40 * CENTS
    env.policy_path.write_bytes(v1[0])
    env.policy_path.with_name("policy.yaml.sig").write_bytes(v1[1])
    with pytest.raises(PolicyError, match="version 1, older than the pinned version 2"):
        env.agent_wallet()
    with pytest.raises(PolicyError, match="version 1 but version 2 is pinned"):
        env.wallet.pin(env.owner, env.policy_path)
    # owner-only transactions sent with the agent's key
    c = env.wallet.contract
    for fn, args in (("setCaps", (token, 10**12, 10**12, 10**12, 86_400)), ("pinPolicy", (b"\x01" * 32, 9)),
                     ("setPayee", (env.agent.address, True)), ("setContract", (token, True)),
                     ("withdraw", (token, env.agent.address, 1)), ("setAgent", (env.stranger.address,)),
                     ("transferOwnership", (env.agent.address,))):
        with pytest.raises(ContractRevert, match="NotOwner"):
            c.transact(env.agent, fn, *args)
    # or smuggled through the wallet's own execute
    env.write_policy(3)
    env.wallet.pin(env.owner, env.policy_path)
    agent = env.agent_wallet()
    with pytest.raises(PolicyRefusal, match="cannot call its own wallet's settings"):
        agent.call(env.wallet.address, c.encode("setCaps", token, 10**12, 10**12, 10**12, 86_400))
    with pytest.raises(ContractRevert, match="ContractNotAllowed"):
        c.transact(env.agent, "execute", env.wallet.address, c.encode("setPayee", env.agent.address, True))
    assert env.wallet.caps(token).per_window == 5 * USD


def test_execute_reaches_allowed_contracts_but_never_moves_tokens(agent_env: AgentEnv) -> None:
    env = agent_env
    registry = env.deployment.registry
    coin = env.deployment.stablecoin
    env.wallet.pin(env.owner, env.write_policy(2, contracts=[registry.address, coin.address]))
    agent = env.agent_wallet()
    agent.call(registry.address, registry.encode("owner"))  # a harmless read-only call goes through
    transfer = coin.encode("transfer", env.agent.address, USD)
    with pytest.raises(PolicyRefusal, match="moves or approves tokens"):
        agent.call(coin.address, transfer)
    for data in (transfer, coin.encode("approve", env.agent.address, USD)):
        with pytest.raises(ContractRevert, match="ForbiddenCall"):
            env.wallet.contract.transact(env.agent, "execute", coin.address, data)
    with pytest.raises(PolicyRefusal, match="is not an allowed contract and is ranked 10/100"):
        agent.call(env.stranger.address, b"\x12\x34\x56\x78", score=10)
    assert env.balance(env.wallet.address) == FUNDS


def test_bad_policy_files_are_one_clear_line(agent_env: AgentEnv) -> None:
    env = agent_env
    cases = [({"caps": {"per_payment": "6", "per_window": "5", "window": "1d", "approval_above": "0"}},
              "per_payment cannot exceed per_window"),
             ({"caps": {"per_payment": "1", "per_window": "5", "window": "soon", "approval_above": "0"}},
              "not a duration"),
             ({"payees": ["0x1234"]}, "not an address"),
             ({"budget": "5"}, "budget: unknown key"),
             ({"caps": {"per_payment": "-1", "per_window": "5", "window": "1d", "approval_above": "0"}},
              "per_payment")]
    good = yaml.safe_load(env.policy_path.read_text())
    for change, message in cases:
        doc = {**good, "version": 9, **change}
        env.policy_path.write_text(yaml.safe_dump(doc))
        with pytest.raises(TesseraError, match=message) as info:
            sign_policy(env.policy_path, env.owner, env.chain.chain_id)
        assert "\n" not in str(info.value)
    env.policy_path.with_name("policy.yaml.sig").unlink()
    env.write_policy(1, sign=False)
    with pytest.raises(PolicyError, match="has no signature"):
        env.agent_wallet()


def test_the_wallet_digest_is_the_tokens_and_follows_the_chain(agent_env: AgentEnv) -> None:
    env = agent_env
    fields, digest = _authorization(env, CENTS)
    got = env.wallet.contract.call("authorizationDigest", env.deployment.stablecoin.address, False, *fields[1:])
    assert got == digest
    assert abi_encode(["bytes32"], [digest])  # a bytes32
    assert Contract.at(env.chain, "DevStablecoin", env.deployment.stablecoin.address).call("DOMAIN_SEPARATOR")
