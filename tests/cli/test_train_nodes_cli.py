"""`tessera train solver run` and `train verifier run` as real processes on a devnet, with `train submit`,
`train status` and `train dispute` from a third: a posted task is claimed, trained, committed, audited from
the states the solver serves over HTTP, and paid after the window; the solver is killed with SIGKILL after it
committed and restarted, and nothing is claimed or committed twice. The submitter then fetches the weights
(checked against the committed hash) and exports them as ONNX."""

from __future__ import annotations

import signal
import socket
import subprocess
from pathlib import Path

import pytest
import yaml
from cli_harness import User, user, wait_for  # noqa: F401  (user: the fixture)

from tessera.accounts.dev import dev_account

pytestmark = pytest.mark.anvil

TASK = {"model": {"layers": [4, 6, 3]}, "data": {"dataset": "iris"},
        "train": {"lr": "0.1", "momentum": "0.9", "batch_size": 4, "steps": 12, "seed": 5, "checkpoint_every": 4}}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _log(path: Path) -> str:
    return path.read_text(errors="replace") if path.exists() else ""


def test_solver_and_verifier_nodes_serve_a_task_through_a_kill(user: User, tmp_path: Path) -> None:
    user.run("deploy")
    user.run("devnet", "fund", dev_account(0).address, "--stable", "100")
    password = tmp_path / "pw"
    password.write_text("correct horse\n")
    for name, i in (("solver", 2), ("verifier", 3)):
        key = tmp_path / f"{name}.key"
        key.write_text(dev_account(i).key.hex())
        user.run("account", "import", name, "--key-file", str(key), "--password-file", str(password))
    (tmp_path / "task.yaml").write_text(yaml.safe_dump(TASK))
    sport, vport = free_port(), free_port()
    (tmp_path / "solver.yaml").write_text(yaml.safe_dump(
        {"listen": {"port": sport}, "specs": ["task.yaml"], "min_fee": "1"}))
    (tmp_path / "verifier.yaml").write_text(yaml.safe_dump(
        {"listen": {"port": vport}, "solvers": [f"http://127.0.0.1:{sport}"]}))
    solver_args = ("train", "solver", "run", "--config", str(tmp_path / "solver.yaml"), "--account", "solver",
                   "--password-file", str(password), "--interval", "0.3")
    solver_log, verifier_log = tmp_path / "solver.log", tmp_path / "verifier.log"
    solver = user.start(*solver_args, log=solver_log)
    # one at a time: both nodes' devnet top-ups are sent by the deployer
    wait_for(lambda: "serving on" in _log(solver_log), 90, "the solver to start")
    verifier = user.start("train", "verifier", "run", "--config", str(tmp_path / "verifier.yaml"),
                          "--account", "verifier", "--password-file", str(password), "--interval", "0.3",
                          log=verifier_log)
    try:
        wait_for(lambda: "serving on" in _log(verifier_log), 90, "the verifier to start")
        posted = user.run("train", "submit", str(tmp_path / "task.yaml"), "--fee", "2", "--audit-level", "40",
                          "--hours", "1")
        task_id = str(posted["id"])
        wait_for(lambda: "committed" in _log(solver_log), 120, "the solver to commit")
        solver.send_signal(signal.SIGKILL)
        solver.wait(10)
        solver = user.start(*solver_args, log=tmp_path / "solver-2.log")
        wait_for(lambda: "signed off" in _log(verifier_log) or "dispute" in _log(verifier_log), 120,
                 "the verifier to audit the served states")
        status = user.run("train", "status", task_id)
        assert status["state"] == "committed" and status["audit_drawn"]
        user.run("devnet", "mine", "1", "--seconds", "3700")
        wait_for(lambda: user.run("train", "status", task_id)["state"] == "settled", 120, "the solver to settle")
        wait_for(lambda: "withdrew" in _log(tmp_path / "solver-2.log"), 60, "the solver to withdraw its fee")
        # the submitter takes the weights, checked against the committed hash, and exports them
        fetched = user.run("train", "fetch", task_id, "--from", f"http://127.0.0.1:{sport}", "--out",
                           str(tmp_path / "weights"))
        assert fetched["weights_hash"] == user.run("train", "status", task_id)["weights_hash"]
        assert 0 < fetched["test_accuracy"] <= 1
        exported = user.run("train", "export", str(tmp_path / "weights"), "--onnx", str(tmp_path / "m.onnx"))
        assert exported["layers"] == [4, 6, 3]
    finally:
        for p in (solver, verifier):
            p.send_signal(signal.SIGTERM)
            try:
                p.wait(15)
            except subprocess.TimeoutExpired:
                p.kill()
    logs = _log(solver_log) + _log(tmp_path / "solver-2.log")
    assert logs.count("claimed (bond locked)") == 1 and logs.count(f"task {task_id} committed") == 1, logs
    assert "Traceback" not in logs + _log(verifier_log)
    disputes = user.run("train", "dispute", task_id)
    forced = user.run("train", "status", task_id)["forced_caught"]
    assert disputes["task_id"] == int(task_id) and len(disputes["disputes"]) == (1 if forced else 0)
    assert (forced and "jackpot" in _log(verifier_log)) or "signed off on the audit" in _log(verifier_log)
