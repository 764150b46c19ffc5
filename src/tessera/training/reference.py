"""The float yardstick: the same architecture, initial weights, minibatches and hyperparameters trained in
float32 PyTorch, for the accuracy and speed comparisons the demo and `bench/training.py` report."""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from .fixedpoint import Fixed, to_float
from .mlp import batch_indices, init_params
from .trainer import TrainConfig


@dataclass(frozen=True)
class FloatRun:
    test_accuracy: float
    seconds: float


def float32_reference(config: TrainConfig, x_train: Fixed, y_train: np.ndarray, x_test: Fixed,
                      y_test: np.ndarray) -> FloatRun:
    import torch

    init = init_params(config.seed, config.layers)
    ws = [torch.tensor(to_float(w), dtype=torch.float32, requires_grad=True) for w in init.weights]
    bs = [torch.tensor(to_float(b), dtype=torch.float32, requires_grad=True) for b in init.biases]
    opt = torch.optim.SGD([*ws, *bs], lr=config.lr / 65536, momentum=config.momentum / 65536)
    xt = torch.tensor(to_float(x_train), dtype=torch.float32)
    yt = torch.tensor(y_train)

    def forward(x: torch.Tensor) -> torch.Tensor:
        for w, b in zip(ws[:-1], bs[:-1]):
            x = torch.relu(x @ w + b)
        return x @ ws[-1] + bs[-1]

    start = time.perf_counter()
    for step in range(1, config.steps + 1):
        idx = batch_indices(config.seed, step, config.batch_size, x_train.shape[0])
        loss = torch.nn.functional.cross_entropy(forward(xt[idx]), yt[idx])
        opt.zero_grad()
        loss.backward()
        opt.step()
    seconds = time.perf_counter() - start
    with torch.no_grad():
        pred = forward(torch.tensor(to_float(x_test), dtype=torch.float32)).argmax(1).numpy()
    return FloatRun(float((pred == y_test).mean()) if len(y_test) else 0.0, seconds)


__all__ = ["FloatRun", "float32_reference"]
