"""Attacks on what the Coordinator pays for, through its public interface, on both backends: copying a pending
zk delivery or a challenge from the mempool, a lazy node resubmitting another node's recorded inference with
junk proof bytes, a node that takes a slot and never reveals, and calldata padded to be over-reimbursed. Each
shows the attacker gains nothing and the honest party loses nothing."""

from __future__ import annotations

import pytest
from coprocessor_env import SAMPLE, SLASH, CoprocessorEnv, advance

from tessera.chain.base import CallRequest
from tessera.chain.contract import decode_revert, send_transaction
from tessera.coprocessor import JobStatus, ProofMode
from tessera.errors import ContractRevert
from tessera.zkml import InferenceProof, evaluate


def test_attack_copying_a_pending_zk_delivery_pays_the_copier_nothing(cp_env: CoprocessorEnv,
                                                                      public_proof: InferenceProof) -> None:
    env = cp_env
    honest, copier = env.nodes[0], env.nodes[1]
    request_id = env.request_via_store(mode=ProofMode.ZK)
    env.client.commit_proof(honest, request_id, 0, public_proof)
    # the copier reads the honest reveal (proof and instances) from the mempool and submits it first
    with pytest.raises(ContractRevert, match="NotCommitted"):
        env.client.reveal_proof(copier, request_id, 0, public_proof)
    with pytest.raises(ContractRevert, match="CommitsFull"):  # too late to commit: the only slot is taken
        env.client.commit_proof(copier, request_id, 0, public_proof)
    before = env.coin(honest)
    env.client.reveal_proof(honest, request_id, 0, public_proof)
    assert env.coin(honest) > before and env.client.job(request_id).status == JobStatus.COMPLETED


def test_attack_a_commitment_cannot_be_revealed_in_its_own_block(cp_env: CoprocessorEnv) -> None:
    """An attacker who commits and reveals within one block (to copy a reveal it sees in the mempool) is refused:
    eth_call in the commit's own block is that block."""
    env = cp_env
    params = env.params()
    request_id = env.request()
    output = evaluate(env.model, SAMPLE).output_commitment
    salt = env.client.commit_delivery(env.nodes[1], request_id, 0, output)
    data = env.client.deliver_data(request_id, 0, params.input_hash, output, salt)
    with pytest.raises(ContractRevert) as raised:
        env.chain.call(CallRequest(to=env.client.address, data=data, sender=env.nodes[1].address))
    assert decode_revert(raised.value, "deliver").error_name == "RevealTooEarly"


def test_attack_lazy_node_with_junk_proof_bytes_is_slashed_not_paid(cp_env: CoprocessorEnv,
                                                                   public_proof: InferenceProof) -> None:
    """Redundancy 2, zk: the inference is recorded by the first node; a lazy second node resubmits its instances
    with junk proof bytes. The Coordinator verifies every delivery's own proof."""
    env = cp_env
    honest, lazy = env.nodes[0], env.nodes[1]
    request_id = env.request_via_store(mode=ProofMode.ZK, redundancy=2)
    junk = InferenceProof.from_json(public_proof.to_json())
    junk.proof["hex_proof"] = "0x" + bytes(len(public_proof.proof_bytes)).hex()
    env.client.commit_proof(honest, request_id, 0, public_proof)
    env.client.commit_proof(lazy, request_id, 0, junk)
    env.client.reveal_proof(honest, request_id, 0, public_proof)  # the inference is now recorded
    before = env.coin(lazy)
    receipt = env.client.reveal_proof(lazy, request_id, 0, junk)
    assert env.client.coordinator.events(receipt, "InvalidProof")
    (slash,) = env.client.coordinator.events(receipt, "NodeSlashed")
    assert slash.args["node"] == lazy.address and slash.args["amount"] == SLASH
    assert env.coin(lazy) == before
    assert env.client.job(request_id).status == JobStatus.OPEN  # one valid delivery of two: no majority yet


