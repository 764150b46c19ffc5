"""Market and ProviderRegistry behaviour through the contracts' public functions, on both backends."""

from __future__ import annotations

import pytest

from tessera.errors import ContractRevert
from tessera.market import CloseReason, LeaseState, OrderState, Requirements, Resources

from conftest import TSR, USD, MarketEnv, advance  # type: ignore[import-not-found]


def test_lowest_bid_wins_and_losers_are_refunded(market_env: MarketEnv) -> None:
    env, c = market_env, market_env.client
    order_id, _ = c.create_order(env.tenant, env.spec())
    prices = [int(1.5 * USD), int(1.2 * USD), int(1.2 * USD)]
    bids = [c.place_bid(p, order_id, price)[0] for p, price in zip(env.providers, prices)]
    assert c.order(order_id).best_bid == bids[1]  # equal prices: the earlier bid stays best
    with pytest.raises(ContractRevert) as e:
        c.close_auction(env.tenant, order_id)
    assert e.value.error_name == "BidWindowOpen"
    advance(env.chain, 61)
    lease_id, _ = c.close_auction(env.tenant, order_id)
    lease = c.lease(lease_id)
    assert lease.provider == env.providers[1].address and lease.price_per_hour == int(1.2 * USD)
    assert c.order(order_id).state == OrderState.LEASED
    before = env.balance(env.providers[0])
    c.refund_bid(env.providers[0], bids[0])
    assert env.balance(env.providers[0]) - before == c.params().bid_deposit
    with pytest.raises(ContractRevert) as e:
        c.refund_bid(env.providers[0], bids[0])
    assert e.value.error_name == "BidNotRefundable"
    with pytest.raises(ContractRevert) as e:
        c.refund_bid(env.providers[1], bids[1])  # the winner's deposit came back at lease start
    assert e.value.error_name == "BidNotRefundable"


