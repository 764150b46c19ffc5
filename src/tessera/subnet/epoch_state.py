"""The input of one Yuma epoch: hyperparameters and the chain state it reads, validated.

The JSON shape is the one in ``docs/subnet.md`` (and the shared ``yuma-epoch-io`` spec)::

    {"yuma_version": "yuma2" | "yuma3" | "yuma3_liquid",
     "hyperparameters": {...chain encodings...},
     "inputs": {...vectors of length n indexed by UID...}}

Parsing turns it into numpy arrays once, so nodes that already hold arrays (a validator reading
the chain) can build :class:`EpochState` directly and skip JSON entirely.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray

from ..errors import EpochInputError

VERSIONS = ("yuma2", "yuma3", "yuma3_liquid")
U64_MAX = (1 << 64) - 1
NO_COMMIT = np.iinfo(np.int64).max  # the chain's u64::MAX "no active commit", scaled to int64

# Bittensor mainnet defaults (subtensor runtime), used where a state leaves a key out.
DEFAULT_HYPERPARAMETERS: dict[str, int] = {
    "kappa": 32767,
    "bonds_penalty": 65535,
    "bonds_moving_average": 900_000,
    "alpha_low": 45875,
    "alpha_high": 58982,
    "alpha_sigmoid_steepness": 1000,
    "max_allowed_validators": 128,
    "stake_threshold": 0,
    "tao_weight": 0,
    "tempo": 360,
    "activity_cutoff": 5000,
    "owner_uid": -1,
    "commit_reveal_enabled": 0,
}
_BOUNDS: dict[str, tuple[int, int]] = {
    "kappa": (0, 65535),
    "bonds_penalty": (0, 65535),
    "bonds_moving_average": (0, 1_000_000),
    "alpha_low": (0, 65535),
    "alpha_high": (0, 65535),
    "alpha_sigmoid_steepness": (-32768, 32767),
    "max_allowed_validators": (0, 65535),
    "stake_threshold": (0, U64_MAX),
    "tao_weight": (0, U64_MAX),
    "tempo": (0, 65535),
    "activity_cutoff": (0, U64_MAX),
    "owner_uid": (-1, 65535),
    "commit_reveal_enabled": (0, 1),
    "rao_emission": (0, U64_MAX),
}


@dataclass(frozen=True)
class Hyperparameters:
    """Subnet hyperparameters in the chain's own encodings (u16 ratios, u64 rao, blocks)."""

    rao_emission: int
    kappa: int = 32767
    bonds_penalty: int = 65535
    bonds_moving_average: int = 900_000
    alpha_low: int = 45875
    alpha_high: int = 58982
    alpha_sigmoid_steepness: int = 1000
    max_allowed_validators: int = 128
    stake_threshold: int = 0
    tao_weight: int = 0
    tempo: int = 360
    activity_cutoff: int = 5000
    owner_uid: int = -1
    commit_reveal_enabled: bool = False


@dataclass
class EpochState:
    """Everything one epoch reads. Sparse rows are ``(uids, values)`` integer array pairs."""

    version: str
    hyper: Hyperparameters
    current_block: int
    last_mechanism_step_block: int
    last_update: NDArray[np.int64]
    block_at_registration: NDArray[np.int64]
    alpha_stake: list[int]
    tao_stake: list[int]
    validator_permit: NDArray[np.bool_]
    weights: list[tuple[NDArray[np.int64], NDArray[np.int64]]]
    bonds: list[tuple[NDArray[np.int64], NDArray[np.int64]]]
    commit_block: NDArray[np.int64] | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def n(self) -> int:
        return len(self.last_update)

    @property
    def yuma3(self) -> bool:
        return self.version != "yuma2"

    @property
    def liquid_alpha(self) -> bool:
        return self.version == "yuma3_liquid"


def parse_state(state: Any) -> EpochState:
    """Validate a JSON-shaped state and convert it; errors name the field and the fix."""
    if not isinstance(state, dict):
        raise EpochInputError("an epoch state must be a JSON object with yuma_version, hyperparameters and inputs")
    version = state.get("yuma_version")
    if version not in VERSIONS:
        raise EpochInputError(f"yuma_version is {version!r}: use one of {', '.join(VERSIONS)}")
    hyper = _parse_hyper(state.get("hyperparameters"), version)
    inputs = state.get("inputs")
    if not isinstance(inputs, dict):
        raise EpochInputError("inputs is missing: give the chain state the epoch reads (see docs/subnet.md)")
    n = len(_list(inputs, "last_update"))
    vectors = {name: _int_vector(inputs, name, n) for name in ("last_update", "block_at_registration")}
    permits = _list(inputs, "validator_permit")
    _check_len("validator_permit", permits, n)
    commit = inputs.get("commit_block")
    commit_block = None
    if commit is not None:
        _check_len("commit_block", commit, n)
        commit_block = np.array([NO_COMMIT if c is None else _u64("commit_block", c) for c in commit], dtype=np.int64)
    return EpochState(
        version=version,
        hyper=hyper,
        current_block=_u64("current_block", inputs.get("current_block")),
        last_mechanism_step_block=_u64("last_mechanism_step_block", inputs.get("last_mechanism_step_block", 0)),
        last_update=vectors["last_update"],
        block_at_registration=vectors["block_at_registration"],
        alpha_stake=[_u64("alpha_stake", v) for v in _sized(inputs, "alpha_stake", n)],
        tao_stake=[_u64("tao_stake", v) for v in _sized(inputs, "tao_stake", n)],
        validator_permit=np.array([bool(p) for p in permits], dtype=bool),
        weights=[_row(inputs, "weights_submitted", i, row, n, drop_out_of_range=True)
                 for i, row in enumerate(_sized(inputs, "weights_submitted", n))],
        bonds=[_row(inputs, "bonds", i, row, n, drop_out_of_range=False)
               for i, row in enumerate(_sized(inputs, "bonds", n))],
        commit_block=commit_block,
    )


