"""The Tessera exception hierarchy.

Every error Tessera raises on purpose derives from :class:`TesseraError`; third-party
exceptions are translated at the boundary (``raise X from e``) so callers catch one root::

    TesseraError
    ├── ConfigError              bad configuration file, option or data directory
    ├── ArtifactError            a compiled contract artifact is missing or malformed
    │   └── StaleArtifactError   a contract's source changed since its artifact was compiled
    ├── CompilerError            solc is missing or the contracts do not compile
    ├── KeystoreError            keystore file missing, malformed or refused
    │   └── WrongPasswordError   the keystore password does not decrypt the key
    ├── ChainError               anything that happens talking to a chain
    │   ├── ChainConnectionError the node cannot be reached (bad RPC URL, node down)
    │   ├── ChainInUseError      the embedded chain's data directory is locked by another process
    │   ├── UnsupportedByBackend the backend cannot do this (e.g. set a balance on a real network)
    │   └── TransactionError     a transaction or call failed
    │       └── ContractRevert   the EVM reverted; carries the decoded custom error or reason
    ├── DeploymentError          the protocol cannot be deployed or its manifest does not match the chain
    ├── PricingError             a provider's pricing strategy (e.g. an external script) failed
    ├── ManifestError            a workload manifest is refused (wrong hash, bad signature, malformed)
    ├── WorkloadError            a workload could not be started or failed in its sandbox
    ├── SubnetError              incentive-network failures (subnets, Yuma epochs, settlement)
    │   └── EpochInputError      a Yuma epoch state is malformed (names the field and the fix)
    ├── ZkError                  zkML failures (circuits, keys, proofs)
    │   ├── UnsupportedModelError  an ONNX op the prover cannot handle, or dynamic shapes
    │   ├── ModelTooLargeError     the estimate says proving would not fit this machine
    │   ├── ZkInputError           an input file that does not match the model (shape, format)
    │   └── ProofError             a proof or its artifacts are corrupted or do not verify
    └── CoprocessorError         coprocessor requests and nodes
        └── RequestInputError      a request's input cannot be decoded or does not match its hash

Every message says what went wrong and what to do about it.
"""

from __future__ import annotations

from typing import Any


class TesseraError(Exception):
    """Root of every error Tessera raises on purpose."""


class ConfigError(TesseraError):
    """Invalid configuration: a config file, an option or the data directory."""


class ArtifactError(TesseraError):
    """A compiled contract artifact is missing or malformed."""


class StaleArtifactError(ArtifactError):
    """A contract source changed since its committed artifact was compiled."""


class CompilerError(TesseraError):
    """The Solidity compiler is missing or the contracts do not compile."""


class KeystoreError(TesseraError):
    """A keystore file is missing, malformed, or an account name is unknown."""


class WrongPasswordError(KeystoreError):
    """The password does not decrypt the keystore file."""


class ChainError(TesseraError):
    """Something went wrong talking to a chain."""


class ChainConnectionError(ChainError):
    """The chain node cannot be reached."""


class ChainInUseError(ChainError):
    """The embedded chain's data directory is held by another process."""


class UnsupportedByBackend(ChainError):
    """The chain backend cannot perform this operation."""


class TransactionError(ChainError):
    """A transaction or call failed."""


class ContractRevert(TransactionError):
    """The EVM reverted.

    ``error_name`` is the custom error's name (``"CapExceeded"``), ``"Error"`` for
    ``require(cond, "reason")``, ``"Panic"`` for assertion failures, or ``None`` when the
    revert data matches nothing in the known ABIs. ``args`` holds the decoded arguments.
    """

    def __init__(
        self,
        message: str,
        *,
        error_name: str | None = None,
        error_args: dict[str, Any] | None = None,
        data: bytes = b"",
    ) -> None:
        super().__init__(message)
        self.error_name = error_name
        self.error_args = error_args or {}
        self.data = data


class InsufficientFunds(TesseraError):
    """An account lacks the tokens an action needs; the message names how to fund it."""


class StaleStateError(TesseraError):
    """Local state (a node's SQLite, a saved manifest) belongs to another chain than the one connected."""


class DeploymentError(TesseraError):
    """The protocol cannot be deployed, or a manifest does not match the chain."""


class PricingError(TesseraError):
    """A pricing strategy failed: the external script crashed, timed out or printed no price."""


class ManifestError(TesseraError):
    """A workload manifest was refused: its hash differs from the order's, its signature is not the
    tenant's, or it is malformed."""


class WorkloadError(TesseraError):
    """A workload could not be started, or it failed inside its sandbox."""


class SubnetError(TesseraError):
    """Something failed in the incentive network: a subnet, an epoch or its settlement."""


class EpochInputError(SubnetError):
    """A Yuma epoch state is malformed; the message names the field and what it must hold."""


class ZkError(TesseraError):
    """zkML: compiling a model into a circuit, setting up keys, proving or verifying."""


class UnsupportedModelError(ZkError):
    """The ONNX model uses an op the prover cannot handle, or has dynamic shapes."""


class ModelTooLargeError(ZkError):
    """The estimate predicts that proving needs more memory or rows than this machine allows."""


class ZkInputError(ZkError):
    """An input does not match the model: wrong shape, malformed JSON, non-numeric values."""


class ProofError(ZkError):
    """A proof, or an artifact it depends on, is corrupted or fails verification."""


class CoprocessorError(TesseraError):
    """Coprocessor failures: a request a node cannot serve, a signed request that is refused."""


class RequestInputError(CoprocessorError):
    """A coprocessor request's input cannot be decoded, or does not hash to the request's input hash."""


class PaymentError(TesseraError):
    """A paid HTTP call or a payment channel could not go ahead (the message names the cause and the fix)."""


class SpendLimitError(PaymentError):
    """A payment was refused by the payer's own spending controls (cap or asset allow-list)."""


class AgentError(TesseraError):
    """An agent cannot act: its identity, its wallet or a job is not in the state the action needs."""


class PolicyError(AgentError):
    """The agent's policy file cannot be trusted (unsigned, edited, older than the pinned one) or is malformed."""


class PolicyRefusal(AgentError):
    """The owner's policy refuses this action (over a cap, an unknown payee, a low-ranked contract)."""


class TrainingError(TesseraError):
    """Deterministic training cannot go on: a value left the fixed-point range, or a task does not fit its data."""


__all__ = [
    "TrainingError",
    "AgentError",
    "PolicyError",
    "PolicyRefusal",
    "ArtifactError",
    "ChainConnectionError",
    "ChainError",
    "ChainInUseError",
    "CompilerError",
    "ConfigError",
    "ContractRevert",
    "CoprocessorError",
    "DeploymentError",
    "EpochInputError",
    "ZkError",
    "UnsupportedModelError",
    "ModelTooLargeError",
    "ZkInputError",
    "ProofError",
    "KeystoreError",
    "ManifestError",
    "PaymentError",
    "PricingError",
    "RequestInputError",
    "WorkloadError",
    "SpendLimitError",
    "StaleArtifactError",
    "SubnetError",
    "TesseraError",
    "TransactionError",
    "UnsupportedByBackend",
    "WrongPasswordError",
]
