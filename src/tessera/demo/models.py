"""Small ONNX models built with onnx.helper, so the demo needs no training or downloads."""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

# A 4-feature, 3-class linear classifier (iris-like): fixed weights, so outputs are reproducible.
WEIGHTS = np.array([[0.9, -0.3, -0.6], [0.4, 0.2, -0.6], [-1.2, 0.3, 0.9], [-1.1, -0.1, 1.2]], dtype=np.float32)
BIAS = np.array([0.5, 0.2, -0.7], dtype=np.float32)


def classifier_model() -> onnx.ModelProto:
    x = helper.make_tensor_value_info("features", TensorProto.FLOAT, ["batch", 4])
    y = helper.make_tensor_value_info("probabilities", TensorProto.FLOAT, ["batch", 3])
    nodes = [
        helper.make_node("MatMul", ["features", "W"], ["logits0"]),
        helper.make_node("Add", ["logits0", "b"], ["logits"]),
        helper.make_node("Softmax", ["logits"], ["probabilities"], axis=1),
    ]
    graph = helper.make_graph(nodes, "classifier", [x], [y],
                              [numpy_helper.from_array(WEIGHTS, "W"), numpy_helper.from_array(BIAS, "b")])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], producer_name="tessera-demo")
    model.ir_version = 8
    onnx.checker.check_model(model)
    return model


def write_classifier(path: Path) -> Path:
    path.write_bytes(classifier_model().SerializeToString())
    return path


def reference_probabilities(features: np.ndarray) -> np.ndarray:
    logits = features.astype(np.float32) @ WEIGHTS + BIAS
    e = np.exp(logits - logits.max(axis=1, keepdims=True))
    return np.asarray(e / e.sum(axis=1, keepdims=True))


def fit_and_export(net: Any, x: np.ndarray, y: np.ndarray, path: Path, *, lr: float, steps: int,
                   input_name: str, output_name: str) -> float:
    """Fit a torch classifier with Adam on cross-entropy, export it to ONNX with a static batch of 1, and
    return its training accuracy."""
    import torch

    opt = torch.optim.Adam(net.parameters(), lr=lr)
    xt, yt = torch.from_numpy(x), torch.from_numpy(y)
    for _ in range(steps):
        opt.zero_grad()
        loss = torch.nn.functional.cross_entropy(net(xt), yt)
        loss.backward()
        opt.step()
    net.eval()
    with torch.no_grad():
        accuracy = float((net(xt).argmax(1) == yt).float().mean())
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the TorchScript exporter's deprecation notice
        torch.onnx.export(net, (torch.zeros(1, x.shape[1]),), str(path), input_names=[input_name],
                          output_names=[output_name], dynamo=False)
    return accuracy
