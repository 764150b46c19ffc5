"""Reading ONNX models for proving: static-shape checks, input shapes, and batching by graph replication."""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import onnx
from onnx import TensorProto, helper, numpy_helper

from ..errors import UnsupportedModelError, ZkInputError

import numpy as np


@dataclass(frozen=True)
class TensorSpec:
    name: str
    shape: tuple[int, ...]

    @property
    def size(self) -> int:
        return math.prod(self.shape)


def load_model(path: Path | str) -> onnx.ModelProto:
    path = Path(path)
    if not path.is_file():
        raise ZkInputError(f"no ONNX model at {path}: give the path of a .onnx file")
    try:
        model = onnx.load_model(str(path))
        onnx.checker.check_model(model)
    except Exception as e:
        raise ZkInputError(f"{path} is not a valid ONNX model ({str(e).splitlines()[0][:200]}): "
                           "export it again (torch.onnx.export or onnx.save)") from e
    return model


def _graph_inputs(model: onnx.ModelProto) -> list[onnx.ValueInfoProto]:
    initializers = {i.name for i in model.graph.initializer}
    return [i for i in model.graph.input if i.name not in initializers]


def _static_shape(value: onnx.ValueInfoProto, kind: str) -> tuple[int, ...]:
    dims = value.type.tensor_type.shape.dim
    shape = []
    for k, d in enumerate(dims):
        if d.HasField("dim_value") and d.dim_value > 0:
            shape.append(d.dim_value)
        else:
            label = d.dim_param or "unknown"
            raise UnsupportedModelError(
                f"{kind} {value.name!r} has a dynamic dimension {k} ({label!r}): circuits need static shapes; "
                "export with fixed shapes (torch.onnx.export without dynamic_axes, or onnx.tools.update_model_dims)"
            )
    return tuple(shape)


def input_specs(model: onnx.ModelProto) -> list[TensorSpec]:
    """The model's inputs; raises UnsupportedModelError on dynamic shapes."""
    return [TensorSpec(v.name, _static_shape(v, "input")) for v in _graph_inputs(model)]


def output_specs(model: onnx.ModelProto) -> list[TensorSpec]:
    return [TensorSpec(v.name, _static_shape(v, "output")) for v in model.graph.output]


def check_input(model: onnx.ModelProto, data: object) -> list[list[float]]:
    """Validate ezkl-style input JSON (`{"input_data": [[...], ...]}`, one flat list per model input)
    against the model's static shapes; returns the flat lists."""
    specs = input_specs(model)
    if not isinstance(data, dict) or "input_data" not in data:
        raise ZkInputError('input must be JSON of the form {"input_data": [[x0, x1, ...]]}: one flat list per '
                           f"model input ({', '.join(f'{s.name}{list(s.shape)}' for s in specs)})")
    arrays = data["input_data"]
    if not isinstance(arrays, list) or len(arrays) != len(specs):
        given = len(arrays) if isinstance(arrays, list) else type(arrays).__name__
        raise ZkInputError(f"input_data has {given} arrays but the model has {len(specs)} input(s): "
                           f"{', '.join(s.name for s in specs)}")
    flat: list[list[float]] = []
    for spec, values in zip(specs, arrays):
        try:
            arr = np.asarray(values, dtype=np.float64).reshape(-1)
        except (TypeError, ValueError) as e:
            raise ZkInputError(f"input {spec.name!r} has non-numeric values: give numbers only") from e
        if arr.size != spec.size:
            raise ZkInputError(f"input {spec.name!r} expects shape {list(spec.shape)} ({spec.size} values) but "
                               f"{arr.size} values were given")
        if not np.all(np.isfinite(arr)):
            raise ZkInputError(f"input {spec.name!r} contains NaN or infinity: give finite numbers")
        flat.append(arr.tolist())
    return flat


