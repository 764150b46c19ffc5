"""zkML fixtures: a tiny MLP compiled once per test run into a cache that every xdist worker shares
(compile_model locks each cache entry, so the second worker finds the first one's keys)."""

from __future__ import annotations

import fcntl
import os
import json
from pathlib import Path
from typing import Iterator

import numpy as np
import onnx
import pytest
from click.testing import CliRunner
from onnx import TensorProto, helper, numpy_helper

from tessera.cli import cli
from tessera.zkml import CompiledModel, InferenceProof, ZkOptions, compile_model, prove

BATCH = 2


@pytest.fixture(scope="session")
def zk_shared(tmp_path_factory: pytest.TempPathFactory, worker_id: str) -> Path:
    root = tmp_path_factory.getbasetemp()
    if worker_id != "master":
        root = root.parent
    shared = root / "zk-shared"
    shared.mkdir(exist_ok=True)
    return shared


def mlp(path: Path, seed: int = 0, inputs: int = 4, hidden: int = 8, outputs: int = 3) -> Path:
    """A 4-8-3 ReLU MLP as an ONNX graph (Gemm, Relu, Gemm) with a batch dimension of 1."""
    rng = np.random.default_rng(seed)
    w1 = numpy_helper.from_array(rng.normal(0, 0.5, (hidden, inputs)).astype(np.float32), "w1")
    b1 = numpy_helper.from_array(rng.normal(0, 0.1, hidden).astype(np.float32), "b1")
    w2 = numpy_helper.from_array(rng.normal(0, 0.5, (outputs, hidden)).astype(np.float32), "w2")
    b2 = numpy_helper.from_array(rng.normal(0, 0.1, outputs).astype(np.float32), "b2")
    nodes = [helper.make_node("Gemm", ["x", "w1", "b1"], ["h"], transB=1, name="fc1"),
             helper.make_node("Relu", ["h"], ["r"], name="relu"),
             helper.make_node("Gemm", ["r", "w2", "b2"], ["y"], transB=1, name="fc2")]
    graph = helper.make_graph(nodes, "mlp", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, inputs])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, outputs])],
                              initializer=[w1, b1, w2, b2])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    tmp = path.with_suffix(f".{os.getpid()}.tmp")  # xdist workers write the same file at the same moment
    onnx.save(model, str(tmp))
    tmp.replace(path)
    return path


@pytest.fixture(scope="session")
def mlp_path(zk_shared: Path) -> Path:
    return mlp(zk_shared / "mlp.onnx")


@pytest.fixture(scope="session")
def zk_cache(zk_shared: Path) -> Path:
    return zk_shared / "cache"


@pytest.fixture(scope="session")
def compiled(mlp_path: Path, zk_cache: Path) -> CompiledModel:
    model, _ = compile_model(mlp_path, ZkOptions(batch=BATCH), cache_dir=zk_cache)
    return model


SAMPLE = {"input_data": [[0.5, -0.25, 0.75, 0.1, -0.6, 0.3, 0.2, -0.9]]}


@pytest.fixture(scope="session")
def proof(compiled: CompiledModel, zk_shared: Path) -> InferenceProof:
    """One proof of SAMPLE, made by whichever worker gets here first."""
    path = zk_shared / "proof.json"
    with open(zk_shared / "proof.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if path.exists():
            return InferenceProof.load(path)
        made = prove(compiled, SAMPLE)
        made.save(path.with_suffix(".tmp"))
        path.with_suffix(".tmp").replace(path)
        return made


@pytest.fixture
def proof_copy(proof: InferenceProof) -> Iterator[InferenceProof]:
    yield InferenceProof.from_json(json.loads(json.dumps(proof.to_json())))


@pytest.fixture
def run(tmp_path: Path, zk_cache: Path, monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    """`tessera ... --json` in a fresh data directory sharing the compiled-model cache: (exit code, JSON)."""
    monkeypatch.setenv("TESSERA_ZK_CACHE", str(zk_cache))
    runner = CliRunner()

    def invoke(*args: str) -> tuple[int, dict]:  # type: ignore[type-arg]
        result = runner.invoke(cli, ["--data-dir", str(tmp_path / "home"), *args, "--json"])
        return result.exit_code, json.loads(result.stdout)

    return invoke