def test_bid_rules(market_env: MarketEnv) -> None:
    env, c = market_env, market_env.client
    order_id, _ = c.create_order(env.tenant, env.spec(requirements=Requirements(region="us")))
    with pytest.raises(ContractRevert) as e:
        c.place_bid(env.providers[0], order_id, USD)
    assert e.value.error_name == "RegionMismatch"
    order_id, _ = c.create_order(env.tenant, env.spec())
    with pytest.raises(ContractRevert) as e:
        c.place_bid(env.providers[0], order_id, 3 * USD)
    assert e.value.error_name == "PriceAboveMax" and e.value.error_args == {"price": 3 * USD, "maxPrice": 2 * USD}
    c.place_bid(env.providers[0], order_id, USD)
    with pytest.raises(ContractRevert) as e:
        c.place_bid(env.providers[0], order_id, USD // 2)
    assert e.value.error_name == "DuplicateBid"
    big = env.spec(resources=Resources(cpu=8000, memory_mb=1024))
    order2, _ = c.create_order(env.tenant, big)
    with pytest.raises(ContractRevert) as e:  # 1 of 8 cores is reserved by the first bid
        c.place_bid(env.providers[0], order2, USD)
    assert e.value.error_name == "InsufficientCapacity"
    advance(env.chain, 61)
    with pytest.raises(ContractRevert) as e:
        c.place_bid(env.providers[1], order_id, USD)
    assert e.value.error_name == "BidWindowClosed"


def test_auditor_certification_is_voided_by_attribute_changes(market_env: MarketEnv) -> None:
    env, c = market_env, market_env.client
    auditor, p = env.providers[2], env.providers[0]
    env.deployment.providers.transact(env.owner, "setAuditor", auditor.address, True)
    order_id, _ = c.create_order(env.tenant, env.spec(requirements=Requirements(auditor=auditor.address)))
    with pytest.raises(ContractRevert) as e:
        c.place_bid(p, order_id, USD)
    assert e.value.error_name == "NotCertified"
    env.deployment.providers.transact(auditor, "certify", p.address)
    c.place_bid(p, order_id, USD)
    info = c.provider(p.address)
    c.register_provider(p, endpoint="http://moved.test", region=info.region, gpu_model=info.gpu_model,
                        capacity=info.capacity, prices=info.prices, bond=info.bond)
    assert not env.deployment.providers.call("isCertified", p.address, auditor.address)


def test_lease_streams_pauses_resumes_and_closes(market_env: MarketEnv) -> None:
    env, c = market_env, market_env.client
    price = 3600 * 100  # 100 units per second
    order_id, _ = c.create_order(env.tenant, env.spec(deposit=100_000, max_price_per_hour=price))
    bid_id, _ = c.place_bid(env.providers[0], order_id, price)
    lease_id, _ = c.accept_bid(env.tenant, bid_id)
    c.acknowledge(env.providers[0], lease_id)
    start = c.lease(lease_id).settled_at  # billing starts at the acknowledgement
    p0 = env.balance(env.providers[0])
    treasury0 = env.balance(env.owner)
    advance(env.chain, 300)
    c.withdraw(env.providers[0], lease_id)
    lease = c.lease(lease_id)
    billed = lease.settled_at - start
    assert lease.charged == billed * 100
    fee = lease.charged * 100 // 10_000
    assert env.balance(env.providers[0]) - p0 == lease.charged - fee
    assert env.balance(env.owner) - treasury0 == fee
    # run dry: 1000 s of funding in all; heartbeats keep coming, so this is a pause, not a breach
    advance(env.chain, 400)
    c.heartbeat(env.providers[0], lease_id)
    advance(env.chain, 1600)
    status = c.lease_status(lease_id)
    assert status.state == LeaseState.PAUSED and status.funded_until == start + 1000
    c.heartbeat(env.providers[0], lease_id)  # allowed while paused
    c.top_up(env.tenant, lease_id, 50_000)
    lease = c.lease(lease_id)
    assert lease.state == LeaseState.ACTIVE and lease.charged == 100_000 and lease.escrow == 50_000
    advance(env.chain, 100)
    t0 = env.balance(env.tenant)
    receipt = c.close_lease(env.tenant, lease_id)
    closed = env.deployment.market.events(receipt, "LeaseClosed")[0].args
    assert closed["reason"] == CloseReason.TENANT
    assert env.balance(env.tenant) - t0 == closed["refund"] == 150_000 - c.lease(lease_id).charged
    lease = c.lease(lease_id)
    assert lease.state == LeaseState.CLOSED and lease.escrow == 0
    assert c.provider(env.providers[0].address).active_leases == 0
    assert c.provider(env.providers[0].address).reserved == Resources()


def test_grace_expiry_lets_anyone_close(market_env: MarketEnv) -> None:
    env, c = market_env, market_env.client
    order_id, _ = c.create_order(env.tenant, env.spec(deposit=300, max_price_per_hour=3600))  # 300 s, inside the SLA
    bid_id, _ = c.place_bid(env.providers[0], order_id, 3600)
    lease_id, _ = c.accept_bid(env.tenant, bid_id)
    c.acknowledge(env.providers[0], lease_id)
    advance(env.chain, 300 + c.params().grace_period + 10)
    with pytest.raises(ContractRevert) as e:
        c.top_up(env.tenant, lease_id, 1000)
    assert e.value.error_name == "GraceExpired"
    receipt = c.close_lease(env.providers[2], lease_id)  # a stranger
    assert env.deployment.market.events(receipt, "LeaseClosed")[0].args["reason"] == CloseReason.GRACE_EXPIRED


def test_missed_heartbeats_refund_tenant_and_slash_bond(market_env: MarketEnv) -> None:
    env, c = market_env, market_env.client
    price = 3600 * 10
    order_id, _ = c.create_order(env.tenant, env.spec(deposit=1_000_000, max_price_per_hour=price))
    bid_id, _ = c.place_bid(env.providers[0], order_id, price)
    lease_id, _ = c.accept_bid(env.tenant, bid_id)
    c.acknowledge(env.providers[0], lease_id)
    advance(env.chain, 200)
    c.heartbeat(env.providers[0], lease_id)
    last = c.lease(lease_id).last_heartbeat
    sla = c.params().heartbeat_sla
    with pytest.raises(ContractRevert) as e:
        c.close_lease(env.providers[2], lease_id)  # not yet breached: strangers cannot close
    assert e.value.error_name == "NotParty"
    advance(env.chain, sla + 500)
    assert c.lease_status(lease_id).breached
    with pytest.raises(ContractRevert) as e:
        c.heartbeat(env.providers[0], lease_id)
    assert e.value.error_name == "LeaseBreached"
    bond = c.provider(env.providers[0].address).bond
    tenant_usd, tenant_tsr = env.balance(env.tenant), env.deployment.token.call("balanceOf", env.tenant.address)
    receipt = c.close_lease(env.providers[2], lease_id)
    closed = env.deployment.market.events(receipt, "LeaseClosed")[0].args
    assert closed["reason"] == CloseReason.MISSED_HEARTBEATS
    lease = c.lease(lease_id)
    assert lease.settled_at == last  # paid only up to the last heartbeat
    assert lease.charged == (last - lease.started_at) * 10
    assert env.balance(env.tenant) - tenant_usd == 1_000_000 - lease.charged
    slashed = bond * 2000 // 10_000
    assert closed["slashed"] == slashed
    assert c.provider(env.providers[0].address).bond == bond - slashed
    assert env.deployment.token.call("balanceOf", env.tenant.address) - tenant_tsr == slashed // 2


def test_cancel_order_refunds_tenant_and_bidders(market_env: MarketEnv) -> None:
    env, c = market_env, market_env.client
    t0 = env.balance(env.tenant)
    order_id, _ = c.create_order(env.tenant, env.spec())
    bid_id, _ = c.place_bid(env.providers[0], order_id, USD)
    with pytest.raises(ContractRevert) as e:
        c.cancel_order(env.providers[0], order_id)
    assert e.value.error_name == "NotTenant"
    c.cancel_order(env.tenant, order_id)
    assert env.balance(env.tenant) == t0
    c.refund_bid(env.providers[1], bid_id)  # anyone may trigger; the deposit goes to the bidder
    assert c.provider(env.providers[0].address).reserved == Resources()


def test_governance_caps_take_rate(market_env: MarketEnv) -> None:
    env, m = market_env, market_env.deployment.market
    p = market_env.client.params()
    with pytest.raises(ContractRevert) as e:
        m.transact(env.owner, "setParams", env.owner.address, 501, p.heartbeat_sla, p.grace_period, p.bid_deposit,
                       p.start_timeout)
    assert e.value.error_name == "InvalidParams"
    with pytest.raises(ContractRevert) as e:
        m.transact(env.tenant, "setParams", env.owner.address, 100, p.heartbeat_sla, p.grace_period, p.bid_deposit,
                       p.start_timeout)
    assert e.value.error_name == "NotOwner"
    assert TSR  # keeps the shared constant import used


def test_order_and_top_up_with_permit_need_no_approve(market_env: MarketEnv) -> None:
    from tessera.accounts.typed_data import permit_data, sign_typed_data, contract_domain

    env, c, usd = market_env, market_env.client, market_env.deployment.stablecoin
    domain = contract_domain(usd.call("name"), usd.call("version"), env.chain.chain_id, usd.address)
    deadline = env.chain.get_block().timestamp + 3600
    spec = env.spec()

    def permit(value: int) -> tuple[int, bytes, bytes]:
        nonce = usd.call("nonces", env.tenant.address)
        return sign_typed_data(env.tenant, permit_data(domain, env.tenant.address, env.deployment.market.address,
                                                        value, nonce, deadline)).vrs

    assert usd.call("allowance", env.tenant.address, env.deployment.market.address) == 0
    receipt = env.deployment.market.transact(env.tenant, "createOrderWithPermit", spec.as_abi(), deadline,
                                             *permit(spec.deposit))
    order_id = env.deployment.market.events(receipt, "OrderCreated")[0].args["orderId"]
    bid_id, _ = c.place_bid(env.providers[0], order_id, USD)
    lease_id, _ = c.accept_bid(env.tenant, bid_id)
    c.acknowledge(env.providers[0], lease_id)
    env.deployment.market.transact(env.tenant, "topUpWithPermit", lease_id, 3 * USD, deadline, *permit(3 * USD))
    lease = c.lease(lease_id)
    assert lease.escrow + lease.charged == spec.deposit + 3 * USD  # top-up settles what accrued first
