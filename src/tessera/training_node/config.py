"""The training nodes' YAML configs (docs/training.md, "nodes").

Solver (`tessera train solver run --config solver.yaml`)::

    listen: {host: 127.0.0.1, port: 8720}
    specs: [digits.yaml]          # task specs this node trains (relative to this file); more with PUT /specs
    min_fee: 1                    # stablecoin; cheaper tasks are skipped
    max_steps: 100000             # longer tasks are skipped
    max_gas_price_gwei: 200
    confirmations: 0              # blocks an event must be buried under before it is acted on

Verifier (`tessera train verifier run --config verifier.yaml`)::

    listen: {host: 127.0.0.1, port: 8721}
    solvers: [http://127.0.0.1:8720]   # where leaves, states and specs are fetched (all checked on arrival)
    stake: 100                    # TSR kept staked (at least the market's minimum)
    specs: []
    max_gas_price_gwei: 200
    confirmations: 0

Unknown keys are refused; ranges are checked.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

from pydantic import Field

from ..errors import ConfigError
from ..market.spec import load_yaml_mapping, to_base_units
from ..schema import Amount, Int, Strict, parse
from .solver import SolverSettings
from .verifier import VerifierSettings

DOCS = "docs/training.md"


class ListenSpec(Strict):
    host: str = "127.0.0.1"
    port: Int = Field(default=8720, ge=1, le=65535)


class CommonSpec(Strict):
    listen: ListenSpec = ListenSpec()
    specs: list[str] = Field(default_factory=list)
    max_gas_price_gwei: Amount = Field(default=Decimal(200), gt=0, le=10**6)
    confirmations: Int = Field(default=0, ge=0, le=1000)


class SolverSpec(CommonSpec):
    min_fee: Amount = Field(default=Decimal(0), ge=0, le=10**12)
    max_steps: Int = Field(default=100_000, ge=1, le=10_000_000)


class VerifierSpec(CommonSpec):
    listen: ListenSpec = ListenSpec(port=8721)
    solvers: list[str] = Field(default_factory=list)
    stake: Amount = Field(default=Decimal(0), ge=0, le=21_000_000)


@dataclass(frozen=True)
class NodeFile:
    host: str
    port: int
    specs: list[tuple[bytes, Path]]  # (text, the directory its dataset paths are relative to)


def _gwei(value: Decimal, path: Path) -> int:
    wei = value * 10**9
    if wei != wei.to_integral_value():
        raise ConfigError(f"{path}: max_gas_price_gwei {value} has more than 9 decimals")
    return int(wei)


def _specs(paths: list[str], config: Path) -> list[tuple[bytes, Path]]:
    out = []
    for p in paths:
        spec = Path(p) if Path(p).is_absolute() else config.parent / p
        try:
            out.append((spec.read_bytes(), spec.parent))
        except OSError as e:
            raise ConfigError(f"{config}: spec {spec} cannot be read ({e.strerror}): fix `specs` - see {DOCS}") from None
    return out


def load_solver_file(path: Path, decimals: int) -> tuple[NodeFile, SolverSettings]:
    spec = parse(SolverSpec, load_yaml_mapping(path, "solver config"), str(path), DOCS)
    settings = SolverSettings(confirmations=spec.confirmations, max_gas_price=_gwei(spec.max_gas_price_gwei, path),
                              min_fee=to_base_units(spec.min_fee, decimals, "min_fee"), max_steps=spec.max_steps)
    return NodeFile(spec.listen.host, spec.listen.port, _specs(spec.specs, path)), settings


def load_verifier_file(path: Path) -> tuple[NodeFile, VerifierSettings, list[str]]:
    spec = parse(VerifierSpec, load_yaml_mapping(path, "verifier config"), str(path), DOCS)
    for url in spec.solvers:
        if not url.startswith(("http://", "https://")):
            raise ConfigError(f"{path}: solver {url!r} is not an http(s) URL - see {DOCS}")
    settings = VerifierSettings(confirmations=spec.confirmations, max_gas_price=_gwei(spec.max_gas_price_gwei, path),
                                stake=to_base_units(spec.stake, 18, "stake"))
    return NodeFile(spec.listen.host, spec.listen.port, _specs(spec.specs, path)), settings, spec.solvers


__all__ = ["NodeFile", "load_solver_file", "load_verifier_file"]
