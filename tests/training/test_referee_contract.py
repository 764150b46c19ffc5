"""The on-chain referee recomputes every operator of a real training step exactly as the runtime does: each
tensor of the trace, sampled elements (first, last, and in between), at step 0 (the seed's initial weights)
and at later steps; and it refuses openings that are not the committed data."""

from __future__ import annotations

import numpy as np
import pytest

from tessera.accounts.dev import dev_account
from tessera.chain import EmbeddedChain
from tessera.chain.contract import Contract
from tessera.errors import ContractRevert
from tessera.training.commit import as_matrix
from tessera.training.trace import referee_inputs, trace_length

from training_harness import SmallTask, small_task


@pytest.fixture(scope="module")
def env() -> tuple[Contract, SmallTask]:
    chain = EmbeddedChain()
    referee, _ = Contract.deploy(chain, dev_account(0), "TrainingReferee")
    return referee, small_task()


def _elements(shape: tuple[int, int]) -> list[tuple[int, int]]:
    rows, cols = shape
    picks = {(0, 0), (rows - 1, cols - 1), (rows // 2, cols // 2), (0, cols - 1), (rows - 1, 0)}
    return sorted(picks)


@pytest.mark.parametrize("step", [0, 1, 7])
def test_every_operator_of_a_step_recomputes_exactly(env: tuple[Contract, SmallTask], step: int) -> None:
    referee, task = env
    trace = task.trace(step)
    L = task.layers
    assert len(trace.tensors) == trace_length(L, step)
    checked = 0
    for k, tensor in enumerate(trace.tensors):
        if tensor is None or (step > 0 and k < 4 * L):
            continue  # the empty slot; state tensors are a step's inputs, not its operators
        m = as_matrix(tensor)
        for i, j in _elements(m.shape):
            openings, sample = referee_inputs(trace, L, k, i, j, task.config, task.data, task.commitment)
            got = referee.call("recompute", task.params(), step, trace.digests, k, i, j, openings, sample)
            assert got == int(m[i, j]), (step, k, i, j)
            checked += 1
    assert checked >= (20 if step == 0 else 100)


def test_a_wrong_opening_is_refused(env: tuple[Contract, SmallTask]) -> None:
    referee, task = env
    trace = task.trace(3)
    L = task.layers
    k = 4 * L + 1  # layer 0's output
    openings, sample = referee_inputs(trace, L, k, 1, 2, task.config, task.data, task.commitment)
    tampered = list(openings[0])
    tampered[6] = [v + 1 for v in tampered[6]]  # different values for the committed row
    with pytest.raises(ContractRevert, match="bad proof"):
        referee.call("recompute", task.params(), 3, trace.digests, k, 1, 2, [tuple(tampered), *openings[1:]], sample)
    wrong_row = list(trace.opening(4 * L, False, 0))  # row 0 where the operator reads row 1
    with pytest.raises(ContractRevert, match="not the row or column"):
        referee.call("recompute", task.params(), 3, trace.digests, k, 1, 2, [tuple(wrong_row), *openings[1:]], sample)
    # a sample from a different position than the sampler drew
    x_k = 4 * L
    openings, sample = referee_inputs(trace, L, x_k, 0, 0, task.config, task.data, task.commitment)
    other = list(sample)
    other[4] = task.commitment.tree.proof((int(np.argmax([1])) + 5) % task.commitment.n)
    with pytest.raises(ContractRevert, match="bad proof"):
        referee.call("recompute", task.params(), 3, trace.digests, x_k, 0, 0, openings, tuple(other))
