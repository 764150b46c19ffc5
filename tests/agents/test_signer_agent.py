"""A signer agent on a real Safe (npm @safe-global/safe-contracts 1.4.1, deployed from its own artifacts): a
2-of-2 Safe of a human and the agent executes only what the agent's rules approve; each rule kind accepts one
transaction and rejects another, with its reason."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from tessera.accounts.dev import dev_account
from tessera.agents.ranking import ContractRanker
from tessera.agents.safe import Safe, SafeTx, SignerAgent, SignerRules, deploy_safe_contracts, erc20_transfer, sign_safe_tx
from tessera.chain.contract import Contract
from tessera.errors import AgentError, ContractRevert
from tessera.protocol.deploy import Deployment

HUMAN, AGENT, PAYEE, STRANGER = dev_account(1), dev_account(2), dev_account(5), dev_account(7)
USD = 1_000_000
TUESDAY_NOON = datetime(2026, 12, 1, 12, 0, tzinfo=timezone.utc).timestamp()
TUESDAY_NIGHT = datetime(2026, 12, 1, 23, 0, tzinfo=timezone.utc).timestamp()
SUNDAY_NOON = datetime(2026, 12, 6, 12, 0, tzinfo=timezone.utc).timestamp()


@pytest.fixture
def safe(deployment: Deployment) -> Safe:
    chain = deployment.stablecoin.chain
    contracts = deploy_safe_contracts(chain, dev_account(0))
    s = Safe.create(chain, contracts, dev_account(0), [HUMAN.address, AGENT.address], 2)
    deployment.stablecoin.transact(dev_account(0), "mint", s.address, 100 * USD)
    return s


def rules(d: Deployment, **changes: object) -> SignerRules:
    base: dict[str, object] = {"tokens": [{"token": d.stablecoin.address, "max_per_tx": "10"}],
                               "targets": [d.stablecoin.address, PAYEE.address, d.registry.address],
                               "hours_utc": "09:00-18:00", "weekdays": ["mon", "tue", "wed", "thu", "fri"],
                               "max_eth_per_tx": "0.5"}
    return SignerRules.model_validate({**base, **changes})


def test_the_safe_executes_what_the_agent_approves_and_nothing_it_rejects(deployment: Deployment, safe: Safe) -> None:
    d = deployment
    assert safe.threshold() == 2 and set(safe.owners()) == {HUMAN.address, AGENT.address}
    agent = SignerAgent(safe, AGENT, rules(d), clock=lambda: TUESDAY_NOON)
    good = erc20_transfer(d.stablecoin.address, PAYEE.address, 5 * USD)
    review, sig = agent.sign(good)
    assert review.approved and sig is not None and "approved" in review.reason
    human_sig = sign_safe_tx(HUMAN, safe.tx_hash(good))
    safe.execute(STRANGER, good, {HUMAN.address: human_sig, AGENT.address: sig})
    assert int(d.stablecoin.call("balanceOf", PAYEE.address)) == 5 * USD
    bad = erc20_transfer(d.stablecoin.address, PAYEE.address, 50 * USD)
    review, sig = agent.sign(bad)
    assert not review.approved and sig is None and "over the limit of 10.00 per transaction" in review.reason
    with pytest.raises(ContractRevert, match="GS020"):  # the human alone cannot reach the threshold
        safe.execute(STRANGER, bad, {HUMAN.address: sign_safe_tx(HUMAN, safe.tx_hash(bad))})
    with pytest.raises(AgentError, match="is not an owner"):
        SignerAgent(safe, STRANGER, rules(d))


def test_each_rule_kind_accepts_one_and_rejects_another(deployment: Deployment, safe: Safe) -> None:
    d = deployment
    reg = d.registry

    def review(tx: SafeTx, when: float = TUESDAY_NOON, **changes: object) -> str:
        return SignerAgent(safe, AGENT, rules(d, **changes), clock=lambda: when,
                           ranker=ContractRanker(safe.chain)).review(tx).reason

    ok = erc20_transfer(d.stablecoin.address, PAYEE.address, USD)
    assert review(ok).startswith("approved")
    # limits: ETH and tokens
    assert review(SafeTx(PAYEE.address, 10**17, b"")).startswith("approved")
    assert "over the limit of 0.5 ETH" in review(SafeTx(PAYEE.address, 10**18, b""))
    assert "over the limit of 10.00 per transaction" in review(erc20_transfer(d.stablecoin.address, PAYEE.address, 11 * USD))
    # targets
    assert "is not an allowed target" in review(SafeTx(STRANGER.address, 1, b""))
    # selectors
    call = SafeTx(reg.address, 0, reg.encode("owner"))
    assert review(call, selectors={reg.address: ["0x" + reg.encode("owner")[:4].hex()]}).startswith("approved")
    assert "is not allowed on" in review(SafeTx(reg.address, 0, reg.encode("set", b"\0" * 32, PAYEE.address)),
                                         selectors={reg.address: ["0x" + reg.encode("owner")[:4].hex()]})
    assert "only plain transfers" in review(SafeTx(d.stablecoin.address, 0, d.stablecoin.encode("approve", STRANGER.address, 1)))
    assert "malformed transfer" in review(SafeTx(d.stablecoin.address, 0, bytes.fromhex("a9059cbb") + b"\x01" * 7))
    # time windows
    assert "outside the allowed hours 09:00-18:00" in review(ok, TUESDAY_NIGHT)
    assert "sun is outside the allowed days" in review(ok, SUNDAY_NOON)
    # delegatecall
    assert "delegatecall" in review(SafeTx(PAYEE.address, 0, b"", operation=1))
    # ranking: a fresh contract of unknown origin is refused, the used, verified stablecoin passes
    fresh, _ = Contract.deploy(safe.chain, STRANGER, "ERC1271Wallet", STRANGER.address)
    assert "ranks" in review(SafeTx(fresh.address, 0, b""), targets=[fresh.address], min_contract_score=40)
    assert review(ok, min_contract_score=30).startswith("approved")


def test_bad_rules_are_one_clear_line() -> None:
    for raw, message in (({"hours_utc": "18:00-09:00"}, "start before end"), ({"weekdays": ["funday"]}, "mon..sun"),
                         ({"limit": 5}, "Extra inputs"), ({"targets": ["0x12"]}, "not an address")):
        with pytest.raises(Exception, match=message):
            SignerRules.model_validate(raw)
