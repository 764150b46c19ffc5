"""Bad request bodies to the provider's API and to a workload's /infer, table-driven: each is a 4xx with one
line that names what is wrong and the shape to send, never a 500, and the lease is unchanged."""

from __future__ import annotations

import asyncio
import threading
from http.server import ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest

from tessera.demo.models import write_classifier
from tessera.provider.api import create_app
from tessera.provider.onnx_server import load, make_handler

from conftest import MarketEnv  # type: ignore[import-not-found]
from test_market_e2e import make_nodes  # type: ignore[import-not-found]

API_CASES = [
    ("infer-not-json", "POST", "/leases/1/infer", {"content": b"features=1,2"}, 400, ["JSON", "inputs"]),
    ("infer-list", "POST", "/leases/1/infer", {"json": [1, 2]}, 400, ["JSON object", "inputs"]),
    ("infer-no-inputs", "POST", "/leases/1/infer", {"json": {"features": [[1, 2]]}}, 400, ["inputs"]),
    ("infer-inputs-not-map", "POST", "/leases/1/infer", {"json": {"inputs": [1, 2]}}, 400, ["inputs"]),
    ("zk-not-json", "POST", "/leases/1/zk", {"content": b"{", "headers": {"content-type": "application/json"}}, 400,
     ["not valid JSON", "tenant_signature"]),
    ("zk-missing-nonce", "POST", "/leases/1/zk",
     {"json": {"account": 1, "input_data": [[0]], "tenant_signature": "0x" + "11" * 65}}, 400, ["nonce"]),
    ("zk-bad-signature", "POST", "/leases/1/zk",
     {"json": {"account": 1, "nonce": 1, "input_data": [[0]], "tenant_signature": "zz"}}, 400, ["tenant_signature"]),
    ("lease-id-above-uint64", "GET", f"/leases/{2**70}", {}, 400, ["lease_id"]),
    ("lease-id-text", "GET", "/leases/one", {}, 400, ["lease_id"]),
    ("logs-tail-negative", "GET", "/leases/1/logs?ts=1&sig=0x&tail=-1", {}, 400, ["tail"]),
    ("unknown-lease", "POST", "/leases/77/infer", {"json": {"inputs": {"features": [[1, 2, 3, 4]]}}}, 409,
     ["lease 77"]),
]


@pytest.mark.parametrize("chain", ["embedded"], indirect=True)  # HTTP validation: the backend does not matter
@pytest.mark.parametrize("case", API_CASES, ids=[c[0] for c in API_CASES])
def test_provider_api_refuses_bad_bodies_with_4xx(case: tuple, market_env: MarketEnv,  # type: ignore[type-arg]
                                                  tmp_path: Path) -> None:
    _id, method, path, kwargs, code, words = case
    node = make_nodes(market_env, tmp_path)[0]
    before = node.store.q("SELECT * FROM leases")

    async def call() -> httpx.Response:
        transport = httpx.ASGITransport(app=create_app(node))
        async with httpx.AsyncClient(transport=transport, base_url="http://provider.test") as http:
            return await http.request(method, path, **kwargs)

    resp = asyncio.run(call())
    assert resp.status_code == code, resp.text
    body = resp.json()
    assert body["ok"] is False and "\n" not in body["error"]
    for word in words:
        assert word in body["error"], (word, body["error"])
    assert [tuple(r) for r in node.store.q("SELECT * FROM leases")] == [tuple(r) for r in before]


@pytest.fixture(scope="module")
def workload(tmp_path_factory: pytest.TempPathFactory) -> str:
    """The workload process's server (the same handler the sandbox runs), on a thread."""
    model = write_classifier(tmp_path_factory.mktemp("workload") / "model.onnx")
    server = ThreadingHTTPServer(("127.0.0.1", 0), make_handler(load(str(model))))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return f"http://127.0.0.1:{server.server_address[1]}"


WORKLOAD_CASES = [
    ("list-body", {"json": [1, 2]}, ["inputs"]),
    ("not-json", {"content": b"features"}, ["Expecting value"]),
    ("missing-input", {"json": {"inputs": {"x": [[1, 2, 3, 4]]}}}, ["features"]),
    ("wrong-width", {"json": {"inputs": {"features": [[1, 2]]}}}, ["features"]),
    ("ragged", {"json": {"inputs": {"features": [[1, 2, 3, 4], [1]]}}}, []),
]


@pytest.mark.parametrize("case", WORKLOAD_CASES, ids=[c[0] for c in WORKLOAD_CASES])
def test_workload_infer_refuses_bad_bodies_with_400(case: tuple, workload: str) -> None:  # type: ignore[type-arg]
    _id, kwargs, words = case
    resp = httpx.post(f"{workload}/infer", timeout=10, **kwargs)
    assert resp.status_code == 400, resp.text
    for word in words:
        assert word in resp.json()["error"]
    ok = httpx.post(f"{workload}/infer", json={"inputs": {"features": [[5.1, 3.5, 1.4, 0.2]]}}, timeout=10)
    assert ok.status_code == 200  # still serving
