"""The bit-reproducible training runtime (tessera.training): Q16 arithmetic against float references with
explicit tolerances, accuracy against float32 PyTorch trained on the same batches from the same weights,
and identical state hashes across processes and thread settings."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys

import numpy as np
import pytest
import torch
from eth_abi import encode
from eth_utils import keccak
from hypothesis import given, settings
from hypothesis import strategies as st

from tessera.errors import TrainingError
from tessera.training import (ONE, Standardizer, TrainConfig, accuracy, batch_indices, exp_nonpositive, init_params,
                              matmul, q16, softmax, to_fixed, to_float, train)


def blobs(seed: int = 0, n: int = 1800, features: int = 64, classes: int = 10) -> tuple[np.ndarray, np.ndarray]:
    """A synthetic classification set with offset, unscaled features (so standardization matters)."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, classes, n)
    x = rng.normal(0, 1.0, (classes, features))[y] + rng.normal(0, 2.0, (n, features)) + 5
    return to_fixed(x), y


def split(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    cut = int(len(y) * 0.8)
    scaler = Standardizer.fit(x[:cut])
    return scaler.apply(x[:cut]), y[:cut], scaler.apply(x[cut:]), y[cut:]


CONFIG = TrainConfig([64, 32, 10], seed=7, steps=600, batch_size=32, lr=q16("0.05", "lr"), momentum=q16("0.9", "m"))


def test_exp_and_softmax_match_float_within_stated_tolerances() -> None:
    x = -np.arange(0, 25 * ONE, 97, dtype=np.int64)
    err = np.abs(to_float(exp_nonpositive(x)) - np.exp(to_float(x)))
    assert err.max() <= 3 / ONE  # a few Q16 units: the polynomial plus one rounding per Horner step
    with pytest.raises(TrainingError, match="x <= 0"):
        exp_nonpositive(np.array([1], dtype=np.int64))


@settings(max_examples=60, deadline=None)
@given(st.lists(st.lists(st.integers(-40 * ONE, 40 * ONE), min_size=10, max_size=10), min_size=1, max_size=8))
def test_softmax_is_a_distribution_close_to_the_float_one(rows: list[list[int]]) -> None:
    z = np.array(rows, dtype=np.int64)
    p = softmax(z)
    assert np.all(p >= 0) and np.all(np.abs(p.sum(axis=1) - ONE) <= 10)  # 10 elements, one rounding each
    ref = torch.softmax(torch.tensor(to_float(z)), dim=1).numpy()
    # p_j = e_j / T with every e_i within 3 Q16 units of exact (the exp test's bound) and T >= 1: the error is
    # at most 3 units from e_j, p_j * 30 units from T's ten terms and half a unit of rounding: 34 units
    assert np.abs(to_float(p) - ref).max() <= 34 / ONE


def test_training_matches_float32_pytorch_on_the_same_batches() -> None:
    """Same initial weights (dequantized exactly), same minibatches: only the number format differs."""
    xtr, ytr, xte, yte = split(*blobs())
    params, hashes = train(CONFIG, xtr, ytr)
    fixed_acc = accuracy(params, xte, yte)
    init = init_params(CONFIG.seed, CONFIG.layers)
    ws = [torch.tensor(to_float(w), dtype=torch.float32, requires_grad=True) for w in init.weights]
    bs = [torch.tensor(to_float(b), dtype=torch.float32, requires_grad=True) for b in init.biases]
    opt = torch.optim.SGD([*ws, *bs], lr=0.05, momentum=0.9)
    xt, yt = torch.tensor(to_float(xtr), dtype=torch.float32), torch.tensor(ytr)
    for step in range(1, CONFIG.steps + 1):
        idx = batch_indices(CONFIG.seed, step, CONFIG.batch_size, len(ytr))
        logits = torch.relu(xt[idx] @ ws[0] + bs[0]) @ ws[1] + bs[1]
        loss = torch.nn.functional.cross_entropy(logits, yt[idx])
        opt.zero_grad()
        loss.backward()
        opt.step()
    with torch.no_grad():
        xe = torch.tensor(to_float(xte), dtype=torch.float32)
        float_acc = float(((torch.relu(xe @ ws[0] + bs[0]) @ ws[1] + bs[1]).argmax(1).numpy() == yte).mean())
    assert fixed_acc > 0.85 and abs(fixed_acc - float_acc) <= 0.02, (fixed_acc, float_acc)
    assert len(hashes) == CONFIG.steps + 1 and len(set(hashes)) == len(hashes)  # every step changes the state


_CHILD = """
import json, sys
sys.path.insert(0, {tests!r})
from test_fixed_point_runtime import CONFIG, blobs, split
from dataclasses import replace
from tessera.training import train
xtr, ytr, _, _ = split(*blobs())
print(json.dumps([h.hex() for h in train(replace(CONFIG, steps=60), xtr, ytr)[1]]))
"""


def test_state_hashes_are_identical_across_processes_and_thread_counts() -> None:
    from dataclasses import replace
    xtr, ytr, _, _ = split(*blobs())
    here = [h.hex() for h in train(replace(CONFIG, steps=60), xtr, ytr)[1]]
    code = _CHILD.format(tests=os.path.dirname(__file__))
    for threads in ("1", "4"):
        env = {**os.environ, "OMP_NUM_THREADS": threads, "OPENBLAS_NUM_THREADS": threads, "MKL_NUM_THREADS": threads}
        out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
        assert json.loads(out.stdout) == here, f"state hashes differ with {threads} thread(s)"


def test_weights_and_batches_are_recomputable_one_at_a_time() -> None:
    """What a verifier (or the on-chain referee) needs: one weight, one sample index, from the seed alone."""
    seed, layer, j = 7, 1, 123
    params = init_params(seed, [64, 32, 10])
    bound = math.isqrt(6 * ONE * ONE // 32)
    draw = int.from_bytes(keccak(encode(["uint256"] * 4, [seed, 1, layer, j])), "big")
    assert params.weights[layer].reshape(-1)[j] == draw % (2 * bound + 1) - bound
    step, i, n = 42, 5, 1440
    draw = int.from_bytes(keccak(encode(["uint256"] * 4, [seed, 2, step, i])), "big")
    assert batch_indices(seed, step, 32, n)[i] == draw % n


def test_bad_inputs_are_refused_with_one_line() -> None:
    xtr, ytr, _, _ = split(*blobs(features=8))
    with pytest.raises(TrainingError, match=r"set model.layers\[0\] to 8"):
        train(CONFIG, xtr, ytr)
    with pytest.raises(TrainingError, match="set the last layer width to 10"):
        train(TrainConfig([8, 4, 3], 1, 5, 8, ONE // 10, ONE // 2), xtr, ytr)
    with pytest.raises(TrainingError, match="lr -0.1 is out of range"):
        q16("-0.1", "lr")
    with pytest.raises(TrainingError, match="overflow risk"):
        matmul(np.full((2, 3), 2**40, dtype=np.int64), np.full((3, 2), 2**40, dtype=np.int64))
    with pytest.raises(TrainingError, match="NaN or infinite"):
        to_fixed([1.0, float("nan")])
