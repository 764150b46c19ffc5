"""Run a workload as a sandboxed subprocess: its own session, CPU-time and memory rlimits, a wall-clock
limit enforced by the node, stdout/stderr to a log file, a private working directory.

This is process-level isolation (rlimits), not a container: a hostile workload can still read
what the provider's user can read. Providers serving untrusted tenants should run the node as a
dedicated user or inside a container; see docs/market.md.
"""

from __future__ import annotations

import os
import resource
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from ..errors import WorkloadError


@dataclass(frozen=True)
class Limits:
    cpu_seconds: int
    memory_bytes: int
    wall_seconds: int


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _limiter(limits: Limits) -> Callable[[], None]:
    def apply() -> None:
        os.setsid()
        resource.setrlimit(resource.RLIMIT_CPU, (limits.cpu_seconds, limits.cpu_seconds + 5))
        resource.setrlimit(resource.RLIMIT_AS, (limits.memory_bytes, limits.memory_bytes))
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    return apply


def start(args: list[str], workdir: Path, limits: Limits, log_path: Path) -> int:
    """Start `python -m <args>` in `workdir`; returns the pid."""
    workdir.mkdir(parents=True, exist_ok=True)
    log = open(log_path, "ab")
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(workdir), "PYTHONUNBUFFERED": "1",
           "OMP_NUM_THREADS": "1"}
    try:
        proc = subprocess.Popen([sys.executable, "-m", *args], cwd=workdir, stdout=log, stderr=log,
                                stdin=subprocess.DEVNULL, env=env, preexec_fn=_limiter(limits))
    except OSError as e:
        raise WorkloadError(f"cannot start the workload ({e}): check the provider's work directory") from e
    finally:
        log.close()
    return proc.pid


def alive(pid: int) -> bool:
    try:
        waited, _ = os.waitpid(pid, os.WNOHANG)
        if waited == pid:
            return False
    except ChildProcessError:
        pass  # not our child (the node restarted): fall back to a signal probe
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return not _zombie(pid)


def _zombie(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split()[2] == "Z"
    except (OSError, IndexError):
        return False


def stop(pid: int) -> None:
    """Kill the workload's whole process group."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(pid, sig)
        except (ProcessLookupError, PermissionError):
            return
        if sig == signal.SIGTERM:
            for _ in range(20):
                if not alive(pid):
                    return
                time.sleep(0.05)


def suspend(pid: int) -> None:
    """Pause without losing state (escrow ran dry: the grace period keeps the workload)."""
    try:
        os.killpg(pid, signal.SIGSTOP)
    except ProcessLookupError:
        pass


def resume(pid: int) -> None:
    try:
        os.killpg(pid, signal.SIGCONT)
    except ProcessLookupError:
        pass
