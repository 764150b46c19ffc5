"""AgentRegistry (transferable identities, proven payout wallets, reputation that rests on recorded payments)
and the JobBoard (escrow, priority agent then take-over, review window, referee, refund), with the attacks on
their rules played."""

from __future__ import annotations

import os
from typing import Any

import pytest
from eth_utils import keccak

from tessera.accounts.dev import dev_account
from tessera.chain.base import CallRequest
from tessera.chain.contract import Contract
from tessera.errors import ContractRevert, TesseraError
from tessera.protocol.deploy import Deployment

USD = 1_000_000
OWNER_A, OWNER_B, POSTER, STRANGER, REFEREE = dev_account(1), dev_account(2), dev_account(3), dev_account(7), dev_account(0)


def advance(d: Deployment, seconds: int) -> None:
    d.agents.chain.increase_time(seconds)
    d.agents.chain.mine(1)


def register(d: Deployment, owner: Any, card: bytes = b"card") -> int:
    receipt = d.agents.transact(owner, "register", "https://agents.example/card.json", keccak(card))
    return int(d.agents.events(receipt, "Registered")[0].args["id"])


def set_payout(d: Deployment, agent: int, owner: Any, wallet_key: Any, wallet: str | None = None) -> None:
    deadline = d.agents.chain.get_block("latest").timestamp + 600
    address = wallet or wallet_key.address
    digest = d.agents.call("payoutDigest", agent, address, deadline)
    d.agents.transact(owner, "setPayoutWallet", agent, address, deadline,
                      bytes(wallet_key.unsafe_sign_hash(digest).signature))


def test_an_agent_is_a_transferable_identity_whose_payout_wallet_is_proven(deployment: Deployment) -> None:
    d = deployment
    a = register(d, OWNER_A)
    assert d.agents.call("ownerOf", a) == OWNER_A.address and d.agents.call("tokenURI", a).endswith("card.json")
    assert d.agents.call("supportsInterface", bytes.fromhex("80ac58cd")) is True
    with pytest.raises(ContractRevert, match="NotAgentOwner"):
        d.agents.transact(STRANGER, "updateCard", a, "https://evil", keccak(b"x"))
    payout = dev_account(8)
    # a wallet that did not sign, and a stranger's signature for it, are refused
    deadline = d.agents.chain.get_block("latest").timestamp + 600
    digest = d.agents.call("payoutDigest", a, payout.address, deadline)
    with pytest.raises(ContractRevert, match="BadPayoutSignature"):
        d.agents.transact(OWNER_A, "setPayoutWallet", a, payout.address, deadline,
                          bytes(STRANGER.unsafe_sign_hash(digest).signature))
    good = bytes(payout.unsafe_sign_hash(digest).signature)
    d.agents.transact(OWNER_A, "setPayoutWallet", a, payout.address, deadline, good)
    assert d.agents.call("payoutOf", a) == payout.address
    with pytest.raises(ContractRevert, match="BadPayoutSignature"):  # the proof is single-use (nonce)
        d.agents.transact(OWNER_A, "setPayoutWallet", a, payout.address, deadline, good)
    # an ERC-1271 contract wallet proves itself through its owner's key
    smart, _ = Contract.deploy(d.agents.chain, OWNER_A, "ERC1271Wallet", payout.address)
    set_payout(d, a, OWNER_A, payout, smart.address)
    assert d.agents.call("payoutOf", a) == smart.address
    # a transfer clears the payout wallet; the reputation stays with the agent
    d.agents.transact(OWNER_A, "transferFrom", OWNER_A.address, OWNER_B.address, a)
    assert d.agents.call("ownerOf", a) == OWNER_B.address and d.agents.call("payoutOf", a) == OWNER_B.address
    with pytest.raises(ContractRevert, match="BadPayoutSignature"):  # an old proof names the old owner
        d.agents.transact(OWNER_B, "setPayoutWallet", a, payout.address, deadline, good)
    with pytest.raises(ContractRevert, match="NotAuthorized"):
        d.agents.transact(OWNER_A, "transferFrom", OWNER_B.address, OWNER_A.address, a)


