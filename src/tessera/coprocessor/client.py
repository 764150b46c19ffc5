"""The Coordinator contract from Python: requests, bonds, deliveries, challenges, refunds."""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..chain import Chain, Contract, Signer
from ..chain.base import Receipt
from ..zkml.prover import InferenceProof
from .requests import (JobStatus, ProofMode, RequestParams, SignedRequest, commitment_of, delivery_payload,
                       proof_payload)

if TYPE_CHECKING:
    from ..protocol.deploy import Deployment


@dataclass(frozen=True)
class RequestInfo:
    request_id: int
    consumer: str
    params: RequestParams
    start: int
    cancelled_from: int
    delivery_gas: int

    def window(self, interval: int) -> tuple[int, int]:
        opens = self.start + self.params.period * interval
        return opens, opens + self.params.ttl


@dataclass(frozen=True)
class JobInfo:
    status: JobStatus
    deliveries: int
    top_votes: int
    commits: int
    challenge_ends: int
    eth_spent: int
    input_hash: bytes
    top_result: bytes


# the part of ITesseraConsumer a node reads; consumers are any contract, so their own ABI is not known
CONSUMER_ABI = [{"type": "function", "name": "coprocessorInput", "stateMutability": "view",
                 "inputs": [{"name": "requestId", "type": "uint64"}, {"name": "interval", "type": "uint32"}],
                 "outputs": [{"name": "input", "type": "bytes"}, {"name": "inputHash", "type": "bytes32"}]}]