def test_attack_taking_a_slot_and_never_revealing_is_slashed(cp_env: CoprocessorEnv) -> None:
    env = cp_env
    griefer = env.nodes[2]
    params = env.params()
    request_id = env.request()
    env.client.commit_delivery(griefer, request_id, 0, [0, 0, 0])  # takes the only slot ...
    report = env.node(0).step()  # an honest node cannot take it
    assert report.sent == [] and "CommitsFull" in report.skipped[0][2]
    with pytest.raises(ContractRevert, match="DeadlineNotPassed"):
        env.client.slash_unrevealed(env.owner, request_id, 0, griefer.address)
    advance(env.chain, params.ttl + 1)  # ... and never reveals
    env.client.refund(env.owner, request_id)
    consumer_tsr = env.deployment.token.call("balanceOf", env.consumer.address)
    bond = env.bond(griefer)
    env.client.slash_unrevealed(env.owner, request_id, 0, griefer.address)
    assert env.bond(griefer) == bond - SLASH
    assert env.deployment.token.call("balanceOf", env.consumer.address) - consumer_tsr == SLASH // 2
    with pytest.raises(ContractRevert, match="NotSlashable"):
        env.client.slash_unrevealed(env.owner, request_id, 0, griefer.address)


def test_attack_challenge_copied_from_the_mempool_pays_the_original_challenger(
        cp_env: CoprocessorEnv, public_proof: InferenceProof) -> None:
    env = cp_env
    params = env.params(mode=ProofMode.OPTIMISTIC)
    request_id = env.request_via_store(mode=ProofMode.OPTIMISTIC)
    liar, challenger, copier = env.nodes[2], env.nodes[0], env.nodes[1]
    env.client.deliver(liar, request_id, 0, params.input_hash, [v + 5 for v in public_proof.output_commitment])
    env.client.coordinator.transact(challenger, "commitChallenge", request_id, 0,
                                    env.client.proof_commitment(challenger.address, request_id, 0, public_proof))
    with pytest.raises(ContractRevert, match="NotCommitted"):  # the copier's copy of the reveal
        env.client.coordinator.transact(copier, "challenge", request_id, 0, public_proof.proof_bytes,
                                        public_proof.instances)
    tsr = env.deployment.token.call("balanceOf", challenger.address)
    receipt = env.client.coordinator.transact(challenger, "challenge", request_id, 0, public_proof.proof_bytes,
                                              public_proof.instances)
    (slash,) = env.client.coordinator.events(receipt, "NodeSlashed")
    assert slash.args["rewarded"] == challenger.address
    assert env.deployment.token.call("balanceOf", challenger.address) - tsr == SLASH // 2


def test_attack_padded_calldata_is_not_reimbursed(cp_env: CoprocessorEnv) -> None:
    """Zero bytes cost 4 gas but were reimbursed at 16: a node appends 4,000 of them to a delivery."""
    env = cp_env
    params = env.params()
    output = evaluate(env.model, SAMPLE).output_commitment
    reimbursed = []  # gas units the Coordinator paid for
    for padding in (0, 0, 4_000):  # the first one pays first-time storage writes (the node's ETH credit)
        request_id = env.request()
        node = env.nodes[0]
        salt = env.client.commit_delivery(node, request_id, 0, output)
        data = env.client.deliver_data(request_id, 0, params.input_hash, output, salt) + bytes(padding)
        receipt = send_transaction(env.chain, node, to=env.client.address, data=data, context="deliver")
        price = min(receipt.effective_gas_price, params.max_gas_price)
        (event,) = [e for e in env.client.coordinator.events(receipt, "NodePaid") if e.args["gasWei"] > 0]
        reimbursed.append(event.args["gasWei"] // price)
    # what the padding cost the EVM to copy is not counted either way; 16 gas a byte would add 64,000
    assert abs(reimbursed[2] - reimbursed[1]) < 2_000, reimbursed
