"""A `proof: zk` lease end to end: the provider node serves proved inferences of the lease's model
through its API, settles each one through the InferenceEscrow, and a retried request (or a restart)
returns the journaled result without proving or paying twice."""

from __future__ import annotations

import asyncio
import shutil
import time
from pathlib import Path

import pytest
from conftest import MarketEnv, advance  # type: ignore[import-not-found]
from test_market_e2e import make_nodes, session  # type: ignore[import-not-found]

from tessera.errors import ManifestError
from tessera.market import LeaseState, parse_spec
from tessera.market.zk_escrow import InferenceEscrowClient
from tessera.zkml import CompiledModel, InferenceClient

PRICE = 10_000


def test_zk_lease_pays_per_verified_result(market_env: MarketEnv, tmp_path: Path, mlp_path: Path,
                                           compiled: CompiledModel, zk_cache: Path,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TESSERA_ZK_CACHE", str(zk_cache))
    env, c = market_env, market_env.client
    shutil.copy(mlp_path, tmp_path / "mlp.onnx")
    spec = parse_spec({"name": "zk", "resources": {"cpu": 1, "memory": "1Gi", "storage": "1Gi"},
                       "requirements": {"region": "eu"}, "max_price_per_hour": "1.00", "deposit": "5",
                       "bid_window": 30, "workload": {"kind": "onnx", "model": "mlp.onnx", "proof": "zk"}}, tmp_path)
    nodes = make_nodes(env, tmp_path)
    order_id, _ = c.create_order(env.tenant, spec.order_spec(c.decimals))  # type: ignore[attr-defined]
    for n in nodes:
        n.step()
    advance(env.chain, 31)
    for n in nodes:
        n.step()
    lease = c.lease(c.order(order_id).lease_id)
    provider = next(n for n in nodes if n.address == lease.provider)
    InferenceClient.of(env.chain, env.deployment).register(env.owner, compiled)
    escrow = InferenceEscrowClient.of(env.chain, env.deployment)
    tenant = session(env, nodes)
    asyncio.run(tenant.send_manifest(lease.lease_id, spec.manifest))  # type: ignore[attr-defined]
    for _ in range(100):  # the model loads, then the provider acknowledges that it serves: the lease is active
        if provider.step().acknowledged:
            break
        time.sleep(0.1)
    assert c.lease(lease.lease_id).state == LeaseState.ACTIVE
    account = escrow.open(env.tenant, lease.lease_id, compiled.model_id, PRICE, 10 * PRICE)
    data = {"input_data": [[0.2, -0.4, 0.6, 0.1, -0.3, 0.5, 0.9, -0.7]]}
    before = env.balance(provider.address)

    async def run() -> tuple[dict, dict]:  # type: ignore[type-arg]
        first = await tenant.zk_infer(lease.lease_id, escrow, account, 1, compiled, data)
        again = await tenant.zk_infer(lease.lease_id, escrow, account, 1, compiled, data)  # a retry
        return first, again

    try:
        first, again = asyncio.run(run())
        assert first["settled"] and again["settled"]
        assert first["proof"].instances == again["proof"].instances and len(first["outputs"][0]) == 6
        paid = escrow.escrow.get_events("ResultPaid")
        assert [e.args["amount"] for e in paid] == [PRICE * compiled.options.batch]  # paid once
        # the provider's balance also holds the lease's streamed pay, withdrawn by node.step()
        assert env.balance(provider.address) - before >= PRICE * compiled.options.batch
        assert escrow.account(account)["paid"] == PRICE * compiled.options.batch

        # a request the tenant did not sign for this input is refused before any proving
        async def forged() -> None:
            other = {"input_data": [[0.0] * 8]}
            sig = escrow.sign_request(env.tenant, account, 2, [1])
            await tenant._request("POST", lease.lease_id, f"/leases/{lease.lease_id}/zk",
                                  json={"account": account, "nonce": 2, "input_data": other["input_data"],
                                        "tenant_signature": "0x" + sig.hex()})

        with pytest.raises(ManifestError, match="not by the tenant"):
            asyncio.run(forged())
        assert provider.store.one("SELECT COUNT(*) n FROM zk_jobs")["n"] == 1
    finally:
        for n in nodes:
            n.stop_all()
