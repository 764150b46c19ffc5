"""The channel contract (`BatchSettlement`, ABI-compatible with x402's batch-settlement scheme) on both
backends: the payer's timed close answered by the payee's best voucher, top-up, expiry (a payee who never
claims), and the attacks on its funds rules."""

from __future__ import annotations

import asyncio
import time

import httpx
import pytest
from payments_harness import CALL_PRICE, FUNDS, PayEnv, pay_env  # noqa: F401  (pay_env: the fixture)
from eth_abi import encode as abi_encode
from eth_utils import keccak
from x402.mechanisms.evm.batch_settlement.constants import (
    BATCH_SETTLEMENT_ADDRESS,
    ERC3009_DEPOSIT_COLLECTOR_ADDRESS,
    MIN_WITHDRAW_DELAY,
)

from tessera.accounts.dev import dev_account
from tessera.accounts.typed_data import contract_domain, sign_typed_data, transfer_authorization_data
from tessera.chain.contract import Contract
from tessera.errors import ContractRevert, PaymentError
from tessera.payments import ChannelClient

URL = "http://paid.test"
USD = 1_000_000


def advance(env: PayEnv, seconds: int) -> None:
    env.chain.increase_time(seconds)
    env.chain.mine(1)


def channels(env: PayEnv) -> ChannelClient:
    return ChannelClient(env.chain, env.asset, env.payer, env.tmp / "book.json")


def pay_calls(env: PayEnv, n: int) -> None:
    payer = env.payer_client()

    async def go() -> None:
        client = payer.http(httpx.ASGITransport(app=env.app))
        for _ in range(n):
            assert (await payer.get(f"{URL}/call", client=client)).paid
        await client[0].aclose()

    asyncio.run(go())


def test_a_channel_opened_on_chain_is_used_by_the_sdk_client_and_settles_once(pay_env: PayEnv) -> None:
    env = pay_env
    cc = channels(env)
    cid, _ = cc.deposit(cc.config(env.payee.address), 2 * USD)
    head = env.chain.block_number()
    settlement = Contract.at(env.chain, "BatchSettlement", BATCH_SETTLEMENT_ADDRESS)
    pay_calls(env, 20)
    # the SDK client derives the same channel from the payer and payee, so its deposits land in the channel
    # the CLI opened (it keeps no on-chain view of a channel it did not open, so it deposits as it would for a
    # new one); the calls themselves cost no transaction
    deposits = settlement.get_events("Deposited", from_block=head + 1)
    assert 1 <= len(deposits) <= 2 and {"0x" + d.args["channelId"].hex() for d in deposits} == {cid}
    assert env.chain.block_number() - head == len(deposits)
    assert cc.view(cid).balance == 2 * USD + sum(d.args["amount"] for d in deposits)
    before = env.balance(env.payee.address)
    mark = env.chain.block_number()
    asyncio.run(env.paid.settle_channels())  # claim + settle: two transactions for all 20 calls
    assert env.chain.block_number() == mark + 2
    assert env.balance(env.payee.address) == before + 20 * CALL_PRICE
    assert cc.view(cid).claimed == 20 * CALL_PRICE


def test_the_payee_can_settle_every_channel_in_one_transaction_of_its_own(pay_env: PayEnv) -> None:
    env = pay_env
    pay_calls(env, 30)
    settlement = Contract.at(env.chain, "BatchSettlement", BATCH_SETTLEMENT_ADDRESS)
    [channel] = env.paid.channels.list()
    before, mark = env.balance(env.payee.address), env.chain.block_number()
    result = asyncio.run(env.paid.settle_channels(direct=True))
    assert env.chain.block_number() == mark + 1 and result["settle"] == result["claims"][0]["transaction"]
    assert env.balance(env.payee.address) == before + 30 * CALL_PRICE
    assert settlement.call("channels", bytes.fromhex(channel.channel_id[2:]))[1] == 30 * CALL_PRICE
    assert env.paid.channels.get(channel.channel_id).total_claimed == str(30 * CALL_PRICE)  # type: ignore[union-attr]
    assert asyncio.run(env.paid.settle_channels(direct=True)) == {"claims": [], "settle": None}
    assert asyncio.run(env.paid.settle_channels()) == {"claims": [], "settle": None}  # nothing left for the SDK
    assert env.chain.block_number() == mark + 1


