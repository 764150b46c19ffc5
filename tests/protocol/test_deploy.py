"""`deploy_protocol`: idempotent, manifest-backed, and refusing what it should."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tessera.accounts.dev import dev_account
from tessera.chain import Chain, EmbeddedChain
from tessera.errors import DeploymentError
from tessera.protocol.deploy import Deployment, deploy_protocol, manifest_path, read_manifest

OWNER = dev_account(0)


def test_deploy_twice_changes_nothing(chain: Chain, tmp_path: Path) -> None:
    path = manifest_path(tmp_path, chain.chain_id)
    first, changed = deploy_protocol(chain, OWNER, path=path)
    assert changed
    head = chain.block_number()
    second, changed = deploy_protocol(chain, OWNER, path=path)
    assert not changed
    assert chain.block_number() == head  # not a single transaction
    assert second.to_dict() == first.to_dict() == read_manifest(path).to_dict()  # type: ignore[union-attr]
    d = Deployment.from_manifest(chain, second)
    assert d.token.call("minter") == d.emission.address
    assert d.agents.call("recorders", d.jobs.address) is True  # job payouts count as reputation
    assert set(first.contracts) == {"Registry", "EmissionSchedule", "TesseraToken", "DevStablecoin", "SubnetRegistry",
                                   "ProviderRegistry", "Market", "Halo2VerifierReusable", "ModelRegistry",
                                   "InferenceVerifier", "InferenceEscrow", "Coordinator", "AgentRegistry", "JobBoard",
                                   "TrainingReferee", "TrainingMarket", "TrainingDisputes",
                                   # placed at their canonical addresses (x402 SDK, batched reads)
                                   "Multicall3", "BatchSettlement", "ERC3009DepositCollector"}
    assert first.contracts["Multicall3"].address == "0xcA11bde05977b3631167028862bE2a173976CA11"
    raw = json.loads(path.read_text())
    assert raw["chain_id"] == chain.chain_id and raw["genesis_hash"].startswith("0x")


def test_manifest_for_a_reset_chain_is_replaced(tmp_path: Path) -> None:
    path = manifest_path(tmp_path, 1337)
    with EmbeddedChain() as chain:
        deploy_protocol(chain, OWNER, path=path)
    with EmbeddedChain() as fresh_chain:  # the old manifest's contracts do not exist on this chain
        new, changed = deploy_protocol(fresh_chain, OWNER, path=path)
        assert changed
        assert all(fresh_chain.get_code(rec.address) for rec in new.contracts.values())


def test_outdated_artifacts_are_refused_unless_fresh(tmp_path: Path) -> None:
    with EmbeddedChain() as chain:
        path = manifest_path(tmp_path, chain.chain_id)
        deploy_protocol(chain, OWNER, path=path)
        raw = json.loads(path.read_text())
        raw["contracts"]["Registry"]["artifact_hash"] = "0x" + "00" * 32
        path.write_text(json.dumps(raw))
        with pytest.raises(DeploymentError, match="--fresh"):
            deploy_protocol(chain, OWNER, path=path)
        _, changed = deploy_protocol(chain, OWNER, path=path, fresh=True)
        assert changed


def test_malformed_manifest_is_explained(tmp_path: Path) -> None:
    path = manifest_path(tmp_path, 1337)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("{not json")
    with EmbeddedChain() as chain, pytest.raises(DeploymentError, match="delete it"):
        deploy_protocol(chain, OWNER, path=path)
