"""`tessera train run`: the issue's task spec works as written, the JSON is machine-exact, a rerun in another
process gives the same hashes, and bad specs get one line each (no traceback)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

TASK = """model: {layers: [64, 32, 10], activation: relu}
data: {dataset: digits, test_fraction: 0.2}
train: {optimizer: sgd, lr: 0.05, momentum: 0.9, batch_size: 32, steps: 600, seed: 7, checkpoint_every: 50}
"""


def tessera(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "TESSERA_HOME": str(home)}
    return subprocess.run([sys.executable, "-m", "tessera", *args], capture_output=True, text=True, env=env,
                          timeout=300)


def test_the_issue_task_trains_with_exact_json_and_reproduces(tmp_path: Path) -> None:
    (tmp_path / "task.yaml").write_text(TASK)
    first = tessera(tmp_path, "train", "run", str(tmp_path / "task.yaml"), "--out", str(tmp_path / "a"), "--json")
    assert first.returncode == 0, first.stderr
    body = json.loads(first.stdout)
    assert body["steps"] == 600 and 0.9 <= body["test_accuracy"] <= 1 and isinstance(body["seconds"], float)
    assert body["weights_hash"].startswith("0x") and len(body["checkpoint_root"]) == 66
    again = json.loads(tessera(tmp_path, "train", "run", str(tmp_path / "task.yaml"), "--out", str(tmp_path / "b"),
                               "--json").stdout)
    assert (again["weights_hash"], again["checkpoint_root"]) == (body["weights_hash"], body["checkpoint_root"])
    checkpoints = sorted(p.name for p in (tmp_path / "a" / "checkpoints").iterdir())
    assert len(checkpoints) == 12 and checkpoints[0] == "step-00000050.npz"
    assert len(json.loads((tmp_path / "a" / "state_hashes.json").read_text())) == 601
    with np.load(tmp_path / "a" / "weights.npz") as w:
        assert w["w0"].dtype == np.int64 and w["w0"].shape == (64, 32) and w["mean"].shape == (64,)


CSV = "f1,f2,label\n" + "".join(f"{i % 7},{(i * 3) % 5},{'cat' if i % 2 else 'dog'}\n" for i in range(40))


@pytest.mark.parametrize(("spec", "message"), [
    (TASK.replace("digits", "digitz"), "unknown dataset 'digitz': use one of digits"),
    (TASK.replace("[64, 32, 10]", "[60, 32, 10]"), r"set model.layers[0] to 64"),
    (TASK.replace("[64, 32, 10]", "[64, 32, 9]"), "set the last layer width to 10"),
    (TASK.replace("lr: 0.05", "lr: -0.05"), "train.lr: -0.05 must be more than 0"),
    (TASK.replace("steps: 600", "steps: 0"), "train.steps: 0 must be at least 1"),
    (TASK.replace("seed: 7", "seed: 7, epochs: 3"), "train.epochs: unknown key"),
    (TASK.replace("digits", "data.csv"), "dataset file"),
    (TASK.replace("digits", "table.csv").replace("[64, 32, 10]", "[2, 4, 2]"), None),  # a CSV with string labels
])
def test_bad_specs_are_refused_with_one_line(tmp_path: Path, spec: str, message: str | None) -> None:
    (tmp_path / "table.csv").write_text(CSV)
    (tmp_path / "task.yaml").write_text(spec)
    out = tessera(tmp_path, "train", "run", str(tmp_path / "task.yaml"), "--out", str(tmp_path / "o"), "--json")
    assert "Traceback" not in out.stderr
    if message is None:
        assert out.returncode == 0 and json.loads(out.stdout)["steps"] == 600
        return
    assert out.returncode != 0
    error = json.loads(out.stdout)["error"]
    assert message in error and "\n" not in error, error
