"""The local pipeline through its public API: compile (cached), prove, verify, and every refusal."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from zk_fixtures import BATCH, SAMPLE, mlp
from onnx import TensorProto, helper

from tessera.errors import ModelTooLargeError, ProofError, UnsupportedModelError, ZkInputError
from tessera.zkml import (CompiledModel, InferenceProof, ZkOptions, compile_model, estimate, find_compiled,
                          prove, verify)
from tessera.zkml import ezkl_calls


def test_outputs_match_onnxruntime_within_quantization(proof: InferenceProof, mlp_path: Path) -> None:
    session = ort.InferenceSession(str(mlp_path))
    rows = np.array(SAMPLE["input_data"][0], dtype=np.float32).reshape(BATCH, 4)
    expected = np.concatenate([session.run(None, {"x": row[None, :]})[0] for row in rows]).reshape(-1)
    # inputs are quantized with 2^-13 steps: outputs of a two-layer MLP stay within 1e-3
    np.testing.assert_allclose(proof.outputs[0], expected, atol=1e-3)


def test_proof_verifies_and_says_its_srs_is_unsafe(proof: InferenceProof, compiled: CompiledModel) -> None:
    assert verify(proof, compiled)
    assert proof.srs_unsafe and compiled.srs["unsafe_for_production"]
    assert len(proof.instances) == 2  # Poseidon hashes of input and output: the instance stays tiny
    assert proof.batch_size == BATCH


def test_second_compile_is_a_cache_hit_that_skips_setup(compiled: CompiledModel, mlp_path: Path, zk_cache: Path,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    def no_setup(*args: object, **kwargs: object) -> None:
        raise AssertionError("key setup ran on a cache hit")

    monkeypatch.setattr(ezkl_calls.ezkl_module(), "setup", no_setup)
    again, hit = compile_model(mlp_path, ZkOptions(batch=BATCH), cache_dir=zk_cache)
    assert hit and again.model_id == compiled.model_id
    assert find_compiled(compiled.model_id, zk_cache).directory == compiled.directory


def test_tampered_proof_bytes_do_not_verify(proof_copy: InferenceProof, compiled: CompiledModel) -> None:
    raw = proof_copy.proof["proof"]
    raw[200] ^= 1
    proof_copy.proof["hex_proof"] = "0x" + bytes(raw).hex()
    assert not verify(proof_copy, compiled)


def test_altered_outputs_do_not_verify(proof_copy: InferenceProof, compiled: CompiledModel) -> None:
    proof_copy.outputs[0][0] += 0.5
    assert not verify(proof_copy, compiled)
    proof_copy.outputs[0][0] -= 0.5
    proof_copy.output_felts[0][0] = "01" + proof_copy.output_felts[0][0][2:]
    assert not verify(proof_copy, compiled)


def test_hex_and_byte_proofs_must_agree(proof_copy: InferenceProof, compiled: CompiledModel) -> None:
    hex_proof = proof_copy.proof["hex_proof"]
    proof_copy.proof["hex_proof"] = hex_proof[:-2] + ("00" if hex_proof[-2:] != "00" else "01")
    assert not verify(proof_copy, compiled)


def test_malformed_proof_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "proof.json"
    path.write_text('{"format": "something else"}')
    with pytest.raises(ProofError, match="not a Tessera proof"):
        InferenceProof.load(path)
    path.write_text("{not json")
    with pytest.raises(ProofError, match="not JSON"):
        InferenceProof.load(path)


def test_wrong_input_shape_names_expected_and_given(compiled: CompiledModel) -> None:
    with pytest.raises(ZkInputError, match=r"expects shape \[2, 4\] \(8 values\) but 5 values"):
        prove(compiled, {"input_data": [[0.1] * 5]})
    with pytest.raises(ZkInputError, match="input_data"):
        prove(compiled, {"inputs": [[0.1] * 8]})
    with pytest.raises(ZkInputError, match="NaN"):
        prove(compiled, {"input_data": [[float("nan")] * 8]})


def test_corrupted_artifacts_are_refused(compiled: CompiledModel, zk_cache: Path, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    shutil.copytree(zk_cache / "models" / compiled.directory.name, cache / "models" / compiled.directory.name)
    (cache / "index").mkdir()
    (cache / "index" / compiled.model_id).write_text(compiled.directory.name)
    vk = cache / "models" / compiled.directory.name / "vk.key"
    data = bytearray(vk.read_bytes())
    data[100] ^= 0xFF
    vk.write_bytes(bytes(data))
    with pytest.raises(ProofError, match="corrupted vk.key.*--force"):
        find_compiled(compiled.model_id, cache)


def _single_node(path: Path, op: str, dims: list[int | str]) -> Path:
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, dims)
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, dims)
    graph = helper.make_graph([helper.make_node(op, ["x"], ["y"], name="the_node")], "g", [x], [y])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, str(path))
    return path


def test_unsupported_op_names_the_op_and_node(tmp_path: Path) -> None:
    model = _single_node(tmp_path / "lpnorm.onnx", "LpNormalization", [1, 4])
    with pytest.raises(UnsupportedModelError, match="LpNormalization.*'the_node'"):
        compile_model(model, cache_dir=tmp_path / "cache")


def test_dynamic_shapes_are_refused_with_the_fix(tmp_path: Path) -> None:
    model = _single_node(tmp_path / "dyn.onnx", "Relu", ["batch", 4])
    with pytest.raises(UnsupportedModelError, match="dynamic dimension 0 .*'batch'.*static shapes"):
        compile_model(model, cache_dir=tmp_path / "cache")


def test_not_an_onnx_file(tmp_path: Path) -> None:
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"\x00garbage")
    with pytest.raises(ZkInputError, match="not a valid ONNX model"):
        compile_model(bad, cache_dir=tmp_path / "cache")


def test_estimate_predicts_and_refuses_what_does_not_fit(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    model = mlp(tmp_path / "m.onnx", seed=3)
    est = estimate(model)
    assert est.fits and 10 <= est.logrows <= 18 and est.predicted_memory_bytes > 0
    monkeypatch.setenv("TESSERA_ZK_MEMORY_LIMIT", str(64 << 20))
    assert not estimate(model).fits
    with pytest.raises(ModelTooLargeError, match="needs ~.* GiB.*TESSERA_ZK_MEMORY_LIMIT"):
        compile_model(model, cache_dir=tmp_path / "cache")


def test_committed_verifier_is_the_one_ezkl_writes() -> None:
    """compile_model refuses models whose reusable verifier differs from this digest: the digest must be
    the committed contract's (below its two-line provenance header)."""
    import hashlib

    from tessera.chain.artifacts import SOURCE_DIR
    from tessera.zkml.compiler import REUSABLE_VERIFIER_SHA256

    text = (SOURCE_DIR / "zk" / "Halo2VerifierReusable.sol").read_bytes()
    body = text.split(b"\n", 2)[2]
    assert hashlib.sha256(body).hexdigest() == REUSABLE_VERIFIER_SHA256


def test_input_commitment_is_known_before_proving(proof: InferenceProof, compiled: CompiledModel) -> None:
    from tessera.zkml import input_commitment

    assert input_commitment(compiled, SAMPLE) == proof.input_commitment
    other = {"input_data": [[v + 0.01 for v in SAMPLE["input_data"][0]]]}
    assert input_commitment(compiled, other) != proof.input_commitment
