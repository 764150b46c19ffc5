"""The coprocessor node's YAML config, for `tessera coprocessor run --config node.yaml`::

    listen: {host: 127.0.0.1, port: 8711}
    models:                                   # compiled on start (cached); requests for others are skipped
      - onnx: guard.onnx
        input_visibility: public              # hashed | public (as `tessera zk compile`)
        output_visibility: public
        target: resources                     # resources | accuracy
        register: true                        # register in the ModelRegistry if it is not (devnets)
    min_fee: 0.01                             # stablecoin per delivery; cheaper requests are skipped
    max_gas_price_gwei: 50                    # never pay more per gas for a delivery
    bond: 100                                 # TSR to keep bonded
    confirmations: 0                          # blocks an event must be buried under before it is acted on
    bump_after: 30                            # seconds before a stuck delivery is re-sent with higher fees
    watch: true                               # challenge other nodes' wrong optimistic results with a proof

Unknown keys are refused; ranges are checked (port 1..65535, batch 1..4096, bond at most the TSR cap).
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any, Literal

from pydantic import Field

from ..errors import ConfigError
from ..market.spec import load_yaml_mapping, to_base_units
from ..schema import Amount, Int, Strict, parse
from ..zkml import CompiledModel, ZkOptions, compile_model


@dataclass(frozen=True)
class ModelEntry:
    onnx: Path
    options: ZkOptions
    register: bool


@dataclass(frozen=True)
class NodeFile:
    models: list[ModelEntry]
    min_fee: int
    max_gas_price: int
    bond: int
    confirmations: int
    bump_after: float
    watch: bool
    host: str
    port: int


class ListenSpec(Strict):
    host: str = "127.0.0.1"
    port: Int = Field(default=8711, ge=1, le=65535)


class ModelSpec(Strict):
    onnx: str = Field(min_length=1)
    input_visibility: Literal["hashed", "public"] = "hashed"
    output_visibility: Literal["hashed", "public"] = "hashed"
    target: Literal["resources", "accuracy"] = "resources"
    batch: Int = Field(default=1, ge=1, le=4096)
    register_model: bool = Field(default=False, alias="register")  # `register` would shadow a pydantic method


class NodeSpec(Strict):
    listen: ListenSpec = ListenSpec()
    models: list[ModelSpec] = Field(min_length=1)
    min_fee: Amount = Field(default=Decimal(0), ge=0, le=10**9)
    max_gas_price_gwei: Amount = Field(default=Decimal(200), gt=0, le=10**6)
    bond: Amount = Field(default=Decimal(100), ge=0, le=21_000_000)
    confirmations: Int = Field(default=0, ge=0, le=1000)
    bump_after: float = Field(default=30.0, gt=0, le=3600)
    watch: bool = True


def load_node_file(path: Path, decimals: int) -> NodeFile:
    spec = parse(NodeSpec, load_yaml_mapping(path, "coprocessor config"), str(path), "docs/coprocessor.md")
    entries = []
    for m in spec.models:
        onnx = Path(m.onnx)
        onnx = onnx if onnx.is_absolute() else path.parent / onnx
        options = ZkOptions(input_visibility=m.input_visibility, output_visibility=m.output_visibility,
                            target=m.target, batch=m.batch)
        entries.append(ModelEntry(onnx, options, m.register_model))
    gwei = spec.max_gas_price_gwei * 10**9
    if gwei != gwei.to_integral_value():
        raise ConfigError(f"{path}: max_gas_price_gwei {spec.max_gas_price_gwei} has more than 9 decimals")
    return NodeFile(
        models=entries, min_fee=to_base_units(spec.min_fee, decimals, "min_fee"), max_gas_price=int(gwei),
        bond=to_base_units(spec.bond, 18, "bond"), confirmations=spec.confirmations, bump_after=spec.bump_after,
        watch=spec.watch, host=spec.listen.host, port=spec.listen.port,
    )


def compile_models(entries: list[ModelEntry], cache_dir: Path) -> list[tuple[CompiledModel, ModelEntry]]:
    out: list[tuple[CompiledModel, ModelEntry]] = []
    for entry in entries:
        if not entry.onnx.exists():
            raise ConfigError(f"model file {entry.onnx} does not exist: fix `models[].onnx` in the config")
        compiled, _ = compile_model(entry.onnx, entry.options, cache_dir=cache_dir)
        out.append((compiled, entry))
    return out


def describe(entries: list[tuple[CompiledModel, ModelEntry]]) -> list[dict[str, Any]]:
    return [{"model_id": c.model_id, "onnx": str(e.onnx), "input_visibility": e.options.input_visibility,
             "output_visibility": e.options.output_visibility} for c, e in entries]
