"""Typed access to the Market and ProviderRegistry contracts, for tenants, providers and tools."""

from __future__ import annotations

from dataclasses import dataclass, replace

from ..chain.base import Chain, Receipt
from ..chain.contract import Contract, Signer
from ..protocol.deploy import Deployment
from .types import Bid, Lease, LeaseStatus, Order, OrderSpec, Prices, ProviderInfo, Resources, bytes32_text

PAGE = 200


@dataclass(frozen=True)
class MarketParams:
    treasury: str
    take_bps: int
    heartbeat_sla: int
    grace_period: int
    bid_deposit: int
    start_timeout: int
    min_bond: int
    slash_bps: int
    decimals: int


class MarketClient:
    """One object per chain connection. Reads are cheap views; writes sign with the given signer."""

    def __init__(self, chain: Chain, deployment: Deployment) -> None:
        self.chain = chain
        self.deployment = deployment
        self.market: Contract = deployment.market
        self.providers: Contract = deployment.providers
        self.stablecoin: Contract = deployment.stablecoin
        self.token: Contract = deployment.token
        self._decimals: int | None = None

    # ---- reads ----

    @property
    def decimals(self) -> int:
        if self._decimals is None:
            self._decimals = int(self.stablecoin.call("decimals"))
        return self._decimals

    def params(self) -> MarketParams:
        m, p = self.market, self.providers
        return MarketParams(m.call("treasury"), m.call("takeBps"), m.call("heartbeatSla"), m.call("gracePeriod"),
                            m.call("bidDeposit"), m.call("startTimeout"), p.call("minBond"), p.call("slashBps"), self.decimals)

    def order(self, order_id: int) -> Order:
        return Order.from_abi(order_id, self.market.call("getOrder", order_id))

    def bid(self, bid_id: int) -> Bid:
        return Bid.from_abi(bid_id, self.market.call("getBid", bid_id))

    def lease(self, lease_id: int) -> Lease:
        return Lease.from_abi(lease_id, self.market.call("getLease", lease_id))

    def lease_status(self, lease_id: int) -> LeaseStatus:
        return LeaseStatus.from_abi(self.market.call("leaseStatus", lease_id))

    def bids_for(self, order_id: int) -> list[Bid]:
        """All bids on an order, earliest first."""
        events = self.market.get_events("BidPlaced", topics=[order_id.to_bytes(32, "big")])
        return [self.bid(e.args["bidId"]) for e in events]

    def provider(self, address: str) -> ProviderInfo:
        return ProviderInfo.from_abi(address, self.providers.call("provider", address))

    def all_providers(self) -> list[ProviderInfo]:
        count = self.providers.call("providerCount")
        out: list[ProviderInfo] = []
        for start in range(0, count, PAGE):
            out += [self.provider(a) for a in self.providers.call("providersPage", start, PAGE)]
        return out

    def certified_by(self, info: ProviderInfo, auditors: list[str]) -> ProviderInfo:
        ok = tuple(a for a in auditors if self.providers.call("isCertified", info.address, a))
        return replace(info, certified_by=ok)

    # ---- token plumbing ----

    def _ensure_allowance(self, signer: Signer, token: Contract, spender: str, amount: int) -> None:
        if amount and token.call("allowance", signer.address, spender) < amount:
            token.transact(signer, "approve", spender, amount)

    # ---- tenant ----

    def create_order(self, signer: Signer, spec: OrderSpec) -> tuple[int, Receipt]:
        self._ensure_allowance(signer, self.stablecoin, self.market.address, spec.deposit)
        receipt = self.market.transact(signer, "createOrder", spec.as_abi())
        order_id = self.market.events(receipt, "OrderCreated")[0].args["orderId"]
        return order_id, receipt

    def accept_bid(self, signer: Signer, bid_id: int) -> tuple[int, Receipt]:
        receipt = self.market.transact(signer, "acceptBid", bid_id)
        return self.market.events(receipt, "LeaseCreated")[0].args["leaseId"], receipt

    def close_auction(self, signer: Signer, order_id: int) -> tuple[int, Receipt]:
        receipt = self.market.transact(signer, "closeAuction", order_id)
        return self.market.events(receipt, "LeaseCreated")[0].args["leaseId"], receipt

    def cancel_order(self, signer: Signer, order_id: int) -> Receipt:
        return self.market.transact(signer, "cancelOrder", order_id)

    def top_up(self, signer: Signer, lease_id: int, amount: int) -> Receipt:
        self._ensure_allowance(signer, self.stablecoin, self.market.address, amount)
        return self.market.transact(signer, "topUp", lease_id, amount)

    def close_lease(self, signer: Signer, lease_id: int) -> Receipt:
        return self.market.transact(signer, "closeLease", lease_id)

    # ---- provider ----

    def register_provider(self, signer: Signer, *, endpoint: str, region: str, gpu_model: str,
                          capacity: Resources, prices: Prices, bond: int) -> Receipt | None:
        """Register or update, only sending a transaction when something differs (idempotent)."""
        info = self.provider(signer.address)
        top_up = max(bond - info.bond, 0)
        same = (info.registered and info.endpoint == endpoint and info.region == region.lower()
                and info.gpu_model == gpu_model.lower() and info.capacity == capacity and info.prices == prices)
        if same and top_up == 0:
            return None
        self._ensure_allowance(signer, self.token, self.providers.address, top_up)
        if same:
            return self.providers.transact(signer, "addBond", top_up)
        return self.providers.transact(
            signer, "register", endpoint, bytes32_text(region) if region else b"\0" * 32,
            bytes32_text(gpu_model) if gpu_model else b"\0" * 32, capacity.as_abi(), prices.as_abi(), top_up)

    def place_bid(self, signer: Signer, order_id: int, price_per_hour: int) -> tuple[int, Receipt]:
        self._ensure_allowance(signer, self.stablecoin, self.market.address, self.market.call("bidDeposit"))
        receipt = self.market.transact(signer, "bid", order_id, price_per_hour)
        return self.market.events(receipt, "BidPlaced")[0].args["bidId"], receipt

    def refund_bid(self, signer: Signer, bid_id: int) -> Receipt:
        return self.market.transact(signer, "refundBid", bid_id)

    def acknowledge(self, signer: Signer, lease_id: int) -> Receipt:
        """The workload runs: billing and the heartbeat SLA start now."""
        return self.market.transact(signer, "acknowledge", lease_id)

    def heartbeat(self, signer: Signer, lease_id: int) -> Receipt:
        return self.market.transact(signer, "heartbeat", lease_id)

    def withdraw(self, signer: Signer, lease_id: int) -> Receipt:
        return self.market.transact(signer, "withdraw", lease_id)
