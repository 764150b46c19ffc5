"""A node killed at any point resumes without a double delivery or a lost job; stuck transactions are
re-sent with higher fees; off-chain signed requests go through the node's API."""

from __future__ import annotations

from typing import Any

import asyncio

import httpx
import pytest
import rlp
from eth_utils import keccak
from coprocessor_env import FEE, SAMPLE, CoprocessorEnv

from tessera.chain import Chain
from tessera.coprocessor import CoprocessorNode, JobStatus, TxManager, encode_json_input, sign_request
from tessera.coprocessor.api import create_app


class Api:
    """The node's API in this thread (the embedded chain's SQLite belongs to it), one call per event loop."""

    def __init__(self, node: CoprocessorNode) -> None:
        self.app = create_app(node)

    def _call(self, method: str, path: str, **kw: Any) -> httpx.Response:
        async def go() -> httpx.Response:
            async with httpx.AsyncClient(transport=httpx.ASGITransport(app=self.app), base_url="http://node") as c:
                return await c.request(method, path, **kw)
        return asyncio.run(go())

    def get(self, path: str) -> httpx.Response:
        return self._call("GET", path)

    def post(self, path: str, json: Any) -> httpx.Response:
        return self._call("POST", path, json=json)


class Crash(BaseException):
    """Stands for kill -9: nothing after it runs, and no handler catches it."""


class CrashingChain:
    """The real chain, except that broadcasting raises Crash (after the journal write, before the network)."""

    def __init__(self, chain: Chain) -> None:
        self._chain = chain

    def send_raw_transaction(self, raw: bytes) -> bytes:
        raise Crash

    def __getattr__(self, name: str) -> Any:
        return getattr(self._chain, name)


def deliveries(env: CoprocessorEnv, node: str) -> int:
    return sum(1 for e in env.client.coordinator.get_events("Delivered") if e.args["node"] == node)


def test_killed_between_compute_and_delivery_delivers_once_after_restart(cp_env: CoprocessorEnv) -> None:
    env = cp_env
    request_id = env.request()
    node = env.node(0)
    report = node._advance()
    for task in node._tasks(report):  # computed and journaled ...
        node._record(task, node._compute(task, report), report)
    assert node.journal.job(request_id, 0)["status"] == "computed"
    del node  # ... then killed before delivering
    restarted = env.node(0)
    assert restarted.step().sent == [(request_id, 0)]
    assert env.client.job(request_id).status == JobStatus.COMPLETED
    again = env.node(0)
    assert again.step().sent == []
    assert deliveries(env, env.nodes[0].address) == 1


def test_killed_after_journaling_the_transaction_sends_it_once(cp_env: CoprocessorEnv) -> None:
    env = cp_env
    request_id = env.request()
    node = env.node(0)
    node.chain = node.tx.chain = CrashingChain(env.chain)  # type: ignore[assignment]
    with pytest.raises(Crash):
        node.step()
    assert node.tx.get(f"commit:{request_id}:0") is not None  # the commitment: journaled, never broadcast
    assert env.client.job(request_id).status == JobStatus.OPEN
    restarted = env.node(0)  # resume() broadcasts the journaled transaction itself
    restarted.step()
    restarted.step()
    assert env.client.job(request_id).status == JobStatus.COMPLETED
    assert restarted.journal.job(request_id, 0)["status"] == "done"
    assert deliveries(env, env.nodes[0].address) == 1
    assert env.coin(env.client.address) == 0


class Mempool:
    """A chain whose mempool holds back transactions priced under `min_fee` (a fee spike)."""

    def __init__(self, chain: Chain, min_fee: int) -> None:
        self._chain = chain
        self.min_fee = min_fee
        self.held: list[bytes] = []

    def send_raw_transaction(self, raw: bytes) -> bytes:
        fields = rlp.decode(raw[1:])  # EIP-1559: 0x02 || rlp([chainId, nonce, tip, maxFee, ...])
        if int.from_bytes(fields[3], "big") < self.min_fee:
            self.held.append(raw)
            return keccak(raw)
        return self._chain.send_raw_transaction(raw)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._chain, name)


