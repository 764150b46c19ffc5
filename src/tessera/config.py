"""Settings: one place that reads the config file and the environment.

Precedence, highest first: explicit arguments (CLI options) > environment > config file >
defaults. The config file is ``<data dir>/config.toml``.

Environment variables (the only ones Tessera reads):

=====================  ==========================================================
``TESSERA_HOME``       data directory (default ``~/.tessera``)
``TESSERA_RPC_URL``    JSON-RPC URL; unset means the embedded chain
``TESSERA_ACCOUNT``    default keystore account name for signing
=====================  ==========================================================

Private keys and keystore passwords are never read from the environment.

config.toml keys: ``rpc_url``, ``account``, ``stablecoin`` (address of the real stablecoin
on a non-dev network), ``confirmations`` (event follower depth).
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Mapping

from .errors import ConfigError

_KNOWN_KEYS = {"rpc_url", "account", "stablecoin", "confirmations"}


@dataclass(frozen=True)
class Settings:
    data_dir: Path
    rpc_url: str | None = None
    account: str | None = None
    stablecoin: str | None = None
    confirmations: int = 2
    ephemeral: bool = False
    extra: Mapping[str, Any] = field(default_factory=dict)

    @property
    def keystore_dir(self) -> Path:
        return self.data_dir / "keystore"

    @property
    def embedded_chain_path(self) -> Path:
        return self.data_dir / "chain" / "embedded.sqlite"

    @property
    def deployments_dir(self) -> Path:
        return self.data_dir / "deployments"

    @property
    def devnet_dir(self) -> Path:
        return self.data_dir / "devnet"

    def with_overrides(self, **overrides: Any) -> "Settings":
        return replace(self, **{k: v for k, v in overrides.items() if v is not None})


def load_settings(
    data_dir: str | Path | None = None,
    *,
    environ: Mapping[str, str] | None = None,
    **overrides: Any,
) -> Settings:
    env = os.environ if environ is None else environ
    root = Path(data_dir or env.get("TESSERA_HOME") or Path.home() / ".tessera").expanduser()
    file_values: dict[str, Any] = {}
    config_file = root / "config.toml"
    if config_file.exists():
        try:
            file_values = tomllib.loads(config_file.read_text())
        except (tomllib.TOMLDecodeError, OSError) as e:
            raise ConfigError(f"{config_file} is not valid TOML ({e}): fix or delete it") from e
        unknown = set(file_values) - _KNOWN_KEYS
        if unknown:
            raise ConfigError(
                f"{config_file} has unknown key(s) {', '.join(sorted(unknown))}: "
                f"known keys are {', '.join(sorted(_KNOWN_KEYS))}"
            )
    confirmations = file_values.get("confirmations", 2)
    if not isinstance(confirmations, int) or confirmations < 0:
        raise ConfigError(f"confirmations in {config_file} must be a non-negative integer, got {confirmations!r}")
    settings = Settings(
        data_dir=root,
        rpc_url=env.get("TESSERA_RPC_URL") or file_values.get("rpc_url"),
        account=env.get("TESSERA_ACCOUNT") or file_values.get("account"),
        stablecoin=file_values.get("stablecoin"),
        confirmations=confirmations,
    )
    return settings.with_overrides(**overrides)
