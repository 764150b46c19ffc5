"""A solver's side of a task: the trained states (checkpoints, any step replayed on request), the step leaves
it commits to, with the forced errors a forced task must carry, and its answers in the dispute game.

`skip` makes a cheating solver for tests, the demo and the benchmark: a skipped step leaves the state as it
was (no training), and its leaf claims the result anyway. Forced errors are different: the trajectory stays
honest, only the forced steps' leaves are deliberately wrong, and the secret that chose them is revealed when
one is challenged.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

import numpy as np
from eth_utils import keccak

from .commit import PositionTree
from .fixedpoint import Fixed
from .mlp import Params, batch_indices, init_params, sgd_trace, state_digests, state_hash, state_tensors
from .trace import StepTrace, state_slot
from .trainer import TrainConfig, train_step

FORCED_STEP_ODDS = 4  # TrainingMarket.FORCED_STEP_ODDS


def _word(n: int) -> bytes:
    return n.to_bytes(32, "big")


def is_forced(secret: bytes, seed: bytes, steps: int, odds: int) -> bool:
    """TrainingMarket.isForced: whether this task carries forced errors."""
    if steps < 2:
        return False
    return seed == _word(1) or int.from_bytes(keccak(secret + seed + _forced_tag()), "big") % odds == 0


def _forced_tag() -> bytes:
    # abi.encode(bytes32, bytes32, "forced"): a dynamic string after two words: offset, length, padded data
    return _word(96) + _word(6) + b"forced".ljust(32, b"\0")


def is_forced_step(secret: bytes, seed: bytes, steps: int, step: int) -> bool:
    """TrainingMarket.isForcedStep."""
    if steps < 2 or step == 0 or step >= steps:
        return False
    if step == 1 + int.from_bytes(keccak(secret + seed), "big") % (steps - 1):
        return True
    return int.from_bytes(keccak(secret + seed + _word(step)), "big") % FORCED_STEP_ODDS == 0


def forced_leaf(leaf: bytes) -> bytes:
    return keccak(b"tessera-forced-error" + leaf)


@dataclass
class Solution:
    config: TrainConfig
    x: Fixed
    y: np.ndarray
    skip: frozenset[int] = frozenset()
    every: int = 50
    checkpoints: dict[int, Params] = field(default_factory=dict)
    hashes: list[bytes] = field(default_factory=list)  # the true hash of the state after each step

    @classmethod
    def train(cls, config: TrainConfig, x: Fixed, y: np.ndarray, *, skip: Iterable[int] = (),
              every: int = 50) -> Solution:
        s = cls(config, x, y, frozenset(skip), every)
        params = init_params(config.seed, config.layers)
        s.checkpoints[0] = params
        s.hashes.append(state_hash(0, params))
        for step in range(1, config.steps + 1):
            params = s._advance(params, step)
            s.hashes.append(state_hash(step, params))
            if step % every == 0 or step == config.steps:
                s.checkpoints[step] = params
        return s

    def _advance(self, params: Params, step: int) -> Params:
        return params if step in self.skip else train_step(self.config, self.x, self.y, params, step)

    def state(self, step: int) -> Params:
        """The state after `step`, replayed from the nearest checkpoint at or before it."""
        start = max(s for s in self.checkpoints if s <= step)
        params = self.checkpoints[start]
        for t in range(start + 1, step + 1):
            params = self._advance(params, t)
        return params

    @property
    def final(self) -> Params:
        return self.checkpoints[self.config.steps]

    def leaves(self, forced: Iterable[int] = ()) -> list[bytes]:
        out = list(self.hashes)
        for s in forced:
            out[s] = forced_leaf(out[s])
        return out

    def claimed_trace(self, step: int) -> StepTrace:
        """The trace this solver stands behind for `step`: the real one, or for a skipped step one whose new
        state is the old state (what its leaf claims)."""
        if step == 0:
            return StepTrace.of(0, list(state_tensors(self.checkpoints[0])))
        before = self.state(step - 1)
        idx = batch_indices(self.config.seed, step, self.config.batch_size, self.x.shape[0])
        tensors = sgd_trace(before, self.x[idx], self.y[idx], self.config.lr, self.config.momentum)
        if step in self.skip:
            layers = len(self.config.layers) - 1
            for i, t in enumerate(state_tensors(before)):
                tensors[state_slot(layers, step, i)] = t
        return StepTrace.of(step, tensors)


@dataclass
class Commitment:
    """What the solver commits: the root over its step leaves, and the final state opened with its proof."""
    tree: PositionTree
    final_digests: list[bytes]
    steps: int

    @classmethod
    def of(cls, solution: Solution, leaves: list[bytes]) -> Commitment:
        return cls(PositionTree(leaves), state_digests(solution.final), solution.config.steps)

    @property
    def root(self) -> bytes:
        return self.tree.root

    @property
    def final_proof(self) -> list[bytes]:
        return self.tree.proof(self.steps)


__all__ = ["Commitment", "FORCED_STEP_ODDS", "Solution", "forced_leaf", "is_forced", "is_forced_step"]