def _parse_hyper(raw: Any, version: str) -> Hyperparameters:
    if not isinstance(raw, dict):
        raise EpochInputError("hyperparameters is missing: give at least rao_emission (see docs/subnet.md)")
    if "rao_emission" not in raw:
        raise EpochInputError("hyperparameters.rao_emission is missing: the alpha (rao) this epoch distributes")
    values: dict[str, int] = {}
    for key, (low, high) in _BOUNDS.items():
        value = raw.get(key, DEFAULT_HYPERPARAMETERS.get(key))
        if isinstance(value, bool):
            value = int(value)
        if not isinstance(value, int) or not low <= value <= high:
            raise EpochInputError(f"hyperparameters.{key} is {value!r}: it must be an integer in [{low}, {high}]")
        values[key] = value
    for flag, expected in (("yuma3_on", version != "yuma2"), ("liquid_alpha_on", version == "yuma3_liquid")):
        if flag in raw and bool(raw[flag]) != expected:
            raise EpochInputError(
                f"hyperparameters.{flag}={raw[flag]!r} contradicts yuma_version={version!r}: "
                f"set {flag} to {int(expected)} or change yuma_version"
            )
    commit_reveal = bool(values.pop("commit_reveal_enabled"))
    return Hyperparameters(**values, commit_reveal_enabled=commit_reveal)  # type: ignore[arg-type]


def _list(inputs: dict[str, Any], name: str) -> list[Any]:
    value = inputs.get(name)
    if not isinstance(value, list):
        raise EpochInputError(f"inputs.{name} is missing or not a list: give one entry per UID")
    return value


def _sized(inputs: dict[str, Any], name: str, n: int) -> list[Any]:
    value = _list(inputs, name)
    _check_len(name, value, n)
    return value


def _check_len(name: str, value: Any, n: int) -> None:
    if not isinstance(value, list) or len(value) != n:
        got = len(value) if isinstance(value, list) else type(value).__name__
        raise EpochInputError(f"inputs.{name} has {got} entries but last_update has {n}: give one per UID")


def _u64(name: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= U64_MAX:
        raise EpochInputError(f"{name} is {value!r}: it must be an unsigned 64-bit integer")
    return value


def _int_vector(inputs: dict[str, Any], name: str, n: int) -> NDArray[np.int64]:
    values = _sized(inputs, name, n)
    checked = [_u64(f"inputs.{name}", v) for v in values]
    if any(v > NO_COMMIT for v in checked):
        raise EpochInputError(f"inputs.{name} holds a block number above 2**63: block numbers must be realistic")
    return np.array(checked, dtype=np.int64)


def _row(inputs: dict[str, Any], name: str, i: int, row: Any, n: int, *, drop_out_of_range: bool
         ) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
    if not isinstance(row, list):
        raise EpochInputError(f"inputs.{name}[{i}] must be a list of [uid, u16] pairs, e.g. [[3, 65535]]")
    if not row:
        empty = np.zeros(0, dtype=np.int64)
        return empty, empty
    try:
        pairs = np.asarray(row, dtype=np.int64)
    except (TypeError, ValueError, OverflowError) as e:
        raise EpochInputError(f"inputs.{name}[{i}] must hold [uid, u16] integer pairs: {e}") from e
    if pairs.ndim != 2 or pairs.shape[1] != 2:
        raise EpochInputError(f"inputs.{name}[{i}] must hold [uid, u16] pairs, got shape {list(pairs.shape)}")
    uids, values = pairs[:, 0], pairs[:, 1]
    if (values < 0).any() or (values > 65535).any() or (uids < 0).any() or (uids > 65535).any():
        raise EpochInputError(f"inputs.{name}[{i}] holds a uid or value outside u16 [0, 65535]")
    if len(np.unique(uids)) != len(uids):
        raise EpochInputError(f"inputs.{name}[{i}] names a uid twice: the chain stores one value per uid")
    if not drop_out_of_range and (uids >= n).any():
        raise EpochInputError(f"inputs.{name}[{i}] names uid {int(uids.max())} but the subnet has {n} UIDs")
    return uids, values
