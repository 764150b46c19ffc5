"""A posted task made concrete: its spec, the data it names, the parameters the contract holds, and the states a
solver serves (as JSON, checked against their step leaf by whoever receives them).

Both nodes start here: a solver before it claims (is the posted task the spec it was given?), a verifier before
it audits (are the served states those of the committed leaves?).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import TrainingError
from .fixedpoint import Fixed
from .mlp import Params, state_hash
from .protocol import params_hash, task_params
from .solution import forced_leaf
from .task import Dataset, DatasetCommitment, TaskSpec, parse_task
from .trace import StepTrace, step_trace
from .trainer import TrainConfig, replay


@dataclass(frozen=True)
class TrainingJob:
    spec: TaskSpec
    config: TrainConfig
    data: Dataset
    dataset: DatasetCommitment
    params: tuple[Any, ...]

    @classmethod
    def of(cls, spec_text: bytes, base: Path, where: str) -> TrainingJob:
        from .task import load_dataset

        spec = parse_task(spec_text, where)
        config = spec.config()
        data = load_dataset(spec.data, base)
        dataset = data.commitment()
        return cls(spec, config, data, dataset, task_params(config, dataset))

    @property
    def x(self) -> Fixed:
        return self.data.x_train

    @property
    def y(self) -> np.ndarray:
        return self.data.y[self.data.train]

    @property
    def layers(self) -> int:
        return len(self.config.layers) - 1

    @property
    def params_hash(self) -> bytes:
        return params_hash(self.params)

    def mismatch(self, posted_params_hash: bytes) -> str | None:
        """Why the posted task is not this spec (None: it is). A task whose on-chain parameters differ from its
        spec would be refereed on the posted ones, so a solver training the spec would lose its bond."""
        if posted_params_hash != self.params_hash:
            return (f"the posted parameters (0x{posted_params_hash.hex()[:12]}…) are not those of its spec and "
                    f"dataset (0x{self.params_hash.hex()[:12]}…)")
        return None

    def replay(self, upto: int) -> Params:
        return replay(self.config, self.x, self.y, upto)

    def trace(self, before: Params, step: int) -> StepTrace:
        return step_trace(self.config, self.x, self.y, before, step)


def state_json(step: int, params: Params) -> dict[str, Any]:
    groups = {"weights": params.weights, "biases": params.biases, "w_velocity": params.w_velocity,
              "b_velocity": params.b_velocity}
    return {"step": step, "leaf": "0x" + state_hash(step, params).hex(),
            **{k: [t.tolist() for t in v] for k, v in groups.items()}}


def state_from_json(body: Any, step: int, layers: list[int], leaf: bytes) -> Params:
    """A served state, refused unless it has the task's shapes and hashes to `leaf` (or a forced error's
    wrapper of it): whatever a solver serves is checked, never trusted."""
    try:
        groups = [[np.asarray(t, dtype=np.int64) for t in body[k]]
                  for k in ("weights", "biases", "w_velocity", "b_velocity")]
    except (KeyError, TypeError, ValueError, OverflowError) as e:
        raise TrainingError(f"the served state of step {step} is malformed ({e})") from None
    shapes = [[(a, b) for a, b in zip(layers, layers[1:])], [(b,) for b in layers[1:]]]
    want = shapes[0], shapes[1], shapes[0], shapes[1]
    if any([t.shape for t in g] != w for g, w in zip(groups, want)):
        raise TrainingError(f"the served state of step {step} does not have the task's layer shapes")
    params = Params(*groups)
    h = state_hash(step, params)
    if leaf not in (h, forced_leaf(h)):
        raise TrainingError(f"the served state of step {step} is not the committed leaf")
    return params


__all__ = ["TrainingJob", "state_from_json", "state_json"]
