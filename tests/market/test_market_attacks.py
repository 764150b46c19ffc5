"""Attacks on the market's funds rules, each performed through the public contract API, on both backends:
a provider that bids, unbonds and withdraws to win a lease with nothing to slash; a bot that front-runs a
tenant's permit to make its order revert; both sides of the start rule (nothing bills before the provider
acknowledges the workload runs)."""

from __future__ import annotations

import pytest
from conftest import USD, MarketEnv, advance

from tessera.accounts.dev import dev_account
from tessera.accounts.typed_data import contract_domain, permit_data, sign_typed_data
from tessera.errors import ContractRevert
from tessera.market import CloseReason, Resources

WEEK = 7 * 24 * 3600


def test_attack_bid_unbond_withdraw_cannot_escape_the_bond(market_env: MarketEnv) -> None:
    env, c = market_env, market_env.client
    provider = env.providers[0]
    providers = env.deployment.providers
    order_id, _ = c.create_order(env.tenant, env.spec(bid_window=3600))
    bid_id, _ = c.place_bid(provider, order_id, USD)
    assert providers.call("openObligations", provider.address) == 1
    providers.transact(provider, "requestUnbond")
    advance(env.chain, WEEK + 60)
    bond = c.provider(provider.address).bond
    with pytest.raises(ContractRevert, match="HasOpenObligations"):  # the open bid keeps the bond locked
        providers.transact(provider, "withdrawBond")
    assert c.provider(provider.address).bond == bond
    # nor can an unbonding provider's bid become a lease, by the tenant or by anyone closing the auction
    with pytest.raises(ContractRevert, match="ProviderIneligible"):
        c.accept_bid(env.tenant, bid_id)
    with pytest.raises(ContractRevert, match="ProviderIneligible"):
        c.close_auction(dev_account(9), order_id)
    # the tenant's way out: cancel and get the deposit back; then the bid is refundable and the bond free
    before = env.balance(env.tenant)
    c.cancel_order(env.tenant, order_id)
    assert env.balance(env.tenant) - before == env.spec().deposit
    c.refund_bid(dev_account(9), bid_id)
    assert providers.call("openObligations", provider.address) == 0
    providers.transact(provider, "withdrawBond")
    assert c.provider(provider.address).bond == 0


def test_attack_a_lease_locks_the_bond_until_it_closes(market_env: MarketEnv) -> None:
    env, c = market_env, market_env.client
    provider = env.providers[1]
    providers = env.deployment.providers
    order_id, _ = c.create_order(env.tenant, env.spec())
    bid_id, _ = c.place_bid(provider, order_id, USD)
    lease_id, _ = c.accept_bid(env.tenant, bid_id)
    providers.transact(provider, "requestUnbond")
    advance(env.chain, WEEK + 60)
    with pytest.raises(ContractRevert, match="HasActiveLeases|HasOpenObligations"):
        providers.transact(provider, "withdrawBond")
    c.close_lease(env.tenant, lease_id)
    assert providers.call("openObligations", provider.address) == 0
    providers.transact(provider, "withdrawBond")


def test_attack_front_run_permit_does_not_block_the_order(market_env: MarketEnv) -> None:
    """A bot copies the tenant's permit from the mempool and submits it to the token first: the order still
    goes through on the allowance the permit granted."""
    env = market_env
    usd, market = env.deployment.stablecoin, env.deployment.market
    domain = contract_domain(usd.call("name"), usd.call("version"), env.chain.chain_id, usd.address)
    deadline = env.chain.get_block().timestamp + 3600
    spec = env.spec()
    nonce = usd.call("nonces", env.tenant.address)
    v, r, s = sign_typed_data(env.tenant, permit_data(domain, env.tenant.address, market.address, spec.deposit,
                                                      nonce, deadline)).vrs
    usd.transact(dev_account(9), "permit", env.tenant.address, market.address, spec.deposit, deadline, v, r, s)
    before = env.balance(env.tenant)
    receipt = market.transact(env.tenant, "createOrderWithPermit", spec.as_abi(), deadline, v, r, s)
    assert market.events(receipt, "OrderCreated")
    assert before - env.balance(env.tenant) == spec.deposit
    # a permit that was never granted still fails, with the token's own error
    with pytest.raises(ContractRevert, match="Allowance|allowance"):
        market.transact(env.tenant, "createOrderWithPermit", spec.as_abi(), deadline, v, r, s)


