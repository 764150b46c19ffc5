"""Local anvil devnets from the pinned npm package `@foundry-rs/anvil`."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from ..errors import ChainConnectionError, ChainError
from .rpc import RpcChain

REPO_ROOT = Path(__file__).resolve().parents[3]
ANVIL_CHAIN_ID = 31337


def find_anvil() -> str:
    for candidate in sorted(REPO_ROOT.glob("node_modules/@foundry-rs/anvil-*/bin/anvil")):
        if os.access(candidate, os.X_OK):
            return str(candidate)
    found = shutil.which("anvil")
    if found:
        return found
    raise ChainError("anvil is not installed: run `npm ci` in the Tessera checkout (or `make test`), "
                     "or install Foundry's anvil on PATH")


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Devnet:
    url: str
    pid: int
    port: int
    log: str | None = None
    process: subprocess.Popen[bytes] | None = None

    def stop(self) -> None:
        try:
            os.kill(self.pid, signal.SIGTERM)
        except ProcessLookupError:
            return
        if self.process is not None:
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
            return
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                os.kill(self.pid, 0)
            except ProcessLookupError:
                return
            time.sleep(0.05)
        os.kill(self.pid, signal.SIGKILL)


def start_anvil(*, port: int | None = None, log_path: Path | None = None, detach: bool = False,
                timeout: float = 30.0, block_time: float | None = None) -> Devnet:
    """Start anvil; `block_time` mines a block every that many seconds (default: one per transaction)."""
    port = port or free_port()
    cmd = [find_anvil(), "--host", "127.0.0.1", "--port", str(port), "--chain-id", str(ANVIL_CHAIN_ID),
           "--hardfork", "cancun"]
    if block_time is not None:
        cmd += ["--block-time", str(block_time)]
    out = open(log_path, "ab") if log_path else subprocess.DEVNULL
    proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                            start_new_session=detach)
    if log_path:
        out.close()  # type: ignore[union-attr]
    url = f"http://127.0.0.1:{port}"
    devnet = Devnet(url=url, pid=proc.pid, port=port, log=str(log_path) if log_path else None, process=proc)
    deadline = time.monotonic() + timeout
    probe = RpcChain(url, retries=0, timeout=1.0)
    try:
        while True:
            if proc.poll() is not None:
                raise ChainError(f"anvil exited with code {proc.returncode} at start"
                                 + (f"; see {log_path}" if log_path else ""))
            try:
                probe.chain_id
                return devnet
            except ChainConnectionError:
                if time.monotonic() > deadline:
                    devnet.stop()
                    raise ChainError(f"anvil did not answer on {url} within {timeout:.0f} s") from None
                time.sleep(0.05)
    finally:
        probe.close()


def _state_file(devnet_dir: Path) -> Path:
    return devnet_dir / "anvil.json"


def devnet_up(devnet_dir: Path, port: int | None = None, block_time: float | None = None) -> tuple[Devnet, bool]:
    """Start a background anvil, or return the running one. Returns (devnet, started). `block_time` mines a
    block every that many seconds (without it anvil mines only on transactions, and nodes waiting for an
    epoch block wait forever)."""
    running = devnet_status(devnet_dir)
    if running is not None:
        return running, False
    devnet_dir.mkdir(parents=True, exist_ok=True)
    devnet = start_anvil(port=port, log_path=devnet_dir / "anvil.log", detach=True, block_time=block_time)
    _state_file(devnet_dir).write_text(json.dumps({"url": devnet.url, "pid": devnet.pid, "port": devnet.port,
                                                   "log": devnet.log}))
    return devnet, True


def devnet_status(devnet_dir: Path) -> Devnet | None:
    path = _state_file(devnet_dir)
    if not path.exists():
        return None
    raw = json.loads(path.read_text())
    try:
        os.kill(raw["pid"], 0)
    except ProcessLookupError:
        path.unlink()
        return None
    return Devnet(url=raw["url"], pid=raw["pid"], port=raw["port"], log=raw.get("log"))


def devnet_down(devnet_dir: Path) -> Devnet | None:
    devnet = devnet_status(devnet_dir)
    if devnet is None:
        return None
    devnet.stop()
    _state_file(devnet_dir).unlink(missing_ok=True)
    return devnet
