"""`proof: zk` leases: pay per verified result through the InferenceEscrow contract.

The tenant opens an account on its lease (model id, price per inference, deposit) and signs each request
over the commitment of its input; the provider proves the inference and signs the result; whoever holds
both signatures settles. A valid proof releases price x batch size to the provider; an invalid proof the
provider signed slashes its bond, half of it to the tenant, and refunds the escrow.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from eth_account import Account
from eth_account.messages import encode_typed_data
from eth_account.signers.local import LocalAccount
from eth_utils import keccak

from ..accounts.typed_data import contract_domain, sign_typed_data, typed_data
from ..chain import Chain, Contract, Signer
from ..chain.base import Receipt
from ..errors import ManifestError
from ..zkml.prover import InferenceProof

if TYPE_CHECKING:
    from ..protocol.deploy import Deployment

REQUEST_TYPES = {"InferenceRequest": [{"name": "account", "type": "uint64"}, {"name": "nonce", "type": "uint64"},
                                      {"name": "inputHash", "type": "bytes32"}]}
RESULT_TYPES = {"InferenceResult": [{"name": "account", "type": "uint64"}, {"name": "nonce", "type": "uint64"},
                                    {"name": "proofHash", "type": "bytes32"},
                                    {"name": "instancesHash", "type": "bytes32"}]}


def _packed_words(values: list[int]) -> bytes:
    """abi.encodePacked of a uint256 array: the 32-byte words, concatenated."""
    return b"".join(v.to_bytes(32, "big") for v in values)


@dataclass(frozen=True)
class SignedResult:
    """What a provider hands the tenant for one request: the proof and its signature over it."""

    account: int
    nonce: int
    proof: InferenceProof
    provider_signature: bytes


class InferenceEscrowClient:
    def __init__(self, chain: Chain, escrow: Contract, stablecoin: Contract) -> None:
        self.chain = chain
        self.escrow = escrow
        self.stablecoin = stablecoin

    @classmethod
    def of(cls, chain: Chain, deployment: "Deployment") -> "InferenceEscrowClient":
        return cls(chain, deployment.inference_escrow, deployment.stablecoin)

    def _domain(self) -> dict[str, Any]:
        return contract_domain("Tessera InferenceEscrow", "1", self.chain.chain_id, self.escrow.address)

    def open(self, tenant: Signer, lease_id: int, model_id: str, price_per_inference: int, deposit: int) -> int:
        if self.stablecoin.call("allowance", tenant.address, self.escrow.address) < deposit:
            self.stablecoin.transact(tenant, "approve", self.escrow.address, deposit)
        receipt = self.escrow.transact(tenant, "open", lease_id, bytes.fromhex(model_id[2:]), price_per_inference,
                                       deposit)
        return int(self.escrow.events(receipt, "AccountOpened")[0].args["accountId"])

    def account(self, account_id: int) -> dict[str, Any]:
        fields = ("lease_id", "tenant", "provider", "closes_at", "closed", "model_id", "price_per_inference",
                  "escrow", "paid")
        return dict(zip(fields, self.escrow.call("getAccount", account_id)))

    def _request(self, account_id: int, nonce: int, input_commitment: list[int]) -> dict[str, Any]:
        message = {"account": account_id, "nonce": nonce, "inputHash": keccak(_packed_words(input_commitment))}
        return typed_data(self._domain(), REQUEST_TYPES, "InferenceRequest", message)

    def sign_request(self, tenant: LocalAccount, account_id: int, nonce: int, input_commitment: list[int]) -> bytes:
        """The tenant's consent to pay for one proved inference of this input (its public commitment)."""
        return sign_typed_data(tenant, self._request(account_id, nonce, input_commitment)).packed

    def request_signer(self, account_id: int, nonce: int, input_commitment: list[int], signature: bytes) -> str:
        """Who signed this request: a provider checks it is the tenant before doing any work."""
        try:
            return str(Account.recover_message(encode_typed_data(full_message=self._request(
                account_id, nonce, input_commitment)), signature=signature))
        except Exception as e:  # malformed signature bytes
            raise ManifestError(f"the request signature is malformed ({e}): sign it with sign_request") from e

    def sign_result(self, provider: LocalAccount, account_id: int, nonce: int, proof: InferenceProof) -> SignedResult:
        message = {"account": account_id, "nonce": nonce, "proofHash": keccak(proof.proof_bytes),
                   "instancesHash": keccak(_packed_words(proof.instances))}
        sig = sign_typed_data(provider, typed_data(self._domain(), RESULT_TYPES, "InferenceResult", message))
        return SignedResult(account_id, nonce, proof, sig.packed)

    def settle(self, sender: Signer, result: SignedResult, tenant_signature: bytes) -> Receipt:
        return self.escrow.transact(sender, "settle", result.account, result.nonce, result.proof.proof_bytes,
                                    result.proof.instances, tenant_signature, result.provider_signature)
