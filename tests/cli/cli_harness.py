"""The CLI flows' harness and `user` fixture: a user at a terminal with an empty data dir and a devnet (anvil with --block-time).

A module of its own name (not `conftest`): test modules in several directories import helpers, and one
`conftest` name on sys.path would shadow the others."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Callable

import pytest
import yaml



class User:
    """One person at a terminal: a data dir, a devnet URL once it is up."""

    def __init__(self, home: Path) -> None:
        self.home = home
        self.url: str | None = None
        self.env = {**os.environ, "TESSERA_HOME": str(home), "TESSERA_ZK_CACHE": str(home / "zk")}

    def argv(self, *args: str) -> list[str]:
        base = [sys.executable, "-m", "tessera", "--data-dir", str(self.home)]
        return base + (["--rpc-url", self.url] if self.url else []) + list(args)

    def run(self, *args: str, ok: bool = True) -> dict[str, Any]:
        out = subprocess.run(self.argv(*args, "--json"), capture_output=True, text=True, env=self.env, timeout=300)
        assert "Traceback" not in out.stderr, out.stderr
        if ok:
            assert out.returncode == 0, (args, out.stdout, out.stderr)
        body: dict[str, Any] = json.loads(out.stdout)
        return body

    def start(self, *args: str, log: Path) -> subprocess.Popen[bytes]:
        return subprocess.Popen(self.argv(*args), stdout=log.open("wb"), stderr=subprocess.STDOUT, env=self.env)


def wait_for(check: Callable[[], Any], timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.5)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.fixture
def user(tmp_path: Path) -> Any:
    u = User(tmp_path / "home")
    up = u.run("devnet", "up", "--block-time", "1")
    u.url = up["url"]
    yield u
    u.url = None
    u.run("devnet", "down")


def agent_with_policy_wallet(u: User, tmp: Path, agent_key: Any, payee: str, approval_above: str) -> dict[str, Any]:
    """What an owner does first: import the agent's key as keystore account "agent", fund the owner (dev account
    0), create the agent's PolicyWallet with 10 tUSD, write, sign and pin a policy. Returns the paths and the pin."""
    from tessera.accounts.dev import dev_account

    secret, key = tmp / "pw", tmp / "key"
    secret.write_text("correct horse")
    key.write_text(agent_key.key.hex())
    u.run("account", "import", "agent", "--key-file", str(key), "--password-file", str(secret))
    coin = u.run("deploy")["contracts"]["DevStablecoin"]["address"]
    u.run("devnet", "fund", dev_account(0).address, "--stable", "100")
    wallet = u.run("agent", "wallet", "create", "--agent", "agent", "--fund", "10")["wallet"]
    policy = tmp / "policy.yaml"
    policy.write_text(yaml.safe_dump({
        "version": 1, "agent": agent_key.address, "wallet": wallet, "token": coin,
        "caps": {"per_payment": "0.50", "per_window": "5.00", "window": "1d", "approval_above": approval_above},
        "payees": [payee]}))
    u.run("agent", "policy", "sign", str(policy))
    pinned = u.run("agent", "policy", "pin", str(policy))
    return {"secret": secret, "wallet": wallet, "policy": policy, "pinned": pinned}
