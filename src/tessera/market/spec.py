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
from typing import Any

import yaml
from eth_utils import keccak

from ..errors import ConfigError
from .types import OrderSpec, Requirements, Resources

MANIFEST_VERSION = 1
_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([KMGT]i?)?B?\s*$", re.IGNORECASE)
_UNITS = {None: 1, "k": 1000, "ki": 1024, "m": 1000**2, "mi": 1024**2, "g": 1000**3, "gi": 1024**3,
          "t": 1000**4, "ti": 1024**4}
DEFAULT_LIMITS = {"cpu_seconds": 3600, "memory": "1Gi", "wall_seconds": 86400}


def parse_size(value: Any, field: str) -> int:
    """'512Mi' / '1Gi' / 1073741824 → bytes."""
    if isinstance(value, int):
        return value
    m = _SIZE.match(str(value))
    if not m:
        raise ConfigError(f"{field}: {value!r} is not a size; write e.g. 512Mi or 2Gi")
    unit = m.group(2).lower() if m.group(2) else None
    return int(Decimal(m.group(1)) * _UNITS[unit])


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


def _require(raw: dict[str, Any], key: str, where: str) -> Any:
    if key not in raw:
        raise ConfigError(f"{where}: missing `{key}` (see docs/market.md for the spec format)")
    return raw[key]


def _read_file(base: Path, name: str, where: str) -> str:
    path = (base / name).resolve()
    if not path.is_file():
        raise ConfigError(f"{where}: file {name!r} not found next to the spec ({path})")
    return base64.b64encode(path.read_bytes()).decode()


def build_manifest(name: str, workload: dict[str, Any], base: Path) -> Manifest:
    kind = _require(workload, "kind", "workload")
    limits = {**DEFAULT_LIMITS, **(workload.get("limits") or {})}
    limits = {"cpu_seconds": int(limits["cpu_seconds"]), "memory": parse_size(limits["memory"], "limits.memory"),
              "wall_seconds": int(limits["wall_seconds"])}
    body: dict[str, Any] = {"kind": kind, "limits": limits}
    proof = str(workload.get("proof", "none"))
    if proof not in ("none", "zk"):
        raise ConfigError(f"workload.proof {proof!r}: use `none` or `zk` (zkML proof per result, docs/zkml.md)")
    if kind == "onnx":
        model = _require(workload, "model", "workload (kind onnx)")
        body["files"] = {"model.onnx": _read_file(base, model, "workload.model")}
        if proof == "zk":
            body["proof"] = "zk"  # results come with EZKL proofs, paid per verified result
    elif proof == "zk":
        raise ConfigError("workload.proof zk needs kind onnx: only ONNX models can be proved")
    elif kind == "batch":
        entry = _require(workload, "entrypoint", "workload (kind batch)")
        if not re.fullmatch(r"[\w./-]+\.py:\w+", str(entry)):
            raise ConfigError(f"workload.entrypoint {entry!r}: write FILE.py:FUNCTION, e.g. job.py:main")
        files = [str(entry).split(":")[0], *workload.get("files", [])]
        body["entrypoint"] = entry
        body["files"] = {Path(f).name: _read_file(base, f, "workload.files") for f in dict.fromkeys(files)}
        body["inputs"] = {Path(f).name: _read_file(base, f, "workload.inputs") for f in workload.get("inputs", [])}
    else:
        raise ConfigError(f"workload.kind {kind!r} is not supported: use `onnx` or `batch`")
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


def parse_resources(raw: dict[str, Any], where: str) -> Resources:
    """{cpu: 0.5, memory: 512Mi, storage: 1Gi, gpus: 0} → Resources (millicores, MiB, GiB)."""
    try:
        cpu = int(Decimal(str(raw.get("cpu", 0))) * 1000)
    except InvalidOperation:
        raise ConfigError(f"{where}.cpu: {raw.get('cpu')!r} is not a number of cores; write e.g. 0.5") from None
    return Resources(
        cpu=cpu,
        memory_mb=parse_size(raw.get("memory", 0), f"{where}.memory") // 1024**2,
        storage_gb=parse_size(raw.get("storage", 0), f"{where}.storage") // 1024**3,
        gpus=int(raw.get("gpus", 0)),
    )


def load_spec(path: Path) -> DeploymentSpec:
    return parse_spec(load_yaml_mapping(path, "spec"), path.parent)


def parse_spec(raw: dict[str, Any], base: Path) -> DeploymentSpec:
    resources = parse_resources(_require(raw, "resources", "spec"), "resources")
    req = raw.get("requirements") or {}
    requirements = Requirements(str(req.get("region") or ""), str(req.get("gpu_model") or ""),
                                req.get("auditor") or None)
    bid_window = int(raw.get("bid_window", 60))
    name = str(raw.get("name", "workload"))
    return DeploymentSpec(
        name=name,
        resources=resources,
        requirements=requirements,
        max_price_per_hour=Decimal(str(_require(raw, "max_price_per_hour", "spec"))),
        deposit=Decimal(str(_require(raw, "deposit", "spec"))),
        bid_window=bid_window,
        manifest=build_manifest(name, _require(raw, "workload", "spec"), base),
    )
