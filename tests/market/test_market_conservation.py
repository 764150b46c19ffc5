"""Hypothesis stateful test: every stablecoin unit that enters the Market is, at every step, either
held for an open order, a pending bid or a lease's escrow, or was paid to a provider, paid as a fee,
or refunded. Nothing is created, nothing is lost.

Runs on the embedded chain; one deployment is shared and each example starts from a snapshot.
"""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from tessera.accounts.dev import dev_account
from tessera.errors import ContractRevert
from tessera.chain import EmbeddedChain
from tessera.market import LeaseState, MarketClient, OrderSpec, OrderState, Prices, Requirements, Resources
from tessera.protocol.deploy import Deployment, deploy_protocol
from tessera.protocol.faucet import fund_stablecoin, fund_tsr

_WORLD: dict[str, Any] = {}
# The embedded chain stamps blocks with the wall clock, so on a loaded machine a transaction's block can be
# seconds after the view a rule checked: rules keep this many seconds away from a deadline instead of racing it.
CLOCK_MARGIN = 30


def world() -> dict[str, Any]:
    if not _WORLD:
        chain = EmbeddedChain()
        owner = dev_account(0)
        manifest, _ = deploy_protocol(chain, owner, path=None)
        d = Deployment.from_manifest(chain, manifest)
        client = MarketClient(chain, d)
        tenants = [dev_account(5), dev_account(6)]
        providers = [dev_account(1), dev_account(2), dev_account(3)]
        for t in tenants:
            fund_stablecoin(chain, d, owner, t.address, 10**12)
            d.stablecoin.transact(t, "approve", d.market.address, 2**256 - 1)
        for i, p in enumerate(providers):
            fund_stablecoin(chain, d, owner, p.address, 10**9)
            d.stablecoin.transact(p, "approve", d.market.address, 2**256 - 1)
            fund_tsr(chain, d, owner, p.address, 20 * 10**18)
            client.register_provider(p, endpoint=f"http://p{i}", region="eu", gpu_model="",
                                     capacity=Resources(64_000, 10**6, 10**4, 8), prices=Prices(1, 1, 1, 1),
                                     bond=20 * 10**18)
        _WORLD.update(chain=chain, d=d, client=client, tenants=tenants, providers=providers, owner=owner,
                      snapshot=chain.snapshot())
    return _WORLD