class CoordinatorClient:
    def __init__(self, chain: Chain, coordinator: Contract, stablecoin: Contract, token: Contract) -> None:
        self.chain = chain
        self.coordinator = coordinator
        self.stablecoin = stablecoin
        self.token = token

    @classmethod
    def of(cls, chain: Chain, deployment: "Deployment") -> "CoordinatorClient":
        return cls(chain, deployment.coordinator, deployment.stablecoin, deployment.token)

    @property
    def address(self) -> str:
        return self.coordinator.address

    # ---- consumers ----

    def gas_deposit(self, params: RequestParams) -> int:
        return int(self.coordinator.call("gasDeposit", params.as_tuple()))

    def escrow(self, params: RequestParams) -> int:
        """Stablecoin a request escrows."""
        return params.fee * params.redundancy * params.count

    def request(self, consumer: Signer, params: RequestParams, input_data: bytes) -> tuple[int, Receipt]:
        """Create a request from an account; approves the fee escrow and sends the gas deposit."""
        self._approve(consumer, self.escrow(params))
        value = max(self.gas_deposit(params) - self.eth_balance(consumer.address), 0)
        receipt = self.coordinator.transact(consumer, "request", params.as_tuple(), input_data, value=value)
        return self.request_id(receipt), receipt

    def request_id(self, receipt: Receipt) -> int:
        return int(self.coordinator.events(receipt, "RequestCreated")[0].args["requestId"])

    def submit_signed(self, sender: Signer, req: SignedRequest) -> tuple[int, Receipt]:
        receipt = self.coordinator.transact(sender, "requestFor", req.consumer, req.params.as_tuple(), req.input,
                                            req.nonce, req.deadline, req.signature)
        return self.request_id(receipt), receipt

    def deposit_eth(self, account: Signer, wei: int) -> Receipt:
        return self.coordinator.transact(account, "depositEth", value=wei)

    def approve_fees(self, consumer: Signer, amount: int) -> None:
        self._approve(consumer, amount)

    def _approve(self, owner: Signer, amount: int) -> None:
        if amount and self.stablecoin.call("allowance", owner.address, self.address) < amount:
            self.stablecoin.transact(owner, "approve", self.address, amount)

    def cancel(self, consumer: Signer, request_id: int) -> Receipt:
        return self.coordinator.transact(consumer, "cancel", request_id)

    def refund(self, sender: Signer, request_id: int, interval: int = 0) -> Receipt:
        return self.coordinator.transact(sender, "refund", request_id, interval)

    # ---- nodes ----

    def bond(self, node: Signer, amount: int) -> Receipt:
        if self.token.call("allowance", node.address, self.address) < amount:
            self.token.transact(node, "approve", self.address, amount)
        return self.coordinator.transact(node, "bond", amount)

    def node_bond(self, node: str) -> tuple[int, int]:
        bond, unbond_at = self.coordinator.call("nodes", node)
        return int(bond), int(unbond_at)

    def check_delivery(self, request_id: int, interval: int, node: str) -> bytes:
        """The input hash `node` must answer; raises ContractRevert naming why it cannot deliver now."""
        return bytes(self.coordinator.call("checkDelivery", request_id, interval, node))

    # Deliveries are committed (a hash naming the node) and revealed in a later block: `commit_*` then
    # `reveal`/`reveal_proof`. `deliver`/`deliver_proof` do both, for a node whose reveal is open right after
    # its own commit (redundancy 1, or the last of the interval's nodes to commit).

    def commit_data(self, request_id: int, interval: int, commitment: bytes) -> bytes:
        return self.coordinator.encode("commit", request_id, interval, commitment)

    def delivery_commitment(self, node: str, request_id: int, interval: int, output: list[int], salt: bytes) -> bytes:
        return commitment_of(node, request_id, interval, delivery_payload(output, salt))

    def proof_commitment(self, sender: str, request_id: int, interval: int, proof: InferenceProof) -> bytes:
        return commitment_of(sender, request_id, interval, proof_payload(proof.proof_bytes))

    def commit_delivery(self, node: Signer, request_id: int, interval: int, output: list[int],
                        salt: bytes | None = None) -> bytes:
        """Commit to delivering ``output``; returns the salt to reveal it with."""
        salt = os.urandom(32) if salt is None else salt
        self.coordinator.transact(node, "commit", request_id, interval,
                                  self.delivery_commitment(node.address, request_id, interval, output, salt))
        return salt

    def commit_proof(self, node: Signer, request_id: int, interval: int, proof: InferenceProof) -> Receipt:
        return self.coordinator.transact(node, "commit", request_id, interval,
                                         self.proof_commitment(node.address, request_id, interval, proof))

    def deliver_data(self, request_id: int, interval: int, input_hash: bytes, output: list[int], salt: bytes) -> bytes:
        return self.coordinator.encode("deliver", request_id, interval, input_hash, output, salt)

    def deliver_proof_data(self, request_id: int, interval: int, proof: InferenceProof) -> bytes:
        return self.coordinator.encode("deliverProof", request_id, interval, proof.proof_bytes, proof.instances)

    def reveal(self, node: Signer, request_id: int, interval: int, input_hash: bytes, output: list[int],
               salt: bytes) -> Receipt:
        return self.coordinator.transact(node, "deliver", request_id, interval, input_hash, output, salt)

    def reveal_proof(self, node: Signer, request_id: int, interval: int, proof: InferenceProof) -> Receipt:
        return self.coordinator.transact(node, "deliverProof", request_id, interval, proof.proof_bytes,
                                         proof.instances)

    def deliver(self, node: Signer, request_id: int, interval: int, input_hash: bytes, output: list[int]) -> Receipt:
        salt = self.commit_delivery(node, request_id, interval, output)
        return self.reveal(node, request_id, interval, input_hash, output, salt)

    def deliver_proof(self, node: Signer, request_id: int, interval: int, proof: InferenceProof) -> Receipt:
        self.commit_proof(node, request_id, interval, proof)
        return self.reveal_proof(node, request_id, interval, proof)

    def slash_unrevealed(self, sender: Signer, request_id: int, interval: int, node: str) -> Receipt:
        return self.coordinator.transact(sender, "slashUnrevealed", request_id, interval, node)

    def finalize(self, sender: Signer, request_id: int, interval: int, output: list[int]) -> Receipt:
        return self.coordinator.transact(sender, "finalize", request_id, interval, output)

    def commit_challenge_data(self, sender: str, request_id: int, interval: int, proof: InferenceProof) -> bytes:
        return self.coordinator.encode("commitChallenge", request_id, interval,
                                       self.proof_commitment(sender, request_id, interval, proof))

    def challenge(self, sender: Signer, request_id: int, interval: int, proof: InferenceProof) -> Receipt:
        """Commit to the challenge, then reveal it in the next block (bound to ``sender``: a copy pays no one else)."""
        self.coordinator.transact(sender, "commitChallenge", request_id, interval,
                                  self.proof_commitment(sender.address, request_id, interval, proof))
        return self.coordinator.transact(sender, "challenge", request_id, interval, proof.proof_bytes, proof.instances)

    def referee_resolve(self, referee: Signer, request_id: int, interval: int, output: list[int]) -> Receipt:
        return self.coordinator.transact(referee, "refereeResolve", request_id, interval, output)

    def eth_balance(self, account: str) -> int:
        return int(self.coordinator.call("ethBalance", account))

    def withdraw_eth(self, account: Signer, amount: int | None = None) -> Receipt:
        return self.coordinator.transact(account, "withdrawEth",
                                         self.eth_balance(account.address) if amount is None else amount)

    # ---- reading ----

    def get_request(self, request_id: int) -> RequestInfo:
        r = self.coordinator.call("getRequest", request_id)
        (consumer, cb_gas, count, redundancy, mode, _, start, period, ttl, cancelled_from, delivery_gas, model_id,
         input_hash, fee, max_gas_price) = r
        params = RequestParams(bytes(model_id), bytes(input_hash), int(fee), int(max_gas_price), int(cb_gas),
                               int(ttl), int(redundancy), ProofMode(int(mode)), int(count), int(period))
        return RequestInfo(request_id, str(consumer), params, int(start), int(cancelled_from), int(delivery_gas))

    def job(self, request_id: int, interval: int = 0) -> JobInfo:
        status, deliveries, top_votes, commits, ends, eth_spent, input_hash, top_result = self.coordinator.call(
            "getJob", request_id, interval)
        return JobInfo(JobStatus(int(status)), int(deliveries), int(top_votes), int(commits), int(ends),
                       int(eth_spent), bytes(input_hash), bytes(top_result))

    def reveals_open(self, info: RequestInfo, interval: int, job: JobInfo, now: int) -> bool:
        """Whether an interval's reveals are open: all its slots are committed, or half its ttl has passed."""
        opens, _ = info.window(interval)
        return job.commits >= info.params.redundancy or now >= opens + info.params.ttl // 2

    def expected_input_hash(self, request_id: int, interval: int) -> bytes:
        return bytes(self.coordinator.call("expectedInputHash", request_id, interval))

    def consumer_input(self, consumer: str, request_id: int, interval: int) -> tuple[bytes, bytes]:
        """A consumer contract's input for one interval of a request made without one."""
        data, h = Contract(self.chain, consumer, CONSUMER_ABI, "consumer").call("coprocessorInput", request_id,
                                                                                interval)
        return bytes(data), bytes(h)

    def decode_event(self, name: str, log: Any) -> dict[str, Any]:
        return dict(self.coordinator.event(name).decode(log.topics, log.data))
