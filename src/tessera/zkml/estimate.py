"""Predict what proving a model costs before paying for it, and refuse what would not fit the machine.

ezkl's calibration gives the circuit's size (2^logrows rows) without building keys. Proving time and peak
memory grow with the row count; the per-row constants below were measured on this project's 2-core
machines with ezkl 23.0.5 (`bench/zkml.py` records them again on every run, so drift shows up there):
peak RSS for key setup plus proving was 0.76 GiB at 2^15 rows, 1.44 at 2^16, 2.70 at 2^17, 5.30 at 2^18 and
10.47 at 2^19.
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from ..errors import ModelTooLargeError
from . import ezkl_calls, onnx_graph
from .options import ZkOptions, calibration_data
from .srs import MAX_LOGROWS

BYTES_PER_ROW = 22 * 1024  # peak RSS of setup + prove per circuit row (2^15..2^19: within 6%, high)
BASE_BYTES = 100 * 1024 * 1024
SECONDS_PER_ROW_2_CORES = 320e-6  # proving; key setup takes about as long
HEADROOM = 0.9  # leave a tenth of the available memory to the OS and the node itself


@dataclass(frozen=True)
class Estimate:
    logrows: int
    rows_used: int
    predicted_memory_bytes: int
    predicted_prove_seconds: float
    predicted_setup_seconds: float
    available_memory_bytes: int
    fits: bool
    reason: str

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def available_memory() -> int:
    """Memory proving may use: TESSERA_ZK_MEMORY_LIMIT (bytes) if set, else MemAvailable."""
    override = os.environ.get("TESSERA_ZK_MEMORY_LIMIT")
    if override:
        return int(override)
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 8 << 30


def from_settings(settings: dict[str, Any]) -> Estimate:
    logrows = int(settings["run_args"]["logrows"])
    rows = 1 << logrows
    memory = BASE_BYTES + rows * BYTES_PER_ROW
    cores = max(1, os.cpu_count() or 1)
    seconds = rows * SECONDS_PER_ROW_2_CORES * 2 / min(cores, 16)
    available = available_memory()
    if logrows > MAX_LOGROWS:
        fits, reason = False, f"needs 2^{logrows} rows, above the 2^{MAX_LOGROWS} this prover supports"
    elif memory > HEADROOM * available:
        fits, reason = False, (f"needs ~{memory / 2**30:.1f} GiB to prove (2^{logrows} rows) but "
                               f"{available / 2**30:.1f} GiB is available (90% of it may be used)")
    else:
        fits, reason = True, f"fits: ~{memory / 2**30:.1f} GiB of {available / 2**30:.1f} GiB available"
    return Estimate(logrows, int(settings.get("num_rows", 0)), memory, round(seconds, 1), round(seconds, 1),
                    available, fits, reason)


def refuse_if_too_large(settings: dict[str, Any], what: str) -> Estimate:
    est = from_settings(settings)
    if not est.fits:
        raise ModelTooLargeError(
            f"{what} is too large for this machine: it {est.reason}. Use a smaller model or batch, "
            "the `resources` calibration target, or prove on a machine with more memory "
            "(TESSERA_ZK_MEMORY_LIMIT overrides the limit)"
        )
    return est


def calibrated_settings(work: Path, options: ZkOptions) -> dict[str, Any]:
    """ezkl settings for `work/model.onnx`, calibrated on `work/data.json`; written to work/settings.json."""
    ezkl = ezkl_calls.ezkl_module()
    run_args = ezkl.PyRunArgs()
    run_args.input_visibility = options.input_visibility
    run_args.output_visibility = options.output_visibility
    run_args.param_visibility = "fixed"  # weights live in the verifying key, so the model id pins them
    model, settings = str(work / "model.onnx"), str(work / "settings.json")
    ezkl_calls.call("generating circuit settings", ezkl.gen_settings, model, settings, py_run_args=run_args)
    ezkl_calls.call("calibrating the circuit", ezkl.calibrate_settings, str(work / "data.json"), model, settings,
                    options.target, max_logrows=options.max_logrows)
    loaded: dict[str, Any] = json.loads((work / "settings.json").read_text())
    return loaded


def estimate(model_path: Path | str, options: ZkOptions | None = None) -> Estimate:
    """Calibrate the circuit (no key setup) and predict logrows, memory and time."""
    options = options or ZkOptions()
    model = onnx_graph.batch_model(onnx_graph.load_model(model_path), options.batch)
    with tempfile.TemporaryDirectory(prefix="tessera-estimate-") as tmp:
        work = Path(tmp)
        (work / "model.onnx").write_bytes(model.SerializeToString())
        data = calibration_data(onnx_graph.input_specs(model), b"estimate")
        (work / "data.json").write_text(json.dumps(data))
        return from_settings(calibrated_settings(work, options))
