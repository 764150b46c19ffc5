"""A bit-reproducible MLP trainer: dense + ReLU layers, softmax cross-entropy, SGD with momentum, all in Q16.

Every quantity a verifier needs to replay one step is defined here without floats:
- weights start from `init_params(seed, layers)`: each weight is drawn from keccak, so any single weight can be
  recomputed alone (and on-chain) without running a random-number generator up to it;
- minibatch `i` of step `t` is sample `keccak(seed, t, i) mod n` (`batch_indices`), drawn with replacement;
- the state after a step is hashed with `state_hash` (step, weights and momentum, big-endian int64).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
from eth_utils import keccak

from ..errors import TrainingError
from .fixedpoint import ONE, Fixed, div_round, from_decimal, matmul, mul, softmax

_WORD = 32


def _word(n: int) -> bytes:
    return int(n).to_bytes(_WORD, "big")


def _draws(seed: int, tag: int, a: int, count: int) -> list[int]:
    """`count` uint256 draws keccak(seed, tag, a, i): the same bytes as Solidity's abi.encode of four uint256."""
    prefix = _word(seed) + _word(tag) + _word(a)
    return [int.from_bytes(keccak(prefix + _word(i)), "big") for i in range(count)]


INIT_TAG, SAMPLE_TAG = 1, 2


def batch_indices(seed: int, step: int, batch_size: int, n: int) -> list[int]:
    """The samples minibatch `step` uses: keccak(seed, 2, step, i) mod n, with replacement."""
    return [d % n for d in _draws(seed, SAMPLE_TAG, step, batch_size)]


@dataclass
class Params:
    """One Q16 weight matrix (fan_in x fan_out) and bias per layer, with their momentum buffers."""
    weights: list[Fixed]
    biases: list[Fixed]
    w_velocity: list[Fixed] = field(default_factory=list)
    b_velocity: list[Fixed] = field(default_factory=list)

    def __post_init__(self) -> None:
        if not self.w_velocity:
            self.w_velocity = [np.zeros_like(w) for w in self.weights]
            self.b_velocity = [np.zeros_like(b) for b in self.biases]


def init_params(seed: int, layers: list[int]) -> Params:
    """He-uniform weights, bound sqrt(6 / fan_in) computed with an integer square root; zero biases.
    Weight j of layer l is keccak(seed, 1, l, j) mod (2 bound + 1) - bound."""
    if len(layers) < 2 or min(layers) < 1:
        raise TrainingError(f"layers {layers}: give at least an input width and a class count, all positive")
    weights, biases = [], []
    for layer, (fan_in, fan_out) in enumerate(zip(layers, layers[1:])):
        bound = math.isqrt(6 * ONE * ONE // fan_in)
        draws = _draws(seed, INIT_TAG, layer, fan_in * fan_out)
        w = np.array([d % (2 * bound + 1) - bound for d in draws], dtype=np.int64).reshape(fan_in, fan_out)
        weights.append(w)
        biases.append(np.zeros(fan_out, dtype=np.int64))
    return Params(weights, biases)


def forward(params: Params, x: Fixed) -> tuple[list[Fixed], Fixed]:
    """The inputs of every layer (post-ReLU activations) and the final logits."""
    inputs = [x]
    for i, (w, b) in enumerate(zip(params.weights[:-1], params.biases[:-1])):
        inputs.append(np.maximum(matmul(inputs[-1], w, f"layer {i} forward") + b, 0))
    last = len(params.weights) - 1
    return inputs, matmul(inputs[-1], params.weights[last], f"layer {last} forward") + params.biases[last]


def predict(params: Params, x: Fixed) -> np.ndarray:
    return forward(params, x)[1].argmax(axis=1)


def sgd_step(params: Params, x: Fixed, y: np.ndarray, lr: int, momentum: int) -> Params:
    """One minibatch step (lr and momentum in Q16). Returns the new parameters; `params` is left as it was."""
    inputs, logits = forward(params, x)
    batch = x.shape[0]
    grad = softmax(logits)
    grad[np.arange(batch), y] -= ONE
    grad = div_round(grad, batch)  # d(mean loss)/d(logits)
    layers = len(params.weights)
    weights, biases, w_velocity, b_velocity = [[np.empty(0, dtype=np.int64)] * layers for _ in range(4)]
    for i in reversed(range(layers)):
        h = inputs[i]
        g_w = matmul(h.T, grad, f"layer {i} weight gradient")
        g_b = grad.sum(axis=0)
        if i > 0:  # the gradient of the layer below, through its ReLU (computed with the old weights)
            grad = matmul(grad, params.weights[i].T, f"layer {i} backward") * (inputs[i] > 0)
        w_velocity[i] = mul(params.w_velocity[i], momentum) + g_w
        b_velocity[i] = mul(params.b_velocity[i], momentum) + g_b
        weights[i] = params.weights[i] - mul(w_velocity[i], lr)
        biases[i] = params.biases[i] - mul(b_velocity[i], lr)
    return Params(weights, biases, w_velocity, b_velocity)


def state_hash(step: int, params: Params) -> bytes:
    """keccak over the step and every tensor (weights, biases, then their momentum), big-endian int64."""
    parts = [b"tessera-train-state-v1", _word(step)]
    for group in (params.weights, params.biases, params.w_velocity, params.b_velocity):
        for t in group:
            parts.append(np.ascontiguousarray(t, dtype=">i8").tobytes())
    return keccak(b"".join(parts))


def weights_hash(params: Params) -> bytes:
    parts = [b"tessera-weights-v1"]
    for t in (*params.weights, *params.biases):
        parts.append(_word(t.size) + np.ascontiguousarray(t, dtype=">i8").tobytes())
    return keccak(b"".join(parts))


def q16(value: float | str, what: str) -> int:
    """A hyperparameter (lr, momentum) in Q16, refused when it rounds to nothing or is out of range."""
    from decimal import Decimal, InvalidOperation
    try:
        d = Decimal(str(value))
    except InvalidOperation as e:
        raise TrainingError(f"{what} {value!r} is not a number") from e
    q = from_decimal(d)
    if q <= 0 or q > 4 * ONE:
        raise TrainingError(f"{what} {value} is out of range: use a value above {1 / ONE:.2g} and at most 4")
    return q


__all__ = ["Params", "batch_indices", "forward", "init_params", "predict", "q16", "sgd_step", "state_hash",
           "weights_hash"]
