"""`proof: zk` serving: the provider proves inferences of a lease's ONNX model and gets paid per verified
result through the InferenceEscrow.

    POST /leases/{id}/zk  {"account": A, "nonce": N, "input_data": [[...]], "tenant_signature": "0x..."}

Before any work the node checks that the account belongs to this lease and provider, that the lease's
model compiles to the model id the account pays for, that the tenant signed this request for exactly this
input (its Poseidon commitment), and that the escrow covers the batch. Each (account, nonce) is journaled
in SQLite: once proved, a retry or a restart returns the stored result and only re-attempts settlement,
so a request is never proved or paid twice.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import ContractRevert, ManifestError, ProofError, WorkloadError, ZkInputError
from ..market.zk_escrow import InferenceEscrowClient, SignedResult
from ..zkml import (CompiledModel, InferenceProof, ZkOptions, check_registered_model, compile_model, input_commitment,
                    prove)

if TYPE_CHECKING:
    from .node import ProviderNode

SCHEMA = """
CREATE TABLE IF NOT EXISTS zk_jobs (
    account INTEGER NOT NULL, nonce INTEGER NOT NULL, lease_id INTEGER NOT NULL,
    status TEXT NOT NULL,            -- proved | settled
    proof TEXT NOT NULL, provider_signature TEXT NOT NULL, tenant_signature TEXT NOT NULL, detail TEXT,
    PRIMARY KEY (account, nonce)
);
"""


class ZkService:
    def __init__(self, node: "ProviderNode", cache_dir: Path) -> None:
        self.node = node
        self.cache_dir = cache_dir
        self.escrow = InferenceEscrowClient(node.chain, node.deployment.inference_escrow,
                                            node.deployment.stablecoin)
        node.store.conn.executescript(SCHEMA)
        self._compiled: dict[tuple[int, int], CompiledModel] = {}

    def _model(self, lease_id: int, batch: int) -> CompiledModel:
        key = (lease_id, batch)
        if key not in self._compiled:
            path = self.node._lease_dir(lease_id) / "files" / "model.onnx"
            if not path.is_file():
                raise WorkloadError(f"lease {lease_id} has no ONNX model: send the manifest first")
            self._compiled[key], _ = compile_model(path, ZkOptions(batch=batch), cache_dir=self.cache_dir)
        return self._compiled[key]

    async def serve(self, lease_id: int, payload: dict[str, Any]) -> dict[str, Any]:
        try:
            account_id, nonce = int(payload["account"]), int(payload["nonce"])
            tenant_sig = bytes.fromhex(str(payload["tenant_signature"]).removeprefix("0x"))
            data = {"input_data": payload["input_data"]}
        except (KeyError, TypeError, ValueError) as e:
            raise ZkInputError('a zk request is {"account", "nonce", "input_data", "tenant_signature"}: '
                               f"{e!r}") from e
        manifest = self.node._manifest(lease_id)
        if manifest is None or manifest.workload.get("proof") != "zk":
            raise WorkloadError(f"lease {lease_id} was not ordered with `proof: zk` in its workload")
        done = self.node.store.one("SELECT * FROM zk_jobs WHERE account = ? AND nonce = ?", account_id, nonce)
        if done is not None:
            return self._settle(done)
        account = self.escrow.account(account_id)
        if account["lease_id"] != lease_id or account["provider"] != self.node.address:
            raise ManifestError(f"account {account_id} pays for lease {account['lease_id']} of "
                                f"{account['provider']}, not lease {lease_id} of this provider")
        if account["closed"]:
            raise WorkloadError(f"account {account_id} is closed")
        registered = self.node.deployment.models.call("getModel", account["model_id"])
        batch = int(registered[4])
        compiled = await asyncio.to_thread(self._model, lease_id, batch)
        if compiled.model_id != "0x" + bytes(account["model_id"]).hex():
            raise WorkloadError(f"lease {lease_id}'s model compiles to {compiled.model_id}, but account {account_id} "
                                f"pays for 0x{bytes(account['model_id']).hex()}: open the account for the served model")
        try:  # the chain must verify this model's proofs exactly as the local artifacts do, before any work
            check_registered_model(self.node.chain, registered, compiled)
        except ProofError as e:
            raise WorkloadError(f"account {account_id}: {e}") from e
        commitment = await asyncio.to_thread(input_commitment, compiled, data)
        signer = self.escrow.request_signer(account_id, nonce, commitment, tenant_sig)
        if signer != account["tenant"]:
            raise ManifestError(f"request {nonce} is signed by {signer}, not by the tenant {account['tenant']}, "
                                "for this input: sign the input you send")
        due = account["price_per_inference"] * batch
        if account["escrow"] < due:
            raise WorkloadError(f"account {account_id} holds {account['escrow']} but a proof costs {due}: "
                                "the tenant must top up")
        proof = await asyncio.to_thread(prove, compiled, data)
        result = self.escrow.sign_result(self.node.signer, account_id, nonce, proof)  # type: ignore[arg-type]
        # journaled before settling: a crash from here on retries settlement, never the proof
        self.node.store.x("INSERT INTO zk_jobs (account, nonce, lease_id, status, proof, provider_signature, "
                          "tenant_signature) VALUES (?, ?, ?, 'proved', ?, ?, ?)", account_id, nonce, lease_id,
                          json.dumps(proof.to_json()), result.provider_signature.hex(), tenant_sig.hex())
        row = self.node.store.one("SELECT * FROM zk_jobs WHERE account = ? AND nonce = ?", account_id, nonce)
        assert row is not None
        return self._settle(row)

    def _settle(self, row: Any) -> dict[str, Any]:
        proof = InferenceProof.from_json(json.loads(row["proof"]))
        result = SignedResult(row["account"], row["nonce"], proof, bytes.fromhex(row["provider_signature"]))
        if row["status"] == "proved":
            try:
                self.escrow.settle(self.node.signer, result, bytes.fromhex(row["tenant_signature"]))
            except ContractRevert as e:
                if e.error_name != "NonceUsed":  # settled by someone else (the tenant) counts as settled
                    self.node.store.x("UPDATE zk_jobs SET detail = ? WHERE account = ? AND nonce = ?", str(e),
                                      row["account"], row["nonce"])
                    return self._answer(result, row, settled=False, detail=str(e))
            self.node.store.x("UPDATE zk_jobs SET status = 'settled', detail = NULL WHERE account = ? AND nonce = ?",
                              row["account"], row["nonce"])
        return self._answer(result, row, settled=True, detail=None)

    def settle_pending(self) -> int:
        """Retry settlement of proved results (after a restart, or once the tenant topped up)."""
        rows = self.node.store.q("SELECT * FROM zk_jobs WHERE status = 'proved'")
        return sum(1 for row in rows if self._settle(row)["settled"])

    @staticmethod
    def _answer(result: SignedResult, row: Any, *, settled: bool, detail: str | None) -> dict[str, Any]:
        return {"account": row["account"], "nonce": row["nonce"], "outputs": result.proof.outputs,
                "proof": result.proof.to_json(), "provider_signature": "0x" + result.provider_signature.hex(),
                "settled": settled, "detail": detail}
