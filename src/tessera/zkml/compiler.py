"""ONNX model → circuit, keys and on-chain verifying key, cached by content.

The cache key is the sha256 of (circuit ONNX bytes, options, ezkl version): compiling the same model with
the same options again returns the cached artifacts without calibration or key setup. Each cache entry
records the sha256 of its files, and a corrupted entry is refused rather than used.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import shutil
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import onnx
from eth_abi import encode as abi_encode
from eth_utils import keccak

from ..chain.artifacts import load_artifact
from ..errors import ProofError, ZkError
from . import ezkl_calls, onnx_graph
from .estimate import calibrated_settings, refuse_if_too_large
from .options import ZkOptions, calibration_data
from .srs import Srs, resolve, sha256_file

# sha256 of the reusable verifier ezkl 23.0.5 writes, committed as contracts/zk/Halo2VerifierReusable.sol (after a
# two-line header) and deployed once per chain. Every compile checks that ezkl's verifier for the new model is
# still this one, so a model that would need another verifier is refused instead of failing on-chain.
REUSABLE_VERIFIER_SHA256 = "b426d5f31e2f9d327baac7d9415dd135df06a6d2628f971ae7446c4bffbcd80f"
_FILES = ("model.onnx", "settings.json", "model.ezkl", "vk.key", "vka.bytes")  # sha256-checked on load


@dataclass
class CompiledModel:
    directory: Path
    model_id: str  # see model_id_of

    onnx_hash: str
    settings_hash: str
    vk_hash: str
    source_hash: str  # sha256 of the ONNX file the user gave (before batching)
    options: ZkOptions
    logrows: int
    srs: dict[str, Any]
    inputs: list[dict[str, Any]]  # [{"name", "shape"}] of the circuit (batched)
    outputs: list[dict[str, Any]]
    input_scales: list[int]
    output_scales: list[int]
    input_instances: int  # leading public instances that describe the input
    verifier_code_hash: str  # keccak of the reusable verifier's runtime code: the only code that may check it
    vka_digest: str  # keccak of the VKA words: what the verifier reports for this key
    timings: dict[str, float] = field(default_factory=dict)
    file_hashes: dict[str, str] = field(default_factory=dict)

    def path(self, name: str) -> Path:
        return self.directory / name

    @property
    def srs_unsafe(self) -> bool:
        return bool(self.srs["unsafe_for_production"])

    def vka_words(self) -> list[bytes]:
        return read_vka(self.path("vka.bytes"))

    def to_json(self) -> dict[str, Any]:
        out = asdict(self)
        out["directory"] = str(self.directory)
        return out

    @classmethod
    def from_json(cls, raw: dict[str, Any]) -> "CompiledModel":
        raw = dict(raw)
        raw["directory"] = Path(raw["directory"])
        raw["options"] = ZkOptions(**raw["options"])
        return cls(**raw)


def read_vka(path: Path) -> list[bytes]:
    """ezkl writes the VKA as a u64 little-endian word count followed by 32-byte words."""
    data = path.read_bytes()
    if len(data) < 8:
        raise ProofError(f"{path} is not a VKA file (too short): compile the model again")
    n = int.from_bytes(data[:8], "little")
    if len(data) != 8 + 32 * n:
        raise ProofError(f"{path} is corrupted: header says {n} words but the file holds {len(data) - 8} bytes; "
                         "compile the model again with --force")
    return [data[8 + 32 * i: 40 + 32 * i] for i in range(n)]


def canonical_settings(settings: dict[str, Any]) -> bytes:
    """ezkl stamps settings with the time they were written; the model id must not depend on it."""
    return json.dumps({k: v for k, v in settings.items() if k != "timestamp"}, sort_keys=True,
                      separators=(",", ":")).encode()


def model_id_of(onnx_hash: bytes, settings_hash: bytes, vk_hash: bytes, verifier_code_hash: bytes,
                vka_digest: bytes, batch_size: int, input_instances: int) -> str:
    """ModelRegistry.modelIdOf: everything that decides a proof's validity and meaning, and no address, so the
    id is the same on every chain and whoever registers it first chooses nothing."""
    return "0x" + keccak(abi_encode(
        ["bytes32", "bytes32", "bytes32", "bytes32", "bytes32", "uint32", "uint16"],
        [onnx_hash, settings_hash, vk_hash, verifier_code_hash, vka_digest, batch_size, input_instances])).hex()


def verifier_code_hash() -> bytes:
    """keccak of the committed reusable Halo2 verifier's runtime code (no immutables: the same on every chain)."""
    return keccak(load_artifact("Halo2VerifierReusable").deployed_bytecode)


