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

Unknown keys are refused (a typo is an error, not a silently ignored setting).
"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Any

from pydantic import Field

from ..market.pricing import ScriptPricing
from ..market.spec import ResourcesSpec, load_yaml_mapping, to_base_units
from ..market.types import Prices
from ..schema import Amount, Int, Strict, parse
from .node import ProviderConfig

DOCS = "docs/market.md (provider config)"
TSR_CAP = 21_000_000


class ListenSpec(Strict):
    host: str = "127.0.0.1"
    port: Int = Field(default=8701, ge=1, le=65535)


class PricesSpec(Strict):
    cpu: Amount = Field(default=Decimal(0), ge=0, le=10**6)
    memory_gb: Amount = Field(default=Decimal(0), ge=0, le=10**6)
    storage_gb: Amount = Field(default=Decimal(0), ge=0, le=10**6)
    gpu: Amount = Field(default=Decimal(0), ge=0, le=10**6)


class PricingSpec(Strict):
    script: str | list[str]
    timeout: float = Field(default=5.0, gt=0, le=60)


class ProviderFile(Strict):
    endpoint: str = Field(pattern=r"^https?://[^\s/]+(:\d{1,5})?(/\S*)?$", max_length=256)
    listen: ListenSpec = ListenSpec()
    region: str = Field(default="", max_length=32)
    gpu_model: str = Field(default="", max_length=32)
    capacity: ResourcesSpec
    prices: PricesSpec
    bond: Amount = Field(default=Decimal(10), ge=0, le=TSR_CAP)
    pricing: PricingSpec | None = None
    withdraw_interval: Int = Field(default=3600, ge=60, le=30 * 24 * 3600)


def load_provider_config(path: Path, decimals: int) -> tuple[ProviderConfig, str, int]:
    """Returns (config, listen host, listen port)."""
    return parse_provider_config(load_yaml_mapping(path, "provider config"), decimals, path.parent, where=str(path))


def parse_provider_config(raw: dict[str, Any], decimals: int, base: Path,
                          where: str = "provider config") -> tuple[ProviderConfig, str, int]:
    spec = parse(ProviderFile, raw, where, DOCS)
    pr = spec.prices
    prices = Prices(*(to_base_units(getattr(pr, k), decimals, f"prices.{k}")
                      for k in ("cpu", "memory_gb", "storage_gb", "gpu")))
    pricing = None
    if spec.pricing is not None:
        script = spec.pricing.script
        command = [str(base / c) if (base / c).exists() else str(c) for c in
                   (script if isinstance(script, list) else [script])]
        pricing = ScriptPricing(command, spec.pricing.timeout)
    config = ProviderConfig(
        endpoint=spec.endpoint, region=spec.region, gpu_model=spec.gpu_model,
        capacity=spec.capacity.to_resources(), prices=prices, bond=to_base_units(spec.bond, 18, "bond"),
        pricing=pricing, withdraw_interval=spec.withdraw_interval,
    )
    return config, spec.listen.host, spec.listen.port
