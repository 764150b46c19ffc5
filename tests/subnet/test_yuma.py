"""Yuma consensus: bit-exact with the chain's fixtures, with a scalar transliteration, and invariants."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import chain_reference
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tessera.errors import EpochInputError
from tessera.subnet.yuma import run_epoch

# The chain-computed fixtures are vendored here; any further cases in the workspace's shared
# fixtures directory (../shared/fixtures/yuma next to the repository) are run as well.
FIXTURES = Path(__file__).resolve().parent / "fixtures" / "yuma"
SHARED = Path(__file__).resolve().parents[3] / "shared" / "fixtures" / "yuma"
OUTPUT_KEYS = [
    "new_validator_permits", "active", "stake_bits", "active_stake_bits", "consensus_bits",
    "validator_trust_bits", "incentive_bits", "dividends_bits", "bonds_stored", "server_emission",
    "validator_emission", "combined_emission", "consensus_u16", "incentive_u16", "dividends_u16",
    "validator_trust_u16", "stake_weight_u16",
]


def _fixture_files() -> list[Path]:
    files = {p.name: p for p in sorted(FIXTURES.glob("*.json"))}
    if SHARED.is_dir():
        files.update({p.name: p for p in sorted(SHARED.glob("*.json"))})
    return [files[name] for name in sorted(files)]


def _fixture_epochs() -> list[Any]:
    cases = []
    for path in _fixture_files():
        data = json.loads(path.read_text())
        for epoch in data["epochs"]:
            state = {"yuma_version": data["yuma_version"], "hyperparameters": data["hyperparameters"],
                     "inputs": epoch["inputs"]}
            cases.append(pytest.param(state, epoch["expected"], id=f"{path.stem}-e{epoch['epoch']}"))
    return cases


@pytest.mark.parametrize(("state", "expected"), _fixture_epochs())
def test_fixture_epoch_is_bit_exact(state: dict[str, Any], expected: dict[str, Any]) -> None:
    out = run_epoch(state)
    for key in OUTPUT_KEYS:
        assert out[key] == expected[key], key
    # The chain's reference also records the bonds EMA it stored (yuma2: column max-upscaled).
    assert out["ema_bonds_bits"] == expected["ema_bonds_bits"]


def test_fixture_sequence_carries_state_between_epochs() -> None:
    """Feeding our own bonds and permits forward reproduces every later epoch of a fixture."""
    path = FIXTURES / "s02_small_2v3m_disagree__yuma3.json"
    data = json.loads(path.read_text())
    bonds, permits = None, None
    for epoch in data["epochs"]:
        inputs = dict(epoch["inputs"])
        if bonds is not None:
            inputs["bonds"], inputs["validator_permit"] = bonds, permits
        out = run_epoch({"yuma_version": data["yuma_version"], "hyperparameters": data["hyperparameters"],
                         "inputs": inputs})
        assert out["dividends_bits"] == epoch["expected"]["dividends_bits"]
        bonds = [old if new is None else new for old, new in zip(inputs["bonds"], out["bonds_stored"])]
        permits = out["new_validator_permits"]


@st.composite
def states(draw: st.DrawFn) -> dict[str, Any]:
    n = draw(st.integers(2, 9))
    version = draw(st.sampled_from(["yuma2", "yuma3", "yuma3_liquid"]))
    current = 10_000
    low = draw(st.integers(1638, 65535))
    hyper = {
        "kappa": draw(st.sampled_from([0, 1, 32767, 45000, 65535])),
        "bonds_penalty": draw(st.sampled_from([0, 30000, 65535])),
        "bonds_moving_average": draw(st.sampled_from([0, 500_000, 900_000, 975_000, 1_000_000])),
        "alpha_low": low,
        "alpha_high": draw(st.integers(low, 65535)),
        "alpha_sigmoid_steepness": draw(st.sampled_from([-500, 0, 1000, 3000, 9000, 32767])),
        "max_allowed_validators": draw(st.integers(0, n + 1)),
        "stake_threshold": draw(st.sampled_from([0, 10, 10**9])),
        "tao_weight": draw(st.sampled_from([0, 971_718_665_099_567_868, (1 << 64) - 1])),
        "tempo": 360,
        "activity_cutoff": draw(st.sampled_from([50, 5000])),
        "owner_uid": draw(st.integers(-1, n - 1)),
        "commit_reveal_enabled": draw(st.integers(0, 1)),
        "rao_emission": draw(st.sampled_from([0, 1, 295_200_000_000, (1 << 64) - 1])),
    }
    uid = st.integers(0, n - 1)
    blocks = st.sampled_from([0, 9_000, 9_640, 9_700, 9_990, 10_000])

    def row(value_max: int) -> list[list[int]]:
        uids = draw(st.lists(uid, unique=True, max_size=n))
        return [[u, draw(st.integers(0, value_max))] for u in uids]

    inputs = {
        "current_block": current,
        "last_mechanism_step_block": draw(st.sampled_from([0, 9_640, 9_700])),
        "last_update": [draw(blocks) for _ in range(n)],
        "block_at_registration": [draw(blocks) for _ in range(n)],
        "alpha_stake": [draw(st.sampled_from([0, 1, 10**9, 7 * 10**11, 3 * 10**11])) for _ in range(n)],
        "tao_stake": [draw(st.sampled_from([0, 5 * 10**11])) for _ in range(n)],
        "validator_permit": [draw(st.booleans()) for _ in range(n)],
        "weights_submitted": [row(65535) for _ in range(n)],
        "bonds": [row(65535) for _ in range(n)],
        "commit_block": draw(st.one_of(st.none(), st.lists(st.one_of(st.none(), blocks), min_size=n, max_size=n))),
    }
    return {"yuma_version": version, "hyperparameters": hyper, "inputs": inputs}


@settings(max_examples=int(__import__("os").environ.get("YUMA_EXAMPLES", "300")), deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(states())
def test_matches_scalar_transliteration_of_the_chain(state: dict[str, Any]) -> None:
    ours = run_epoch(state)
    reference = chain_reference.epoch(state)
    for key in OUTPUT_KEYS:
        assert ours[key] == reference[key], key


@settings(max_examples=150, deadline=None)
@given(states())
def test_invariants(state: dict[str, Any]) -> None:
    out = run_epoch(state)
    rao = state["hyperparameters"]["rao_emission"]
    paid = sum(out["server_emission"]) + sum(out["validator_emission"])
    assert paid <= rao
    incentive = sum(out["incentive_bits"])
    assert incentive == 0 or abs(incentive - (1 << 32)) <= len(out["incentive_bits"])
    assert sum(out["new_validator_permits"]) <= state["hyperparameters"]["max_allowed_validators"]
    for row in out["bonds_stored"]:
        assert row is None or all(0 <= value <= 65535 for _, value in row)


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda s: s.update(yuma_version="yuma4"), "yuma_version"),
        (lambda s: s["hyperparameters"].pop("rao_emission"), "rao_emission"),
        (lambda s: s["hyperparameters"].update(kappa=70000), "kappa"),
        (lambda s: s["hyperparameters"].update(yuma3_on=0), "contradicts"),
        (lambda s: s["inputs"].update(alpha_stake=[1]), "alpha_stake has 1 entries"),
        (lambda s: s["inputs"]["weights_submitted"].__setitem__(0, [[2, 1], [2, 5]]), "uid twice"),
        (lambda s: s["inputs"]["weights_submitted"].__setitem__(0, [[2, 70000]]), "outside u16"),
        (lambda s: s["inputs"]["bonds"].__setitem__(0, [[9, 1]]), "names uid 9"),
        (lambda s: s["inputs"]["weights_submitted"].__setitem__(0, "x"), "pairs"),
    ],
)
def test_malformed_states_are_refused_with_the_field_named(mutate: Any, message: str) -> None:
    state = {
        "yuma_version": "yuma3",
        "hyperparameters": {"rao_emission": 1000},
        "inputs": {
            "current_block": 100, "last_mechanism_step_block": 0, "last_update": [90, 0, 0],
            "block_at_registration": [0, 0, 0], "alpha_stake": [1, 0, 0], "tao_stake": [0, 0, 0],
            "validator_permit": [True, False, False], "weights_submitted": [[[1, 5]], [], []],
            "bonds": [[], [], []], "commit_block": None,
        },
    }
    run_epoch(state)
    mutate(state)
    with pytest.raises(EpochInputError, match=message):
        run_epoch(state)
