"""Registering compiled models on-chain and verifying inference proofs there."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from eth_utils import keccak

from ..chain import Chain, Contract, Signer
from ..chain.base import Receipt
from ..errors import ProofError
from .compiler import CompiledModel
from .prover import InferenceProof

if TYPE_CHECKING:
    from ..protocol.deploy import Deployment


@dataclass(frozen=True)
class VerifiedInference:
    model_id: str
    inference_id: str
    block: int
    gas_used: int
    batch_size: int

    @property
    def gas_per_inference(self) -> int:
        return self.gas_used // self.batch_size


def check_registered_model(chain: Chain, on_chain: Any, compiled: CompiledModel) -> None:
    """Compare a ModelRegistry.getModel record with the local compiled model; raise ProofError naming what
    differs. (The model id commits to all of it; this also guards against a registry that does not.)"""
    owner, verifier, code_hash, _vka, batch, inputs, _retired, vka_digest = on_chain[:8]
    mid = compiled.model_id
    if int(owner, 16) == 0:
        raise ProofError(f"model {mid} is not registered on chain {chain.chain_id}: register it first "
                         "(`tessera zk verify PROOF --onchain` registers it)")
    actual_code = "0x" + keccak(chain.get_code(verifier)).hex()
    if actual_code != compiled.verifier_code_hash or "0x" + bytes(code_hash).hex() != compiled.verifier_code_hash:
        raise ProofError(f"model {mid}'s verifier at {verifier} runs code {actual_code}, not the reusable Halo2 "
                         f"verifier ({compiled.verifier_code_hash}): refusing to work for it")
    if "0x" + bytes(vka_digest).hex() != compiled.vka_digest:
        raise ProofError(f"model {mid} is registered with VKA digest 0x{bytes(vka_digest).hex()}, but the local "
                         f"compiled model's is {compiled.vka_digest}: the registration or the cache is wrong")
    if int(batch) != compiled.options.batch or int(inputs) != compiled.input_instances:
        raise ProofError(f"model {mid} is registered with batch {batch} and {inputs} input instances, the local "
                         f"model has {compiled.options.batch} and {compiled.input_instances}")


class InferenceClient:
    """The ModelRegistry and InferenceVerifier of a deployment."""

    def __init__(self, chain: Chain, models: Contract, inference: Contract, verifier: Contract) -> None:
        self.chain = chain
        self.models = models
        self.inference = inference
        self.verifier = verifier

    @classmethod
    def of(cls, chain: Chain, deployment: "Deployment") -> "InferenceClient":
        return cls(chain, deployment.models, deployment.inference, deployment.zk_verifier)

    def is_registered(self, model_id: str) -> bool:
        return bool(self.models.call("exists", bytes.fromhex(model_id[2:])))

    def register(self, signer: Signer, compiled: CompiledModel, metadata_uri: str = "") -> Receipt | None:
        """Register the model (idempotent: None when it already is). The id commits to the verifier code, the
        VKA and the instance layout, so an existing registration is this model's whoever made it."""
        if self.is_registered(compiled.model_id):
            self.check_registration(compiled)
            return None
        return self.models.transact(
            signer, "registerModel", bytes.fromhex(compiled.onnx_hash[2:]), bytes.fromhex(compiled.settings_hash[2:]),
            bytes.fromhex(compiled.vk_hash[2:]), self.verifier.address, compiled.vka_words(), compiled.options.batch,
            compiled.input_instances, metadata_uri,
        )

    def check_registration(self, compiled: CompiledModel) -> None:
        """Refuse, naming the reason, unless the chain verifies this model's proofs exactly as the local
        artifacts do: registered, the verifier at its address runs the committed code, and the VKA digest,
        batch size and instance layout match. Nodes call this before any work."""
        check_registered_model(self.chain, self.models.call("getModel", bytes.fromhex(compiled.model_id[2:])),
                               compiled)

    def verify(self, signer: Signer, proof: InferenceProof) -> VerifiedInference:
        """Verify on-chain and record; raises ContractRevert (InvalidProof, AlreadyVerified, UnknownModel)."""
        mid = bytes.fromhex(proof.model_id[2:])
        receipt = self.inference.transact(signer, "verifyInference", mid, proof.proof_bytes, proof.instances)
        event = self.inference.events(receipt, "InferenceVerified")[0]
        return VerifiedInference(proof.model_id, "0x" + bytes(event.args["inferenceId"]).hex(),
                                 receipt.block_number, receipt.gas_used, proof.batch_size)

    def verified_at(self, proof: InferenceProof) -> int:
        iid = self.inference.call("inferenceIdOf", bytes.fromhex(proof.model_id[2:]), proof.instances)
        return int(self.inference.call("verifiedAt", iid))
