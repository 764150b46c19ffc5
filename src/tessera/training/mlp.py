"""A bit-reproducible MLP trainer: dense + ReLU layers, softmax cross-entropy, SGD with momentum, all in Q16.

Every quantity a verifier needs to replay one step is defined here without floats:
- weights start from `init_params(seed, layers)`: each weight is drawn from keccak, so any single weight can be
  recomputed alone (and on-chain) without running a random-number generator up to it;
- minibatch `i` of step `t` is sample `keccak(seed, t, i) mod n` (`batch_indices`), drawn with replacement;
- the state after a step is hashed with `state_hash`: the step and each tensor's row/column commitment
  (`commit.py`), so a contract can open any one row or column of it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
from eth_utils import keccak

from ..errors import TrainingError
from .commit import state_digest, tensor_digest, weights_digest
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


def sgd_trace(params: Params, x: Fixed, y: np.ndarray, lr: int, momentum: int) -> list[Fixed | None]:
    """One minibatch step as the list of every tensor it reads or makes, in the order `trace.Layout` numbers
    them (the state, the batch, each layer's output, the gradients, the new momentum and the new weights).
    A referee can recompute any one element of any of them from the others."""
    layers = len(params.weights)
    inputs, logits = forward(params, x)
    batch = x.shape[0]
    grad = softmax(logits)
    grad[np.arange(batch), y] -= ONE
    grad = div_round(grad, batch)  # d(mean loss)/d(logits)
    trace: list[Fixed | None] = [*params.weights, *params.biases, *params.w_velocity, *params.b_velocity,
                                 *inputs[1:], logits, grad]
    trace[4 * layers:4 * layers] = [x]
    for i in reversed(range(layers)):
        h = inputs[i]
        g_w = matmul(h.T, grad, f"layer {i} weight gradient")
        g_b = grad.sum(axis=0)
        below = None
        if i > 0:  # the gradient of the layer below, through its ReLU (computed with the old weights)
            below = matmul(grad, params.weights[i].T, f"layer {i} backward") * (inputs[i] > 0)
        v_w = mul(params.w_velocity[i], momentum) + g_w
        v_b = mul(params.b_velocity[i], momentum) + g_b
        trace += [g_w, g_b, below, v_w, v_b, params.weights[i] - mul(v_w, lr), params.biases[i] - mul(v_b, lr)]
        if below is not None:
            grad = below
    return trace


def params_after(trace: list[Fixed | None], layers: int) -> Params:
    """The state a step's trace ends in."""
    base = 5 * layers + 2
    block = [trace[base + 7 * (layers - 1 - i):base + 7 * (layers - i)] for i in range(layers)]

    def pick(slot: int) -> list[Fixed]:
        return [t for t in (b[slot] for b in block) if t is not None]
    return Params(pick(5), pick(6), pick(3), pick(4))


def sgd_step(params: Params, x: Fixed, y: np.ndarray, lr: int, momentum: int) -> Params:
    """One minibatch step (lr and momentum in Q16). Returns the new parameters; `params` is left as it was."""
    return params_after(sgd_trace(params, x, y, lr, momentum), len(params.weights))


def state_tensors(params: Params) -> list[Fixed]:
    return [*params.weights, *params.biases, *params.w_velocity, *params.b_velocity]


def state_hash(step: int, params: Params) -> bytes:
    """The step leaf: keccak(step ++ the commitment of every state tensor: weights, biases, then momentum)."""
    return state_digest(step, state_digests(params))


def state_digests(params: Params) -> list[bytes]:
    """Each state tensor's commitment; only the weights have columns an operator reads (trace.has_columns)."""
    n = len(params.weights)
    return [tensor_digest(t, i < n) for i, t in enumerate(state_tensors(params))]


def weights_hash(params: Params) -> bytes:
    """keccak over the commitments of the weights and biases (the same digests the final step leaf holds)."""
    return weights_digest(state_digests(params)[:2 * len(params.weights)])


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


__all__ = ["Params", "batch_indices", "forward", "init_params", "params_after", "predict", "q16", "sgd_step",
           "sgd_trace", "state_digests", "state_hash", "state_tensors", "weights_hash"]
