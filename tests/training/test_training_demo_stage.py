"""Demo stage `training` on its own: an honest task accepted, a step-skipping cheater slashed through the
dispute game, a forced error caught for the jackpot; the figures have the issue's names and types."""

from __future__ import annotations

from tessera.demo import run_demo


def test_the_training_stage() -> None:
    report = run_demo(only=["training"])
    stage = report.stages[-1]
    assert stage.name == "training" and stage.ok, stage.error
    f = stage.figures
    assert f["honest_accepted"] is True and f["cheater_slashed"] is True and f["forced_error_caught"] is True
    assert type(f["dispute_rounds"]) is int and f["dispute_rounds"] >= 6
    assert type(f["referee_gas"]) is int and 0 < f["referee_gas"] < 10_000_000
    assert 0.9 <= f["test_accuracy"] <= 1 and 0.9 <= f["float_accuracy"] <= 1
    assert abs(f["test_accuracy"] - f["float_accuracy"]) <= 0.02
    assert any("refereed on chain" in line for line in stage.lines)
