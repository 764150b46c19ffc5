"""Run a node's loop and its HTTP API on one event loop until SIGINT/SIGTERM."""

from __future__ import annotations

import asyncio
import contextlib
import signal
from typing import Any, Callable, Coroutine


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
