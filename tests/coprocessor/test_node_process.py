"""The real thing: `tessera coprocessor run` as a process on anvil, killed with SIGKILL while it proves,
restarted, and killed again after delivering. Exactly one delivery reaches the chain, and the restarted
node reports the job done."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Iterator

import httpx
import pytest
from coprocessor_env import FEE, SAMPLE

from tessera.accounts.dev import dev_account
from tessera.chain import RpcChain
from tessera.chain.devnet import Devnet, free_port, start_anvil
from tessera.coprocessor import (CoordinatorClient, JobStatus, ProofMode, RequestParams, encode_json_input,
                                 hash_instances)
from tessera.protocol.deploy import Deployment, deploy_protocol, manifest_path
from tessera.protocol.faucet import fund_stablecoin
from tessera.zkml import CompiledModel, input_commitment

pytestmark = [pytest.mark.anvil, pytest.mark.slow]


@pytest.fixture
def devnet() -> Iterator[Devnet]:
    d = start_anvil()
    yield d
    d.stop()


def start_node(home: Path, url: str, config: Path, cache: Path) -> subprocess.Popen[bytes]:
    env = {**os.environ, "TESSERA_ZK_CACHE": str(cache)}
    return subprocess.Popen([sys.executable, "-m", "tessera", "--data-dir", str(home), "--rpc-url", url,
                             "coprocessor", "run", "--config", str(config)], env=env,
                            stdout=subprocess.DEVNULL, stderr=open(home / "node.log", "ab"))


def wait_for(predicate, timeout: float, what: str) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if predicate():
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def node_state(api: str, home: Path, request_id: int) -> str:
    try:
        body = httpx.get(f"{api}/jobs/{request_id}", timeout=2).json()
    except httpx.HTTPError as e:
        body = {"unreachable": str(e)}
    return f"{body}\n{(home / 'node.log').read_text()[-3000:]}"


def test_sigkill_while_proving_then_after_delivery(devnet: Devnet, public_model: CompiledModel, mlp_path: Path,
                                                   zk_cache: Path, tmp_path: Path) -> None:
    chain = RpcChain(devnet.url)
    home = tmp_path / "home"
    home.mkdir()
    owner, consumer = dev_account(0), dev_account(5)
    manifest, _ = deploy_protocol(chain, owner, path=manifest_path(home / "deployments", chain.chain_id))
    d = Deployment.from_manifest(chain, manifest)
    client = CoordinatorClient.of(chain, d)
    port = free_port()
    config = tmp_path / "node.yaml"
    config.write_text(f"listen: {{host: 127.0.0.1, port: {port}}}\nmodels:\n  - onnx: {mlp_path}\n"
                      "    input_visibility: public\n    output_visibility: public\n    register: true\nbond: 100\n")
    api = f"http://127.0.0.1:{port}"
    node = start_node(home, devnet.url, config, zk_cache)
    try:
        wait_for(lambda: httpx.get(f"{api}/health", timeout=1).json()["ok"], 120, "the node's API")
        fund_stablecoin(chain, d, owner, consumer.address, 10**6)
        params = RequestParams(bytes.fromhex(public_model.model_id[2:]),
                               hash_instances(input_commitment(public_model, SAMPLE)), FEE, 50 * 10**9, 200_000,
                               600, 1, ProofMode.ZK, 1, 0)
        request_id, _ = client.request(consumer, params, encode_json_input(SAMPLE))
        # the job turns `ready` when its interval opens, and stays so while the proof is computed (a second or
        # more), so the kill lands while proving
        wait_for(lambda: [j["status"] for j in httpx.get(f"{api}/jobs/{request_id}", timeout=1).json().get("jobs", [])]
                 == ["ready"], 30, "the job")
        node.send_signal(signal.SIGKILL)
        node.wait()
        assert client.job(request_id).status == JobStatus.OPEN

        node = start_node(home, devnet.url, config, zk_cache)
        wait_for(lambda: client.job(request_id).status == JobStatus.COMPLETED, 120, "the delivery")
        try:
            wait_for(lambda: httpx.get(f"{api}/jobs/{request_id}", timeout=1).json()["jobs"][0]["status"] == "done",
                     30, "the node to see the completion")
        except AssertionError as e:
            raise AssertionError(f"{e}: {node_state(api, home, request_id)}") from None
        node.send_signal(signal.SIGKILL)
        node.wait()

        node = start_node(home, devnet.url, config, zk_cache)
        wait_for(lambda: httpx.get(f"{api}/health", timeout=1).json()["ok"], 120, "the restarted node")
        time.sleep(2.0)  # a few passes: nothing may be sent again
        job = httpx.get(f"{api}/jobs/{request_id}", timeout=5).json()["jobs"][0]
        assert job["status"] == "done" and job["detail"] == "paid"
        delivered = [e for e in client.coordinator.get_events("Delivered") if e.args["requestId"] == request_id]
        assert len(delivered) == 1 and delivered[0].args["node"] == owner.address
        assert delivered[0].args["inferenceId"] != bytes(32)
    finally:
        node.send_signal(signal.SIGKILL)
        node.wait()
        chain.close()
