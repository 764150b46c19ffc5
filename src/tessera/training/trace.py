"""A training step as the referee sees it: every tensor it reads or makes, committed, and what one element of
each depends on (the rows and columns `TrainingReferee.recompute` opens). docs/training.md, "the step trace".

Trace layout for L layers (the same numbers as the contract):
  0..4L-1      the state: W_l, b_l, vW_l, vb_l
  4L           the minibatch X (standardized samples)
  4L+1+l       layer l's output (ReLU for all but the last; 5L holds the logits)
  5L+1         the loss gradient at the logits
  5L+2+7(L-1-l)+s, layer l's backward block (last layer first): s=0 weight gradient, 1 bias gradient,
               2 the gradient passed down (empty for layer 0), 3/4 new momentum, 5/6 new weights/biases
At step 0 the trace is the initial state alone, each element recomputed from the seed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from .commit import ZERO, TensorCommitment, as_matrix
from .fixedpoint import Fixed
from .mlp import Params, batch_indices, init_params, sgd_trace, state_tensors
from .task import Dataset, DatasetCommitment
from .trainer import TrainConfig


def trace_length(layers: int, step: int) -> int:
    return 4 * layers if step == 0 else 12 * layers + 2


def state_slot(layers: int, step: int, i: int) -> int:
    """Where state tensor i (in state order) of the new state sits in the trace."""
    if step == 0:
        return i
    group, layer = divmod(i, layers)
    return 5 * layers + 2 + 7 * (layers - 1 - layer) + (5, 6, 3, 4)[group]


def has_columns(layers: int, step: int, k: int) -> bool:
    """Whether an operator reads columns of tensor k (TrainingReferee.hasColumns): the weights, the batch and
    activations, and the gradients at each layer's output; everything else is committed by rows alone."""
    if k < layers:
        return True
    if k < 4 * layers or step == 0:
        return False
    if k <= 5 * layers + 1:
        return True
    return (k - (5 * layers + 2)) % 7 in (2, 5)


def grad_slot(layers: int, layer: int) -> int:
    return 5 * layers + 1 if layer == layers - 1 else 5 * layers + 2 + 7 * (layers - 2 - layer) + 2


@dataclass
class StepTrace:
    step: int
    tensors: list[Fixed | None]
    commitments: list[TensorCommitment | None]

    @classmethod
    def of(cls, step: int, tensors: list[Fixed | None]) -> StepTrace:
        layers = (len(tensors) // 4) if step == 0 else (len(tensors) - 2) // 12
        return cls(step, tensors, [None if t is None else TensorCommitment.of(t, has_columns(layers, step, k))
                                   for k, t in enumerate(tensors)])

    @property
    def digests(self) -> list[bytes]:
        return [ZERO if c is None else c.digest for c in self.commitments]

    def opening(self, k: int, column: bool, index: int) -> tuple[Any, ...]:
        """The contract's Opening for row (or column) `index` of tensor k."""
        c, t = self.commitments[k], self.tensors[k]
        assert c is not None and t is not None
        m = as_matrix(t)
        values = m[:, index] if column else m[index]
        tree = c.tree(column)
        return (c.rows, c.cols, c.row_tree.root, c.col_root, column, index, [int(v) for v in values],
                tree.proof(index))


def step_trace(config: TrainConfig, x_train: Fixed, y_train: np.ndarray, before: Params | None, step: int) -> StepTrace:
    """The trace of `step` from the state before it (`before` is ignored at step 0)."""
    if step == 0:
        return StepTrace.of(0, list(state_tensors(init_params(config.seed, config.layers))))
    assert before is not None
    idx = batch_indices(config.seed, step, config.batch_size, x_train.shape[0])
    return StepTrace.of(step, sgd_trace(before, x_train[idx], y_train[idx], config.lr, config.momentum))


def sample_argument(data: Dataset, commitment: DatasetCommitment, index: int | None) -> tuple[Any, ...]:
    """The contract's Sample for training sample `index` (or an empty one when the operator reads none)."""
    if index is None:
        return (ZERO, ZERO, 0, [], [], [], [])
    raw = data.x[data.train][index]
    values = [int(data.y[data.train][index])] + [int(v) for v in raw]
    return (commitment.tree.root, commitment.stats_digest, commitment.n, values, commitment.tree.proof(index),
            [int(v) for v in data.scaler.mean], [int(v) for v in data.scaler.std])


def referee_inputs(trace: StepTrace, layers: int, k: int, i: int, j: int, config: TrainConfig, data: Dataset,
                   commitment: DatasetCommitment) -> tuple[list[tuple[Any, ...]], tuple[Any, ...]]:
    """The openings and the sample `TrainingReferee.recompute` reads for element (i, j) of tensor k."""
    L, step = layers, trace.step
    sample = None
    reads: list[tuple[int, bool, int]] = []
    if step == 0:
        pass
    elif k == 4 * L:
        sample = batch_indices(config.seed, step, config.batch_size, commitment.n)[i]
    elif k <= 5 * L:
        lay = k - 4 * L - 1
        reads = [(4 * L + lay, False, i), (lay, True, j), (L + lay, False, 0)]
    elif k == 5 * L + 1:
        sample = batch_indices(config.seed, step, config.batch_size, commitment.n)[i]
        reads = [(5 * L, False, i)]
    else:
        off = k - (5 * L + 2)
        lay, slot = L - 1 - off // 7, off % 7
        g = grad_slot(L, lay)
        if slot == 0:
            reads = [(4 * L + lay, True, i), (g, True, j)]
        elif slot == 1:
            reads = [(g, True, j)]
        elif slot == 2:
            reads = [(g, False, i), (lay, False, j), (4 * L + lay, False, i)]
        else:
            bias = slot % 2 == 0
            row = 0 if bias else i
            base = k - slot
            if slot <= 4:
                reads = [(((3 if bias else 2) * L + lay), False, row), (base + (1 if bias else 0), False, row)]
            else:
                reads = [(((1 if bias else 0) * L + lay), False, row), (base + (4 if bias else 3), False, row)]
    return [trace.opening(t, col, idx) for t, col, idx in reads], sample_argument(data, commitment, sample)


__all__ = ["StepTrace", "grad_slot", "has_columns", "referee_inputs", "sample_argument", "state_slot", "step_trace",
           "trace_length"]
