"""Market benchmark: gas of every lease-lifecycle step, blocks from order to lease, and bid-engine
evaluations per second. Writes bench/results/market.json.

Ratios against baselines measured in the same run (machines here are noisy):
- gas: each step / one ERC-20 stablecoin transfer (the cheapest useful transaction);
- bid engine: full evaluations/s / a bare resource-fit check per second (the floor any matcher pays).

    python bench/market.py [--evaluations 20000]
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path

from tessera.accounts.dev import dev_account
from tessera.chain import EmbeddedChain
from tessera.market import MarketClient, Order, OrderSpec, OrderState, Prices, Requirements, Resources
from tessera.market.bidengine import BidEngine
from tessera.market.pricing import LinearPricing
from tessera.protocol.deploy import Deployment, deploy_protocol
from tessera.protocol.faucet import fund_stablecoin, fund_tsr

USD = 10**6


def lifecycle_gas() -> dict[str, object]:
    chain = EmbeddedChain()
    owner, tenant = dev_account(0), dev_account(5)
    providers = [dev_account(i) for i in (1, 2, 3)]
    manifest, _ = deploy_protocol(chain, owner, path=None)
    d = Deployment.from_manifest(chain, manifest)
    c = MarketClient(chain, d)
    fund_stablecoin(chain, d, owner, tenant.address, 1000 * USD)
    gas: dict[str, int] = {}
    transfer = d.stablecoin.transact(tenant, "transfer", owner.address, 1)
    gas["baseline_erc20_transfer"] = transfer.gas_used
    for i, p in enumerate(providers):
        fund_stablecoin(chain, d, owner, p.address, 10 * USD)
        fund_tsr(chain, d, owner, p.address, 10 * 10**18)
        d.token.transact(p, "approve", d.providers.address, 10 * 10**18)
        d.stablecoin.transact(p, "approve", d.market.address, 2**255)
        r = d.providers.transact(p, "register", f"http://p{i}", b"eu".ljust(32, b"\0"), b"\0" * 32,
                                 (8000, 32768, 500, 0), (1, 1, 1, 0), 10 * 10**18)
        gas.setdefault("register_with_bond", r.gas_used)
    d.stablecoin.transact(tenant, "approve", d.market.address, 2**255)
    spec = OrderSpec(Resources(1000, 1024, 1), Requirements(region="eu"), USD, 60, b"\x01" * 32, 10 * USD)
    start_block = chain.block_number() + 1
    r = d.market.transact(tenant, "createOrder", spec.as_abi())
    gas["create_order"] = r.gas_used
    order_id = d.market.events(r)[0].args["orderId"]
    bid_gas = [d.market.transact(p, "bid", order_id, USD - i).gas_used for i, p in enumerate(providers)]
    gas["bid_first"], gas["bid_improving"] = bid_gas[0], bid_gas[1]
    chain.increase_time(61)
    r = d.market.transact(owner, "closeAuction", order_id)
    gas["close_auction"] = r.gas_used
    lease_block = r.block_number
    lease_id = c.order(order_id).lease_id
    gas["refund_losing_bid"] = d.market.transact(owner, "refundBid", c.bids_for(order_id)[0].bid_id).gas_used
    winner = providers[2]
    gas["acknowledge"] = d.market.transact(winner, "acknowledge", lease_id).gas_used  # billing starts here
    chain.increase_time(100)
    gas["heartbeat"] = d.market.transact(winner, "heartbeat", lease_id).gas_used
    chain.increase_time(100)
    gas["withdraw"] = d.market.transact(winner, "withdraw", lease_id).gas_used
    gas["top_up"] = d.market.transact(tenant, "topUp", lease_id, USD).gas_used
    chain.increase_time(100)
    gas["close_lease"] = d.market.transact(tenant, "closeLease", lease_id).gas_used
    # the same lifecycle accepted early by the tenant instead of an auction
    r = d.market.transact(tenant, "createOrder", spec.as_abi())
    order2 = d.market.events(r)[0].args["orderId"]
    bid2 = d.market.events(d.market.transact(providers[0], "bid", order2, USD))[0].args["bidId"]
    gas["accept_bid"] = d.market.transact(tenant, "acceptBid", bid2).gas_used
    lifecycle = ["create_order", "bid_first", "bid_improving", "close_auction", "refund_losing_bid", "acknowledge",
                 "heartbeat", "withdraw", "close_lease"]
    base = gas["baseline_erc20_transfer"]
    return {
        "gas": gas,
        "gas_ratio_to_erc20_transfer": {k: round(v / base, 2) for k, v in gas.items()},
        "gas_lease_lifecycle": sum(gas[k] for k in lifecycle),
        "blocks_order_to_lease": lease_block - start_block,
        "blocks_order_to_lease_note": "one block per transaction on the embedded chain: order, 3 bids, award",
    }


def bid_engine_rate(n: int) -> dict[str, float]:
    engine = BidEngine("eu", "", LinearPricing(Prices(400_000, 20_000, 500, 0)))
    free = Resources(64_000, 256 * 1024, 4000, 0)
    orders = [Order(i, "0x" + "11" * 20, OrderState.OPEN, 10**10, 0, 0, 0,
                    OrderSpec(Resources(500 + i % 4000, 512 + i % 8192, 1 + i % 50), Requirements(region="eu"),
                              10**6, 60, b"\x01" * 32, 10**6)) for i in range(1000)]
    start = time.perf_counter()
    bids = 0
    for i in range(n):
        bids += engine.evaluate(orders[i % 1000], free, 0).bid
    engine_rate = n / (time.perf_counter() - start)
    start = time.perf_counter()
    fits = 0
    for i in range(n):
        fits += orders[i % 1000].spec.resources.fits_in(free)
    baseline_rate = n / (time.perf_counter() - start)
    return {"evaluations_per_s": round(engine_rate), "baseline_fit_checks_per_s": round(baseline_rate),
            "ratio_to_baseline": round(engine_rate / baseline_rate, 3), "bids_decided": bids}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--evaluations", type=int, default=20_000)
    args = ap.parse_args()
    result = {"machine": platform.platform(), "python": platform.python_version(), **lifecycle_gas(),
              "bid_engine": bid_engine_rate(args.evaluations)}
    out = Path(__file__).parent / "results" / "market.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
