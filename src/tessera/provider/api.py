"""The provider's HTTP API (FastAPI). Every handler is async, so it runs on the node's event loop
thread, the only thread that touches the chain and the node's SQLite state.

    GET  /status                      the node: orders seen, leases served
    GET  /leases/{id}                 a lease's on-chain status and what the node is doing with it
    POST /leases/{id}/manifest        the tenant's manifest; header X-Tessera-Signature
    POST /leases/{id}/infer           inference through the lease (ONNX workloads)
    POST /leases/{id}/zk              a proved inference, paid per verified result (`proof: zk`)
    GET  /leases/{id}/logs?ts=&sig=   the workload's log, for the tenant (signed, fresh timestamp)
"""

from __future__ import annotations

import time
from dataclasses import asdict
from typing import Any

from fastapi import FastAPI, Header, Request
from fastapi.responses import JSONResponse

from ..errors import ManifestError, TesseraError, WorkloadError
from ..market.auth import LOGS_MAX_SKEW, logs_message, recover
from .node import ProviderNode


def create_app(node: ProviderNode) -> FastAPI:
    app = FastAPI(title="Tessera provider", version="1")

    @app.exception_handler(TesseraError)
    async def tessera_error(_: Request, e: TesseraError) -> JSONResponse:
        code = 403 if isinstance(e, ManifestError) else 409 if isinstance(e, WorkloadError) else 400
        return JSONResponse({"ok": False, "error": str(e), "type": type(e).__name__}, status_code=code)

    @app.get("/status")
    async def status() -> dict[str, Any]:
        return {"ok": True, **node.status(), "last_error": node.last_error}

    @app.get("/leases/{lease_id}")
    async def lease(lease_id: int) -> dict[str, Any]:
        onchain = node.client.lease_status(lease_id)
        row = node.store.one("SELECT status, detail, served FROM leases WHERE lease_id = ?", lease_id)
        return {"ok": True, "lease_id": lease_id, "onchain": {**asdict(onchain), "state": onchain.state.name},
                "node": dict(row) if row else None}

    @app.post("/leases/{lease_id}/manifest")
    async def manifest(lease_id: int, request: Request,
                       x_tessera_signature: str = Header(...)) -> dict[str, Any]:
        node.step()  # make sure the node has seen the lease the tenant just got
        return {"ok": True, **node.accept_manifest(lease_id, await request.body(), x_tessera_signature)}

    @app.post("/leases/{lease_id}/infer")
    async def infer(lease_id: int, request: Request) -> dict[str, Any]:
        return {"ok": True, **(await node.infer(lease_id, await request.json()))}

    @app.post("/leases/{lease_id}/zk")
    async def zk(lease_id: int, request: Request) -> dict[str, Any]:
        return {"ok": True, **(await node.zk.serve(lease_id, await request.json()))}

    @app.get("/leases/{lease_id}/logs")
    async def logs(lease_id: int, ts: int, sig: str, tail: int = 200) -> dict[str, Any]:
        if abs(time.time() - ts) > LOGS_MAX_SKEW:
            raise ManifestError(f"logs request timestamp {ts} is more than {LOGS_MAX_SKEW} s off: sign a fresh one")
        lease = node.client.lease(lease_id)
        who = recover(logs_message(node.chain.chain_id, node.client.market.address, lease_id, ts), sig)
        if who != lease.tenant:
            raise ManifestError(f"logs request signed by {who}, not by the lease's tenant {lease.tenant}")
        return {"ok": True, "lease_id": lease_id, "log": node.logs(lease_id, tail)}

    return app
