"""Standardizing a committed dataset and running the training loop, with a state hash after every step."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from ..errors import TrainingError
from .fixedpoint import FRAC_BITS, ONE, Fixed
from .mlp import Params, batch_indices, init_params, predict, sgd_step, state_hash


@dataclass(frozen=True)
class Standardizer:
    """Per-feature mean and standard deviation of the training split, in Q16: part of the dataset commitment."""
    mean: Fixed
    std: Fixed

    @classmethod
    def fit(cls, x: Fixed) -> Standardizer:
        if x.ndim != 2 or x.shape[0] == 0:
            raise TrainingError("the training split is empty: lower test_fraction or add samples")
        n = x.shape[0]
        mean = np.floor_divide(x.sum(axis=0), n)
        centred = [(x[:, j] - mean[j]).astype(object) for j in range(x.shape[1])]  # Python ints: no overflow
        std = [math.isqrt(int(sum(c * c)) // n) for c in centred]
        return cls(mean, np.array([s if s > 0 else ONE for s in std], dtype=np.int64))  # constant feature: 1

    def apply(self, x: Fixed) -> Fixed:
        """(x - mean) / std in Q16, floor division (exact, one rule everywhere)."""
        return np.floor_divide(np.left_shift(x - self.mean, FRAC_BITS), self.std)


@dataclass(frozen=True)
class TrainConfig:
    layers: list[int]
    seed: int
    steps: int
    batch_size: int
    lr: int  # Q16
    momentum: int  # Q16


def train_step(config: TrainConfig, x: Fixed, y: np.ndarray, params: Params, step: int) -> Params:
    """Step `step` (1-based) of the task: the minibatch the sampler draws for it, one SGD-with-momentum update.
    The one definition of a step, used by training, solutions, audits and replays."""
    idx = batch_indices(config.seed, step, config.batch_size, x.shape[0])
    return sgd_step(params, x[idx], y[idx], config.lr, config.momentum)


def replay(config: TrainConfig, x: Fixed, y: np.ndarray, upto: int, start: Params | None = None,
           start_step: int = 0) -> Params:
    """The state after step `upto`, from the seed's initial weights (or from `start`, the state after
    `start_step`)."""
    params = init_params(config.seed, config.layers) if start is None else start
    for t in range(start_step + 1, upto + 1):
        params = train_step(config, x, y, params, t)
    return params


def train(config: TrainConfig, x: Fixed, y: np.ndarray, *,
          on_step: Callable[[int, Params, bytes], None] | None = None) -> tuple[Params, list[bytes]]:
    """Train from the seed's initial weights; returns the final parameters and the state hash after each step
    (index 0 is the initial state, index t the state after step t)."""
    if x.shape[1] != config.layers[0]:
        raise TrainingError(f"the model's input width is {config.layers[0]} but the data has {x.shape[1]} features: "
                            f"set model.layers[0] to {x.shape[1]}")
    if int(y.max(initial=0)) >= config.layers[-1]:
        raise TrainingError(f"the data has {int(y.max()) + 1} classes but the model outputs {config.layers[-1]}: "
                            f"set the last layer width to {int(y.max()) + 1}")
    params = init_params(config.seed, config.layers)
    hashes = [state_hash(0, params)]
    for step in range(1, config.steps + 1):
        params = train_step(config, x, y, params, step)
        h = state_hash(step, params)
        hashes.append(h)
        if on_step is not None:
            on_step(step, params, h)
    return params, hashes


def accuracy(params: Params, x: Fixed, y: np.ndarray) -> float:
    """For reports: the fraction of samples whose predicted class is right."""
    return float((predict(params, x) == y).mean()) if len(y) else 0.0
