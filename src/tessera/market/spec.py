"""The tenant's deployment spec (YAML) and the workload manifest it becomes.

A spec names resources, requirements, prices and a workload::

    name: iris
    resources: {cpu: 0.5, memory: 512Mi, storage: 1Gi, gpus: 0}
    requirements: {region: eu, gpu_model: "", auditor: null}
    max_price_per_hour: 1.50     # in stablecoin units
    deposit: 10                  # escrowed up front; top up later
    bid_window: 60               # seconds providers have to bid
    workload:
      kind: onnx                 # an ONNX model served over HTTP
      model: model.onnx          # relative to the spec file
      limits: {cpu_seconds: 3600, memory: 1Gi, wall_seconds: 86400}

or ``kind: batch`` with ``entrypoint: job.py:main``, ``files: [job.py]`` and ``inputs: [data.csv]``.
The manifest (canonical JSON with the files inlined) is what the provider receives; its keccak
hash goes on-chain with the order, so a provider can refuse anything else.
"""

from __future__ import annotations

import base64
import json
import re
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

import yaml
from eth_utils import keccak

from ..errors import ConfigError
from ..schema import Amount, Int, Size, Strict, parse
from .types import OrderSpec, Requirements, Resources

MANIFEST_VERSION = 1
DEFAULT_LIMITS = {"cpu_seconds": 3600, "memory": "1Gi", "wall_seconds": 86400}


def to_base_units(value: Any, decimals: int, field: str) -> int:
    try:
        amount = Decimal(str(value))
    except InvalidOperation:
        raise ConfigError(f"{field}: {value!r} is not a number; write e.g. 1.50") from None
    units = amount * (10**decimals)
    if amount < 0 or units != units.to_integral_value():
        raise ConfigError(f"{field}: {value} has more than {decimals} decimals or is negative")
    return int(units)


@dataclass(frozen=True)
class Manifest:
    """The workload, canonically encoded. `hash` is what the order commits to."""

    body: dict[str, Any]

    @property
    def canonical(self) -> bytes:
        return json.dumps(self.body, sort_keys=True, separators=(",", ":")).encode()

    @property
    def hash(self) -> bytes:
        return keccak(self.canonical)

    @classmethod
    def from_bytes(cls, raw: bytes) -> "Manifest":
        try:
            body = json.loads(raw)
        except ValueError as e:
            raise ConfigError(f"the manifest is not valid JSON ({e})") from e
        if not isinstance(body, dict) or body.get("version") != MANIFEST_VERSION or "workload" not in body:
            raise ConfigError(f"not a Tessera manifest (version {MANIFEST_VERSION} with a workload)")
        return cls(body)

    @property
    def workload(self) -> dict[str, Any]:
        return dict(self.body["workload"])

    def file(self, name: str) -> bytes:
        return base64.b64decode(self.body["workload"]["files"][name])


@dataclass(frozen=True)
class DeploymentSpec:
    name: str
    resources: Resources
    requirements: Requirements
    max_price_per_hour: Decimal
    deposit: Decimal
    bid_window: int
    manifest: Manifest

    def order_spec(self, decimals: int) -> OrderSpec:
        return OrderSpec(
            resources=self.resources,
            requirements=self.requirements,
            max_price_per_hour=to_base_units(self.max_price_per_hour, decimals, "max_price_per_hour"),
            bid_window=self.bid_window,
            manifest_hash=self.manifest.hash,
            deposit=to_base_units(self.deposit, decimals, "deposit"),
        )


def _read_file(base: Path, name: str, where: str) -> bytes:
    path = (base / name).resolve()
    if not path.is_file():
        raise ConfigError(f"{where}: file {name!r} not found next to the spec ({path})")
    return path.read_bytes()


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode()


def check_onnx_model(raw: bytes, name: str) -> None:
    """Refuse at `market deploy` what the provider could not serve (the lease would wait for nothing): the
    model must parse as ONNX and load in onnxruntime, the provider's runtime."""
    import onnxruntime as ort

    try:
        ort.InferenceSession(raw, providers=["CPUExecutionProvider"])
    except Exception as e:  # onnxruntime raises its own untyped errors: translated here, at the boundary
        first = str(e).splitlines()[0][:200] if str(e) else type(e).__name__
        raise ConfigError(f"workload.model {name} is not an ONNX model onnxruntime can load ({first}): "
                          "export it with torch.onnx.export or check the file") from None


