"""How a model becomes a circuit: visibility, calibration target, batch size."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from ..errors import ZkInputError
from .onnx_graph import TensorSpec

VISIBILITIES = ("hashed", "public")
TARGETS = ("resources", "accuracy")


@dataclass(frozen=True)
class ZkOptions:
    """How a model becomes a circuit.

    input/output visibility: `hashed` (default) makes the public instance a Poseidon hash of the quantized
    tensor (one field element, whatever the size); `public` puts every quantized value in the instance.
    Model weights are always fixed in the circuit (they are part of the verifying key, so the model id
    pins them). `batch`: inferences per proof."""

    input_visibility: str = "hashed"
    output_visibility: str = "hashed"
    target: str = "resources"
    batch: int = 1
    max_logrows: int | None = None

    def __post_init__(self) -> None:
        for name in ("input_visibility", "output_visibility"):
            if getattr(self, name) not in VISIBILITIES:
                raise ZkInputError(f"{name} must be one of {', '.join(VISIBILITIES)}, got {getattr(self, name)!r}")
        if self.target not in TARGETS:
            raise ZkInputError(f"calibration target must be one of {', '.join(TARGETS)}, got {self.target!r}")
        if not 1 <= self.batch <= 1024:
            raise ZkInputError(f"batch must be between 1 and 1024, got {self.batch}")


def calibration_data(specs: list[TensorSpec], seed: bytes) -> dict[str, Any]:
    """Inputs spread over [-1, 1] when the caller gives no representative data: deterministic per model."""
    rng = np.random.default_rng(int.from_bytes(seed[:8], "little"))
    return {"input_data": [rng.uniform(-1, 1, size=s.size).round(6).tolist() for s in specs]}
