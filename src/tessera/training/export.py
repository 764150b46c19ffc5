"""`tessera train export`: a trained run's weights as an ONNX model for onnxruntime and `tessera zk compile`.

The graph takes raw features (the same units as the dataset) and returns logits:
    standardized = (x - mean) * (1 / std)     the training split's statistics, as committed
    h = relu(h @ W + b) per hidden layer, logits = h @ W + b for the last
Weights and biases are the Q16 integers divided by 2**16, which float32 holds exactly while |value| < 256
(24 mantissa bits); a larger weight is refused rather than rounded. Only the standardization's reciprocal is
rounded (to float32), so the model's logits stay within a few Q16 units of the fixed-point runtime's.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import onnx
from onnx import TensorProto, helper, numpy_helper

from ..errors import TrainingError
from .fixedpoint import ONE

_EXACT = 1 << 24  # float32 represents every integer below 2**24 exactly


@dataclass(frozen=True)
class ExportResult:
    path: Path
    layers: list[int]
    parameters: int

    def to_json(self) -> dict[str, Any]:
        return {"onnx": str(self.path), "layers": self.layers, "parameters": self.parameters}

    def render(self) -> str:
        widths = " -> ".join(str(w) for w in self.layers)
        return f"wrote {self.path}: MLP {widths}, {self.parameters:,} parameters (Q16 weights, exactly dequantized)"


def _exact(q: npt.NDArray[np.int64], what: str) -> npt.NDArray[np.float32]:
    if q.size and int(np.abs(q).max()) >= _EXACT:
        raise TrainingError(f"{what} holds a value of magnitude >= 256, which float32 cannot hold exactly: "
                            "this model cannot be exported losslessly")
    return (q.astype(np.float64) / ONE).astype(np.float32)


def load_weights(run_dir: Path) -> dict[str, npt.NDArray[np.int64]]:
    path = run_dir / "weights.npz"
    if not path.is_file():
        raise TrainingError(f"{run_dir} holds no weights.npz: give the --out directory of `tessera train run`")
    try:
        with np.load(path, allow_pickle=False) as z:
            return {k: z[k] for k in z.files}
    except (OSError, ValueError) as e:
        raise TrainingError(f"{path} is not a weights file written by `tessera train run` ({e})") from e


def build_model(weights: dict[str, npt.NDArray[np.int64]]) -> tuple[onnx.ModelProto, list[int]]:
    n = sum(1 for k in weights if k.startswith("w"))
    if n == 0 or any(f"w{i}" not in weights or f"b{i}" not in weights for i in range(n)) or "mean" not in weights:
        raise TrainingError("the weights file lacks w0.., b0.., mean or std: write it again with `tessera train run`")
    layers = [int(weights["w0"].shape[0])] + [int(weights[f"w{i}"].shape[1]) for i in range(n)]
    std = weights["std"].astype(np.float64) / ONE
    inits = [numpy_helper.from_array(_exact(weights["mean"], "mean"), "mean"),
             numpy_helper.from_array((1.0 / std).astype(np.float32), "inv_std")]
    nodes = [helper.make_node("Sub", ["x", "mean"], ["centred"]),
             helper.make_node("Mul", ["centred", "inv_std"], ["h0"])]
    for i in range(n):
        inits += [numpy_helper.from_array(_exact(weights[f"w{i}"], f"layer {i} weights"), f"W{i}"),
                  numpy_helper.from_array(_exact(weights[f"b{i}"], f"layer {i} biases"), f"B{i}")]
        out = "logits" if i == n - 1 else f"z{i}"
        nodes += [helper.make_node("MatMul", [f"h{i}", f"W{i}"], [f"m{i}"]),
                  helper.make_node("Add", [f"m{i}", f"B{i}"], [out])]
        if i < n - 1:
            nodes.append(helper.make_node("Relu", [out], [f"h{i + 1}"]))
    graph = helper.make_graph(nodes, "tessera_mlp", [helper.make_tensor_value_info("x", TensorProto.FLOAT,
                                                                                   [1, layers[0]])],
                              [helper.make_tensor_value_info("logits", TensorProto.FLOAT, [1, layers[-1]])], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], producer_name="tessera-train")
    model.ir_version = 8
    onnx.checker.check_model(model)
    return model, layers


def export_onnx(run_dir: Path, out: Path) -> ExportResult:
    weights = load_weights(run_dir)
    model, layers = build_model(weights)
    out.parent.mkdir(parents=True, exist_ok=True)
    onnx.save_model(model, str(out))
    params = sum(int(weights[k].size) for k in weights if k[0] in "wb")
    return ExportResult(out, layers, params)


__all__ = ["ExportResult", "build_model", "export_onnx", "load_weights"]
