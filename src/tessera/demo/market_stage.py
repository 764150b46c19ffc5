"""Demo stage `market`: three providers bid on an ONNX inference order, the lowest wins, the model
is served through the lease endpoint, payment streams, the lease closes, and every balance is shown."""

from __future__ import annotations

import asyncio
import tempfile
from pathlib import Path
from typing import Any

import httpx
import numpy as np

from ..accounts.dev import dev_account
from ..market import MarketClient, Prices, Resources, parse_spec
from ..market.tenant import TenantSession
from ..protocol.deploy import Deployment
from ..protocol.faucet import fund_stablecoin, fund_tsr
from ..provider import ProviderConfig, ProviderNode
from ..provider.api import create_app
from .models import reference_probabilities, write_classifier
from .runner import DemoContext, StageResult

USD = 10**6
PROVIDERS = [("alpha", 400_000), ("beta", 300_000), ("gamma", 550_000)]  # per CPU core-hour
SAMPLES = [[5.1, 3.5, 1.4, 0.2], [6.0, 2.9, 4.5, 1.5], [6.7, 3.0, 5.2, 2.3]]


def _usd(units: int) -> str:
    return f"{units / USD:,.6f}"


def market_stage(ctx: DemoContext, out: StageResult) -> None:
    with tempfile.TemporaryDirectory(prefix="tessera-demo-market-") as tmp:
        _run(ctx, out, Path(tmp))


