"""`tessera agent run` as a process on anvil (1 s blocks): it publishes its card once, pays through its policy
wallet by tool id, and survives kill -9 in the middle of a payment: the restarted agent finishes it, and asking
again with the same id pays nothing more."""

from __future__ import annotations

import signal
import socket
from pathlib import Path

import httpx
import pytest
import yaml
from cli_harness import User, agent_with_policy_wallet, user, wait_for  # noqa: F401  (user: the fixture)

from tessera.accounts.dev import dev_account

pytestmark = pytest.mark.anvil
AGENT, PAYEE = dev_account(2), dev_account(5)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def healthy(url: str) -> bool:
    try:
        return httpx.get(url + "/health", timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


def test_the_agent_survives_kill_9_mid_payment_and_pays_once(user: User, tmp_path: Path) -> None:
    u = user
    setup = agent_with_policy_wallet(u, tmp_path, AGENT, PAYEE.address, approval_above="0.50")
    secret = setup["secret"]
    port = free_port()
    config = tmp_path / "agent.yaml"
    config.write_text(yaml.safe_dump({"name": "summariser", "account": "agent", "policy": "policy.yaml",
                                      "listen": {"host": "127.0.0.1", "port": port}, "skills": ["summarise"],
                                      "prices": {"summarise": "0.01"}}))
    url = f"http://127.0.0.1:{port}"
    argv = ("agent", "run", "--config", str(config), "--password-file", str(secret))
    node = u.start(*argv, log=tmp_path / "agent1.log")
    try:
        wait_for(lambda: healthy(url), 120, "the agent to serve")
        assert httpx.get(url + "/card").json()["name"] == "summariser"
        assert httpx.post(url + "/skills/summarise", json={"text": "A. B."}).status_code == 402  # a paid skill
        # the payment is journalled and on its way: kill now. Usually the call is still waiting for its block;
        # when a block lands within the 0.3 s, it has been paid already, and the restart must not pay again
        try:
            done = httpx.post(url + "/tools/pay", json={"id": "lunch-1", "to": PAYEE.address, "amount": "0.10"},
                              timeout=0.3)
            assert done.json()["status"] == "paid", done.text
        except httpx.TimeoutException:
            pass
        node.send_signal(signal.SIGKILL)
        node.wait(10)
    finally:
        if node.poll() is None:
            node.kill()
    node = u.start(*argv, log=tmp_path / "agent2.log")
    try:
        wait_for(lambda: healthy(url), 120, "the restarted agent to serve")
        again = httpx.post(url + "/tools/pay", json={"id": "lunch-1", "to": PAYEE.address, "amount": "0.10"},
                           timeout=60).json()
        assert again["status"] == "paid", again
        second = httpx.post(url + "/tools/pay", json={"id": "lunch-2", "to": PAYEE.address, "amount": "0.10"},
                            timeout=60).json()
        assert second["status"] == "paid" and second["transaction"] != again["transaction"]
        refused = httpx.post(url + "/tools/pay", json={"id": "car-1", "to": PAYEE.address, "amount": "3"},
                             timeout=60).json()
        assert refused["status"] == "refused" and "per-payment cap" in refused["reason"]
        reuse = httpx.post(url + "/tools/pay", json={"id": "lunch-1", "to": PAYEE.address, "amount": "0.20"}, timeout=60)
        assert reuse.status_code == 400 and "already used" in reuse.json()["error"]
        assert httpx.get(url + "/health").json()["agent_id"] == 1  # published once, not again on restart
    finally:
        node.send_signal(signal.SIGINT)
        node.wait(20)
    balance = u.run("account", "balance", PAYEE.address)
    assert balance["stable"]["base"] == "200000", balance  # two payments, not three
    log = (tmp_path / "agent2.log").read_text()
    assert "budget left today 4.80 tUSD" not in log  # a resumed payment is counted once
    assert "resuming after a restart" in log or "paid" in (tmp_path / "agent1.log").read_text()
