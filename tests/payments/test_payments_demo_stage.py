"""Demo stage `payments` on its own: the figures the issue asks for, as integers, and a story that holds."""

from __future__ import annotations

from tessera.demo import run_demo


def test_the_payments_stage_pays_once_per_call_and_settles_the_channel_once() -> None:
    report = run_demo(only=["payments"])
    stage = report.stages[-1]
    assert stage.name == "payments" and stage.ok, stage.error
    f = stage.figures
    for key in ("exact_calls", "channel_calls", "onchain_settlements", "double_payments", "gas_per_exact_call",
                "gas_per_channel_call"):
        assert type(f[key]) is int, key
    assert (f["exact_calls"], f["channel_calls"], f["onchain_settlements"], f["double_payments"]) == (1, 200, 2, 0)
    assert f["onchain_transactions"] == 3  # the exact transfer, the channel deposit, the channel close
    assert 0 < f["gas_per_channel_call"] < f["gas_per_exact_call"] // 20
    assert f["retries_paid_once"] == 2 and f["fast_path_calls"] == 199
    assert "nonce_already_used" in f["replayed_authorization_refused"]
    assert "cumulative_amount_mismatch" in f["replayed_voucher_refused"]
    assert any("0 double payments" in line for line in stage.lines)
