"""A miner serving a model exported with a fixed batch answers any number of rows (in groups of its batch),
and bad challenge rows are a 400 naming the problem, not a server error per challenge."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
import numpy as np
import onnx
import onnxruntime as ort
from eth_account import Account
from onnx import TensorProto, helper, numpy_helper

from tessera.subnet.miner import create_miner_app, onnx_predictor


def fixed_batch_model(path: Path) -> Path:
    """y = x @ W + b with input shape [1, 4]: one row per run, as some exporters write it."""
    rng = np.random.default_rng(3)
    w = numpy_helper.from_array(rng.normal(size=(4, 3)).astype(np.float32), "W")
    b = numpy_helper.from_array(rng.normal(size=(3,)).astype(np.float32), "b")
    nodes = [helper.make_node("MatMul", ["x", "W"], ["xw"]), helper.make_node("Add", ["xw", "b"], ["y"])]
    graph = helper.make_graph(nodes, "fixed", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 3])], [w, b])
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)]), path)
    return path


def _post(app: object, body: dict) -> httpx.Response:  # type: ignore[type-arg]
    async def go() -> httpx.Response:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://miner") as http:
            return await http.post("/predict", json=body)

    return asyncio.run(go())


def test_fixed_batch_model_answers_every_row(tmp_path: Path) -> None:
    path = fixed_batch_model(tmp_path / "fixed.onnx")
    app = create_miner_app(Account.create(), onnx_predictor(path))
    rows = np.random.default_rng(0).normal(size=(5, 4)).astype(np.float32)
    resp = _post(app, {"challenge": "0x01", "inputs": rows.tolist()})
    assert resp.status_code == 200, resp.text
    session = ort.InferenceSession(str(path))
    want = np.concatenate([session.run(None, {"x": rows[i:i + 1]})[0] for i in range(5)])
    np.testing.assert_allclose(np.array(resp.json()["outputs"]), want, atol=1e-6)


def test_bad_rows_are_a_400_naming_the_problem(tmp_path: Path) -> None:
    app = create_miner_app(Account.create(), onnx_predictor(fixed_batch_model(tmp_path / "fixed.onnx")))
    narrow = _post(app, {"challenge": "0x01", "inputs": [[1.0, 2.0]]})
    assert narrow.status_code == 400 and "4 numbers" in narrow.json()["detail"]
    ragged = _post(app, {"challenge": "0x01", "inputs": [[1.0, 2.0, 3.0, 4.0], [1.0]]})
    assert ragged.status_code == 400 and "same length" in ragged.json()["detail"]
