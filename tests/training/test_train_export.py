"""`tessera train export`: the exported ONNX model holds the fixed-point weights exactly, onnxruntime agrees
with the fixed-point runtime on the test split, and the zk pipeline accepts it."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import numpy_helper

from tessera.training.fixedpoint import ONE
from tessera.training.mlp import Params, forward
from tessera.training.run import run_task
from tessera.training.task import TaskSpec, load_dataset

from test_train_cli import tessera

TASK = {"model": {"layers": [64, 32, 10]}, "data": {"dataset": "digits", "test_fraction": "0.2"},
        "train": {"lr": "0.05", "momentum": "0.9", "batch_size": 32, "steps": 200, "seed": 7, "checkpoint_every": 100}}


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, TaskSpec]:
    out = tmp_path_factory.mktemp("run")
    spec = TaskSpec.model_validate(TASK)
    run_task(spec, Path("."), out)
    model = out / "model.onnx"
    result = tessera(out, "train", "export", str(out), "--onnx", str(model), "--json")
    assert result.returncode == 0, result.stderr
    body = json.loads(result.stdout)
    assert body == {"onnx": str(model), "layers": [64, 32, 10], "parameters": 64 * 32 + 32 + 32 * 10 + 10}
    return out, model, spec


def test_the_weights_are_exactly_the_fixed_point_ones(trained: tuple[Path, Path, TaskSpec]) -> None:
    out, model, _ = trained
    inits = {i.name: numpy_helper.to_array(i) for i in onnx.load(str(model)).graph.initializer}
    with np.load(out / "weights.npz") as w:
        for i in range(2):
            assert np.array_equal(inits[f"W{i}"].astype(np.float64) * ONE, w[f"w{i}"].astype(np.float64))
            assert np.array_equal(inits[f"B{i}"].astype(np.float64) * ONE, w[f"b{i}"].astype(np.float64))


def test_onnxruntime_agrees_with_the_fixed_point_runtime(trained: tuple[Path, Path, TaskSpec]) -> None:
    out, model, spec = trained
    data = load_dataset(spec.data, Path("."))
    with np.load(out / "weights.npz") as w:
        params = Params([w["w0"], w["w1"]], [w["b0"], w["b1"]])
    fixed_logits = forward(params, data.x_test)[1] / ONE
    session = ort.InferenceSession(str(model), providers=["CPUExecutionProvider"])
    raw = data.x[data.test].astype(np.float64) / ONE
    onnx_logits = np.concatenate([session.run(None, {"x": row[None].astype(np.float32)})[0] for row in raw])
    # the runtime rounds at every layer (Q16: 1.5e-5 per rounding); float32 adds its own: stay within 0.01
    assert np.abs(onnx_logits - fixed_logits).max() < 1e-2
    assert (onnx_logits.argmax(1) == fixed_logits.argmax(1)).mean() >= 0.99


def test_a_directory_without_weights_gets_one_line(tmp_path: Path) -> None:
    result = tessera(tmp_path, "train", "export", str(tmp_path), "--onnx", str(tmp_path / "m.onnx"))
    assert result.returncode != 0 and "Traceback" not in result.stderr
    assert "holds no weights.npz" in result.stderr + result.stdout


@pytest.mark.slow
def test_the_zk_pipeline_accepts_the_export(trained: tuple[Path, Path, TaskSpec]) -> None:
    from tessera.zkml.estimate import estimate
    est = estimate(trained[1])
    assert est.logrows > 0
