"""The provider's HTTP API (FastAPI). Every handler is async, so it runs on the node's event loop
thread, the only thread that touches the chain and the node's SQLite state.

    GET  /status                      the node: orders seen, leases served
    GET  /leases/{id}                 a lease's on-chain status and what the node is doing with it
    POST /leases/{id}/manifest        the tenant's manifest; header X-Tessera-Signature
    POST /leases/{id}/infer           inference through the lease (ONNX workloads): {"inputs": {name: [[...]]}}
    POST /leases/{id}/zk              a proved inference, paid per verified result (`proof: zk`)
    GET  /leases/{id}/logs?ts=&sig=   the workload's log, for the tenant (signed, fresh timestamp)
"""

from __future__ import annotations

import time
from dataclasses import asdict
from typing import Annotated, Any

from fastapi import FastAPI, Header, Path, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import Field

from ..errors import ManifestError, TesseraError, WorkloadError
from ..market.auth import LOGS_MAX_SKEW, logs_message, recover
from ..schema import Strict
from .node import ProviderNode

SHAPES = {
    "infer": '{"inputs": {"<input name>": [[...numbers...]]}}',
    "zk": '{"account": 1, "nonce": 1, "input_data": [[...numbers...]], "tenant_signature": "0x..."}',
}


LeaseId = Annotated[int, Path(ge=1, lt=2**64, description="a lease id (uint64)")]


class InferBody(Strict):
    inputs: dict[str, list[Any]]


class ZkBody(Strict):
    account: int = Field(ge=1, lt=2**64)
    nonce: int = Field(ge=0, lt=2**256)
    input_data: list[Any]
    tenant_signature: str = Field(pattern=r"^(0x)?[0-9a-fA-F]{130}$")


def bad_request_line(e: RequestValidationError, path: str) -> str:
    err = e.errors()[0]
    loc = ".".join(str(p) for p in err["loc"])
    if err["type"] == "json_invalid":
        what = "the body is not valid JSON"
    elif tuple(err["loc"]) == ("body",):
        what = "the body must be a JSON object"
    else:
        what = f"{loc}: {err['msg']}"
    shape = next((v for k, v in SHAPES.items() if path.endswith("/" + k)), None)
    return what + (f"; send {shape}" if shape else "")


def create_app(node: ProviderNode) -> FastAPI:
    app = FastAPI(title="Tessera provider", version="1")

    @app.exception_handler(TesseraError)
    async def tessera_error(_: Request, e: TesseraError) -> JSONResponse:
        code = 403 if isinstance(e, ManifestError) else 409 if isinstance(e, WorkloadError) else 400
        return JSONResponse({"ok": False, "error": str(e), "type": type(e).__name__}, status_code=code)

    @app.exception_handler(RequestValidationError)
    async def bad_request(request: Request, e: RequestValidationError) -> JSONResponse:
        return JSONResponse({"ok": False, "error": bad_request_line(e, request.url.path), "type": "BadRequest"},
                            status_code=400)

    @app.get("/status")
    async def status() -> dict[str, Any]:
        return {"ok": True, **node.status(), "last_error": node.last_error}

    @app.get("/leases/{lease_id}")
    async def lease(lease_id: LeaseId) -> dict[str, Any]:
        onchain = node.client.lease_status(lease_id)
        row = node.store.one("SELECT status, detail, served FROM leases WHERE lease_id = ?", lease_id)
        return {"ok": True, "lease_id": lease_id, "onchain": {**asdict(onchain), "state": onchain.state.name},
                "node": dict(row) if row else None}

    @app.post("/leases/{lease_id}/manifest")
    async def manifest(lease_id: LeaseId, request: Request,
                       x_tessera_signature: str = Header(...)) -> dict[str, Any]:
        node.sync()  # make sure the node has seen the lease the tenant just got (actions stay in the loop)
        return {"ok": True, **node.accept_manifest(lease_id, await request.body(), x_tessera_signature)}

    @app.post("/leases/{lease_id}/infer")
    async def infer(lease_id: LeaseId, body: InferBody) -> dict[str, Any]:
        return {"ok": True, **(await node.infer(lease_id, body.model_dump()))}

    @app.post("/leases/{lease_id}/zk")
    async def zk(lease_id: LeaseId, body: ZkBody) -> dict[str, Any]:
        return {"ok": True, **(await node.zk.serve(lease_id, body.model_dump()))}

    @app.get("/leases/{lease_id}/logs")
    async def logs(lease_id: LeaseId, ts: int, sig: str, tail: int = Query(200, ge=1, le=100_000)) -> dict[str, Any]:
        if abs(time.time() - ts) > LOGS_MAX_SKEW:
            raise ManifestError(f"logs request timestamp {ts} is more than {LOGS_MAX_SKEW} s off: sign a fresh one")
        lease = node.client.lease(lease_id)
        who = recover(logs_message(node.chain.chain_id, node.client.market.address, lease_id, ts), sig)
        if who != lease.tenant:
            raise ManifestError(f"logs request signed by {who}, not by the lease's tenant {lease.tenant}")
        return {"ok": True, "lease_id": lease_id, "log": node.logs(lease_id, tail)}

    return app
