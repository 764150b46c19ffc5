"""Agents and jobs from the command line, each command in its own process, on the embedded chain kept in the
data dir: a policy wallet with a signed, pinned policy; `agent chat` plans and pays within the caps, waits for
the owner above the threshold, refuses over the cap and nonsense with one line; an agent registered, hired
through the job board and paid."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from cli_harness import User, agent_with_policy_wallet

from tessera.accounts.dev import dev_account

AGENT, PAYEE = dev_account(2), dev_account(5)


def run_fail(u: User, *args: str) -> str:
    out = subprocess.run(u.argv(*args), capture_output=True, text=True, env=u.env, timeout=300)
    assert out.returncode == 1 and "Traceback" not in out.stderr, (out.stdout, out.stderr)
    [line] = out.stderr.strip().splitlines()
    return line


def test_an_owner_sets_up_an_agent_and_the_agent_spends_within_its_policy(tmp_path: Path) -> None:
    u = User(tmp_path / "home")
    setup = agent_with_policy_wallet(u, tmp_path, AGENT, PAYEE.address, approval_above="0.25")
    secret, wallet, policy = setup["secret"], setup["wallet"], setup["policy"]
    assert setup["pinned"]["version"] == 1
    assert u.run("agent", "policy", "check", str(policy))["per_payment"] == "500000"
    as_agent = ("--policy", str(policy), "--account", "agent", "--password-file", str(secret))
    paid = u.run("agent", "chat", f"pay 0.10 to {PAYEE.address} for a summary", *as_agent, "--yes")
    assert paid["allowed"] and paid["done"]["verdict"] == "allow" and paid["done"]["transaction"]
    waiting = u.run("agent", "chat", f"send $0.40 to {PAYEE.address}", *as_agent, "--yes")
    assert waiting["done"]["verdict"] == "approve" and waiting["done"]["proposal"] == 0
    u.run("agent", "approve", "0", "--wallet", wallet)
    balance = u.run("account", "balance", PAYEE.address)
    assert "0.50" in json.dumps(balance)
    line = run_fail(u, "agent", "chat", f"pay 3 dollars to {PAYEE.address}", *as_agent, "--yes")
    assert line.startswith("error: not carried out") and "over the per-payment cap of 0.50 tUSD" in line
    line = run_fail(u, "agent", "chat", "make me a sandwich")
    assert "I can rent compute, pay, prove an inference or hire an agent" in line
    plan = u.run("agent", "chat", "rent a GPU under 2 dollars an hour for 3 hours")
    assert plan["steps"][0]["function"] == "createOrder" and plan["steps"][0]["args"]["deposit"] == "6000000"
    # an edited policy is refused before anything is signed
    policy.write_text(policy.read_text().replace("5.00", "500.00"))
    line = run_fail(u, "agent", "chat", f"pay 0.10 to {PAYEE.address}", *as_agent, "--yes")
    assert "is not the policy the owner pinned" in line


def test_an_agent_is_registered_hired_and_paid(tmp_path: Path) -> None:
    u = User(tmp_path / "home")
    card = tmp_path / "card.json"
    card.write_text(json.dumps({"name": "summariser", "endpoint": "https://summariser.example/api",
                                "skills": ["summarise"], "prices": {"summarise": "0.50"}}))
    agent = u.run("agent", "register", str(card))
    assert agent["id"] == 1
    u.run("devnet", "fund", dev_account(0).address, "--stable", "100")
    job = u.run("job", "post", "--task", "summarise the report", "--max", "1", "--hours", "2")
    assert job["state"] == "open" and job["max_price"] == "1000000"
    delivered = u.run("job", "deliver", str(job["id"]), "--agent", "1", "--result", "it grew", "--price", "0.5")
    assert delivered["state"] == "delivered" and delivered["price"] == "500000"
    assert u.run("job", "accept", str(job["id"]))["state"] == "paid"
    assert [j["state"] for j in u.run("job", "list")["jobs"]] == ["paid"]
    shown = u.run("agent", "show", "1")
    assert shown["reputation"]["payers"] == 0  # the poster owns the agent: self-payment counts for nothing
    line = run_fail(u, "job", "refund", str(job["id"]))
    assert "WrongState" in line or "paid" in line
    ranking = u.run("agent", "rank", u.run("deploy")["contracts"]["Market"]["address"])
    assert ranking["factors"][0]["points"] == 30
