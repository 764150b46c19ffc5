"""The payment rail from the command line, each command in its own process, on anvil: `pay get` against a paid
server (exact and a channel), its cap, `channel open/topup/status/close` through the timed close, and
`facilitator run` serving the SDK's wire format."""

from __future__ import annotations

import os
import subprocess
import threading
import time
from pathlib import Path
from typing import Iterator

import httpx
import pytest
import uvicorn
from cli_harness import User, user, wait_for  # noqa: F401  (user: the fixture)
from fastapi import FastAPI

from tessera.accounts.dev import dev_account
from tessera.chain import RpcChain
from tessera.payments import PaidAPI, PaidRoute, PaymentAsset, build_facilitator
from tessera.protocol.deploy import Deployment, manifest_path, read_manifest

pytestmark = pytest.mark.anvil
PAYEE = dev_account(5)


@pytest.fixture
def paid_server(user: User, tmp_path: Path) -> Iterator[str]:
    """A paid API (exact at 0.01 tUSD, a channel at 0.001 tUSD) on the user's devnet, served by uvicorn."""
    user.run("deploy")
    assert user.url is not None
    chain = RpcChain(user.url)
    manifest = read_manifest(manifest_path(user.home / "deployments", chain.chain_id))
    assert manifest is not None
    d = Deployment.from_manifest(chain, manifest)
    app = FastAPI()

    @app.get("/exact")
    async def exact() -> dict[str, int]:
        return {"answer": 42}

    @app.get("/call")
    async def call() -> dict[str, int]:
        return {"answer": 7}

    PaidAPI.install(app, chain=chain, facilitator=build_facilitator(chain, dev_account(6)),
                    asset=PaymentAsset.read(chain, d.stablecoin.address), payee=PAYEE, state=tmp_path / "server.db",
                    routes=[PaidRoute("GET /exact", 10_000, ("exact",)), PaidRoute("GET /call", 1_000, ("batch-settlement",))])
    port = 18400 + os.getpid() % 1000
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    wait_for(lambda: server.started, 30, "the paid server")
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(10)
    chain.close()


def test_pay_get_exact_then_a_channel_within_the_cap(user: User, paid_server: str) -> None:
    user.run("devnet", "fund", dev_account(0).address, "--stable", "10")
    exact = user.run("pay", "get", f"{paid_server}/exact", "--max", "0.05")
    assert exact["status"] == 200 and exact["paid"] and exact["amount"] == "10000" and exact["scheme"] == "exact"
    assert exact["body"] == {"answer": 42} and exact["transaction"].startswith("0x")
    for _ in range(3):  # the channel deposit is made on the first call; the SDK's channel state is kept on disk
        call = user.run("pay", "get", f"{paid_server}/call", "--max", "0.05")
        assert call["paid"] and call["scheme"] == "batch-settlement" and call["body"] == {"answer": 7}
    over = subprocess.run(user.argv("pay", "get", f"{paid_server}/exact", "--max", "0.001"), capture_output=True,
                          text=True, env=user.env, timeout=120)
    assert over.returncode == 1 and "Traceback" not in over.stderr
    assert over.stderr.startswith("error:") and "cap is 0.001" in over.stderr


def test_channel_open_topup_status_and_timed_close(user: User) -> None:
    user.run("deploy")
    user.run("devnet", "fund", dev_account(0).address, "--stable", "10")
    opened = user.run("channel", "open", PAYEE.address, "--deposit", "2.5")
    cid = opened["id"]
    assert opened["balance"]["decimal"] == "2.50" and not opened["closing"]
    assert user.run("channel", "topup", cid, "0.5")["balance"]["decimal"] == "3.00"
    assert [c["id"] for c in user.run("channel", "status")["channels"]] == [cid]
    started = user.run("channel", "close", cid)
    assert started["action"] == "started" and started["closing"] and started["finalize_after"]
    early = subprocess.run(user.argv("channel", "close", cid), capture_output=True, text=True, env=user.env,
                           timeout=120)
    assert early.returncode == 1 and "payee may claim until" in early.stderr and "Traceback" not in early.stderr
    assert user.url is not None
    with RpcChain(user.url) as chain:
        chain.increase_time(901)
        chain.mine(1)
    before = user.run("account", "balance", dev_account(0).address)
    closed = user.run("channel", "close", cid)
    assert closed["action"] == "closed" and closed["unclaimed"]["base"] == "0"
    after = user.run("account", "balance", dev_account(0).address)
    assert int(after["stable"]["base"]) == int(before["stable"]["base"]) + 3_000_000  # nothing was claimed


def test_facilitator_run_serves_the_sdk_wire_format(user: User, tmp_path: Path) -> None:
    user.run("deploy")
    port = 18500 + os.getpid() % 1000
    proc = user.start("facilitator", "run", "--port", str(port), log=tmp_path / "facilitator.log")
    try:
        base = f"http://127.0.0.1:{port}"

        def supported() -> dict | None:  # type: ignore[type-arg]
            try:
                return httpx.get(f"{base}/supported", timeout=2).json()  # type: ignore[no-any-return]
            except httpx.HTTPError:
                return None

        body = wait_for(supported, 60, "the facilitator")
        schemes = {k["scheme"] for k in body["kinds"] if k["x402Version"] == 2}
        assert {"exact", "batch-settlement"} <= schemes
        bad = httpx.post(f"{base}/verify", json={"x402Version": 2, "paymentPayload": {}, "typo": 1}, timeout=5)
        assert bad.status_code == 400 and "unknown keys ['typo']" in bad.json()["error"]
        assert proc.poll() is None
    finally:
        proc.terminate()
        proc.wait(10)
        time.sleep(0.1)