def test_reputation_counts_only_recorded_payments_from_other_payers(deployment: Deployment) -> None:
    d = deployment
    a = register(d, OWNER_A)
    recorder = dev_account(9)
    with pytest.raises(ContractRevert, match="NotRecorder"):  # feedback that rests on no payment
        d.agents.transact(STRANGER, "recordPayment", b"\1" * 32, a, STRANGER.address, USD)
    d.agents.transact(REFEREE, "setRecorder", recorder.address, True)
    receipt = d.agents.transact(recorder, "recordPayment", b"\1" * 32, a, OWNER_A.address, USD)  # self-paid
    assert d.agents.events(receipt, "PaymentIgnored")
    payers = [dev_account(3), dev_account(4)]
    keys = []
    for i, (payer, amount) in enumerate([(payers[0], USD), (payers[0], 2 * USD), (payers[1], 3 * USD)]):
        receipt = d.agents.transact(recorder, "recordPayment", bytes([i + 2]) * 32, a, payer.address, amount)
        keys.append(bytes(d.agents.events(receipt, "PaymentRecorded")[0].args["ref"]))
    with pytest.raises(ContractRevert, match="NotYourPayment"):
        d.agents.transact(STRANGER, "rate", keys[0], 100)
    d.agents.transact(payers[0], "rate", keys[0], 20)
    with pytest.raises(ContractRevert, match="AlreadyRated"):
        d.agents.transact(payers[0], "rate", keys[0], 100)
    d.agents.transact(payers[0], "rate", keys[1], 60)  # the same payer again: its latest rating replaces the first
    d.agents.transact(payers[1], "rate", keys[2], 100)
    score, volume, n_payers, raters = d.agents.call("scoreOfAgent", a)
    assert (score, volume, n_payers, raters) == (80, 6 * USD, 2, 2)  # (60 + 100) / 2 distinct payers


def _job(d: Deployment, *, priority: int = 0, window: int = 600, review: int = 3600, price: int = 2 * USD,
         deadline: int = 7200) -> int:
    d.stablecoin.transact(REFEREE, "mint", POSTER.address, price)
    d.stablecoin.transact(POSTER, "approve", d.jobs.address, price)
    now = d.jobs.chain.get_block("latest").timestamp
    receipt = d.jobs.transact(POSTER, "post", (keccak(b"summarise the doc"), price, now + deadline, priority, window,
                                               review, b"\0" * 32, b"\0" * 32, 0))
    return int(d.jobs.events(receipt, "Posted")[0].args["id"])


def deliver(d: Deployment, job: int, agent: int, owner: Any, price: int, result: bytes = b"summary") -> Any:
    salt = os.urandom(32)
    h = d.jobs.call("deliveryHash", job, agent, owner.address, keccak(result), price, [], salt)
    d.jobs.transact(owner, "commit", job, agent, h)
    return d.jobs.transact(owner, "deliver", job, agent, keccak(result), price, [], salt)


def test_priority_agent_then_take_over_then_pay_after_the_review_window(deployment: Deployment) -> None:
    d = deployment
    a, b = register(d, OWNER_A), register(d, OWNER_B)
    job = _job(d, priority=a)
    h = d.jobs.call("deliveryHash", job, b, OWNER_B.address, keccak(b"x"), USD, [], b"\0" * 32)
    with pytest.raises(ContractRevert, match="PriorityWindow"):
        d.jobs.transact(OWNER_B, "commit", job, b, h)
    with pytest.raises(ContractRevert, match="NotAgentOwner"):  # bound to the sender: B cannot act for A
        d.jobs.transact(OWNER_B, "commit", job, a, h)
    advance(d, 601)  # the priority agent did nothing: take-over
    deliver(d, job, b, OWNER_B, USD)
    with pytest.raises(ContractRevert, match="NotYet"):
        d.jobs.transact(STRANGER, "release", job)
    advance(d, 3601)  # the poster stays silent: it cannot sit on the delivery and take a refund
    with pytest.raises(ContractRevert, match="WrongState"):
        d.jobs.transact(STRANGER, "refund", job)
    before_b, before_poster = int(d.stablecoin.call("balanceOf", OWNER_B.address)), int(d.stablecoin.call("balanceOf", POSTER.address))
    d.jobs.transact(STRANGER, "release", job)
    assert int(d.stablecoin.call("balanceOf", OWNER_B.address)) == before_b + USD
    assert int(d.stablecoin.call("balanceOf", POSTER.address)) == before_poster + USD  # price below the max
    assert d.agents.call("scoreOfAgent", b)[1:3] == (USD, 1)  # a recorded payment: reputation may rest on it


