"""The training nodes' HTTP APIs (FastAPI). Handlers run on the node's event loop, the thread that also runs
its passes; training and audits run in worker threads and touch neither the chain nor the journal.

Solver:
    GET  /health                       the node, its task counts, follower position, last error
    GET  /tasks, /tasks/{id}           what it follows (secrets and forced steps are never shown)
    GET  /tasks/{id}/leaves            the committed step leaves, once committed (check them against the root)
    GET  /tasks/{id}/states/{step}     the state after any step (check it against its leaf)
    GET  /specs/0x{hash}               a task spec by its hash (keccak of the bytes)
    PUT  /specs                        give the node a spec (YAML body); it claims posted tasks that use it
Verifier:
    GET  /health, /tasks, /tasks/{id}
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response

from ..errors import TesseraError
from .base import TrainingNode
from .solver import SolverNode


def _missing(what: str) -> JSONResponse:
    return JSONResponse({"ok": False, "error": what}, status_code=404)


def create_app(node: TrainingNode, *, specs_base: Path | None = None) -> FastAPI:
    app = FastAPI(title=f"Tessera training {node.role}", version="1")

    @app.exception_handler(TesseraError)
    async def tessera_error(_: Request, e: TesseraError) -> JSONResponse:
        return JSONResponse({"ok": False, "error": str(e), "type": type(e).__name__}, status_code=422)

    @app.get("/health")
    async def health() -> dict[str, Any]:
        return {"ok": True, **node.status()}

    @app.get("/tasks")
    async def tasks(limit: int = 200) -> dict[str, Any]:
        return {"ok": True, "tasks": node.journal.tasks(min(max(limit, 1), 1000))}

    @app.get("/tasks/{task_id}")
    async def task(task_id: int) -> Any:
        row = node.journal.task(task_id)
        return _missing(f"task {task_id} is not followed by this node") if row is None else {"ok": True, **row}

    if isinstance(node, SolverNode):
        solver = node

        @app.get("/tasks/{task_id}/leaves")
        async def leaves(task_id: int) -> Any:
            found = solver.served_leaves(task_id)
            if found is None:
                return _missing(f"task {task_id} has no committed leaves on this node")
            return {"ok": True, "task_id": task_id, "leaves": ["0x" + h.hex() for h in found]}

        @app.get("/tasks/{task_id}/states/{step}")
        async def state(task_id: int, step: int) -> Any:
            if solver.served_leaves(task_id) is None:
                return _missing(f"task {task_id} has no committed states on this node")
            body = solver.served_state(task_id, step)
            return _missing(f"task {task_id} has no step {step}") if body is None else {"ok": True, **body}

        @app.get("/specs/{spec_hash}")
        async def spec(spec_hash: str) -> Response:
            try:
                h = bytes.fromhex(spec_hash.removeprefix("0x"))
            except ValueError:
                h = b""
            found = solver.journal.spec(h) if len(h) == 32 else None
            if found is None:
                return _missing(f"no spec {spec_hash} here: a spec hash is 0x + 64 hex digits")
            return Response(found[0], media_type="application/yaml")

        @app.put("/specs")
        async def put_spec(request: Request) -> dict[str, Any]:
            body = await request.body()
            h = solver.add_spec(body, specs_base or solver.data_dir)
            return {"ok": True, "spec_hash": "0x" + h.hex()}

    return app


__all__ = ["create_app"]
