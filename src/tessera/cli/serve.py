"""Run a node's loop and its HTTP API on one event loop until SIGINT/SIGTERM."""

from __future__ import annotations

import asyncio
import contextlib
import signal
from typing import Any, Callable, Coroutine

import httpx

from ..errors import ChainConnectionError


def serve_node(app: Any, run: Callable[[asyncio.Event], Coroutine[Any, Any, None]], host: str, port: int,
               on_stop: Callable[[], None] | None = None) -> None:
    """`run(stop)` is the node's loop; it and the API share the loop thread, the only one touching the
    node's chain connection and SQLite state."""
    import uvicorn

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        server = uvicorn.Server(uvicorn.Config(app, host=host, port=port, log_level="warning"))
        # the node owns SIGINT/SIGTERM (set above); uvicorn must not install its own and re-raise them
        server.capture_signals = contextlib.nullcontext  # type: ignore[method-assign,assignment]
        async with asyncio.TaskGroup() as tg:
            tg.create_task(run(stop))
            api = tg.create_task(server.serve())
            await stop.wait()
            server.should_exit = True
            await api
        if on_stop is not None:
            on_stop()

    asyncio.run(main())


def ask_node(endpoint: str, path: str, kind: str) -> Any:
    """GET a running node's JSON; a node that does not answer is a one-line error naming the command to run."""
    try:
        return httpx.get(f"{endpoint}{path}", timeout=10).json()
    except httpx.HTTPError as e:
        raise ChainConnectionError(f"no {kind} node answers at {endpoint} ({e}): is `tessera {kind} run` "
                                   "running?") from e
