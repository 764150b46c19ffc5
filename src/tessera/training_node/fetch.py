"""The submitter's side of a settled (or committed) task: fetch the trained weights from a solver that serves
them, check them against the weights hash the task committed on chain, and write a run directory that
`tessera train export` turns into ONNX (and `tessera zk compile` into a circuit for proved inference)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import TrainingError
from ..training.job import TrainingJob, state_from_json
from ..training.mlp import weights_hash
from ..training.protocol import TrainingMarketClient
from ..training.trainer import accuracy
from .source import SolverSource


@dataclass(frozen=True)
class FetchedWeights:
    task_id: int
    weights_hash: bytes
    test_accuracy: float
    out: Path

    def to_json(self) -> dict[str, Any]:
        return {"task_id": self.task_id, "weights_hash": "0x" + self.weights_hash.hex(),
                "test_accuracy": round(self.test_accuracy, 4), "out": str(self.out)}

    def render(self) -> str:
        return (f"task {self.task_id}: weights 0x{self.weights_hash.hex()[:12]}… match the committed hash; "
                f"test accuracy {self.test_accuracy:.1%}; written to {self.out} (`tessera train export "
                f"{self.out} --onnx model.onnx` next)")


def fetch_weights(client: TrainingMarketClient, task_id: int, source: SolverSource, out: Path,
                  spec: tuple[bytes, Path] | None = None) -> FetchedWeights:
    view = client.task(task_id)
    if view.state not in ("committed", "settled"):
        raise TrainingError(f"task {task_id} is {view.state}: only a committed or settled task has weights")
    posted = client.market.get_events("Posted", topics=[task_id.to_bytes(32, "big")])
    if not posted:
        raise TrainingError(f"task {task_id}: its Posted event is not on this chain")
    spec_hash = bytes(posted[0].args["specHash"])
    text, base = spec if spec is not None else (source.spec(spec_hash), Path("."))
    if text is None:
        raise TrainingError(f"task {task_id}: no solver serves its spec 0x{spec_hash.hex()[:12]}…: pass --task")
    job = TrainingJob.of(text, base, f"the spec of task {task_id}")
    if job.mismatch(view.params_hash):
        raise TrainingError(f"task {task_id}: {job.mismatch(view.params_hash)}")
    leaves = source.leaves(task_id, lambda ls: len(ls) == view.steps + 1)
    if leaves is None:
        raise TrainingError(f"task {task_id}: no solver serves its leaves: check --from")
    params = None
    for body in source.state(task_id, view.steps):
        try:
            candidate = state_from_json(body, view.steps, job.config.layers, leaves[view.steps])
        except TrainingError:
            continue
        if weights_hash(candidate) == view.weights_hash:
            params = candidate
            break
    if params is None:
        raise TrainingError(f"task {task_id}: no served final state matches the committed weights hash "
                            f"0x{view.weights_hash.hex()[:12]}…")
    out.mkdir(parents=True, exist_ok=True)
    arrays = {f"w{i}": w for i, w in enumerate(params.weights)} | {f"b{i}": b for i, b in enumerate(params.biases)}
    np.savez(out / "weights.npz", mean=job.data.scaler.mean, std=job.data.scaler.std, **arrays)  # type: ignore[arg-type]
    acc = accuracy(params, job.data.x_test, job.data.y[job.data.test])
    result = FetchedWeights(task_id, view.weights_hash, acc, out)
    (out / "result.json").write_text(json.dumps(result.to_json(), indent=2))
    return result


__all__ = ["FetchedWeights", "fetch_weights"]
