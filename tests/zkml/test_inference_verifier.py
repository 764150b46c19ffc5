"""ModelRegistry + InferenceVerifier on both chain backends: a valid proof is recorded once; tampered
proofs and proofs for another model are refused and record nothing; a retired model's proofs still verify."""

from __future__ import annotations

from pathlib import Path

import pytest
from zk_fixtures import mlp

from tessera.accounts.dev import dev_account
from tessera.chain import Chain
from tessera.errors import ContractRevert
from tessera.protocol.deploy import Deployment
from tessera.zkml import CompiledModel, InferenceClient, InferenceProof, ZkOptions, compile_model


@pytest.fixture
def client(chain: Chain, deployment: Deployment, compiled: CompiledModel) -> InferenceClient:
    c = InferenceClient.of(chain, deployment)
    c.register(dev_account(0), compiled, "ipfs://mlp")
    return c


def _mid(model_id: str) -> bytes:
    return bytes.fromhex(model_id[2:])


def test_verified_inference_is_recorded_with_its_commitments(client: InferenceClient, proof: InferenceProof,
                                                             compiled: CompiledModel) -> None:
    assert client.verified_at(proof) == 0
    record = client.verify(dev_account(1), proof)
    assert client.verified_at(proof) == record.block
    (event,) = client.inference.get_events("InferenceVerified", record.block, record.block)
    assert event.args["modelId"] == _mid(compiled.model_id)
    assert list(event.args["inputs"]) == proof.input_commitment
    assert list(event.args["outputs"]) == proof.output_commitment
    assert event.args["batchSize"] == compiled.options.batch
    assert event.args["submitter"] == dev_account(1).address
    assert 300_000 < record.gas_used < 2_000_000
    with pytest.raises(ContractRevert, match="AlreadyVerified"):
        client.verify(dev_account(1), proof)


def test_registration_is_idempotent_and_content_addressed(client: InferenceClient, compiled: CompiledModel) -> None:
    assert client.register(dev_account(0), compiled) is None  # already there: no transaction
    model = client.models.call("getModel", _mid(compiled.model_id))
    assert model[0] == dev_account(0).address and model[4] == compiled.options.batch
    assert "0x" + bytes(model[2]).hex() == compiled.verifier_code_hash
    assert "0x" + bytes(model[7]).hex() == compiled.vka_digest
    with pytest.raises(ContractRevert, match="NotOwner"):  # retirement is governance's, not a registrant's
        client.models.transact(dev_account(2), "retireModel", _mid(compiled.model_id))
    args = (_mid(compiled.onnx_hash), _mid(compiled.settings_hash), _mid(compiled.vk_hash), client.verifier.address,
            compiled.vka_words())
    with pytest.raises(ContractRevert, match="ModelExists"):
        client.models.transact(dev_account(2), "registerModel", *args, compiled.options.batch,
                               compiled.input_instances, "")
    # another instance layout is another model: it cannot take over this one's id
    receipt = client.models.transact(dev_account(2), "registerModel", *args, 1, 1, "")
    other = client.models.events(receipt, "ModelRegistered")[0].args["modelId"]
    assert other != _mid(compiled.model_id)


def test_tampered_proof_reverts_and_records_nothing(client: InferenceClient, proof_copy: InferenceProof) -> None:
    raw = proof_copy.proof["proof"]
    raw[300] ^= 1
    proof_copy.proof["hex_proof"] = "0x" + bytes(raw).hex()
    with pytest.raises(ContractRevert, match="InvalidProof"):
        client.verify(dev_account(1), proof_copy)
    assert client.verified_at(proof_copy) == 0


def test_tampered_output_commitment_is_rejected(client: InferenceClient, proof_copy: InferenceProof) -> None:
    proof_copy.instances[-1] ^= 1
    with pytest.raises(ContractRevert, match="InvalidProof"):
        client.verify(dev_account(1), proof_copy)


def test_proof_for_another_model_is_rejected(client: InferenceClient, proof: InferenceProof, zk_shared: Path,
                                             zk_cache: Path) -> None:
    other, _ = compile_model(mlp(zk_shared / "other.onnx", seed=7), ZkOptions(batch=1), cache_dir=zk_cache)
    client.register(dev_account(0), other)
    valid, _ = client.inference.call("tryVerifyInference", _mid(other.model_id), proof.proof_bytes, proof.instances)
    assert not valid
    with pytest.raises(ContractRevert, match="InvalidProof"):
        client.inference.transact(dev_account(1), "verifyInference", _mid(other.model_id), proof.proof_bytes,
                                  proof.instances)


def test_unknown_and_retired_models(client: InferenceClient, proof: InferenceProof,
                                    compiled: CompiledModel) -> None:
    with pytest.raises(ContractRevert, match="UnknownModel"):
        client.inference.transact(dev_account(1), "verifyInference", b"\x01" * 32, proof.proof_bytes, proof.instances)
    client.models.transact(dev_account(0), "retireModel", _mid(compiled.model_id))  # dev_account(0): governance
    assert client.models.call("usable", _mid(compiled.model_id))[0] is False  # no new obligations on it
    record = client.verify(dev_account(1), proof)  # but its proofs still verify: open obligations settle
    assert client.verified_at(proof) == record.block
