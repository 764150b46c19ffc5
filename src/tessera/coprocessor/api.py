"""The coprocessor node's HTTP API (FastAPI). Handlers run on the node's event loop, the only thread that
touches the chain and the journal.

    GET  /health                the node: bond, models, follower position, job counts, last error
    GET  /jobs?status=S         recent jobs, newest first
    GET  /jobs/{request_id}     one request's jobs (every interval of a subscription)
    POST /requests              an off-chain signed request (SignedRequest JSON); the node submits it on chain
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from ..errors import CoprocessorError, TesseraError
from .node import CoprocessorNode
from .requests import SignedRequest


def create_app(node: CoprocessorNode) -> FastAPI:
    app = FastAPI(title="Tessera coprocessor node", version="1")

    @app.exception_handler(TesseraError)
    async def tessera_error(_: Request, e: TesseraError) -> JSONResponse:
        code = 422 if isinstance(e, CoprocessorError) else 400
        return JSONResponse({"ok": False, "error": str(e), "type": type(e).__name__}, status_code=code)

    @app.get("/health")
    async def health() -> dict[str, Any]:
        return {"ok": True, **node.status()}

    @app.get("/jobs")
    async def jobs(status: str | None = None, limit: int = 200) -> dict[str, Any]:
        return {"ok": True, "jobs": node.journal.jobs(status, min(max(limit, 1), 1000))}

    @app.get("/jobs/{request_id}")
    async def job(request_id: int) -> JSONResponse:
        rows = node.journal.q("SELECT interval FROM jobs WHERE request_id = ? ORDER BY interval", request_id)
        request = node.journal.one("SELECT status, reason, consumer, start FROM requests WHERE request_id = ?",
                                   request_id)
        if request is None:
            return JSONResponse({"ok": False, "error": f"this node has not seen request {request_id}",
                                 "type": "NotFound"}, status_code=404)
        return JSONResponse({"ok": True, "request_id": request_id, "request": dict(request),
                             "jobs": [node.journal.job(request_id, r["interval"]) for r in rows]})

    @app.post("/requests")
    async def submit(request: Request) -> dict[str, Any]:
        try:
            body = await request.json()
        except ValueError as e:
            raise CoprocessorError(f"the body is not JSON ({e}): POST a SignedRequest as JSON") from e
        request_id = node.submit_signed(SignedRequest.from_json(body))
        return {"ok": True, "request_id": request_id}

    return app
