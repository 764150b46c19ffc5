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


def _conv_without_defaults(with_kernel: bool = True) -> "onnx.ModelProto":
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    weight = numpy_helper.from_array(np.arange(18, dtype=np.float32).reshape(2, 1, 3, 3) / 10, "W")
    attrs = {"kernel_shape": [3, 3]} if with_kernel else {}
    node = helper.make_node("Conv", ["x", "W"], ["y"], name="conv0", **attrs)  # legal ONNX: the rest default
    graph = helper.make_graph([node], "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 1, 5, 5])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 2, 3, 3])], [weight])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    onnx.checker.check_model(model)
    return model


def test_conv_default_attributes_are_written_out_and_mean_the_same() -> None:
    from onnx import helper

    from tessera.zkml.onnx_graph import fill_default_attributes

    model = _conv_without_defaults(with_kernel=False)
    x = np.random.default_rng(0).normal(size=(1, 1, 5, 5)).astype(np.float32)
    want = ort.InferenceSession(model.SerializeToString()).run(None, {"x": x})[0]
    filled = fill_default_attributes(model)
    attrs = {a.name: helper.get_attribute_value(a) for a in filled.graph.node[0].attribute}
    assert attrs == {"kernel_shape": [3, 3], "strides": [1, 1], "pads": [0, 0, 0, 0], "dilations": [1, 1], "group": 1}
    np.testing.assert_array_equal(ort.InferenceSession(filled.SerializeToString()).run(None, {"x": x})[0], want)
    again = filled.SerializeToString()
    assert fill_default_attributes(filled).SerializeToString() == again  # complete models are left as they are


def test_torch_exports_are_left_byte_identical(tmp_path: Path) -> None:
    from tessera.zkml.onnx_graph import fill_default_attributes

    path = mlp(tmp_path / "mlp.onnx")
    model = load_model(path)
    before = model.SerializeToString()
    assert fill_default_attributes(model).SerializeToString() == before  # model ids of existing models stand


@pytest.mark.slow
def test_conv_without_default_attributes_compiles_for_proving(tmp_path: Path) -> None:
    """ezkl reads strides/pads/dilations as required ("a node is missing required params: stride" without the
    fill); with them written out, the legal-ONNX model compiles."""
    import onnx

    from tessera.zkml import ZkOptions, compile_model

    onnx.save(_conv_without_defaults(with_kernel=False), tmp_path / "conv.onnx")
    compiled, _ = compile_model(tmp_path / "conv.onnx", ZkOptions(), cache_dir=tmp_path / "zk")
    assert compiled.model_id.startswith("0x")