class MarketConservation(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        w = world()
        w["chain"].revert(w["snapshot"])
        w["snapshot"] = w["chain"].snapshot()
        self.w = w
        self.chain: EmbeddedChain = w["chain"]
        self.d: Deployment = w["d"]
        self.c: MarketClient = w["client"]
        self.coin = self.d.stablecoin
        self.start_balance = self.coin.call("balanceOf", self.d.market.address)
        self.deposited = 0
        self.paid = 0
        self.fees = 0
        self.refunded = 0
        self.orders: list[int] = []
        self.bids: list[int] = []
        self.leases: list[int] = []
        self.from_block = self.chain.block_number() + 1

    def _track(self, receipt: Any) -> None:
        m = self.d.market
        for ev in m.events(receipt):
            a = ev.args
            if ev.name == "LeaseSettled":
                self.paid += a["paid"]
                self.fees += a["fee"]
            elif ev.name in ("OrderCancelled", "LeaseClosed"):
                self.refunded += a["refund"]
            elif ev.name == "BidRefunded":
                self.refunded += a["amount"]
            elif ev.name == "OrderCreated":
                self.deposited += a["spec"][5]
            elif ev.name == "ToppedUp":
                self.deposited += a["amount"]
            elif ev.name == "BidPlaced":
                self.deposited += self.c.bid(a["bidId"]).deposit

    @rule(tenant=st.integers(0, 1), deposit=st.integers(1, 5_000_000), max_price=st.integers(1, 10_000_000),
          window=st.integers(1, 600))
    def create_order(self, tenant: int, deposit: int, max_price: int, window: int) -> None:
        spec = OrderSpec(Resources(cpu=1000), Requirements(), max_price, window, b"\x01" * 32, deposit)
        order_id, receipt = self.c.create_order(self.w["tenants"][tenant], spec)
        self._track(receipt)
        self.orders.append(order_id)

    @rule(tenant=st.integers(0, 1), deposit=st.integers(1, 400_000), prices=st.lists(
        st.integers(1, 5_000_000), min_size=1, max_size=3), by_auction=st.booleans())
    def full_auction(self, tenant: int, deposit: int, prices: list[int], by_auction: bool) -> None:
        """Order, bids from several providers, then the auction closes or the tenant accepts."""
        t = self.w["tenants"][tenant]
        spec = OrderSpec(Resources(cpu=500), Requirements(), max(prices), 120, b"\x02" * 32, deposit)
        order_id, receipt = self.c.create_order(t, spec)
        self._track(receipt)
        self.orders.append(order_id)
        bid_ids = []
        for provider, price in zip(self.w["providers"], prices):
            bid_id, receipt = self.c.place_bid(provider, order_id, price)
            self._track(receipt)
            bid_ids.append(bid_id)
        self.bids += bid_ids
        if by_auction:
            self.chain.increase_time(121)
            lease_id, receipt = self.c.close_auction(self.w["owner"], order_id)
            expected = bid_ids[prices.index(min(prices))]  # lowest price, earliest on ties
            assert self.c.lease(lease_id).bid_id == expected
        else:
            lease_id, receipt = self.c.accept_bid(t, bid_ids[-1])
        self._track(receipt)
        self.leases.append(lease_id)

    @precondition(lambda self: self.orders)
    @rule(data=st.data(), provider=st.integers(0, 2))
    def bid(self, data: st.DataObject, provider: int) -> None:
        order_id = data.draw(st.sampled_from(self.orders))
        order = self.c.order(order_id)
        p = self.w["providers"][provider]
        open_ = order.state == OrderState.OPEN and self.chain.get_block().timestamp + CLOCK_MARGIN < order.closes_at
        if not open_ or self.d.market.call("bidOf", order_id, p.address):
            return
        price = data.draw(st.integers(1, order.spec.max_price_per_hour))
        bid_id, receipt = self.c.place_bid(p, order_id, price)
        self._track(receipt)
        self.bids.append(bid_id)

    @precondition(lambda self: self.bids)
    @rule(data=st.data())
    def accept(self, data: st.DataObject) -> None:
        bid = self.c.bid(data.draw(st.sampled_from(self.bids)))
        order = self.c.order(bid.order_id)
        if order.state != OrderState.OPEN:
            return
        tenant = next(t for t in self.w["tenants"] if t.address == order.tenant)
        lease_id, receipt = self.c.accept_bid(tenant, bid.bid_id)
        self._track(receipt)
        self.leases.append(lease_id)

    @precondition(lambda self: self.orders)
    @rule(data=st.data())
    def close_auction(self, data: st.DataObject) -> None:
        order = self.c.order(data.draw(st.sampled_from(self.orders)))
        if order.state != OrderState.OPEN or order.best_bid == 0:
            return
        self.chain.increase_time(max(order.closes_at - self.chain.get_block().timestamp, 0))
        lease_id, receipt = self.c.close_auction(self.w["owner"], order.order_id)
        assert self.c.lease(lease_id).price_per_hour == min(b.price_per_hour for b in self.c.bids_for(order.order_id))
        self._track(receipt)
        self.leases.append(lease_id)

    @precondition(lambda self: self.orders)
    @rule(data=st.data())
    def cancel(self, data: st.DataObject) -> None:
        order = self.c.order(data.draw(st.sampled_from(self.orders)))
        if order.state != OrderState.OPEN:
            return
        tenant = next(t for t in self.w["tenants"] if t.address == order.tenant)
        self._track(self.c.cancel_order(tenant, order.order_id))

    @precondition(lambda self: self.bids)
    @rule(data=st.data())
    def refund_bid(self, data: st.DataObject) -> None:
        bid = self.c.bid(data.draw(st.sampled_from(self.bids)))
        if bid.settled or self.c.order(bid.order_id).state == OrderState.OPEN:
            return
        self._track(self.c.refund_bid(self.w["owner"], bid.bid_id))

    @rule(provider=st.integers(0, 2))
    def attacker_bids_unbonds_and_withdraws(self, provider: int) -> None:
        """A provider with open bids or leases unbonds and waits out the period: its bond stays locked."""
        p = self.w["providers"][provider]
        registry = self.d.providers
        if registry.call("openObligations", p.address) == 0:
            return
        bond = self.c.provider(p.address).bond
        registry.transact(p, "requestUnbond")
        self.chain.increase_time(int(registry.call("unbondingPeriod")) + 1)
        with pytest.raises(ContractRevert, match="HasActiveLeases|HasOpenObligations"):
            registry.transact(p, "withdrawBond")
        assert self.c.provider(p.address).bond == bond
        registry.transact(p, "cancelUnbond")  # back to work: the other rules keep bidding with it

    @rule(seconds=st.integers(1, 4000))
    def wait(self, seconds: int) -> None:
        self.chain.increase_time(seconds)
        self.chain.mine(1)

    def _open_lease(self, data: st.DataObject) -> Any:
        lease = self.c.lease(data.draw(st.sampled_from(self.leases)))
        return None if lease.state == LeaseState.CLOSED else lease

    def _signer(self, address: str) -> Any:
        return next(a for a in self.w["tenants"] + self.w["providers"] if a.address == address)

    @precondition(lambda self: self.leases)
    @rule(data=st.data())
    def acknowledge(self, data: st.DataObject) -> None:
        """The provider says the workload runs: billing starts now, not at the auction."""
        lease = self._open_lease(data)
        if lease is None or lease.state != LeaseState.STARTING:
            return
        if self.chain.get_block().timestamp + CLOCK_MARGIN > lease.start_by:
            with pytest.raises(ContractRevert, match="LeaseNotStarted"):
                self.c.acknowledge(self._signer(lease.provider), lease.lease_id)
            return
        self._track(self.c.acknowledge(self._signer(lease.provider), lease.lease_id))
        assert self.c.lease(lease.lease_id).state == LeaseState.ACTIVE

    @precondition(lambda self: self.leases)
    @rule(data=st.data())
    def stranger_closes_unstarted(self, data: st.DataObject) -> None:
        """Anyone may close a lease nobody acknowledged by its deadline, for a full refund and no slash; before
        the deadline a stranger cannot."""
        lease = self._open_lease(data)
        if lease is None or lease.state != LeaseState.STARTING:
            return
        stranger = self.w["owner"]
        now = self.chain.get_block().timestamp
        if now + CLOCK_MARGIN < lease.start_by:
            with pytest.raises(ContractRevert, match="NotParty"):
                self.c.close_lease(stranger, lease.lease_id)
        elif now > lease.start_by:
            bond = self.c.provider(lease.provider).bond
            receipt = self.c.close_lease(stranger, lease.lease_id)
            self._track(receipt)
            closed = self.d.market.events(receipt, "LeaseClosed")[0].args
            assert closed["refund"] == lease.escrow and closed["slashed"] == 0
            assert self.c.provider(lease.provider).bond == bond

    @precondition(lambda self: self.leases)
    @rule(data=st.data())
    def heartbeat_or_withdraw(self, data: st.DataObject) -> None:
        lease = self._open_lease(data)
        if lease is None or lease.state == LeaseState.STARTING or self._will_breach(lease.lease_id):
            return
        p = self._signer(lease.provider)
        if data.draw(st.booleans()):
            self._track(self.c.heartbeat(p, lease.lease_id))
        else:
            self._track(self.c.withdraw(p, lease.lease_id))

    def _will_breach(self, lease_id: int) -> bool:
        # views run on the head block; the transaction runs one block (>= 1 s) later
        lease = self.c.lease(lease_id)
        sla = self.c.params().heartbeat_sla
        return self.chain.get_block().timestamp + CLOCK_MARGIN > lease.last_heartbeat + sla - 1

    @precondition(lambda self: self.leases)
    @rule(data=st.data(), amount=st.integers(1, 3_000_000))
    def top_up(self, data: st.DataObject, amount: int) -> None:
        lease = self._open_lease(data)
        if lease is None or self._will_breach(lease.lease_id):
            return
        status = self.c.lease_status(lease.lease_id)
        if status.state == LeaseState.PAUSED and self.chain.get_block().timestamp + CLOCK_MARGIN > status.grace_ends_at:
            return
        self._track(self.c.top_up(self._signer(lease.tenant), lease.lease_id, amount))

    @precondition(lambda self: self.leases)
    @rule(data=st.data(), by_provider=st.booleans())
    def close(self, data: st.DataObject, by_provider: bool) -> None:
        lease = self._open_lease(data)
        if lease is None:
            return
        who = self._signer(lease.provider if by_provider else lease.tenant)
        self._track(self.c.close_lease(who, lease.lease_id))
        assert self.c.lease(lease.lease_id).escrow == 0

    @invariant()
    def conservation(self) -> None:
        held_orders = held_bids = held_escrow = 0
        for oid in self.orders:
            o = self.c.order(oid)
            held_orders += o.spec.deposit if o.state == OrderState.OPEN else 0
        for bid_id in self.bids:
            b = self.c.bid(bid_id)
            held_bids += 0 if b.settled else b.deposit
        for lid in self.leases:
            held_escrow += self.c.lease(lid).escrow
        balance = self.coin.call("balanceOf", self.d.market.address) - self.start_balance
        assert balance == held_orders + held_bids + held_escrow
        assert self.deposited == balance + self.paid + self.fees + self.refunded

    @invariant()
    def leases_bill_exactly(self) -> None:
        for lid in self.leases:
            lease = self.c.lease(lid)
            assert lease.charged == lease.price_per_hour * lease.billed_seconds // 3600
            assert lease.settled_at - lease.started_at >= lease.billed_seconds
            if lease.state == LeaseState.STARTING:
                assert lease.charged == 0 and lease.billed_seconds == 0  # nothing bills before the acknowledgement


MarketConservation.TestCase.settings = settings(
    max_examples=8, stateful_step_count=30, deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
TestMarketConservation = MarketConservation.TestCase
