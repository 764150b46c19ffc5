"""Model squatting (audit finding 1): whoever registers a public model's id first chooses nothing that
decides a proof's validity. An accept-everything verifier is refused; registering the real model first makes
the squatter the owner of a metadata URI and nothing else; the id is the same on every chain; and a node
refuses to work for a registration that does not match its local artifacts."""

from __future__ import annotations

import dataclasses

import pytest

from tessera.accounts.dev import dev_account
from tessera.chain import Chain, EmbeddedChain
from tessera.chain.contract import send_transaction
from tessera.errors import ContractRevert, ProofError
from tessera.protocol.deploy import Deployment, deploy_protocol
from tessera.zkml import CompiledModel, InferenceClient, InferenceProof, check_registered_model

# runtime: return (1, 0) for any call, as a verifier that accepts every proof would
ACCEPT_ALL_RUNTIME = bytes.fromhex("600160005260406000f3")
ACCEPT_ALL_INIT = bytes.fromhex("69") + ACCEPT_ALL_RUNTIME + bytes.fromhex("600052600a6016f3")


def _mid(hex_id: str) -> bytes:
    return bytes.fromhex(hex_id[2:])


def _accept_all(chain: Chain) -> str:
    receipt = send_transaction(chain, dev_account(6), to=None, data=ACCEPT_ALL_INIT, context="deploy AcceptAll")
    assert receipt.contract_address is not None and chain.get_code(receipt.contract_address) == ACCEPT_ALL_RUNTIME
    return receipt.contract_address


def _parts(compiled: CompiledModel) -> tuple[bytes, bytes, bytes]:
    return _mid(compiled.onnx_hash), _mid(compiled.settings_hash), _mid(compiled.vk_hash)


def test_attack_register_with_an_accept_everything_verifier_is_refused(chain: Chain, deployment: Deployment,
                                                                     compiled: CompiledModel) -> None:
    fake = _accept_all(chain)
    with pytest.raises(ContractRevert, match="VerifierNotAllowed"):
        deployment.models.transact(dev_account(6), "registerModel", *_parts(compiled), fake, compiled.vka_words(),
                                   compiled.options.batch, compiled.input_instances, "")
    with pytest.raises(ContractRevert, match="NotOwner"):  # the allow-list is governance's
        deployment.models.transact(dev_account(6), "setVerifierCode", b"\x01" * 32, True)


def test_attack_front_running_the_author_gains_nothing(chain: Chain, deployment: Deployment,
                                                       compiled: CompiledModel, proof: InferenceProof) -> None:
    squatter, author = dev_account(6), dev_account(0)
    client = InferenceClient.of(chain, deployment)
    client.register(squatter, compiled, "ipfs://squatted")  # the squatter's transaction lands first
    assert client.register(author, compiled) is None  # the author's is a no-op: same content, same id
    client.check_registration(compiled)  # and it verifies exactly as the author's artifacts do
    with pytest.raises(ContractRevert, match="NotOwner"):  # no kill switch for the squatter
        deployment.models.transact(squatter, "retireModel", _mid(compiled.model_id))
    assert client.verify(author, proof).model_id == compiled.model_id


def test_model_id_is_the_same_on_every_chain(deployment: Deployment, compiled: CompiledModel) -> None:
    with EmbeddedChain() as other:
        for _ in range(3):  # different nonces: the verifier lands at another address there
            send_transaction(other, dev_account(0), to=dev_account(1).address, data=b"", value=1, context="nonce")
        manifest, _ = deploy_protocol(other, dev_account(0), path=None)
        there = Deployment.from_manifest(other, manifest)
        assert there.zk_verifier.address != deployment.zk_verifier.address
        receipt = InferenceClient.of(other, there).register(dev_account(0), compiled)
        assert receipt is not None
        event = there.models.events(receipt, "ModelRegistered")[0]
        assert "0x" + bytes(event.args["modelId"]).hex() == compiled.model_id


def test_node_check_names_what_differs(chain: Chain, deployment: Deployment, compiled: CompiledModel) -> None:
    client = InferenceClient.of(chain, deployment)
    client.register(dev_account(0), compiled)
    record = list(deployment.models.call("getModel", _mid(compiled.model_id)))
    check_registered_model(chain, record, compiled)
    swapped = list(record)
    swapped[1] = _accept_all(chain)
    with pytest.raises(ProofError, match="not the reusable Halo2 verifier"):
        check_registered_model(chain, swapped, compiled)
    with pytest.raises(ProofError, match="VKA digest"):
        check_registered_model(chain, record, dataclasses.replace(compiled, vka_digest="0x" + "ab" * 32))
    with pytest.raises(ProofError, match="not registered"):
        check_registered_model(chain, ["0x" + "00" * 20] + record[1:], compiled)
