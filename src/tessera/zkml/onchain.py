"""Registering compiled models on-chain and verifying inference proofs there."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

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
        """Register the model (idempotent: None when it already is, with the same verifying key)."""
        mid = bytes.fromhex(compiled.model_id[2:])
        words = compiled.vka_words()
        if self.is_registered(compiled.model_id):
            on_chain = self.models.call("getModel", mid)
            if on_chain[6] != keccak(b"".join(words)):
                raise ProofError(f"model {compiled.model_id} is registered with a different verifying key than "
                                 "the local artifacts: the registration or the cache is wrong")
            return None
        return self.models.transact(
            signer, "registerModel", bytes.fromhex(compiled.onnx_hash[2:]), bytes.fromhex(compiled.settings_hash[2:]),
            bytes.fromhex(compiled.vk_hash[2:]), self.verifier.address, words, compiled.options.batch,
            compiled.input_instances, metadata_uri,
        )

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