def test_top_up_then_timed_close_is_answered_with_the_best_voucher(pay_env: PayEnv) -> None:
    env = pay_env
    cc = channels(env)
    config = cc.config(env.payee.address)
    cid, _ = cc.deposit(config, USD)
    cc.deposit(config, USD // 2)  # top-up
    assert cc.view(cid).balance == USD + USD // 2
    pay_calls(env, 7)
    payer_before = env.balance(env.payer.address)
    what, view, _ = cc.close(cid)  # the payer starts leaving
    assert what == "started" and view.finalize_after is not None
    with pytest.raises(PaymentError, match="payee may claim until"):
        cc.close(cid)
    answered = asyncio.run(env.paid.answer_withdrawals())  # the payee's node claims its best voucher
    assert answered == [cid]
    assert cc.view(cid).claimed == 7 * CALL_PRICE
    advance(env, MIN_WITHDRAW_DELAY + 1)
    what, view, _ = cc.close(cid)
    assert what == "closed" and view.balance == 7 * CALL_PRICE and view.unclaimed == 0
    # every unit the payer put in (its deposits and the SDK client's) comes back, less the 7 calls it paid for
    assert env.balance(env.payer.address) == FUNDS - 7 * CALL_PRICE > payer_before
    payee_before = env.balance(env.payee.address)
    asyncio.run(env.paid.settle_channels())
    assert env.balance(env.payee.address) == payee_before + 7 * CALL_PRICE


def test_expiry_a_payee_who_never_claims_loses_what_it_did_not_claim(pay_env: PayEnv) -> None:
    env = pay_env
    cc = channels(env)
    cid, _ = cc.deposit(cc.config(env.payee.address), USD)
    pay_calls(env, 3)
    cc.close(cid)
    advance(env, MIN_WITHDRAW_DELAY + 1)
    cc.close(cid)
    assert env.balance(env.payer.address) == FUNDS  # vouchers unclaimed within the delay are void
    with pytest.raises(RuntimeError, match="Claim"):
        asyncio.run(env.paid.settle_channels())  # a late claim exceeds what the channel still holds


def test_a_deposit_authorization_cannot_be_redirected(pay_env: PayEnv) -> None:
    """An attacker holding the payer's signed deposit calls the collector itself, or deposits it into a
    channel of its own: both revert, the payer keeps its funds."""
    env = pay_env
    attacker = dev_account(7)
    cc = channels(env)
    config = cc.config(env.payee.address)
    cid = bytes.fromhex(cc.channel_id(config)[2:])
    # the payer's real deposit signature for its own channel, as a front-runner would see it in the mempool
    salt, valid_before = 1, int(time.time()) + 3600
    nonce = keccak(abi_encode(["bytes32", "uint256"], [cid, salt]))
    domain = contract_domain(env.asset.name, env.asset.version, env.chain.chain_id, env.asset.address)
    signature = sign_typed_data(env.payer, transfer_authorization_data(
        domain, env.payer.address, ERC3009_DEPOSIT_COLLECTOR_ADDRESS, USD, 0, valid_before, nonce,
        primary_type="ReceiveWithAuthorization")).packed
    collector_data = abi_encode(["uint256", "uint256", "uint256", "bytes"], [0, valid_before, salt, signature])
    before = env.balance(env.payer.address)
    collector = Contract.at(env.chain, "ERC3009DepositCollector", ERC3009_DEPOSIT_COLLECTOR_ADDRESS)
    with pytest.raises(ContractRevert, match="OnlyBatchSettlement"):
        collector.transact(attacker, "collect", env.payer.address, env.asset.address, USD, cid, collector_data)
    # the same signature into a channel whose receiver is the attacker: the nonce binds the payer's channel
    own_config = cc.config(attacker.address)
    settlement = Contract.at(env.chain, "BatchSettlement", BATCH_SETTLEMENT_ADDRESS)
    with pytest.raises(ContractRevert, match="InvalidSignature"):
        settlement.transact(attacker, "deposit", own_config, USD, ERC3009_DEPOSIT_COLLECTOR_ADDRESS, collector_data)
    assert env.balance(env.payer.address) == before
    # submitted as signed, by anyone, it lands in the payer's channel only
    settlement.transact(attacker, "deposit", config, USD, ERC3009_DEPOSIT_COLLECTOR_ADDRESS, collector_data)
    assert settlement.call("channels", cid)[0] == USD and env.balance(env.payer.address) == before - USD


def test_canonical_addresses_are_the_sdks() -> None:
    """deploy.py keeps its own copy (importing the SDK there costs ~2 s of CLI start-up): it must not drift."""
    from x402.mechanisms.evm.constants import MULTICALL3_ADDRESS

    from tessera.protocol.deploy import CANONICAL_ADDRESSES

    assert CANONICAL_ADDRESSES == {"Multicall3": MULTICALL3_ADDRESS, "BatchSettlement": BATCH_SETTLEMENT_ADDRESS,
                                   "ERC3009DepositCollector": ERC3009_DEPOSIT_COLLECTOR_ADDRESS}


def test_claims_are_bound_to_the_receivers_authorizer_and_the_payers_signature(pay_env: PayEnv) -> None:
    env = pay_env
    attacker = dev_account(7)
    cc = channels(env)
    config = cc.config(env.payee.address)
    cid, _ = cc.deposit(config, USD)
    settlement = Contract.at(env.chain, "BatchSettlement", BATCH_SETTLEMENT_ADDRESS)
    digest = settlement.call("getVoucherDigest", bytes.fromhex(cid[2:]), USD)
    good = env.payer.unsafe_sign_hash(digest).signature
    forged = attacker.unsafe_sign_hash(digest).signature
    claim = ((config, USD), bytes(good), USD)
    with pytest.raises(ContractRevert, match="NotReceiverAuthorizer"):
        settlement.transact(attacker, "claim", [claim])  # only the receiver's authorizer claims directly
    with pytest.raises(ContractRevert, match="InvalidVoucherSignature"):
        settlement.transact(env.payee, "claim", [((config, USD), bytes(forged), USD)])
    with pytest.raises(ContractRevert, match="ClaimAboveVoucher"):
        half = settlement.call("getVoucherDigest", bytes.fromhex(cid[2:]), USD // 2)
        settlement.transact(env.payee, "claim", [((config, USD // 2), bytes(env.payer.unsafe_sign_hash(half).signature),
                                                  USD)])
    with pytest.raises(ContractRevert, match="InvalidAuthorizerSignature"):  # a batch "signed" by the attacker
        batch_digest = settlement.call("getClaimBatchDigest", [claim])
        settlement.transact(attacker, "claimWithSignature", [claim],
                            bytes(attacker.unsafe_sign_hash(batch_digest).signature))
    with pytest.raises(ContractRevert, match="NotPayer"):
        settlement.transact(attacker, "initiateWithdraw", config, USD)
    with pytest.raises(ContractRevert, match="NotReceiver"):
        settlement.transact(attacker, "refund", config, USD)
    settlement.transact(env.payee, "claim", [claim])
    with pytest.raises(ContractRevert, match="ClaimExceedsBalance"):  # a voucher above the deposit
        big = settlement.call("getVoucherDigest", bytes.fromhex(cid[2:]), 2 * USD)
        settlement.transact(env.payee, "claim", [((config, 2 * USD), bytes(env.payer.unsafe_sign_hash(big).signature),
                                                  2 * USD)])


def test_a_collector_of_the_attackers_own_is_credited_nothing(pay_env: PayEnv) -> None:
    """A contract of the attacker's own as collector: one that delivers nothing is refused (the contract counts
    what arrived), one that re-enters deposit to be credited twice hits the lock."""
    env = pay_env
    attacker = dev_account(7)
    cc = channels(env)
    config = cc.config(env.payee.address)
    settlement = Contract.at(env.chain, "BatchSettlement", BATCH_SETTLEMENT_ADDRESS)
    hostile, _ = Contract.deploy(env.chain, attacker, "HostileCollector")
    hostile.transact(attacker, "arm", False, config)
    with pytest.raises(ContractRevert, match="DepositShortfall"):
        settlement.transact(attacker, "deposit", config, USD, hostile.address, b"")
    hostile.transact(attacker, "arm", True, config)
    with pytest.raises(ContractRevert, match="Reentrancy"):
        settlement.transact(attacker, "deposit", config, USD, hostile.address, b"")
    assert settlement.call("channels", bytes.fromhex(cc.channel_id(config)[2:]))[0] == 0


def test_refund_signatures_are_single_use_and_bound_to_the_receivers_authorizer(pay_env: PayEnv) -> None:
    env = pay_env
    attacker = dev_account(7)
    cc = channels(env)
    config = cc.config(env.payee.address)
    cid, _ = cc.deposit(config, USD)
    settlement = Contract.at(env.chain, "BatchSettlement", BATCH_SETTLEMENT_ADDRESS)
    raw = bytes.fromhex(cid[2:])
    digest = settlement.call("getRefundDigest", raw, 0, USD // 4)
    by_payee = bytes(env.payee.unsafe_sign_hash(digest).signature)
    with pytest.raises(ContractRevert, match="InvalidAuthorizerSignature"):
        settlement.transact(attacker, "refundWithSignature", config, USD // 4, 0,
                            bytes(attacker.unsafe_sign_hash(digest).signature))
    before = env.balance(env.payer.address)
    settlement.transact(attacker, "refundWithSignature", config, USD // 4, 0, by_payee)  # anyone relays; payer is paid
    assert env.balance(env.payer.address) == before + USD // 4
    with pytest.raises(ContractRevert, match="RefundNonceMismatch"):  # the same signature again
        settlement.transact(attacker, "refundWithSignature", config, USD // 4, 0, by_payee)
    assert settlement.call("channels", raw)[0] == USD - USD // 4


def test_a_withdrawal_waits_its_delay_and_a_claim_batch_speaks_for_one_receiver(pay_env: PayEnv) -> None:
    env = pay_env
    attacker = dev_account(7)
    cc = channels(env)
    config, other = cc.config(env.payee.address), cc.config(attacker.address)
    cid, _ = cc.deposit(config, USD)
    oid, _ = cc.deposit(other, USD)
    settlement = Contract.at(env.chain, "BatchSettlement", BATCH_SETTLEMENT_ADDRESS)
    settlement.transact(env.payer, "initiateWithdraw", config, USD)
    with pytest.raises(ContractRevert, match="WithdrawDelayNotElapsed"):
        settlement.transact(env.payer, "finalizeWithdraw", config)

    def claim(cfg, channel_id: str):  # type: ignore[no-untyped-def]
        digest = settlement.call("getVoucherDigest", bytes.fromhex(channel_id[2:]), USD // 2)
        return ((cfg, USD // 2), bytes(env.payer.unsafe_sign_hash(digest).signature), USD // 2)

    # the attacker signs a batch as authorizer of its own channel and slips in a claim on the payee's channel
    batch = [claim(other, oid), claim(config, cid)]
    signature = bytes(attacker.unsafe_sign_hash(settlement.call("getClaimBatchDigest", batch)).signature)
    with pytest.raises(ContractRevert, match="MixedAuthorizers"):
        settlement.transact(attacker, "claimWithSignature", batch, signature)
    assert settlement.call("channels", bytes.fromhex(cid[2:]))[1] == 0
