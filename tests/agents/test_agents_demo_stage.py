"""Demo stage `agents` on its own: the figures the issue asks for, as integers, and a story that holds."""

from __future__ import annotations

from tessera.demo import run_demo


def test_the_agents_stage() -> None:
    report = run_demo(only=["agents"])
    stage = report.stages[-1]
    assert stage.name == "agents" and stage.ok, stage.error
    f = stage.figures
    for key in ("paid_calls", "onchain_settlements", "budget_refusals", "ranking_refusals", "jobs_paid",
                "signer_approved", "signer_rejected"):
        assert type(f[key]) is int, key
    assert (f["paid_calls"], f["onchain_settlements"], f["jobs_paid"]) == (200, 1, 1)
    assert (f["budget_refusals"], f["ranking_refusals"], f["signer_approved"], f["signer_rejected"]) == (1, 1, 1, 1)
    assert any("over the per-payment cap" in line for line in stage.lines)
    assert any("rejected: transfers 5.00 of token" in line for line in stage.lines)
