"""`tessera train submit` and `train status` on a devnet, each in its own process: a task posted with its
dataset commitment and fee, read back; an unknown task gets one line."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
import yaml
from cli_harness import User, user  # noqa: F401  (user: the fixture)

from tessera.accounts.dev import dev_account

pytestmark = pytest.mark.anvil


def test_submit_and_status(user: User, tmp_path: Path) -> None:
    user.run("deploy")
    user.run("devnet", "fund", dev_account(0).address, "--stable", "100")
    task = tmp_path / "task.yaml"
    task.write_text(yaml.safe_dump({"model": {"layers": [4, 8, 3]}, "data": {"dataset": "iris"},
                                    "train": {"lr": "0.1", "batch_size": 8, "steps": 50, "seed": 3}}))
    posted = user.run("train", "submit", str(task), "--fee", "2.5", "--audit-level", "10")
    assert posted["state"] == "open" and posted["fee"] == "2500000" and posted["audit_level"] == 10
    assert posted["dataset_root"].startswith("0x") and posted["solver"] is None
    status = user.run("train", "status", str(posted["id"]))
    assert status == {k: posted[k] for k in status}
    text = subprocess.run(user.argv("train", "status", str(posted["id"])), capture_output=True, text=True,
                          env=user.env, timeout=120)
    assert text.returncode == 0 and f"training task {posted['id']}: open, fee 2.50" in text.stdout
    missing = subprocess.run(user.argv("train", "status", "99"), capture_output=True, text=True, env=user.env,
                             timeout=120)
    assert missing.returncode != 0 and "Traceback" not in missing.stderr
    assert "there is no training task 99" in missing.stderr + missing.stdout