def test_a_copied_delivery_cannot_be_revealed_by_the_copier(deployment: Deployment) -> None:
    """A front-running bot sees A's reveal (or its commitment) and tries to deliver the same result as B."""
    d = deployment
    a, b = register(d, OWNER_A), register(d, OWNER_B)
    job = _job(d)
    salt = os.urandom(32)
    h = d.jobs.call("deliveryHash", job, a, OWNER_A.address, keccak(b"r"), USD, [], salt)
    d.jobs.transact(OWNER_A, "commit", job, a, h)
    with pytest.raises(ContractRevert, match="HeldByAnother"):
        d.jobs.transact(OWNER_B, "commit", job, b, h)  # copying A's commitment
    with pytest.raises(ContractRevert, match="NoCommitment"):
        d.jobs.transact(OWNER_B, "deliver", job, b, keccak(b"r"), USD, [], salt)  # copying A's reveal
    d.jobs.transact(OWNER_A, "commit", job, a, h)  # the holder may re-commit, but its hold is not extended
    advance(d, 601)  # A's hold lapsed without a reveal: B takes the job over; A cannot hold it again
    salt_b = os.urandom(32)
    d.jobs.transact(OWNER_B, "commit", job, b,
                    d.jobs.call("deliveryHash", job, b, OWNER_B.address, keccak(b"mine"), USD, [], salt_b))
    with pytest.raises(ContractRevert, match="HeldByAnother"):
        d.jobs.transact(OWNER_A, "commit", job, a, h)
    advance(d, 601)
    with pytest.raises(ContractRevert, match="AlreadyCommitted"):  # no holding the job by re-committing
        d.jobs.transact(OWNER_A, "commit", job, a, h)
    d.jobs.transact(OWNER_B, "deliver", job, b, keccak(b"mine"), USD, [], salt_b)
    assert d.jobs.call("job", job)[8] == b  # deliveredBy


def test_accept_dispute_referee_and_refund(deployment: Deployment) -> None:
    d = deployment
    a = register(d, OWNER_A)
    accepted = _job(d)
    deliver(d, accepted, a, OWNER_A, 2 * USD)
    with pytest.raises(ContractRevert, match="NotPoster"):
        d.jobs.transact(STRANGER, "accept", accepted)
    d.jobs.transact(POSTER, "accept", accepted)
    disputed = _job(d)
    deliver(d, disputed, a, OWNER_A, 2 * USD)
    d.jobs.transact(POSTER, "dispute", disputed)
    with pytest.raises(ContractRevert, match="NotReferee"):
        d.jobs.transact(POSTER, "resolve", disputed, False)
    before = int(d.stablecoin.call("balanceOf", POSTER.address))
    d.jobs.transact(REFEREE, "resolve", disputed, False)
    assert int(d.stablecoin.call("balanceOf", POSTER.address)) == before + 2 * USD
    late = _job(d)
    deliver(d, late, a, OWNER_A, USD)
    advance(d, 3601)
    with pytest.raises(ContractRevert, match="ReviewOver"):
        d.jobs.transact(POSTER, "dispute", late)
    idle = _job(d)
    with pytest.raises(ContractRevert, match="NotYet"):
        d.jobs.transact(STRANGER, "refund", idle)
    advance(d, 7201)
    with pytest.raises(ContractRevert, match="PastDeadline"):
        deliver(d, idle, a, OWNER_A, USD)
    before = int(d.stablecoin.call("balanceOf", POSTER.address))
    d.jobs.transact(STRANGER, "refund", idle)
    assert int(d.stablecoin.call("balanceOf", POSTER.address)) == before + 2 * USD
    with pytest.raises(ContractRevert, match="WrongState"):
        d.jobs.transact(STRANGER, "refund", idle)  # once
    d.jobs.transact(STRANGER, "release", late)  # the undisputed late delivery is paid
    assert int(d.stablecoin.call("balanceOf", d.jobs.address)) == 0  # every escrow went out exactly once


def test_a_chosen_gas_limit_cannot_pay_a_job_without_its_reputation_record(deployment: Deployment) -> None:
    """The attack: release a job with a gas limit picked so that the registry's record runs out of gas inside
    JobBoard's try/catch (the catch would swallow it) while the payment itself still fits. Every limit from far
    too little to plenty either reverts the whole release or pays and records; none pays without the record.
    This holds because the record runs before the transfers (EIP-150 leaves them 1/64): with the transfers
    first, the sweep finds limits that pay and skip the record."""
    d = deployment
    a = register(d, OWNER_A)
    job = _job(d)
    deliver(d, job, a, OWNER_A, USD)
    advance(d, 3601)
    chain = d.jobs.chain
    enough = chain.estimate_gas(CallRequest(to=d.jobs.address, data=d.jobs.encode("release", job),
                                            sender=STRANGER.address))
    outcomes = set()
    for limit in [*range(40_000, enough, 5_000), enough]:
        snap = chain.snapshot()
        try:
            d.jobs.transact(STRANGER, "release", job, gas=limit)
        except TesseraError:
            assert d.jobs.call("job", job)[10] == 2  # still Delivered: nothing was paid
            outcomes.add("reverted")
        else:
            assert d.jobs.call("job", job)[10] == 4  # Paid, and the record is there
            assert d.agents.call("scoreOfAgent", a)[1:3] == (USD, 1), limit
            outcomes.add("paid and recorded")
        chain.revert(snap)
    assert outcomes == {"reverted", "paid and recorded"}
