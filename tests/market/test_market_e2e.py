"""End to end on both backends: order → bids from three provider nodes → lease → a served ONNX model →
streamed payment → close, with exact balances. Provider APIs are called in-process (ASGI)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
import numpy as np
import pytest

from tessera.demo.models import reference_probabilities, write_classifier
from tessera.errors import ManifestError
from tessera.market import LeaseState, Prices, Resources, parse_spec
from tessera.market.spec import Manifest
from tessera.market.tenant import TenantSession
from tessera.provider import ProviderConfig, ProviderNode
from tessera.provider.api import create_app

from conftest import USD, MarketEnv, advance  # type: ignore[import-not-found]

CAP = Resources(cpu=8000, memory_mb=32768, storage_gb=500, gpus=0)


def make_nodes(env: MarketEnv, tmp_path: Path) -> list[ProviderNode]:
    nodes = []
    for i, p in enumerate(env.providers):
        prices = Prices(per_cpu=(i + 2) * 100_000, per_gb_memory=50_000, per_gb_storage=1_000, per_gpu=0)
        cfg = ProviderConfig(endpoint=f"http://provider{i}.test", region="eu", gpu_model="", capacity=CAP,
                             prices=prices, bond=20 * 10**18)
        node = ProviderNode(env.chain, env.deployment, p, cfg, tmp_path / f"p{i}")
        node.ensure_registered()
        nodes.append(node)
    return nodes


def session(env: MarketEnv, nodes: list[ProviderNode]) -> TenantSession:
    apps = {n.config.endpoint: httpx.ASGITransport(app=create_app(n)) for n in nodes}
    return TenantSession(env.client, env.tenant, transport_for=lambda e: apps[e])


def spec_for(tmp_path: Path, deposit: str = "5") -> object:
    write_classifier(tmp_path / "model.onnx")
    return parse_spec({"name": "clf", "resources": {"cpu": 1, "memory": "1Gi", "storage": "1Gi"},
                       "requirements": {"region": "eu"}, "max_price_per_hour": "1.00", "deposit": deposit,
                       "bid_window": 30, "workload": {"kind": "onnx", "model": "model.onnx"}}, tmp_path)


def test_order_to_served_inference_to_close(market_env: MarketEnv, tmp_path: Path) -> None:
    env, c = market_env, market_env.client
    nodes = make_nodes(env, tmp_path)
    spec = spec_for(tmp_path)
    accounts = [env.tenant.address, env.owner.address] + [p.address for p in env.providers]
    before = {a: env.balance(a) for a in accounts}
    order_id, _ = c.create_order(env.tenant, spec.order_spec(c.decimals))  # type: ignore[attr-defined]
    for n in nodes:
        assert n.step().bids  # 1 cpu + 1 GiB mem + 1 GiB disk: 0.251 / 0.351 / 0.451 per hour
    bids = c.bids_for(order_id)
    assert [b.price_per_hour for b in bids] == [251_000, 351_000, 451_000]
    advance(env.chain, 31)
    for n in nodes:
        n.step()  # the best bidder closes the auction itself; the others get their deposits back
    order = c.order(order_id)
    lease = c.lease(order.lease_id)
    assert lease.provider == env.providers[0].address and lease.price_per_hour == 251_000
    winner = nodes[0]
    tenant = session(env, nodes)

    async def serve() -> list[list[float]]:
        ack = await tenant.send_manifest(lease.lease_id, spec.manifest)  # type: ignore[attr-defined]
        assert ack["status"] == "running"
        out = await tenant.infer(lease.lease_id, {"features": [[5.1, 3.5, 1.4, 0.2], [6.7, 3.0, 5.2, 2.3]]})
        return out["outputs"]["probabilities"]  # type: ignore[no-any-return]

    try:
        probs = asyncio.run(serve())
        want = reference_probabilities(np.array([[5.1, 3.5, 1.4, 0.2], [6.7, 3.0, 5.2, 2.3]]))
        np.testing.assert_allclose(np.array(probs), want, rtol=1e-6, atol=1e-7)
        assert c.lease(lease.lease_id).state == LeaseState.STARTING and c.lease(lease.lease_id).charged == 0
        assert winner.step().acknowledged == [lease.lease_id]  # the model answers: now billing starts
        assert c.lease(lease.lease_id).state == LeaseState.ACTIVE
        advance(env.chain, 300)
        report = winner.step()
        assert report.heartbeats + report.withdrawals == 1
        advance(env.chain, 120)
        receipt = c.close_lease(env.tenant, lease.lease_id)
        winner.step()
        assert winner.store.one("SELECT status FROM leases WHERE lease_id=?", lease.lease_id)["status"] == "closed"
    finally:
        for n in nodes:
            n.stop_all()
    closed = env.deployment.market.events(receipt, "LeaseClosed")[0].args
    final = c.lease(lease.lease_id)
    assert final.state == LeaseState.CLOSED
    charged = final.charged
    assert charged == 251_000 * final.billed_seconds // 3600
    settled = env.deployment.market.get_events("LeaseSettled", topics=[lease.lease_id.to_bytes(32, "big")])
    fee = sum(e.args["fee"] for e in settled)  # the fee is floored at each settlement
    assert sum(e.args["paid"] for e in settled) + fee == charged
    assert charged * c.params().take_bps // 10_000 - len(settled) < fee <= charged * c.params().take_bps // 10_000
    after = {a: env.balance(a) for a in accounts}
    assert before[env.tenant.address] - after[env.tenant.address] == charged == 5 * USD - closed["refund"]
    assert after[env.providers[0].address] - before[env.providers[0].address] == charged - fee
    assert after[env.owner.address] - before[env.owner.address] == fee
    for p in env.providers[1:]:
        assert after[p.address] == before[p.address]  # bid deposits came back
    assert env.balance(env.deployment.market.address) == 0


def test_manifest_with_wrong_hash_or_signer_is_refused(market_env: MarketEnv, tmp_path: Path) -> None:
    env, c = market_env, market_env.client
    nodes = make_nodes(env, tmp_path)
    spec = spec_for(tmp_path)
    order_id, _ = c.create_order(env.tenant, spec.order_spec(c.decimals))  # type: ignore[attr-defined]
    nodes[0].step()
    lease_id, _ = c.accept_bid(env.tenant, c.bids_for(order_id)[0].bid_id)
    tampered = Manifest({**spec.manifest.body, "name": "something else"})  # type: ignore[attr-defined]
    stranger = TenantSession(env.client, env.providers[2], transport_for=session(env, nodes).transport_for)
    with pytest.raises(ManifestError, match="does not match order"):
        asyncio.run(session(env, nodes).send_manifest(lease_id, tampered))
    with pytest.raises(ManifestError, match="not by the lease's tenant"):
        asyncio.run(stranger.send_manifest(lease_id, spec.manifest))  # type: ignore[attr-defined]
    row = nodes[0].store.one("SELECT status FROM leases WHERE lease_id=?", lease_id)
    assert row["status"] == "awaiting_manifest"  # nothing was started
