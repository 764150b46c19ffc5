"""Running a task locally: train, keep the checkpoints, commit to every step's state hash."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .commit import PositionTree
from .mlp import Params, weights_hash
from .task import TaskSpec, load_dataset
from .trainer import accuracy, train


@dataclass(frozen=True)
class TrainResult:
    weights_hash: bytes
    checkpoint_root: bytes  # Merkle root over the state hashes after steps 0..steps
    test_accuracy: float
    steps: int
    seconds: float
    out: Path

    def to_json(self) -> dict[str, object]:
        return {"weights_hash": "0x" + self.weights_hash.hex(), "checkpoint_root": "0x" + self.checkpoint_root.hex(),
                "test_accuracy": self.test_accuracy, "steps": self.steps, "seconds": round(self.seconds, 3),
                "out": str(self.out)}

    def render(self) -> str:
        return (f"trained {self.steps} steps in {self.seconds:.1f} s: test accuracy {self.test_accuracy:.1%}\n"
                f"weights  0x{self.weights_hash.hex()}\ncheckpoint root  0x{self.checkpoint_root.hex()}\n"
                f"written to {self.out}")


def _arrays(params: Params, *, momentum: bool) -> dict[str, Any]:
    groups = {"w": params.weights, "b": params.biases}
    if momentum:
        groups |= {"vw": params.w_velocity, "vb": params.b_velocity}
    return {f"{name}{i}": t for name, tensors in groups.items() for i, t in enumerate(tensors)}


def _save(path: Path, step: int, params: Params) -> None:
    np.savez(path, step=np.int64(step), **_arrays(params, momentum=True))


def run_task(task: TaskSpec, base: Path, out: Path,
             on_step: Callable[[int, int], None] | None = None) -> TrainResult:
    """Train `task` (its dataset paths relative to `base`), writing checkpoints every `checkpoint_every` steps
    and the final weights under `out`; `on_step(step, total)` reports progress."""
    data = load_dataset(task.data, base)
    config = task.config()
    every = task.train.checkpoint_every
    (out / "checkpoints").mkdir(parents=True, exist_ok=True)

    def each(step: int, params: Params, _: bytes) -> None:
        if step % every == 0 or step == config.steps:
            _save(out / "checkpoints" / f"step-{step:08d}.npz", step, params)
        if on_step is not None:
            on_step(step, config.steps)

    start = time.perf_counter()
    params, hashes = train(config, data.x_train, data.y[data.train], on_step=each)
    seconds = time.perf_counter() - start
    result = TrainResult(weights_hash(params), PositionTree(hashes).root,
                         accuracy(params, data.x_test, data.y[data.test]), config.steps, seconds, out)
    np.savez(out / "weights.npz", mean=data.scaler.mean, std=data.scaler.std, **_arrays(params, momentum=False))
    (out / "state_hashes.json").write_text(json.dumps(["0x" + h.hex() for h in hashes]))
    (out / "result.json").write_text(json.dumps(result.to_json(), indent=2))
    return result
