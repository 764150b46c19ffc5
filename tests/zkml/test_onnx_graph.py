"""Batching by graph replication must compute exactly what the unbatched model computes, row by row."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest
import torch
from zk_fixtures import mlp

from tessera.errors import UnsupportedModelError
from tessera.zkml import batch_model, input_specs, load_model, output_specs


def _run(model_bytes: bytes, x: np.ndarray) -> np.ndarray:
    session = ort.InferenceSession(model_bytes)
    return session.run(None, {session.get_inputs()[0].name: x})[0]


def test_batched_mlp_equals_row_by_row(tmp_path: Path) -> None:
    model = load_model(mlp(tmp_path / "m.onnx", seed=1))
    batched = batch_model(model, 5)
    assert [s.shape for s in input_specs(batched)] == [(5, 4)]
    assert [s.shape for s in output_specs(batched)] == [(5, 3)]
    x = np.random.default_rng(0).normal(size=(5, 4)).astype(np.float32)
    rows = np.concatenate([_run(model.SerializeToString(), x[i:i + 1]) for i in range(5)])
    np.testing.assert_array_equal(_run(batched.SerializeToString(), x), rows)


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_batching_a_cnn_with_hard_coded_reshape(tmp_path: Path) -> None:
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Conv2d(1, 2, 3), torch.nn.ReLU(), torch.nn.Flatten(),
                              torch.nn.Linear(2 * 4 * 4, 3))
    path = tmp_path / "cnn.onnx"
    torch.onnx.export(net, (torch.zeros(1, 1, 6, 6),), str(path), input_names=["x"], output_names=["y"],
                      dynamo=False)
    model = load_model(path)
    batched = batch_model(model, 3)
    x = np.random.default_rng(1).normal(size=(3, 1, 6, 6)).astype(np.float32)
    rows = np.concatenate([_run(model.SerializeToString(), x[i:i + 1]) for i in range(3)])
    np.testing.assert_allclose(_run(batched.SerializeToString(), x), rows, rtol=0, atol=1e-6)
    with torch.no_grad():
        np.testing.assert_allclose(rows, net(torch.from_numpy(x)).numpy(), atol=1e-5)


def test_batching_needs_a_leading_dimension_of_one(tmp_path: Path) -> None:
    model = load_model(mlp(tmp_path / "m.onnx"))
    twice = batch_model(model, 2)
    with pytest.raises(UnsupportedModelError, match="leading batch dimension of 1"):
        batch_model(twice, 2)