def test_stuck_transaction_is_bumped_until_included(cp_env: CoprocessorEnv) -> None:
    env = cp_env
    now = [0.0]
    max_fee, _ = env.chain.gas_price_hint()
    mempool = Mempool(env.chain, min_fee=max_fee * 13 // 10)
    tx = TxManager(mempool, env.nodes[0], env.node(0).journal.conn, bump_after=30, bump_percent=15,
                   clock=lambda: now[0])
    data = env.deployment.stablecoin.encode("approve", env.client.address, 1)
    fee_cap = max_fee * 2
    record = tx.send("approve", env.deployment.stablecoin.address, data, fee_cap=fee_cap)
    assert record.status == "pending" and len(mempool.held) == 1
    assert tx.poll() == []  # not yet time to bump
    now[0] += 31
    tx.poll()
    assert tx.get("approve").bumps == 1 and len(mempool.held) == 2  # +15%: still under the spike
    now[0] += 31
    tx.poll()
    record = tx.get("approve")
    assert record.bumps == 2 and record.status == "pending"  # +32%: included now
    (final,) = tx.wait_pending(timeout=10)  # anvil can index the receipt a moment after its block
    assert final.status == "mined" and final.ok and final.max_fee <= fee_cap
    assert len(final.hashes) == 3
    assert env.deployment.stablecoin.call("allowance", env.nodes[0].address, env.client.address) == 1
    assert tx.send("approve", env.deployment.stablecoin.address, data, fee_cap=fee_cap).status == "mined"


def test_signed_request_through_the_api_is_served(cp_env: CoprocessorEnv) -> None:
    env = cp_env
    params = env.params()
    env.client.approve_fees(env.consumer, env.client.escrow(params))
    env.client.deposit_eth(env.consumer, env.client.gas_deposit(params))
    deadline = env.chain.get_block().timestamp + 600
    signed = sign_request(env.consumer, env.chain.chain_id, env.client.address, params, encode_json_input(SAMPLE),
                          nonce=7, deadline=deadline)
    node = env.node(0)
    api = Api(node)
    forged = sign_request(env.nodes[1], env.chain.chain_id, env.client.address, params, encode_json_input(SAMPLE),
                          nonce=7, deadline=deadline)
    body = {**forged.to_json(), "consumer": env.consumer.address}
    refused = api.post("/requests", json=body)
    assert refused.status_code == 422 and "not by its consumer" in refused.json()["error"]
    answer = api.post("/requests", json=signed.to_json())
    assert answer.status_code == 200, answer.json()
    request_id = answer.json()["request_id"]
    replay = api.post("/requests", json=signed.to_json())
    assert replay.status_code == 400 and "NonceUsed" in replay.json()["error"]
    node.step()
    assert env.client.job(request_id).status == JobStatus.COMPLETED
    node.step()  # reads the JobCompleted event
    health = api.get("/health").json()
    assert health["ok"] and health["jobs"] == {"done": 1}
    job = api.get(f"/jobs/{request_id}").json()
    assert job["jobs"][0]["status"] == "done" and job["jobs"][0]["detail"] == "paid"
    assert api.get("/jobs/999").status_code == 404
    assert [j["request_id"] for j in api.get("/jobs").json()["jobs"]] == [request_id]
    assert env.coin(env.nodes[0]) > 0 and FEE > 0


def test_request_orphaned_by_a_reorg_is_dropped_not_served(cp_env: CoprocessorEnv) -> None:
    env = cp_env
    snap = env.chain.snapshot()
    request_id = env.request()
    node = env.node(0)
    node._advance()  # the request is journaled and its interval opened ...
    assert node.journal.job(request_id, 0)["status"] == "ready"
    env.chain.revert(snap)  # ... then the block that held it is orphaned
    env.chain.mine(3)
    report = node.step()
    assert report.sent == [] and report.computed == []
    assert node.journal.job(request_id, 0) is None
    assert node.follower.status.reorgs == 1
    replayed = env.request()  # the same id on the new chain, with this chain's block
    assert replayed == request_id
    assert node.step().sent == [(request_id, 0)]


def test_a_nonce_taken_by_another_transaction_is_reported_replaced(cp_env: CoprocessorEnv) -> None:
    env = cp_env
    max_fee, _ = env.chain.gas_price_hint()
    mempool = Mempool(env.chain, min_fee=max_fee * 10)  # holds ours back for good
    tx = TxManager(mempool, env.nodes[0], env.node(0).journal.conn, bump_after=10**9)
    coin = env.deployment.stablecoin
    tx.send("ours", coin.address, coin.encode("approve", env.client.address, 1), fee_cap=max_fee)
    coin.transact(env.nodes[0], "approve", env.client.address, 2)  # same account, same nonce, mined
    assert tx.poll() == []  # a receipt can lag its block: not replaced at first sight
    env.chain.mine(3)
    (record,) = tx.poll()
    assert record.status == "replaced" and record.ok is None
    assert coin.call("allowance", env.nodes[0].address, env.client.address) == 2
