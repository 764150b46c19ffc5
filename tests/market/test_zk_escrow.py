"""`proof: zk` leases on both backends: escrow is released per verified result, replays and unsigned
requests are refused, and an invalid proof the provider signed slashes its bond."""

from __future__ import annotations

import pytest
from conftest import USD, MarketEnv, advance

from tessera.accounts.dev import dev_account
from tessera.errors import ContractRevert
from tessera.market.zk_escrow import InferenceEscrowClient
from tessera.zkml import CompiledModel, InferenceClient, InferenceProof

PRICE = 10_000  # 0.01 per inference


@pytest.fixture
def zk_lease(market_env: MarketEnv, compiled: CompiledModel) -> tuple[InferenceEscrowClient, int]:
    env = market_env
    order_id, _ = env.client.create_order(env.tenant, env.spec())
    bid_id, _ = env.client.place_bid(env.providers[0], order_id, USD)
    lease_id, _ = env.client.accept_bid(env.tenant, bid_id)
    env.client.acknowledge(env.providers[0], lease_id)
    InferenceClient.of(env.chain, env.deployment).register(env.owner, compiled)
    escrow = InferenceEscrowClient.of(env.chain, env.deployment)
    account = escrow.open(env.tenant, lease_id, compiled.model_id, PRICE, 5 * PRICE)
    return escrow, account


def test_valid_result_releases_price_times_batch(market_env: MarketEnv, zk_lease: tuple[InferenceEscrowClient, int],
                                                 proof: InferenceProof) -> None:
    escrow, account = zk_lease
    env, provider = market_env, market_env.providers[0]
    request_sig = escrow.sign_request(env.tenant, account, 1, proof.input_commitment)
    result = escrow.sign_result(provider, account, 1, proof)
    before = env.balance(provider)
    escrow.settle(provider, result, request_sig)
    assert env.balance(provider) - before == PRICE * proof.batch_size
    state = escrow.account(account)
    assert state["escrow"] == 5 * PRICE - PRICE * proof.batch_size and state["paid"] == PRICE * proof.batch_size
    with pytest.raises(ContractRevert, match="NonceUsed"):
        escrow.settle(provider, result, request_sig)


def test_request_must_be_signed_by_the_tenant_for_this_input(market_env: MarketEnv,
                                                             zk_lease: tuple[InferenceEscrowClient, int],
                                                             proof: InferenceProof) -> None:
    escrow, account = zk_lease
    provider = market_env.providers[0]
    result = escrow.sign_result(provider, account, 2, proof)
    forged = escrow.sign_request(provider, account, 2, proof.input_commitment)
    with pytest.raises(ContractRevert, match="BadSignature.*tenant"):
        escrow.settle(provider, result, forged)
    other_input = escrow.sign_request(market_env.tenant, account, 2, [proof.input_commitment[0] ^ 1])
    with pytest.raises(ContractRevert, match="BadSignature.*tenant"):
        escrow.settle(provider, result, other_input)


def test_invalid_signed_proof_slashes_the_provider(market_env: MarketEnv, zk_lease: tuple[InferenceEscrowClient, int],
                                                   proof_copy: InferenceProof) -> None:
    escrow, account = zk_lease
    env, provider = market_env, market_env.providers[0]
    proof_copy.instances[-1] ^= 1  # claims outputs the model did not produce
    request_sig = escrow.sign_request(env.tenant, account, 3, proof_copy.input_commitment)
    result = escrow.sign_result(provider, account, 3, proof_copy)
    bond_before = env.client.provider(provider.address).bond
    tenant_before = env.balance(env.tenant)
    tsr_before = env.deployment.token.call("balanceOf", env.tenant.address)
    receipt = escrow.settle(env.tenant, result, request_sig)
    (event,) = escrow.escrow.events(receipt, "InvalidResultSlashed")
    assert event.args["slashed"] > 0
    assert env.client.provider(provider.address).bond == bond_before - event.args["slashed"]
    assert env.deployment.token.call("balanceOf", env.tenant.address) - tsr_before == event.args["slashed"] // 2
    assert env.balance(env.tenant) - tenant_before == 5 * PRICE  # the whole escrow comes back
    assert escrow.account(account)["closed"] is True


def test_tenant_close_waits_so_delivered_results_still_settle(market_env: MarketEnv,
                                                              zk_lease: tuple[InferenceEscrowClient, int],
                                                              proof: InferenceProof) -> None:
    escrow, account = zk_lease
    env, provider = market_env, market_env.providers[0]
    request_sig = escrow.sign_request(env.tenant, account, 4, proof.input_commitment)
    escrow.escrow.transact(env.tenant, "requestClose", account)
    with pytest.raises(ContractRevert, match="CloseNotDue"):
        escrow.escrow.transact(dev_account(9), "finishClose", account)
    escrow.settle(provider, escrow.sign_result(provider, account, 4, proof), request_sig)  # still within the delay
    advance(env.chain, 3601)
    before = env.balance(env.tenant)
    escrow.escrow.transact(dev_account(9), "finishClose", account)
    assert env.balance(env.tenant) - before == 5 * PRICE - PRICE * proof.batch_size


