"""Provider node failure modes: killed mid-lease and restarted, escrow running dry, pricing scripts."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from pathlib import Path

import pytest

from tessera.errors import PricingError, WorkloadError
from tessera.market import LeaseState, OrderState
from tessera.market.pricing import ScriptPricing
from tessera.provider import ProviderNode
from tessera.provider import sandbox

from conftest import MarketEnv, advance  # type: ignore[import-not-found]
from test_market_e2e import make_nodes, session, spec_for  # type: ignore[import-not-found]

FEATURES = {"features": [[5.1, 3.5, 1.4, 0.2]]}


def _lease_with_workload(env: MarketEnv, tmp_path: Path, deposit: str = "5") -> tuple[list[ProviderNode], int]:
    nodes = make_nodes(env, tmp_path)[:1]
    spec = spec_for(tmp_path, deposit)
    order_id, _ = env.client.create_order(env.tenant, spec.order_spec(env.client.decimals))  # type: ignore[attr-defined]
    nodes[0].step()
    lease_id, _ = env.client.accept_bid(env.tenant, env.client.bids_for(order_id)[0].bid_id)
    asyncio.run(session(env, nodes).send_manifest(lease_id, spec.manifest))  # type: ignore[attr-defined]
    asyncio.run(session(env, nodes).infer(lease_id, FEATURES))
    assert nodes[0].step().acknowledged == [lease_id]
    return nodes, lease_id


def test_killed_node_resumes_its_lease_without_double_bidding(market_env: MarketEnv, tmp_path: Path) -> None:
    env = market_env
    nodes, lease_id = _lease_with_workload(env, tmp_path)
    old = nodes[0]
    pid = old.store.one("SELECT pid FROM leases WHERE lease_id=?", lease_id)["pid"]
    # the machine dies: node state is whatever reached SQLite, the workload process is gone
    os.killpg(pid, signal.SIGKILL)
    old.store.conn.close()
    another_order, _ = env.client.create_order(env.tenant, env.spec())
    restarted = ProviderNode(env.chain, env.deployment, old.signer, old.config, old.data_dir)
    try:
        restarted.ensure_registered()  # idempotent: nothing changed, no transaction
        report = restarted.step()
        assert len(report.bids) == 1  # only the new order; the old one is not bid on again
        row = restarted.store.one("SELECT status, pid FROM leases WHERE lease_id=?", lease_id)
        assert row["status"] == "running" and row["pid"] != pid and sandbox.alive(row["pid"])
        out = asyncio.run(session(env, [restarted]).infer(lease_id, FEATURES))
        assert len(out["outputs"]["probabilities"]) == 1
        assert restarted.step().bids == []  # a second pass bids on nothing
        assert env.client.order(another_order).bid_count == 1
    finally:
        restarted.stop_all()


def test_escrow_running_dry_pauses_the_workload_and_top_up_resumes(market_env: MarketEnv, tmp_path: Path) -> None:
    env, c = market_env, market_env.client
    nodes, lease_id = _lease_with_workload(env, tmp_path, deposit="0.05")  # ~12 minutes at 0.251/h
    node = nodes[0]
    try:
        funded = c.lease_status(lease_id).funded_until - env.chain.get_block().timestamp
        step = c.params().heartbeat_sla // 2
        while funded > 0:  # keep heartbeating until the escrow runs out
            advance(env.chain, min(step, funded + 1))
            node.step()
            funded = c.lease_status(lease_id).funded_until - env.chain.get_block().timestamp
        assert c.lease_status(lease_id).state == LeaseState.PAUSED
        node.step()
        assert node.store.one("SELECT status FROM leases WHERE lease_id=?", lease_id)["status"] == "paused"
        with pytest.raises(WorkloadError, match="top up"):
            asyncio.run(session(env, nodes).infer(lease_id, FEATURES))
        c.top_up(env.tenant, lease_id, 1_000_000)
        node.step()
        assert node.store.one("SELECT status FROM leases WHERE lease_id=?", lease_id)["status"] == "running"
        asyncio.run(session(env, nodes).infer(lease_id, FEATURES))
        assert c.lease(lease_id).state == LeaseState.ACTIVE
    finally:
        node.stop_all()


def test_provider_that_never_returns_is_slashed_and_tenant_refunded(market_env: MarketEnv, tmp_path: Path) -> None:
    env, c = market_env, market_env.client
    nodes, lease_id = _lease_with_workload(env, tmp_path)
    nodes[0].stop_all()  # gone for good
    advance(env.chain, c.params().heartbeat_sla + 60)
    bond = c.provider(nodes[0].address).bond
    before = env.balance(env.tenant)
    receipt = c.close_lease(env.tenant, lease_id)
    closed = env.deployment.market.events(receipt, "LeaseClosed")[0].args
    assert closed["slashed"] == bond * 2000 // 10_000 > 0
    assert env.balance(env.tenant) - before == closed["refund"] > 0
    assert c.order(c.lease(lease_id).order_id).state == OrderState.LEASED


def test_pricing_script(tmp_path: Path, market_env: MarketEnv) -> None:
    env, c = market_env, market_env.client
    order_id, _ = c.create_order(env.tenant, env.spec())
    order = c.order(order_id)
    script = tmp_path / "price.py"
    script.write_text("import json,sys\no=json.load(sys.stdin)\nprint(json.dumps({'price_per_hour': "
                      "o['resources']['cpu'] * 3}))\n")
    assert ScriptPricing([sys.executable, str(script)]).price(order) == 3000
    script.write_text("print('oops')\n")
    with pytest.raises(PricingError, match="price_per_hour"):
        ScriptPricing([sys.executable, str(script)]).price(order)
