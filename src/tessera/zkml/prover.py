"""Prove an inference of a compiled model, and verify such a proof locally.

A Tessera proof file carries the ezkl proof, the public instances as integers, and the outputs in the
clear. Verification checks the proof against the model's verifying key, and also that the outputs in the
file are the ones the proof commits to (their Poseidon hash, or their values when outputs are public), so
a prover cannot pair a valid proof with different outputs.
"""

from __future__ import annotations

import json
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from ..errors import ProofError, ZkInputError
from . import ezkl_calls, onnx_graph
from .compiler import CompiledModel, find_compiled

PROOF_FORMAT = "tessera-zk-proof/1"
FIELD_MODULUS = 21888242871839275222246405745257275088548364400416034343698204186575808495617


def felt_to_int(felt: str) -> int:
    """ezkl writes field elements as little-endian hex."""
    return int.from_bytes(bytes.fromhex(felt.removeprefix("0x")), "little")


def signed_felt(value: int) -> int:
    """A field element as the signed integer it encodes (negatives wrap to the top of the field)."""
    return value - FIELD_MODULUS if value > FIELD_MODULUS // 2 else value


def decode_quantized(values: list[int], scale: int) -> list[float]:
    """Outputs committed on-chain (field elements, fixed point at 2**scale) as the numbers they stand for."""
    return [signed_felt(int(v)) / 2**scale for v in values]


class _SplitInstances:
    """Public instances: the input's first (`input_instances` of them), then the output's."""

    input_instances: int
    instances: list[int]

    @property
    def input_commitment(self) -> list[int]:
        return self.instances[: self.input_instances]

    @property
    def output_commitment(self) -> list[int]:
        return self.instances[self.input_instances:]


@dataclass
class InferenceProof(_SplitInstances):
    model_id: str
    batch_size: int
    input_instances: int
    instances: list[int]
    outputs: list[list[float]]  # per output tensor, flattened, dequantized
    output_felts: list[list[str]]  # the quantized outputs the proof commits to
    proof: dict[str, Any]  # ezkl's proof JSON
    srs_unsafe: bool
    prove_seconds: float

    @property
    def proof_bytes(self) -> bytes:
        return bytes.fromhex(str(self.proof["hex_proof"]).removeprefix("0x"))

    def to_json(self) -> dict[str, Any]:
        out = asdict(self)
        out["instances"] = [hex(x) for x in self.instances]
        return {"format": PROOF_FORMAT, **out}

    def save(self, path: Path | str) -> None:
        Path(path).write_text(json.dumps(self.to_json()))

    @classmethod
    def from_json(cls, raw: Any) -> "InferenceProof":
        if not isinstance(raw, dict) or raw.get("format") != PROOF_FORMAT:
            raise ProofError(f"not a Tessera proof (expected \"format\": \"{PROOF_FORMAT}\"): "
                             "give a file written by `tessera zk prove`")
        try:
            return cls(
                model_id=str(raw["model_id"]), batch_size=int(raw["batch_size"]),
                input_instances=int(raw["input_instances"]),
                instances=[int(x, 16) for x in raw["instances"]],
                outputs=[[float(v) for v in row] for row in raw["outputs"]],
                output_felts=[[str(v) for v in row] for row in raw["output_felts"]],
                proof=dict(raw["proof"]), srs_unsafe=bool(raw["srs_unsafe"]),
                prove_seconds=float(raw["prove_seconds"]),
            )
        except (KeyError, TypeError, ValueError) as e:
            raise ProofError(f"the proof file is malformed ({e!r}): prove again with `tessera zk prove`") from e

    @classmethod
    def load(cls, path: Path | str) -> "InferenceProof":
        try:
            raw = json.loads(Path(path).read_text())
        except FileNotFoundError as e:
            raise ProofError(f"no proof file at {path}") from e
        except ValueError as e:
            raise ProofError(f"{path} is not JSON ({e}): give a file written by `tessera zk prove`") from e
        return cls.from_json(raw)


def load_input(path: Path | str) -> Any:
    try:
        return json.loads(Path(path).read_text())
    except FileNotFoundError as e:
        raise ZkInputError(f"no input file at {path}") from e
    except ValueError as e:
        raise ZkInputError(f"{path} is not JSON ({e}): give {{\"input_data\": [[...]]}}") from e


def input_commitment(compiled: CompiledModel, data: Any) -> list[int]:
    """The public instances a proof of `data` will carry for its input, computed without proving: one
    Poseidon hash of the quantized values per input tensor (hashed), or the quantized values (public).
    A tenant signs this before the provider does any work."""
    ezkl = ezkl_calls.ezkl_module()
    flat = onnx_graph.check_input(onnx_graph.load_model(compiled.path("model.onnx")), data)
    out: list[int] = []
    for values, scale in zip(flat, compiled.input_scales):
        felts = [ezkl.float_to_felt(v, scale) for v in values]
        if compiled.options.input_visibility == "hashed":
            out.append(felt_to_int(ezkl_calls.call("hashing the input", ezkl.poseidon_hash, felts)[0]))
        else:
            out += [felt_to_int(f) for f in felts]
    return out


@dataclass
class Evaluation(_SplitInstances):
    """A run of the circuit's fixed-point arithmetic without a proof: the instances a proof of the same
    input would carry, exactly. Deterministic on every machine, so N nodes can compare answers bit for bit."""

    model_id: str
    input_instances: int
    instances: list[int]
    outputs: list[list[float]]  # per output tensor, dequantized


