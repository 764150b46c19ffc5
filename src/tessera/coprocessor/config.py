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
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import ConfigError
from ..market.spec import load_yaml_mapping, to_base_units
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


def load_node_file(path: Path, decimals: int) -> NodeFile:
    raw = load_yaml_mapping(path, "coprocessor config")
    models = raw.get("models")
    if not isinstance(models, list) or not models:
        raise ConfigError(f"{path}: `models` must list at least one model ({{onnx: model.onnx}}); see "
                          "docs/coprocessor.md")
    entries = []
    for i, m in enumerate(models):
        if not isinstance(m, dict) or "onnx" not in m:
            raise ConfigError(f"{path}: models[{i}] needs `onnx: path/to/model.onnx`")
        onnx = Path(m["onnx"])
        onnx = onnx if onnx.is_absolute() else path.parent / onnx
        options = ZkOptions(input_visibility=str(m.get("input_visibility", "hashed")),
                            output_visibility=str(m.get("output_visibility", "hashed")),
                            target=str(m.get("target", "resources")), batch=int(m.get("batch", 1)))
        entries.append(ModelEntry(onnx, options, bool(m.get("register", False))))
    listen = raw.get("listen") or {}
    try:
        return NodeFile(
            models=entries, min_fee=to_base_units(raw.get("min_fee", 0), decimals, "min_fee"),
            max_gas_price=int(float(raw.get("max_gas_price_gwei", 200)) * 10**9),
            bond=to_base_units(raw.get("bond", 100), 18, "bond"), confirmations=int(raw.get("confirmations", 0)),
            bump_after=float(raw.get("bump_after", 30)), watch=bool(raw.get("watch", True)),
            host=str(listen.get("host", "127.0.0.1")),
            port=int(listen.get("port", 8711)),
        )
    except (TypeError, ValueError) as e:
        raise ConfigError(f"{path}: {e}; see docs/coprocessor.md for the fields") from e


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
