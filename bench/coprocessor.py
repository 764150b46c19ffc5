"""Coprocessor benchmark. Writes bench/results/coprocessor.json.

- gas per delivery, by proof mode, with and without a consumer callback, and create + deliver + store, on the
  embedded chain; ratio baseline: one ERC-20 transfer in the same run;
- request → callback latency on anvil mining a block every second: blocks and seconds, no proof and zk;
- node throughput with no proof (requests/s through follow → simulate → compute → journal → deliver), against
  a bare loop in the same run that only evaluates and sends each delivery (no follower, simulation, journal).

    python bench/coprocessor.py [--requests 40] [--latency-rounds 5]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from zk_fixtures import mlp  # noqa: E402  (the tests' 4-8-3 MLP)

from tessera.accounts.dev import dev_account  # noqa: E402
from tessera.chain import Chain, Contract, EmbeddedChain, RpcChain  # noqa: E402
from tessera.chain.devnet import start_anvil  # noqa: E402
from tessera.coprocessor import (CoordinatorClient, CoprocessorConfig, CoprocessorNode, JobStatus,  # noqa: E402
                                 ProofMode, RequestParams, encode_json_input, hash_instances)
from tessera.protocol.deploy import Deployment, deploy_protocol  # noqa: E402
from tessera.protocol.faucet import fund_stablecoin, fund_tsr  # noqa: E402
from tessera.zkml import InferenceClient, ZkOptions, compile_model, evaluate, input_commitment, prove  # noqa: E402

USD = 10**6
TSR = 10**18
SAMPLE = {"input_data": [[0.5, -0.25, 0.75, 0.1]]}


class Env:
    def __init__(self, chain: Chain, model: Any, tmp: Path) -> None:
        self.chain, self.model, self.tmp = chain, model, tmp
        self.owner, self.consumer = dev_account(0), dev_account(5)
        self.nodes = [dev_account(i) for i in (1, 2, 3)]
        manifest, _ = deploy_protocol(chain, self.owner, path=None)
        self.d = Deployment.from_manifest(chain, manifest)
        self.client = CoordinatorClient.of(chain, self.d)
        self.d.coordinator.transact(self.owner, "setParams", 10 * TSR, 4 * TSR, 600, 3 * 86400, self.owner.address,
                                    self.owner.address)
        InferenceClient.of(chain, self.d).register(self.owner, model)
        fund_stablecoin(chain, self.d, self.owner, self.consumer.address, 10_000 * USD)
        self.d.stablecoin.transact(self.consumer, "approve", self.client.address, 2**255)
        for n in self.nodes:
            fund_tsr(chain, self.d, self.owner, n.address, 10 * TSR)
            self.client.bond(n, 10 * TSR)
        self.store, _ = Contract.deploy(chain, self.consumer, "ResultStore", self.d.coordinator.address,
                                        self.consumer.address)
        self.d.stablecoin.transact(self.consumer, "approve", self.store.address, 2**255)
        self.input_hash = hash_instances(input_commitment(model, SAMPLE))

    def params(self, **kw: Any) -> RequestParams:
        base: dict[str, Any] = dict(model_id=bytes.fromhex(self.model.model_id[2:]), input_hash=self.input_hash,
                                    fee=USD // 100, max_gas_price=50 * 10**9, callback_gas_limit=200_000, ttl=600,
                                    redundancy=1, mode=ProofMode.NONE, count=1, period=0)
        base.update(kw)
        return RequestParams(**base)

    def request(self, via_store: bool = False, **kw: Any) -> tuple[int, int]:
        p = self.params(**kw)
        if via_store:
            r = self.store.transact(self.consumer, "requestInference", p.as_tuple(), encode_json_input(SAMPLE),
                                    value=self.client.gas_deposit(p))
            return self.client.request_id(r), r.gas_used
        request_id, r = self.client.request(self.consumer, p, encode_json_input(SAMPLE))
        return request_id, r.gas_used


def _commit_reveal(env: Env, node: Any, rid: int, output: list[int]) -> tuple[int, int]:
    """(commit gas, reveal gas) of one None/Optimistic delivery: every delivery is now two transactions."""
    salt = os.urandom(32)
    commitment = env.client.delivery_commitment(node.address, rid, 0, output, salt)
    committed = env.client.coordinator.transact(node, "commit", rid, 0, commitment).gas_used
    return committed, env.client.reveal(node, rid, 0, env.input_hash, output, salt).gas_used


def gas_figures(model: Any, tmp: Path) -> dict[str, Any]:
    env = Env(EmbeddedChain(), model, tmp)
    out: dict[str, Any] = {}
    out["baseline_erc20_transfer"] = env.d.stablecoin.transact(env.consumer, "transfer", env.owner.address, 1).gas_used
    output = evaluate(model, SAMPLE).output_commitment
    node = env.nodes[0]

    rid, out["create_request_eoa"] = env.request()
    out["commit_delivery"], out["deliver_none_no_callback"] = _commit_reveal(env, node, rid, output)
    out["deliver_none_no_callback_with_commit"] = out["commit_delivery"] + out["deliver_none_no_callback"]
    rid, out["create_request_contract"] = env.request(via_store=True)
    commit, out["deliver_none_callback_store"] = _commit_reveal(env, node, rid, output)
    out["create_deliver_store"] = out["create_request_contract"] + commit + out["deliver_none_callback_store"]

    proof = prove(model, SAMPLE)
    rid, _ = env.request(via_store=True, mode=ProofMode.ZK)
    commit = env.client.commit_proof(node, rid, 0, proof).gas_used
    out["deliver_zk_callback_store"] = env.client.reveal_proof(node, rid, 0, proof).gas_used
    out["deliver_zk_callback_store_with_commit"] = commit + out["deliver_zk_callback_store"]

    rid, _ = env.request(via_store=True, mode=ProofMode.OPTIMISTIC)
    _, out["deliver_optimistic"] = _commit_reveal(env, node, rid, output)
    env.chain.increase_time(601)
    out["finalize_optimistic_callback_store"] = env.client.finalize(node, rid, 0, output).gas_used

    rid, _ = env.request(via_store=True, redundancy=3)
    salts = [env.client.commit_delivery(n, rid, 0, output) for n in env.nodes[:3]]
    per = [env.client.reveal(n, rid, 0, env.input_hash, output, salt).gas_used
           for n, salt in zip(env.nodes[:2], salts)]
    out["redundancy3_first_delivery"], out["redundancy3_majority_delivery"] = per
    base = out["baseline_erc20_transfer"]
    out["ratios_vs_erc20_transfer"] = {k: round(v / base, 2) for k, v in out.items()
                                       if isinstance(v, int) and k != "baseline_erc20_transfer"}
    return out


def latency(model: Any, tmp: Path, rounds: int) -> dict[str, Any]:
    devnet = start_anvil(block_time=1)
    try:
        env = Env(RpcChain(devnet.url), model, tmp)
        node_chain = RpcChain(devnet.url)
        node = CoprocessorNode(node_chain, Deployment.from_manifest(node_chain, env.d.manifest), env.nodes[0],
                               CoprocessorConfig([model]), tmp / "latency-node")
        results: dict[str, Any] = {}

        async def measure(mode: ProofMode) -> dict[str, Any]:
            stop = asyncio.Event()
            task = asyncio.create_task(node.run(stop, 0.2))
            blocks, seconds = [], []
            for _ in range(rounds):
                t0 = time.perf_counter()
                rid, _ = await asyncio.to_thread(env.request, True, mode=mode)
                created = next(e.block_number for e in env.client.coordinator.get_events("RequestCreated")
                               if e.args["requestId"] == rid)
                while (await asyncio.to_thread(env.client.job, rid)).status != JobStatus.COMPLETED:
                    await asyncio.sleep(0.05)
                seconds.append(time.perf_counter() - t0)
                stored = await asyncio.to_thread(env.store.call, "getResult", rid, 0)
                blocks.append(int(stored[2]) - created)
            stop.set()
            await task
            return {"blocks": blocks, "seconds": [round(s, 2) for s in seconds],
                    "median_blocks": statistics.median(blocks), "median_seconds": round(statistics.median(seconds), 2)}

        results["none"] = asyncio.run(measure(ProofMode.NONE))
        results["zk"] = asyncio.run(measure(ProofMode.ZK))
        results["block_time_s"] = 1
        return results
    finally:
        devnet.stop()


def throughput(model: Any, tmp: Path, n: int) -> dict[str, Any]:
    env = Env(EmbeddedChain(), model, tmp)
    ids = [env.request()[0] for _ in range(n)]
    node = CoprocessorNode(env.chain, env.d, env.nodes[0], CoprocessorConfig([model]), tmp / "throughput-node")
    t = time.perf_counter()
    report = node.step()
    node_s = time.perf_counter() - t
    assert len(report.sent) == n, report
    ids = [env.request()[0] for _ in range(n)]
    t = time.perf_counter()
    for rid in ids:  # the floor: evaluate and deliver, nothing else
        output = evaluate(model, SAMPLE).output_commitment
        env.client.deliver(env.nodes[1], rid, 0, env.input_hash, output)
    bare_s = time.perf_counter() - t
    return {"requests": n, "node_seconds": round(node_s, 3), "node_requests_per_s": round(n / node_s, 2),
            "bare_requests_per_s": round(n / bare_s, 2), "node_vs_bare": round(bare_s / node_s, 3)}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--requests", type=int, default=40)
    ap.add_argument("--latency-rounds", type=int, default=5)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="tessera-bench-cp-") as tmp_s:
        tmp = Path(tmp_s)
        model, _ = compile_model(mlp(tmp / "mlp.onnx"), ZkOptions(input_visibility="public",
                                                                  output_visibility="public"))
        result = {"machine": {"python": platform.python_version(), "cpus": __import__("os").cpu_count()},
                  "model": "4-8-3 MLP, public input and output, 2^%d rows" % model.logrows,
                  "gas": gas_figures(model, tmp), "throughput_no_proof": throughput(model, tmp, args.requests),
                  "latency_anvil": latency(model, tmp, args.latency_rounds)}
    out = Path(__file__).parent / "results" / "coprocessor.json"
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