def _run(ctx: DemoContext, out: StageResult, tmp: Path) -> None:
    chain = ctx.chain
    d: Deployment = ctx.state["deployment"]
    owner, tenant = dev_account(0), dev_account(4)
    accounts = [dev_account(i) for i in (5, 6, 7)]
    client = MarketClient(chain, d)
    params = client.params()
    fund_stablecoin(chain, d, owner, tenant.address, 100 * USD)
    nodes = []
    for (name, per_cpu), acct in zip(PROVIDERS, accounts):
        fund_stablecoin(chain, d, owner, acct.address, 1 * USD)
        fund_tsr(chain, d, owner, acct.address, params.min_bond)
        cfg = ProviderConfig(endpoint=f"http://{name}.provider.demo", region="eu", gpu_model="",
                             capacity=Resources(cpu=4000, memory_mb=8192, storage_gb=100),
                             prices=Prices(per_cpu=per_cpu, per_gb_memory=20_000, per_gb_storage=500),
                             bond=params.min_bond)
        node = ProviderNode(chain, d, acct, cfg, tmp / name)
        node.ensure_registered()
        nodes.append(node)
    names: dict[str, str] = {acct.address: name for (name, _), acct in zip(PROVIDERS, accounts)}
    who: dict[str, str] = {tenant.address: "tenant", owner.address: "treasury", d.market.address: "market escrow",
           **{a: f"provider {n}" for a, n in names.items()}}
    balance = lambda a: d.stablecoin.call("balanceOf", a)  # noqa: E731
    before = {a: balance(a) for a in who}

    write_classifier(tmp / "classifier.onnx")
    spec = parse_spec({"name": "iris-classifier", "resources": {"cpu": 1, "memory": "1Gi", "storage": "1Gi"},
                       "requirements": {"region": "eu"}, "max_price_per_hour": "1.00", "deposit": "2.00",
                       "bid_window": 60, "workload": {"kind": "onnx", "model": "classifier.onnx"}}, tmp)
    gas: dict[str, int] = {}

    def phase(label: str, start: int) -> None:
        gas[label] = sum(chain.get_block(n).gas_used for n in range(start + 1, chain.block_number() + 1))

    b = chain.block_number()
    order_id, _ = client.create_order(tenant, spec.order_spec(client.decimals))
    phase("order", b)
    b = chain.block_number()
    for node in nodes:
        node.step()
    phase("bids", b)
    bids = client.bids_for(order_id)
    chain.increase_time(61)
    chain.mine(1)
    b = chain.block_number()
    for node in nodes:
        node.step()  # the best bidder closes the auction; the others reclaim their bid deposits
    phase("award", b)
    lease = client.lease(client.order(order_id).lease_id)
    winner = next(n for n in nodes if n.address == lease.provider)
    apps = {n.config.endpoint: httpx.ASGITransport(app=create_app(n)) for n in nodes}
    session = TenantSession(client, tenant, transport_for=lambda e: apps[e])
    try:
        probs = asyncio.run(_serve(session, lease.lease_id, spec.manifest))
        b = chain.block_number()
        acknowledged = winner.step().acknowledged == [lease.lease_id]  # the model answers: billing starts now
        for _ in range(12):  # an hour of service in 5-minute steps: heartbeats and withdrawals stream pay
            chain.increase_time(300)
            chain.mine(1)
            winner.step()
        phase("serve", b)
        b = chain.block_number()
        client.close_lease(tenant, lease.lease_id)
        for node in nodes:
            node.step()  # the winner stops the workload; a loser that stepped before the award reclaims its deposit
        phase("close", b)
    finally:
        for node in nodes:
            node.stop_all()

    after = {a: balance(a) for a in who}
    final = client.lease(lease.lease_id)
    delta = {a: after[a] - before[a] for a in who}
    conserved = sum(delta.values()) == 0 and delta[d.market.address] == 0 \
        and -delta[tenant.address] == final.charged == delta[winner.address] + delta[owner.address]
    want = reference_probabilities(np.array(SAMPLES))
    exact = bool(np.allclose(np.array(probs), want, rtol=1e-5, atol=1e-6))
    lowest = min(bid.price_per_hour for bid in bids)
    out.ok = conserved and exact and acknowledged and lease.price_per_hour == lowest
    out.figures = {
        "lowest_bid": lowest,
        "winning_price": lease.price_per_hour,
        "bids": {names[bid.provider]: bid.price_per_hour for bid in bids},
        "winner": names[winner.address],
        "inferences_served": len(SAMPLES),
        "outputs_match_reference": exact,
        "billed_seconds": final.billed_seconds,
        "charged": final.charged,
        "balances_before": {who[a]: v for a, v in before.items()},
        "balances_after": {who[a]: v for a, v in after.items()},
        "balances_conserved": conserved,
        "gas_lease_lifecycle": sum(gas.values()),
        "gas_by_phase": gas,
    }
    out.lines = [
        f"Three providers in eu ask {', '.join(f'{n} {_usd(p)}' for n, p in PROVIDERS)} per core-hour; "
        f"a tenant orders 1 core + 1 GiB for an ONNX classifier, max 1.00/h, deposit 2.00",
        "Bids (per hour): " + ", ".join(f"{names[x.provider]} {_usd(x.price_per_hour)}" for x in bids),
        f"Lowest bid {_usd(lowest)}/h wins: lease {lease.lease_id} with {names[winner.address]}; billing starts "
        "when the provider acknowledges on-chain that the model serves",
        f"Served {len(SAMPLES)} inferences through the lease endpoint; outputs "
        f"{'match' if exact else 'DIFFER FROM'} the reference (e.g. {np.round(probs[0], 3).tolist()})",
        f"One hour of service streamed {_usd(final.charged)} ({final.billed_seconds} s billed at "
        f"{_usd(lease.price_per_hour)}/h, {params.take_bps / 100:g}% fee to the treasury); the tenant closed the lease",
        "Balances (stablecoin):",
        *[f"  {who[a]:<17} {_usd(before[a]):>14} -> {_usd(after[a]):>14}  ({delta[a] / USD:+,.6f})" for a in who],
        f"  sum of changes {sum(delta.values())}: {'conserved' if conserved else 'NOT CONSERVED'}",
        f"Gas for the lease lifecycle: {sum(gas.values()):,} ("
        + ", ".join(f"{k} {v:,}" for k, v in gas.items()) + ")",
    ]


async def _serve(session: TenantSession, lease_id: int, manifest: Any) -> list[list[float]]:
    await session.send_manifest(lease_id, manifest)
    out = await session.infer(lease_id, {"features": SAMPLES})
    return list(out["outputs"]["probabilities"])