def test_attack_retiring_the_model_before_settlement_does_not_dodge_payment(
        market_env: MarketEnv, zk_lease: tuple[InferenceEscrowClient, int], proof: InferenceProof,
        compiled: CompiledModel) -> None:
    """A tenant that could retire the model after receiving outputs would make every pending settle revert and
    take its escrow back. Retirement is governance's, and even then it stops only new accounts."""
    escrow, account = zk_lease
    env, provider = market_env, market_env.providers[0]
    mid = bytes.fromhex(compiled.model_id[2:])
    request_sig = escrow.sign_request(env.tenant, account, 7, proof.input_commitment)
    result = escrow.sign_result(provider, account, 7, proof)
    with pytest.raises(ContractRevert, match="NotOwner"):
        env.deployment.models.transact(env.tenant, "retireModel", mid)
    env.deployment.models.transact(env.owner, "retireModel", mid)  # governance finds a flaw in the circuit
    before = env.balance(provider)
    escrow.settle(env.tenant, result, request_sig)  # the tenant itself settles: still pays
    assert env.balance(provider) - before == PRICE * proof.batch_size
    assert escrow.account(account)["closed"] is False
    order_id, _ = env.client.create_order(env.tenant, env.spec())
    bid_id, _ = env.client.place_bid(env.providers[1], order_id, USD)
    lease_id, _ = env.client.accept_bid(env.tenant, bid_id)
    env.client.acknowledge(env.providers[1], lease_id)
    with pytest.raises(ContractRevert, match="ModelNotRegistered"):  # no new obligations on a retired model
        escrow.open(env.tenant, lease_id, compiled.model_id, PRICE, 5 * PRICE)


def test_attack_live_escrow_account_locks_the_providers_bond(market_env: MarketEnv,
                                                             zk_lease: tuple[InferenceEscrowClient, int],
                                                             proof_copy: InferenceProof) -> None:
    """The provider ends the lease, unbonds and tries to leave before the tenant settles a bad proof it signed."""
    escrow, account = zk_lease
    env, provider = market_env, market_env.providers[0]
    proof_copy.instances[-1] ^= 1
    request_sig = escrow.sign_request(env.tenant, account, 8, proof_copy.input_commitment)
    result = escrow.sign_result(provider, account, 8, proof_copy)
    lease_id = escrow.account(account)["lease_id"]
    env.client.market.transact(provider, "closeLease", lease_id)
    providers = env.deployment.providers
    providers.transact(provider, "requestUnbond")
    advance(env.chain, 8 * 24 * 3600)
    with pytest.raises(ContractRevert, match="HasOpenObligations"):
        providers.transact(provider, "withdrawBond")
    bond = env.client.provider(provider.address).bond
    receipt = escrow.settle(env.tenant, result, request_sig)
    (event,) = escrow.escrow.events(receipt, "InvalidResultSlashed")
    assert event.args["slashed"] > 0 and env.client.provider(provider.address).bond == bond - event.args["slashed"]
    providers.transact(provider, "withdrawBond")  # the account closed with the slash: nothing open any more


def test_attack_starving_the_verifier_of_gas_cannot_slash_a_valid_result(
        market_env: MarketEnv, zk_lease: tuple[InferenceEscrowClient, int], proof: InferenceProof) -> None:
    """Anyone may settle. With a gas limit chosen so the verifier runs out (EIP-150 keeps 1/64 for the caller),
    a valid proof would read as invalid and slash the provider. The verifier's running out is told apart: the
    settlement reverts and the result can still be settled."""
    from tessera.chain.base import CallRequest
    from tessera.chain.contract import decode_revert, send_transaction
    from tessera.errors import TransactionError

    escrow, account = zk_lease
    env, provider = market_env, market_env.providers[0]
    request_sig = escrow.sign_request(env.tenant, account, 9, proof.input_commitment)
    result = escrow.sign_result(provider, account, 9, proof)
    data = escrow.escrow.encode("settle", account, 9, proof.proof_bytes, proof.instances, request_sig,
                                result.provider_signature)
    bond = env.client.provider(provider.address).bond
    with pytest.raises(ContractRevert) as raised:  # the verifier was reached, and starved
        env.chain.call(CallRequest(to=escrow.escrow.address, data=data, sender=env.tenant.address, gas=450_000))
    assert decode_revert(raised.value, "settle").error_name == "VerifierOutOfGas"
    with pytest.raises(TransactionError):
        send_transaction(env.chain, env.tenant, to=escrow.escrow.address, data=data, gas=450_000,
                         context="settle")
    assert env.client.provider(provider.address).bond == bond
    assert escrow.account(account)["closed"] is False
    before = env.balance(provider)
    escrow.settle(provider, result, request_sig)  # with enough gas: paid, as a valid result is
    assert env.balance(provider) - before == PRICE * proof.batch_size