def default_cache_dir(data_dir: Path | None = None) -> Path:
    """TESSERA_ZK_CACHE, else <data_dir, or TESSERA_HOME, or ~/.tessera>/zk."""
    if os.environ.get("TESSERA_ZK_CACHE"):
        return Path(os.environ["TESSERA_ZK_CACHE"]).expanduser()
    if data_dir is not None:
        return data_dir / "zk"
    home = os.environ.get("TESSERA_HOME")
    return (Path(home) if home else Path.home() / ".tessera").expanduser() / "zk"


def cache_key(circuit_onnx: bytes, options: ZkOptions, srs_path: Path | str | None) -> str:
    h = hashlib.sha256(circuit_onnx)
    h.update(json.dumps(asdict(options), sort_keys=True).encode())
    # model ids v2 commit to the verifier code and the VKA: entries from before are compiled again
    h.update(f"ezkl {ezkl_calls.EZKL_VERSION}; srs {srs_path or 'dev'}; model id v2".encode())
    return h.hexdigest()[:32]


def load_cached(directory: Path) -> CompiledModel | None:
    meta = directory / "compiled.json"
    if not meta.is_file():
        return None
    try:
        compiled = CompiledModel.from_json(json.loads(meta.read_text()))
    except (ValueError, TypeError, KeyError) as e:
        raise ProofError(f"{meta} is corrupted: delete {directory} (or compile with --force)") from e
    for name, expected in compiled.file_hashes.items():
        path = directory / name
        if not path.is_file():
            raise ProofError(f"compiled model {compiled.model_id} is missing {name}: compile it again with --force")
        actual = str(path.stat().st_size) if name == "pk.key" else sha256_file(path)
        if actual != expected:
            raise ProofError(f"compiled model {compiled.model_id} has a corrupted {name} ({path}): "
                             "compile it again with --force")
    return compiled


def find_compiled(model_id: str, cache_dir: Path | None = None) -> CompiledModel:
    """The cached artifacts of a model id, from the index that `compile_model` keeps."""
    cache_dir = cache_dir or default_cache_dir()
    index = cache_dir / "index" / model_id.lower()
    if not index.is_file():
        raise ZkError(f"model {model_id} has not been compiled on this machine (cache {cache_dir}): "
                      "run `tessera zk compile MODEL.onnx` with the same options first")
    compiled = load_cached(cache_dir / "models" / index.read_text().strip())
    if compiled is None:
        raise ZkError(f"the cache entry for model {model_id} is gone: run `tessera zk compile MODEL.onnx` again")
    return compiled


