"""The agent runtime's YAML config, for `tessera agent run --config agent.yaml`::

    name: summariser
    account: agent               # a keystore account (its password from --password-file): never a plain env key
    policy: policy.yaml          # the owner's signed, pinned policy (its wallet pays for the agent's tools)
    listen: {host: 127.0.0.1, port: 8800}
    endpoint: http://127.0.0.1:8800   # what the published card says (default: from listen)
    skills: [summarise, echo]
    prices: {summarise: "0.01"}  # stablecoin per call; a skill without a price is free

Paths are relative to the config file. Unknown keys are refused; ranges are checked.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

from pydantic import Field

from ..errors import ConfigError
from ..market.spec import load_yaml_mapping
from ..schema import Amount, Int, Strict, parse
from .skills import SKILLS

DOCS = "docs/agents.md (runtime)"


class ListenSpec(Strict):
    host: str = "127.0.0.1"
    port: Int = Field(default=8800, ge=1, le=65535)


class AgentFile(Strict):
    name: str = Field(min_length=1, max_length=80)
    account: str = Field(min_length=1, max_length=64)
    policy: str
    listen: ListenSpec = ListenSpec()
    endpoint: str | None = Field(default=None, pattern=r"^https?://[^\s/]+(:\d{1,5})?(/\S*)?$")
    skills: list[str] = Field(min_length=1, max_length=20)
    prices: dict[str, Amount] = Field(default_factory=dict)


@dataclass(frozen=True)
class AgentConfig:
    name: str
    account: str
    policy: Path
    host: str
    port: int
    endpoint: str
    skills: tuple[str, ...]
    prices: dict[str, Decimal]


def load_agent_config(path: Path) -> AgentConfig:
    spec = parse(AgentFile, load_yaml_mapping(path, "agent config"), str(path), DOCS)
    unknown = [s for s in spec.skills if s not in SKILLS]
    if unknown:
        raise ConfigError(f"{path}: skills: {', '.join(unknown)} unknown; the built-in skills are "
                          f"{', '.join(sorted(SKILLS))} - see {DOCS}")
    stray = [s for s in spec.prices if s not in spec.skills]
    if stray:
        raise ConfigError(f"{path}: prices: {', '.join(stray)} is not in `skills`")
    bad = [s for s, p in spec.prices.items() if p < 0 or p > 10**6]
    if bad:
        raise ConfigError(f"{path}: prices: {', '.join(bad)} must be between 0 and 1,000,000")
    policy = (path.parent / spec.policy).resolve()
    endpoint = spec.endpoint or f"http://{spec.listen.host}:{spec.listen.port}"
    return AgentConfig(spec.name, spec.account, policy, spec.listen.host, spec.listen.port, endpoint,
                       tuple(spec.skills), dict(spec.prices))
