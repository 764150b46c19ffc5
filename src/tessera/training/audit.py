"""A verifier's audit: replay the drawn steps from the states the solver serves and compare with its leaves.

The solver serves its step leaves (checked here against the committed root) and the state before each
audited step (checked against its leaf, or a forced error's wrapper of it). A served state that matches
neither is refused, and the verifier replays from the seed instead: withholding or faking a state costs the
solver nothing but makes the verifier's work longer, never lets a wrong step pass.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import numpy as np

from ..errors import TrainingError
from .commit import PositionTree
from .fixedpoint import Fixed
from .mlp import Params, state_hash
from .solution import forced_leaf
from .trainer import TrainConfig, replay, train_step


@dataclass
class AuditReport:
    checked: list[int] = field(default_factory=list)
    wrong: list[int] = field(default_factory=list)  # audited steps whose leaf is not the replayed state
    refused_states: list[int] = field(default_factory=list)  # served states that matched no leaf
    replayed_steps: int = 0  # training steps the verifier ran (audited steps plus any replay from the seed)
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return not self.wrong


def check_leaves(leaves: list[bytes], root: bytes) -> None:
    if PositionTree(leaves).root != root:
        raise TrainingError("the leaves the solver served are not its committed root: challenge step 0 or report it")


def audit(config: TrainConfig, x: Fixed, y: np.ndarray, steps: Iterable[int], leaves: list[bytes],
          served_state: Callable[[int], Params | None]) -> AuditReport:
    report = AuditReport()
    start = time.perf_counter()
    for s in sorted(set(steps)):
        given = served_state(s - 1)
        served = None if given is None else state_hash(s - 1, given)
        if given is not None and served is not None and leaves[s - 1] in (served, forced_leaf(served)):
            before = given
        else:
            report.refused_states.append(s - 1)
            before = replay(config, x, y, s - 1)
            report.replayed_steps += s - 1
        after = train_step(config, x, y, before, s)
        report.replayed_steps += 1
        report.checked.append(s)
        if state_hash(s, after) != leaves[s]:
            report.wrong.append(s)
    report.seconds = time.perf_counter() - start
    return report


__all__ = ["AuditReport", "audit", "check_leaves"]