def compile_model(
    model_path: Path | str,
    options: ZkOptions | None = None,
    *,
    cache_dir: Path | None = None,
    srs_path: Path | str | None = None,
    calibration: dict[str, Any] | None = None,
    force: bool = False,
) -> tuple[CompiledModel, bool]:
    """Compile (or fetch from the cache) a model. Returns (compiled model, cache hit)."""
    options = options or ZkOptions()
    cache_dir = cache_dir or default_cache_dir()
    source = Path(model_path)
    model = onnx_graph.fill_default_attributes(onnx_graph.load_model(source))
    onnx_graph.input_specs(model)  # dynamic shapes are refused before any work
    onnx_graph.output_specs(model)
    circuit_model = onnx_graph.batch_model(model, options.batch)
    circuit_bytes = circuit_model.SerializeToString()
    directory = cache_dir / "models" / cache_key(circuit_bytes, options, srs_path)
    directory.parent.mkdir(parents=True, exist_ok=True)
    # one compiler per cache entry at a time: a second process waits, then finds the entry cached
    with open(directory.with_name(directory.name + ".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        return _compile_locked(directory, source, circuit_model, circuit_bytes, options, cache_dir, srs_path,
                               calibration, force)


def _compile_locked(directory: Path, source: Path, circuit_model: onnx.ModelProto, circuit_bytes: bytes,
                    options: ZkOptions, cache_dir: Path, srs_path: Path | str | None,
                    calibration: dict[str, Any] | None, force: bool) -> tuple[CompiledModel, bool]:
    if not force:
        cached = load_cached(directory)
        if cached is not None:
            return cached, True
    if directory.exists():
        shutil.rmtree(directory)
    work = directory.with_name(directory.name + ".partial")
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    compiled = _build(work, source, circuit_model, circuit_bytes, options, cache_dir, srs_path, calibration)
    work.replace(directory)  # a run killed mid-way leaves only a .partial directory, never a bad entry
    compiled.directory = directory
    (directory / "compiled.json").write_text(json.dumps(compiled.to_json(), indent=1))
    index = cache_dir / "index"
    index.mkdir(parents=True, exist_ok=True)
    (index / compiled.model_id).write_text(directory.name)
    return compiled, False


_WRITE_VERIFIER = """
import asyncio, sys, ezkl
async def main():
    await ezkl.create_evm_verifier(*sys.argv[1:6], reusable=True)
try:
    asyncio.run(main())
except Exception:
    pass
"""


def _check_reusable_verifier(work: Path, srs: Srs) -> None:
    sol = work / "verifier.sol"
    # ezkl writes the Solidity file, then fails downloading solc (offline) and leaves a runtime thread that
    # aborts the interpreter at exit: so it runs in a throwaway process, and only the file is used
    subprocess.run([sys.executable, "-c", _WRITE_VERIFIER, str(work / "vk.key"), str(work / "settings.json"),
                    str(sol), str(work / "verifier.abi"), str(srs.path)],
                   capture_output=True, timeout=600, check=False)
    if not sol.is_file():
        raise ZkError("ezkl did not write the reusable EVM verifier: check the ezkl installation (`make setup`)")
    digest = sha256_file(sol)
    sol.unlink()
    (work / "verifier.abi").unlink(missing_ok=True)
    if digest != REUSABLE_VERIFIER_SHA256:
        raise ZkError(
            f"ezkl generated a different reusable verifier for this model (sha256 {digest[:16]}...) than the one "
            "deployed with the protocol: this model cannot be verified on-chain by Tessera's verifier; "
            "report it with the model attached"
        )


def _build(work: Path, source: Path, circuit_model: onnx.ModelProto, circuit_bytes: bytes, options: ZkOptions,
           cache_dir: Path, srs_path: Path | str | None, calibration: dict[str, Any] | None) -> CompiledModel:
    ezkl = ezkl_calls.ezkl_module()
    timings: dict[str, float] = {}
    model_file, settings_file = work / "model.onnx", work / "settings.json"
    model_file.write_bytes(circuit_bytes)
    ins, outs = onnx_graph.input_specs(circuit_model), onnx_graph.output_specs(circuit_model)
    data = calibration if calibration is not None else calibration_data(ins, hashlib.sha256(circuit_bytes).digest())
    onnx_graph.check_input(circuit_model, data)
    (work / "data.json").write_text(json.dumps(data))

    t = time.perf_counter()
    settings = calibrated_settings(work, options)
    ezkl_calls.call("compiling the circuit", ezkl.compile_circuit, str(model_file), str(work / "model.ezkl"),
                    str(settings_file))
    timings["compile_s"] = time.perf_counter() - t
    logrows = int(settings["run_args"]["logrows"])
    refuse_if_too_large(settings, f"model {source.name}")
    srs: Srs = resolve(cache_dir, logrows, srs_path)

    t = time.perf_counter()
    ezkl_calls.call("setting up proving and verifying keys", ezkl.setup, str(work / "model.ezkl"),
                    str(work / "vk.key"), str(work / "pk.key"), str(srs.path))
    timings["setup_s"] = time.perf_counter() - t
    t = time.perf_counter()
    ezkl_calls.call_async("compiling the verifying key for the EVM", ezkl.create_evm_vka, str(work / "vk.key"),
                          str(settings_file), str(work / "vka.bytes"), str(srs.path))
    timings["vka_s"] = time.perf_counter() - t
    t = time.perf_counter()
    _check_reusable_verifier(work, srs)
    timings["verifier_check_s"] = time.perf_counter() - t

    onnx_hash = keccak(circuit_bytes)
    settings_hash = keccak(canonical_settings(settings))
    vk_hash = keccak((work / "vk.key").read_bytes())
    vka_digest = keccak(b"".join(read_vka(work / "vka.bytes")))
    code_hash = verifier_code_hash()
    input_instances = len(ins) if options.input_visibility == "hashed" else sum(s.size for s in ins)
    file_hashes = {name: sha256_file(work / name) for name in _FILES}
    file_hashes["pk.key"] = str((work / "pk.key").stat().st_size)
    return CompiledModel(
        directory=work,
        model_id=model_id_of(onnx_hash, settings_hash, vk_hash, code_hash, vka_digest, options.batch, input_instances),
        onnx_hash="0x" + onnx_hash.hex(),
        settings_hash="0x" + settings_hash.hex(),
        vk_hash="0x" + vk_hash.hex(),
        source_hash=sha256_file(source),
        options=options,
        logrows=logrows,
        srs=srs.to_json(),
        inputs=[{"name": s.name, "shape": list(s.shape)} for s in ins],
        outputs=[{"name": s.name, "shape": list(s.shape)} for s in outs],
        input_scales=[int(x) for x in settings["model_input_scales"]],
        output_scales=[int(x) for x in settings["model_output_scales"]],
        input_instances=input_instances,
        verifier_code_hash="0x" + code_hash.hex(),
        vka_digest="0x" + vka_digest.hex(),
        timings=timings,
        file_hashes=file_hashes,
    )