def _instances(compiled: CompiledModel, witness: dict[str, Any]) -> list[int]:
    """The public instances of a witness: per tensor, its Poseidon hash (hashed) or its values (public)."""
    out: list[int] = []
    for kind, visibility in (("inputs", compiled.options.input_visibility),
                             ("outputs", compiled.options.output_visibility)):
        if visibility == "hashed":
            out += [felt_to_int(h) for h in witness[f"processed_{kind}"]["poseidon_hash"]]
        else:
            out += [felt_to_int(f) for row in witness[kind] for f in row]
    return out


def _witness(compiled: CompiledModel, data: Any, work: Path) -> dict[str, Any]:
    ezkl = ezkl_calls.ezkl_module()
    flat = onnx_graph.check_input(onnx_graph.load_model(compiled.path("model.onnx")), data)
    (work / "input.json").write_text(json.dumps({"input_data": flat}))
    ezkl_calls.call("computing the witness", ezkl.gen_witness, str(work / "input.json"),
                    str(compiled.path("model.ezkl")), str(work / "witness.json"))
    witness: dict[str, Any] = json.loads((work / "witness.json").read_text())
    return witness


def evaluate(compiled: CompiledModel, data: Any) -> Evaluation:
    """Run the circuit on `data` without proving (milliseconds): the outputs and instances a proof would have."""
    with tempfile.TemporaryDirectory(prefix="tessera-eval-") as tmp:
        witness = _witness(compiled, data, Path(tmp))
    return Evaluation(
        model_id=compiled.model_id, input_instances=compiled.input_instances,
        instances=_instances(compiled, witness),
        outputs=[[float(v) for v in row] for row in witness["pretty_elements"]["rescaled_outputs"]],
    )


def prove(compiled: CompiledModel, data: Any) -> InferenceProof:
    """Run the circuit on `data` (ezkl input JSON: `{"input_data": [[...]]}`) and prove it."""
    ezkl = ezkl_calls.ezkl_module()
    with tempfile.TemporaryDirectory(prefix="tessera-prove-") as tmp:
        work = Path(tmp)
        witness = _witness(compiled, data, work)
        t = time.perf_counter()
        ezkl_calls.call("proving", ezkl.prove, str(work / "witness.json"), str(compiled.path("model.ezkl")),
                        str(compiled.path("pk.key")), str(work / "proof.json"), compiled.srs["path"])
        seconds = time.perf_counter() - t
        proof = json.loads((work / "proof.json").read_text())
    return InferenceProof(
        model_id=compiled.model_id,
        batch_size=compiled.options.batch,
        input_instances=compiled.input_instances,
        instances=[felt_to_int(x) for x in proof["instances"][0]],
        outputs=[[float(v) for v in row] for row in witness["pretty_elements"]["rescaled_outputs"]],
        output_felts=witness["outputs"],
        proof=proof,
        srs_unsafe=compiled.srs_unsafe,
        prove_seconds=seconds,
    )


def check_outputs(proof: InferenceProof, compiled: CompiledModel) -> None:
    """The outputs in the file must be the ones the proof commits to."""
    ezkl = ezkl_calls.ezkl_module()
    if len(proof.output_felts) != len(compiled.outputs) or len(proof.outputs) != len(compiled.outputs):
        raise ProofError(f"the proof carries {len(proof.output_felts)} output tensors but model {proof.model_id} "
                         f"has {len(compiled.outputs)}")
    if compiled.options.output_visibility == "hashed":
        committed = [felt_to_int(ezkl_calls.call("hashing outputs", ezkl.poseidon_hash, row)[0])
                     for row in proof.output_felts]
    else:
        committed = [felt_to_int(v) for row in proof.output_felts for v in row]
    if committed != proof.output_commitment:
        raise ProofError("the outputs in the proof file are not the ones the proof commits to: "
                         "the file was altered after proving")
    for row_felts, row, scale in zip(proof.output_felts, proof.outputs, compiled.output_scales):
        if len(row_felts) != len(row) or any(
            abs(ezkl.felt_to_float(f, scale) - v) > 1e-9 * max(1.0, abs(v)) for f, v in zip(row_felts, row)
        ):
            raise ProofError("the dequantized outputs in the proof file do not match its quantized outputs")


def verify(proof: InferenceProof, compiled: CompiledModel | None = None, cache_dir: Path | None = None) -> bool:
    """True when the proof is valid for its model and its outputs are the committed ones. A malformed or
    tampered proof gives False (or ProofError when the file itself is unusable)."""
    compiled = compiled or find_compiled(proof.model_id, cache_dir)
    if proof.model_id != compiled.model_id:
        raise ProofError(f"the proof is for model {proof.model_id}, not {compiled.model_id}")
    if [felt_to_int(x) for x in proof.proof.get("instances", [[]])[0]] != proof.instances:
        return False
    try:  # ezkl verifies the byte list, the EVM the hex string: they must be one proof
        if bytes(proof.proof["proof"]) != proof.proof_bytes:
            return False
    except (KeyError, TypeError, ValueError):
        return False
    if any(x >= FIELD_MODULUS for x in proof.instances):
        return False
    try:
        check_outputs(proof, compiled)
    except ProofError:
        return False
    ezkl = ezkl_calls.ezkl_module()
    with tempfile.TemporaryDirectory(prefix="tessera-verify-") as tmp:
        path = Path(tmp) / "proof.json"
        path.write_text(json.dumps(proof.proof))
        try:
            return bool(ezkl_calls.call("verifying", ezkl.verify, str(path), str(compiled.path("settings.json")),
                                        str(compiled.path("vk.key")), compiled.srs["path"]))
        except ProofError:
            raise
        except Exception:
            return False  # ezkl raises on a proof that does not verify
