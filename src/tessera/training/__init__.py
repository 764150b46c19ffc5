"""Bit-reproducible training: Q16 fixed point with exact integer sums (docs/training.md).

The rest of issue 16 (task specs, the dataset Merkle commitment, the TrainingMarket contract, audits, the
bisection game and the nodes) builds on this runtime.
"""

from .fixedpoint import FRAC_BITS, ONE, exp_nonpositive, matmul, softmax, to_fixed, to_float
from .mlp import Params, batch_indices, init_params, predict, q16, sgd_step, state_hash, weights_hash
from .trainer import Standardizer, TrainConfig, accuracy, train

__all__ = ["FRAC_BITS", "ONE", "Params", "Standardizer", "TrainConfig", "accuracy", "batch_indices",
           "exp_nonpositive", "init_params", "matmul", "predict", "q16", "sgd_step", "softmax", "state_hash",
           "to_fixed", "to_float", "train", "weights_hash"]
