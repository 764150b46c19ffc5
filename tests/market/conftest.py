"""Market fixtures: a deployed protocol, three bonded providers and a funded tenant."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from tessera.accounts.dev import dev_account
from tessera.chain import Chain
from tessera.market import MarketClient, OrderSpec, Prices, Requirements, Resources
from tessera.protocol.deploy import Deployment
from tessera.protocol.faucet import fund_stablecoin, fund_tsr

USD = 10**6
TSR = 10**18
CAPACITY = Resources(cpu=8000, memory_mb=32768, storage_gb=500, gpus=1)
PRICES = Prices(per_cpu=200_000, per_gb_memory=50_000, per_gb_storage=1_000, per_gpu=1_500_000)


@dataclass
class MarketEnv:
    chain: Chain
    deployment: Deployment
    client: MarketClient
    owner: object
    tenant: object
    providers: list

    def spec(self, **overrides: object) -> OrderSpec:
        base = dict(resources=Resources(cpu=1000, memory_mb=1024, storage_gb=1), requirements=Requirements(),
                    max_price_per_hour=2 * USD, bid_window=60, manifest_hash=b"\x11" * 32, deposit=10 * USD)
        base.update(overrides)
        return OrderSpec(**base)  # type: ignore[arg-type]

    def balance(self, who: object) -> int:
        return self.deployment.stablecoin.call("balanceOf", who if isinstance(who, str) else who.address)


@pytest.fixture
def market_env(chain: Chain, deployment: Deployment) -> MarketEnv:
    owner, tenant = dev_account(0), dev_account(5)
    providers = [dev_account(i) for i in (1, 2, 3)]
    client = MarketClient(chain, deployment)
    fund_stablecoin(chain, deployment, owner, tenant.address, 1_000 * USD)
    for i, p in enumerate(providers):
        fund_stablecoin(chain, deployment, owner, p.address, 10 * USD)
        fund_tsr(chain, deployment, owner, p.address, 20 * TSR)
        client.register_provider(p, endpoint=f"http://provider{i}.test", region="eu", gpu_model="h100",
                                 capacity=CAPACITY, prices=PRICES, bond=20 * TSR)
    return MarketEnv(chain, deployment, client, owner, tenant, providers)


def advance(chain: Chain, seconds: int) -> None:
    """Move time and mine a block, so views see the new time on every backend."""
    chain.increase_time(seconds)
    chain.mine(1)
