"""The verifier's audit: it finds exactly the skipped steps among those it replays, refuses served states that
are not the committed ones (replaying from the seed instead), and a forced error's wrapper still serves."""

from __future__ import annotations

from tessera.training.audit import audit, check_leaves
from tessera.training.commit import PositionTree
from tessera.training.solution import Solution

import pytest
from tessera.errors import TrainingError

from training_harness import small_task


def test_the_audit_finds_the_skipped_steps_and_survives_withheld_states() -> None:
    t = small_task()
    x, y = t.data.x_train, t.data.y[t.data.train]
    honest = Solution.train(t.config, x, y, every=4)
    assert audit(t.config, x, y, range(1, 13), honest.leaves(), honest.state).ok
    cheat = Solution.train(t.config, x, y, skip=(3, 9), every=4)
    report = audit(t.config, x, y, range(1, 13), cheat.leaves(), cheat.state)
    assert report.wrong == [3, 9] and not report.refused_states
    # a solver that withholds (or fakes) the state before step 6: the verifier replays from the seed
    withheld = audit(t.config, x, y, [6], honest.leaves(), lambda s: None if s == 5 else honest.state(s))
    assert withheld.ok and withheld.refused_states == [5] and withheld.replayed_steps == 6
    faked = audit(t.config, x, y, [6], honest.leaves(), lambda s: honest.state(s - 1))
    assert faked.ok and faked.refused_states == [5]
    # a forced error's wrapper at step 4 does not stop the audit of step 5, and step 4 itself is wrong
    leaves = honest.leaves([4])
    forced = audit(t.config, x, y, [4, 5], leaves, honest.state)
    assert forced.wrong == [4] and not forced.refused_states
    check_leaves(leaves, PositionTree(leaves).root)
    with pytest.raises(TrainingError, match="not its committed root"):
        check_leaves(honest.leaves(), PositionTree(leaves).root)
