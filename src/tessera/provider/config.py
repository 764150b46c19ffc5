"""The provider's YAML config file, for `tessera provider run --config provider.yaml`::

    endpoint: http://203.0.113.7:8701        # where tenants reach this node
    listen: {host: 0.0.0.0, port: 8701}
    region: eu
    gpu_model: ""                             # e.g. h100; empty for CPU-only
    capacity: {cpu: 8, memory: 32Gi, storage: 500Gi, gpus: 0}
    prices: {cpu: 0.40, memory_gb: 0.02, storage_gb: 0.0005, gpu: 0}   # per hour, stablecoin units
    bond: 10                                  # TSR
    pricing: {script: [python3, price.py], timeout: 5}               # optional escape hatch
    withdraw_interval: 3600
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..errors import ConfigError
from ..market.pricing import ScriptPricing
from ..market.spec import load_yaml_mapping, parse_resources, to_base_units
from ..market.types import Prices
from .node import ProviderConfig


def load_provider_config(path: Path, decimals: int) -> tuple[ProviderConfig, str, int]:
    """Returns (config, listen host, listen port)."""
    raw = load_yaml_mapping(path, "provider config")
    if "endpoint" not in raw or "capacity" not in raw or "prices" not in raw:
        raise ConfigError(f"{path}: needs at least `endpoint`, `capacity` and `prices` (see docs/market.md)")
    return parse_provider_config(raw, decimals, path.parent)


def parse_provider_config(raw: dict[str, Any], decimals: int, base: Path) -> tuple[ProviderConfig, str, int]:
    pr = raw["prices"]
    capacity = parse_resources(raw["capacity"], "capacity")
    prices = Prices(*(to_base_units(pr.get(k, 0), decimals, f"prices.{k}")
                      for k in ("cpu", "memory_gb", "storage_gb", "gpu")))
    pricing = None
    if raw.get("pricing", {}).get("script"):
        script = raw["pricing"]["script"]
        command = [str(base / c) if (base / c).exists() else str(c) for c in
                   (script if isinstance(script, list) else [script])]
        pricing = ScriptPricing(command, float(raw["pricing"].get("timeout", 5)))
    listen = raw.get("listen") or {}
    config = ProviderConfig(
        endpoint=str(raw["endpoint"]), region=str(raw.get("region", "")), gpu_model=str(raw.get("gpu_model", "")),
        capacity=capacity, prices=prices, bond=to_base_units(raw.get("bond", 10), 18, "bond"), pricing=pricing,
        withdraw_interval=int(raw.get("withdraw_interval", 3600)),
    )
    return config, str(listen.get("host", "127.0.0.1")), int(listen.get("port", 8701))