def _won_lease(env: MarketEnv, provider: object) -> int:
    c = env.client
    order_id, _ = c.create_order(env.tenant, env.spec(max_price_per_hour=3600 * 100))
    bid_id, _ = c.place_bid(provider, order_id, 3600 * 100)
    lease_id, _ = c.accept_bid(env.tenant, bid_id)
    return lease_id


def test_attack_provider_never_starts_the_workload_tenant_pays_nothing(market_env: MarketEnv) -> None:
    """A provider wins, never runs anything and never acknowledges: nothing bills, it cannot acknowledge late
    to start billing, and after the start deadline anyone closes the lease for the whole deposit."""
    env, c = market_env, market_env.client
    provider = env.providers[0]
    lease_id = _won_lease(env, provider)
    with pytest.raises(ContractRevert, match="LeaseNotStarted"):
        c.heartbeat(provider, lease_id)  # heartbeats do not stand in for the acknowledgement
    c.withdraw(provider, lease_id)  # nothing to take
    assert c.lease(lease_id).charged == 0
    stranger = dev_account(9)
    with pytest.raises(ContractRevert, match="NotParty"):
        c.close_lease(stranger, lease_id)  # a stranger cannot end a lease that is still within its start window
    advance(env.chain, c.params().start_timeout + 1)
    assert env.deployment.market.call("startExpired", lease_id)
    with pytest.raises(ContractRevert, match="LeaseNotStarted"):
        c.acknowledge(provider, lease_id)
    before, bond = env.balance(env.tenant), c.provider(provider.address).bond
    receipt = c.close_lease(stranger, lease_id)
    closed = env.deployment.market.events(receipt, "LeaseClosed")[0].args
    assert closed["reason"] == CloseReason.NOT_STARTED and closed["slashed"] == 0
    assert env.balance(env.tenant) - before == env.spec().deposit
    assert c.provider(provider.address).bond == bond  # nobody can tell whose fault it was: no slash either way
    assert c.provider(provider.address).reserved == Resources()


def test_attack_acknowledge_without_running_meets_the_sla(market_env: MarketEnv) -> None:
    """Acknowledging and then serving nothing: the provider owes heartbeats from the acknowledgement on; silent
    past the SLA, it is paid nothing for the silence and its bond is slashed."""
    env, c = market_env, market_env.client
    provider = env.providers[0]
    lease_id = _won_lease(env, provider)
    c.acknowledge(provider, lease_id)
    with pytest.raises(ContractRevert, match="NotStarting"):
        c.acknowledge(provider, lease_id)
    advance(env.chain, c.params().heartbeat_sla + 5)
    assert c.lease_status(lease_id).breached
    before, bond = env.balance(env.tenant), c.provider(provider.address).bond
    receipt = c.close_lease(dev_account(9), lease_id)
    closed = env.deployment.market.events(receipt, "LeaseClosed")[0].args
    assert closed["reason"] == CloseReason.MISSED_HEARTBEATS and closed["slashed"] > 0
    assert env.balance(env.tenant) - before == env.spec().deposit  # billed only up to the last heartbeat: none
    assert c.provider(provider.address).bond == bond - closed["slashed"]


def test_attack_tenant_never_sends_the_manifest_cannot_hold_capacity(market_env: MarketEnv) -> None:
    """A tenant wins a provider's capacity and never sends the manifest. Only the provider may acknowledge
    (the tenant cannot start billing itself to keep the lease); the provider may give the lease back at once
    and gets its capacity back; at the deadline anyone may."""
    env, c = market_env, market_env.client
    provider = env.providers[0]
    lease_id = _won_lease(env, provider)
    assert c.provider(provider.address).reserved != Resources()
    with pytest.raises(ContractRevert, match="NotProvider"):
        c.acknowledge(env.tenant, lease_id)
    receipt = c.close_lease(provider, lease_id)
    closed = env.deployment.market.events(receipt, "LeaseClosed")[0].args
    assert closed["reason"] == CloseReason.PROVIDER and closed["slashed"] == 0
    assert c.provider(provider.address).reserved == Resources()
    assert c.provider(provider.address).active_leases == 0
