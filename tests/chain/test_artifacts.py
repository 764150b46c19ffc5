"""Committed artifacts: present, well-formed, fresh against contracts/, and reproducible with the pinned solc."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from tessera.chain import artifacts
from tessera.chain.artifacts import artifact_names, check_fresh, load_artifact
from tessera.errors import ArtifactError, StaleArtifactError

EXPECTED = {"DevStablecoin", "EmissionSchedule", "Registry", "TesseraToken"}


def test_every_artifact_is_fresh() -> None:
    assert EXPECTED <= set(artifact_names())
    for name in artifact_names():
        artifact = load_artifact(name, check=False)
        check_fresh(artifact)  # raises StaleArtifactError: run `make contracts`
        assert artifact.compiler.startswith("solc 0.8.37")
        assert artifact.bytecode and artifact.abi


def test_an_edited_source_makes_its_artifact_stale(tmp_path: Path) -> None:
    sources = tmp_path / "contracts"
    shutil.copytree(artifacts.SOURCE_DIR, sources)
    artifact = load_artifact("TesseraToken", check=False)
    check_fresh(artifact, sources)
    (sources / "lib" / "ERC20Permit.sol").write_text("// changed\n")  # an import changed
    with pytest.raises(StaleArtifactError, match="make contracts"):
        check_fresh(artifact, sources)


def test_unknown_and_malformed_artifacts(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ArtifactError, match="no compiled artifact for contract 'Nope'"):
        load_artifact("Nope")
    (tmp_path / "Broken.json").write_text(json.dumps({"contractName": "Broken"}))
    monkeypatch.setattr(artifacts, "ARTIFACT_DIR", tmp_path)
    with pytest.raises(ArtifactError, match="lacks abi"):
        artifacts._parse(tmp_path / "Broken.json")


@pytest.mark.slow
def test_recompiling_reproduces_the_committed_bytecode() -> None:
    from tessera.chain.compiler import compile_contracts

    version, compiled = compile_contracts()
    assert version.startswith("0.8.37")
    assert set(compiled) == set(artifact_names())
    for name, fresh in compiled.items():
        committed = json.loads((artifacts.ARTIFACT_DIR / f"{name}.json").read_text())
        assert fresh["bytecode"] == committed["bytecode"], f"{name}: run `make contracts`"
        assert fresh["abi"] == committed["abi"]
