"""Compiled contract artifacts, committed inside the package.

Running Tessera needs no compiler: ABI and bytecode ship in ``tessera/contracts/artifacts``.
Each artifact records the hash of the sources it was compiled from; in a source checkout
(where ``contracts/`` sits beside ``src/``) loading an artifact whose sources changed
raises :class:`StaleArtifactError` telling you to run ``make contracts``.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from ..errors import ArtifactError, StaleArtifactError
from .abi import ErrorDecoder

ARTIFACT_DIR = Path(__file__).resolve().parent.parent / "contracts" / "artifacts"
#: present only in a source checkout
SOURCE_DIR = Path(__file__).resolve().parents[3] / "contracts"
REQUIRED_KEYS = ("contractName", "abi", "bytecode", "deployedBytecode", "sourceHash", "sources", "compiler")


@dataclass(frozen=True)
class Artifact:
    name: str
    abi: list[dict[str, Any]]
    bytecode: bytes
    deployed_bytecode: bytes
    source_hash: str
    sources: tuple[str, ...]
    compiler: str

    @property
    def artifact_hash(self) -> str:
        """Identifies exactly what gets deployed: creation code plus ABI."""
        h = hashlib.sha256(self.bytecode)
        h.update(json.dumps(self.abi, sort_keys=True).encode())
        return "0x" + h.hexdigest()


def hash_sources(source_dir: Path, sources: tuple[str, ...] | list[str]) -> str:
    """sha256 over the named source files, in order: what `sourceHash` records."""
    h = hashlib.sha256()
    for name in sorted(sources):
        path = source_dir / name
        h.update(name.encode() + b"\0")
        h.update(path.read_bytes() if path.exists() else b"<missing>")
        h.update(b"\0")
    return "0x" + h.hexdigest()


def artifact_names() -> list[str]:
    return sorted(p.stem for p in ARTIFACT_DIR.glob("*.json"))


def _parse(path: Path) -> Artifact:
    try:
        raw = json.loads(path.read_text())
    except (OSError, ValueError) as e:
        raise ArtifactError(
            f"contract artifact {path} is unreadable ({e}); run `make contracts` to rebuild it"
        ) from e
    missing = [k for k in REQUIRED_KEYS if k not in raw]
    if missing:
        raise ArtifactError(
            f"contract artifact {path} lacks {', '.join(missing)}; run `make contracts` to rebuild it"
        )
    return Artifact(
        name=raw["contractName"],
        abi=raw["abi"],
        bytecode=bytes.fromhex(raw["bytecode"].removeprefix("0x")),
        deployed_bytecode=bytes.fromhex(raw["deployedBytecode"].removeprefix("0x")),
        source_hash=raw["sourceHash"],
        sources=tuple(raw["sources"]),
        compiler=raw["compiler"],
    )


def check_fresh(artifact: Artifact, source_dir: Path | None = None) -> None:
    """Raise StaleArtifactError when the artifact's sources changed since compilation."""
    source_dir = SOURCE_DIR if source_dir is None else source_dir
    if not source_dir.is_dir():
        return  # an installed package carries no sources: nothing to compare against
    current = hash_sources(source_dir, artifact.sources)
    if current != artifact.source_hash:
        changed = ", ".join(f"contracts/{s}" for s in artifact.sources)
        raise StaleArtifactError(
            f"artifact {artifact.name} is stale: its sources ({changed}) changed since it was compiled; "
            "run `make contracts` to recompile"
        )


@lru_cache(maxsize=None)
def load_artifact(name: str, *, check: bool = True) -> Artifact:
    path = ARTIFACT_DIR / f"{name}.json"
    if not path.exists():
        known = ", ".join(artifact_names()) or "none"
        raise ArtifactError(
            f"no compiled artifact for contract {name!r} (known: {known}); "
            "add contracts/<Name>.sol and run `make contracts`"
        )
    artifact = _parse(path)
    if check:
        check_fresh(artifact)
    return artifact


@lru_cache(maxsize=1)
def error_decoder() -> ErrorDecoder:
    """A decoder that knows the custom errors of every Tessera contract."""
    decoder = ErrorDecoder()
    for name in artifact_names():
        decoder.add_abi(load_artifact(name, check=False).abi)
    return decoder