def build_manifest(name: str, workload: "WorkloadSpec", base: Path) -> Manifest:
    w = workload
    limits = {"cpu_seconds": w.limits.cpu_seconds, "memory": w.limits.memory, "wall_seconds": w.limits.wall_seconds}
    body: dict[str, Any] = {"kind": w.kind, "limits": limits}
    if w.kind == "onnx":
        assert w.model is not None
        model = _read_file(base, w.model, "workload.model")
        check_onnx_model(model, w.model)
        body["files"] = {"model.onnx": _b64(model)}
        if w.proof == "zk":
            body["proof"] = "zk"  # results come with EZKL proofs, paid per verified result
    else:
        assert w.entrypoint is not None
        files = [w.entrypoint.split(":")[0], *w.files]
        body["entrypoint"] = w.entrypoint
        body["files"] = {Path(f).name: _b64(_read_file(base, f, "workload.files")) for f in dict.fromkeys(files)}
        body["inputs"] = {Path(f).name: _b64(_read_file(base, f, "workload.inputs")) for f in w.inputs}
    return Manifest({"version": MANIFEST_VERSION, "name": name, "workload": body})


def load_yaml_mapping(path: Path, what: str) -> dict[str, Any]:
    """A YAML file that must hold a mapping; errors name the file and point at docs/market.md."""
    try:
        raw = yaml.safe_load(path.read_text())
    except FileNotFoundError:
        raise ConfigError(f"{what} {path} not found (see docs/market.md for an example)") from None
    except yaml.YAMLError as e:
        raise ConfigError(f"{path} is not valid YAML: {e}") from e
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: the {what} must be a mapping (see docs/market.md)")
    return raw


def load_spec(path: Path) -> DeploymentSpec:
    return parse_spec(load_yaml_mapping(path, "spec"), path.parent, where=str(path))


def parse_spec(raw: dict[str, Any], base: Path, where: str = "spec") -> DeploymentSpec:
    spec = parse(SpecFile, raw, where, DOCS)
    return DeploymentSpec(
        name=spec.name,
        resources=spec.resources.to_resources(),
        requirements=Requirements(spec.requirements.region, spec.requirements.gpu_model,
                                  spec.requirements.auditor),
        max_price_per_hour=spec.max_price_per_hour,
        deposit=spec.deposit,
        bid_window=spec.bid_window,
        manifest=build_manifest(spec.name, spec.workload, base),
    )


# ---- the spec's schema ----

DOCS = "docs/market.md"
_ADDRESS = r"^0x[0-9a-fA-F]{40}$"


class ResourcesSpec(Strict):
    cpu: Amount = Field(default=Decimal(0), ge=0, le=4096, description="cores; 0.5 is half a core")
    memory: Size = Field(default=0, ge=0, le=2**50)
    storage: Size = Field(default=0, ge=0, le=2**60)
    gpus: Int = Field(default=0, ge=0, le=1024)

    @field_validator("cpu")
    @classmethod
    def _millicores(cls, v: Decimal) -> Decimal:
        if v * 1000 != (v * 1000).to_integral_value():
            raise ValueError("cpu has at most 3 decimals (millicores), e.g. 0.25")
        return v

    def to_resources(self) -> Resources:
        return Resources(cpu=int(self.cpu * 1000), memory_mb=self.memory // 1024**2,
                         storage_gb=self.storage // 1024**3, gpus=self.gpus)


class RequirementsSpec(Strict):
    region: str = Field(default="", max_length=32)
    gpu_model: str = Field(default="", max_length=32)
    auditor: str | None = Field(default=None, pattern=_ADDRESS)


class LimitsSpec(Strict):
    cpu_seconds: Int = Field(default=3600, ge=1, le=10**9)
    memory: Size = Field(default=1024**3, ge=16 * 1024**2, le=2**50)
    wall_seconds: Int = Field(default=86400, ge=1, le=10**9)


class WorkloadSpec(Strict):
    kind: Literal["onnx", "batch"]
    model: str | None = None
    proof: Literal["none", "zk"] = "none"
    entrypoint: str | None = Field(default=None, pattern=r"^[\w./-]+\.py:\w+$")
    files: list[str] = []
    inputs: list[str] = []
    limits: LimitsSpec = LimitsSpec()

    @model_validator(mode="after")
    def _shape(self) -> "WorkloadSpec":
        if self.kind == "onnx":
            if not self.model:
                raise ValueError("kind onnx needs `model: FILE.onnx`")
            if self.entrypoint or self.files or self.inputs:
                raise ValueError("kind onnx takes `model`, not entrypoint/files/inputs")
        else:
            if not self.entrypoint:
                raise ValueError("kind batch needs `entrypoint: FILE.py:FUNCTION`")
            if self.model:
                raise ValueError("kind batch takes entrypoint/files/inputs, not `model`")
            if self.proof == "zk":
                raise ValueError("proof zk needs kind onnx: only ONNX models can be proved (docs/zkml.md)")
        return self


class SpecFile(Strict):
    name: str = Field(default="workload", pattern=r"^[\w.-]{1,64}$")
    resources: ResourcesSpec
    requirements: RequirementsSpec = RequirementsSpec()
    max_price_per_hour: Amount = Field(gt=0, le=10**9)
    deposit: Amount = Field(gt=0, le=10**12)
    bid_window: Int = Field(default=60, ge=1, le=7 * 24 * 3600)
    workload: WorkloadSpec
