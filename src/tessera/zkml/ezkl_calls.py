"""The boundary with ezkl: every call goes through `call`, which keeps ezkl's console output off the
terminal (it writes progress tables to stderr) and turns its RuntimeErrors into Tessera errors that name
the problem and the fix.
"""

from __future__ import annotations

import asyncio
import os
import re
import sys
import tempfile
from contextlib import contextmanager
from typing import Any, Callable, Iterator

from ..errors import UnsupportedModelError, ZkError

EZKL_VERSION = "23.0.5"


def ezkl_module() -> Any:
    try:
        import ezkl
    except ImportError as e:  # pragma: no cover - ezkl is a hard dependency
        raise ZkError("ezkl is not installed: run `make setup` (or `pip install ezkl==23.0.5`)") from e
    version = getattr(ezkl, "__version__", EZKL_VERSION)
    if version != EZKL_VERSION:
        raise ZkError(f"ezkl {version} is installed but Tessera pins {EZKL_VERSION}: run `make setup`")
    return ezkl


@contextmanager
def _captured_stderr() -> Iterator[list[str]]:
    """Redirect file descriptor 2 (Rust writes there directly) into a temporary file; yields a list that
    receives the captured text on exit."""
    captured: list[str] = []
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile(mode="w+b") as tmp:
        os.dup2(tmp.fileno(), 2)
        try:
            yield captured
        finally:
            os.dup2(saved, 2)
            os.close(saved)
            tmp.seek(0)
            captured.append(tmp.read().decode(errors="replace"))


_UNIMPLEMENTED = re.compile(r'node #\d+ "(?P<node>[^"]*)" Unimplemented\((?P<op>\w+)\)')


def translate(error: Exception, what: str, log: str = "") -> ZkError:
    text = str(error)
    m = _UNIMPLEMENTED.search(text)
    if m:
        return UnsupportedModelError(
            f"ONNX op {m['op']} (node {m['node']!r}) is not supported by the prover (ezkl {EZKL_VERSION}): "
            "replace it with supported ops (e.g. MatMul, Gemm, Conv, Relu, Add, Reshape) and export again"
        )
    if "Undetermined symbol" in text or "symbol" in text.lower() and "shape" in text.lower():
        return UnsupportedModelError(
            f"{what}: the model has a dynamic (symbolic) dimension: export it with static shapes "
            "(torch.onnx.export without dynamic_axes)"
        )
    tail = log.strip().splitlines()[-3:]
    detail = f" ({' | '.join(tail)})" if tail else ""
    return ZkError(f"{what} failed: {text}{detail}")


def call(what: str, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """Run one ezkl function quietly; errors become ZkError subclasses."""
    with _captured_stderr() as log:
        try:
            result = fn(*args, **kwargs)
        except Exception as e:  # ezkl raises bare RuntimeError/ValueError
            error: Exception | None = e
        else:
            error = None
    if error is not None:
        raise translate(error, what, log[0] if log else "") from error
    return result


def call_async(what: str, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> None:
    """ezkl's EVM helpers are coroutines that need a running loop; from inside one (a FastAPI node) they
    run on a fresh loop in a thread."""

    async def run() -> None:
        await fn(*args, **kwargs)

    with _captured_stderr():
        try:
            if _loop_running():
                _run_in_thread(run)
            else:
                asyncio.run(run())
        except Exception as e:
            raise translate(e, what) from e


def _loop_running() -> bool:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True


def _run_in_thread(coro_fn: Callable[[], Any]) -> None:
    """Called from inside a running event loop (a FastAPI node): run the coroutine on a fresh loop."""
    import threading

    errors: list[BaseException] = []

    def target() -> None:
        try:
            asyncio.run(coro_fn())
        except BaseException as e:  # re-raised in the caller's thread
            errors.append(e)

    t = threading.Thread(target=target)
    t.start()
    t.join()
    if errors:
        raise errors[0]