def batch_model(model: onnx.ModelProto, batch: int) -> onnx.ModelProto:
    """A model that runs `batch` inferences at once: every input and output gets a leading dimension of
    `batch` in place of the model's leading 1. The graph is replicated (weights shared) with a Slice per
    copy in front and a Concat per output behind, which works for any graph, including ones whose
    Reshape constants hard-code the batch size of 1."""
    if batch < 1:
        raise ZkInputError(f"batch must be at least 1, got {batch}")
    if batch == 1:
        return model
    ins, outs = input_specs(model), output_specs(model)
    for spec in ins + outs:
        if not spec.shape or spec.shape[0] != 1:
            raise UnsupportedModelError(
                f"{spec.name!r} has shape {list(spec.shape)}; batching needs a leading batch dimension of 1 on "
                "every input and output: export the model for a single example"
            )
    g = model.graph
    shared = {i.name for i in g.initializer}
    nodes: list[onnx.NodeProto] = []
    initializers = list(g.initializer)
    axes = numpy_helper.from_array(np.array([0], dtype=np.int64), "tessera_batch_axes")
    initializers.append(axes)

    for copy in range(batch):
        prefix = f"b{copy}/"
        start = numpy_helper.from_array(np.array([copy], dtype=np.int64), f"{prefix}start")
        end = numpy_helper.from_array(np.array([copy + 1], dtype=np.int64), f"{prefix}end")
        initializers += [start, end]

        def rename(name: str) -> str:
            return name if (not name or name in shared) else prefix + name

        for spec in ins:
            nodes.append(helper.make_node("Slice", [spec.name, start.name, end.name, axes.name],
                                          [prefix + spec.name], name=f"{prefix}slice_{spec.name}"))
        for node in g.node:
            clone = onnx.NodeProto()
            clone.CopyFrom(node)
            clone.name = prefix + (node.name or node.op_type)
            clone.input[:] = [rename(n) for n in node.input]
            clone.output[:] = [rename(n) for n in node.output]
            nodes.append(clone)
    for spec in outs:
        nodes.append(helper.make_node("Concat", [f"b{k}/{spec.name}" for k in range(batch)], [spec.name],
                                      axis=0, name=f"concat_{spec.name}"))

    def batched(spec: TensorSpec, elem: int) -> onnx.ValueInfoProto:
        return helper.make_tensor_value_info(spec.name, elem, (batch,) + spec.shape[1:])

    in_types = {v.name: v.type.tensor_type.elem_type for v in g.input}
    out_types = {v.name: v.type.tensor_type.elem_type for v in g.output}
    graph = helper.make_graph(
        nodes, f"{g.name or 'model'}_batch{batch}",
        [batched(s, in_types.get(s.name, TensorProto.FLOAT)) for s in ins],
        [batched(s, out_types.get(s.name, TensorProto.FLOAT)) for s in outs],
        initializer=initializers,
    )
    out = helper.make_model(graph, opset_imports=list(model.opset_import), producer_name="tessera-batch")
    out.ir_version = model.ir_version
    onnx.checker.check_model(out)
    return out


def fill_default_attributes(model: onnx.ModelProto) -> onnx.ModelProto:
    """Write out the attributes ONNX lets an exporter omit (they have defaults), because ezkl reads them as
    required: Conv/ConvTranspose/pooling `strides`, `pads`, `dilations`, `group`, `kernel_shape`. A model whose
    attributes are all present (torch's exports) comes back byte-identical, so its model id does not change."""
    weights = {t.name: list(t.dims) for t in model.graph.initializer}
    for node in model.graph.node:
        have = {a.name for a in node.attribute}

        def add(name: str, value: object) -> None:
            if name not in have:
                node.attribute.append(helper.make_attribute(name, value))
                have.add(name)

        if node.op_type in ("Conv", "ConvTranspose", "MaxPool", "AveragePool"):
            kernel: list[int] | None = None
            if "kernel_shape" in have:
                kernel = list(next(a for a in node.attribute if a.name == "kernel_shape").ints)
            elif node.op_type.startswith("Conv") and len(node.input) > 1 and node.input[1] in weights:
                kernel = weights[node.input[1]][2:]
                add("kernel_shape", kernel)
            if kernel is None:
                raise UnsupportedModelError(f"node {node.name or node.op_type!r} ({node.op_type}) has no kernel_shape "
                                            "and its weights are not constants: export it with kernel_shape set")
            dims = len(kernel)
            add("strides", [1] * dims)
            if "auto_pad" not in have or next(a for a in node.attribute if a.name == "auto_pad").s in (b"NOTSET", b""):
                add("pads", [0] * (2 * dims))
            if node.op_type != "AveragePool":
                add("dilations", [1] * dims)
            if node.op_type.startswith("Conv"):
                add("group", 1)
    return model
