"""Redundancy, zk and optimistic modes on both backends: the majority result wins and the minority is not
paid; an invalid proof slashes its node; an optimistic result is final after its window, unless a zk proof
or the referee contradicts it, which slashes the nodes that gave it."""

from __future__ import annotations

import pytest
from coprocessor_env import FEE, MIN_BOND, SAMPLE, SLASH, WINDOW, CoprocessorEnv, advance

from tessera.coprocessor import JobStatus, ProofMode, result_hash
from tessera.errors import ContractRevert
from tessera.protocol.faucet import fund_tsr
from tessera.zkml import InferenceClient, InferenceProof, evaluate


def test_redundancy_three_with_one_lying_node(cp_env: CoprocessorEnv) -> None:
    env = cp_env
    params = env.params(redundancy=3)
    request_id = env.request_via_store(redundancy=3)
    truth = evaluate(env.model, SAMPLE).output_commitment
    lie = [v + 1 for v in truth]
    liar = env.nodes[2]
    coins = {n.address: env.coin(n) for n in env.nodes}
    salt = env.client.commit_delivery(liar, request_id, 0, lie)  # first, and wrong
    with pytest.raises(ContractRevert, match="RevealsNotOpen"):  # nobody reveals before every slot is taken
        env.client.reveal(liar, request_id, 0, params.input_hash, lie, salt)
    env.node(0).step()
    assert env.node(0).journal.job(request_id, 0)["status"] == "committed"  # waits for the last commit
    env.node(1).step()  # takes the last slot, then reveals
    assert env.client.job(request_id).commits == 3
    late = env.referee  # a fourth bonded node, late
    fund_tsr(env.chain, env.deployment, env.owner, late.address, MIN_BOND)
    env.client.bond(late, MIN_BOND)
    with pytest.raises(ContractRevert, match="CommitsFull"):  # no room for a copier of the revealed output
        env.client.commit_delivery(late, request_id, 0, truth)
    env.client.reveal(liar, request_id, 0, params.input_hash, lie, salt)
    assert env.client.job(request_id).status == JobStatus.OPEN  # 1 vs 1: no majority yet
    env.node(0).step()
    job = env.client.job(request_id)
    assert job.status == JobStatus.COMPLETED and job.top_result == result_hash(truth)
    assert list(env.store.call("getResult", request_id, 0)[0]) == truth
    assert env.coin(env.nodes[0]) - coins[env.nodes[0].address] == FEE
    assert env.coin(env.nodes[1]) - coins[env.nodes[1].address] == FEE
    assert env.coin(liar) == coins[liar.address]  # the minority loses its fee
    assert env.coin(env.store.address) == FEE  # ... which goes back to the consumer
    assert env.client.eth_balance(liar.address) == 0  # and its gas
    with pytest.raises(ContractRevert, match="JobClosed"):
        env.client.check_delivery(request_id, 0, env.nodes[2].address)


def test_no_majority_among_all_nodes_refunds_the_consumer(cp_env: CoprocessorEnv) -> None:
    env = cp_env
    params = env.params(redundancy=2)
    request_id = env.request(redundancy=2)
    before = env.coin(env.consumer)
    salts = [env.client.commit_delivery(env.nodes[i], request_id, 0, out) for i, out in ((0, [1, 2, 3]), (1, [1, 2, 4]))]
    env.client.reveal(env.nodes[0], request_id, 0, params.input_hash, [1, 2, 3], salts[0])
    receipt = env.client.reveal(env.nodes[1], request_id, 0, params.input_hash, [1, 2, 4], salts[1])
    assert env.client.coordinator.events(receipt, "JobExpired")
    assert env.client.job(request_id).status == JobStatus.REFUNDED
    assert env.coin(env.consumer) - before == 2 * FEE


def test_zk_request_invalid_proof_is_slashed_then_a_valid_one_completes(
        cp_env: CoprocessorEnv, public_proof: InferenceProof) -> None:
    env = cp_env
    request_id = env.request_via_store(mode=ProofMode.ZK)
    bad = InferenceProof.from_json(public_proof.to_json())
    raw = bytearray(bad.proof_bytes)
    raw[len(raw) // 2] ^= 1
    bad.proof["hex_proof"] = "0x" + raw.hex()
    cheat = env.nodes[2]
    bond_before = env.bond(cheat)
    receipt = env.client.deliver_proof(cheat, request_id, 0, bad)
    assert env.client.coordinator.events(receipt, "InvalidProof")
    (slash,) = env.client.coordinator.events(receipt, "NodeSlashed")
    assert slash.args["amount"] == SLASH and env.bond(cheat) == bond_before - SLASH
    assert env.client.job(request_id).status == JobStatus.OPEN  # not counted
    with pytest.raises(ContractRevert, match="NotEligible"):  # under the minimum bond now
        env.client.check_delivery(request_id, 0, cheat.address)
    report = env.node(0).step()
    assert report.sent == [(request_id, 0)], report
    (done,) = env.client.coordinator.get_events("JobCompleted")
    assert done.args["inferenceId"] != bytes(32)
    stored = env.store.call("getResult", request_id, 0)
    assert list(stored[0]) == public_proof.output_commitment and bytes(stored[1]) == done.args["inferenceId"]
    assert env.deployment.inference.call("verifiedAt", done.args["inferenceId"]) > 0


def test_optimistic_result_is_final_after_the_window(cp_env: CoprocessorEnv) -> None:
    env = cp_env
    request_id = env.request_via_store(mode=ProofMode.OPTIMISTIC)
    node = env.node(0)
    node.step()
    job = env.client.job(request_id)
    assert job.status == JobStatus.CHALLENGEABLE
    node.step()
    assert node.journal.job(request_id, 0)["status"] == "awaiting_finalize"
    with pytest.raises(ContractRevert, match="ChallengeWindowOpen"):
        env.client.finalize(env.nodes[1], request_id, 0, evaluate(env.model, SAMPLE).output_commitment)
    before = env.coin(env.nodes[0])
    advance(env.chain, WINDOW + 1)
    report = node.step()
    assert report.finalized == [(request_id, 0)]
    assert env.client.job(request_id).status == JobStatus.COMPLETED
    assert env.coin(env.nodes[0]) - before == FEE
    assert list(env.store.call("getResult", request_id, 0)[0]) == evaluate(env.model, SAMPLE).output_commitment
    node.step()
    assert node.journal.job(request_id, 0)["status"] == "done"


def test_optimistic_lie_is_contradicted_by_a_zk_proof(cp_env: CoprocessorEnv, public_proof: InferenceProof) -> None:
    env = cp_env
    params = env.params(mode=ProofMode.OPTIMISTIC)
    request_id = env.request_via_store(mode=ProofMode.OPTIMISTIC)
    liar, challenger = env.nodes[2], env.owner
    lie = [v + 5 for v in public_proof.output_commitment]
    env.client.deliver(liar, request_id, 0, params.input_hash, lie)
    assert env.client.job(request_id).status == JobStatus.CHALLENGEABLE
    forged = InferenceProof.from_json(public_proof.to_json())
    forged.instances[-1] += 5  # "proves" the liar's output: the verifier rejects it
    with pytest.raises(ContractRevert, match="ChallengeProofInvalid"):
        env.client.challenge(challenger, request_id, 0, forged)
    # the true inference recorded beforehand (by anyone) still contradicts the lie
    InferenceClient.of(env.chain, env.deployment).verify(env.owner, public_proof)
    tsr_before = env.deployment.token.call("balanceOf", challenger.address)
    receipt = env.client.challenge(challenger, request_id, 0, public_proof)
    (slash,) = env.client.coordinator.events(receipt, "NodeSlashed")
    assert slash.args["node"] == liar.address and slash.args["rewarded"] == challenger.address
    # the challenger is also the treasury here: it receives the reward and the rest
    assert env.deployment.token.call("balanceOf", challenger.address) - tsr_before == SLASH
    (done,) = env.client.coordinator.events(receipt, "JobCompleted")
    assert done.args["result"] == result_hash(public_proof.output_commitment) and done.args["feesPaid"] == 0
    assert list(env.store.call("getResult", request_id, 0)[0]) == public_proof.output_commitment
    with pytest.raises(ContractRevert, match="NotChallengeable"):
        env.client.challenge(challenger, request_id, 0, public_proof)


def test_optimistic_result_matching_the_proof_cannot_be_challenged(cp_env: CoprocessorEnv,
                                                                    public_proof: InferenceProof) -> None:
    env = cp_env
    request_id = env.request(mode=ProofMode.OPTIMISTIC)
    env.node(0).step()
    with pytest.raises(ContractRevert, match="NoContradiction"):
        env.client.challenge(env.owner, request_id, 0, public_proof)


def test_referee_contradicts_an_optimistic_result(cp_env: CoprocessorEnv) -> None:
    env = cp_env
    params = env.params(mode=ProofMode.OPTIMISTIC)
    request_id = env.request(mode=ProofMode.OPTIMISTIC)
    truth = evaluate(env.model, SAMPLE).output_commitment
    env.client.deliver(env.nodes[1], request_id, 0, params.input_hash, [0, 0, 0])
    with pytest.raises(ContractRevert, match="NotReferee"):
        env.client.referee_resolve(env.nodes[0], request_id, 0, truth)
    receipt = env.client.referee_resolve(env.referee, request_id, 0, truth)
    (slash,) = env.client.coordinator.events(receipt, "NodeSlashed")
    assert slash.args["node"] == env.nodes[1].address
    assert env.client.job(request_id).status == JobStatus.COMPLETED


def test_a_watching_node_catches_an_optimistic_lie_and_challenges_it(cp_env: CoprocessorEnv) -> None:
    env = cp_env
    params = env.params(mode=ProofMode.OPTIMISTIC)
    request_id = env.request_via_store(mode=ProofMode.OPTIMISTIC)
    truth = evaluate(env.model, SAMPLE).output_commitment
    liar = env.nodes[2]
    env.client.deliver(liar, request_id, 0, params.input_hash, [v + 1 for v in truth])  # faster, and wrong
    watcher = env.node(0)
    tsr_before = env.deployment.token.call("balanceOf", env.nodes[0].address)
    bond_before = env.bond(liar)
    report = watcher.step()
    assert report.challenged == [(request_id, 0)] and report.sent == [], report
    assert env.bond(liar) == bond_before - SLASH
    assert env.deployment.token.call("balanceOf", env.nodes[0].address) - tsr_before == SLASH // 2
    assert list(env.store.call("getResult", request_id, 0)[0]) == truth
    assert env.client.job(request_id).status == JobStatus.COMPLETED
    watcher.step()
    job = watcher.journal.job(request_id, 0)
    assert job["status"] == "done" and "slashed" in job["detail"]


def test_a_watching_node_leaves_a_correct_optimistic_result_alone(cp_env: CoprocessorEnv) -> None:
    env = cp_env
    request_id = env.request(mode=ProofMode.OPTIMISTIC)
    env.node(1).step()  # an honest node delivers first
    watcher = env.node(0)
    report = watcher.step()
    assert report.challenged == [] and report.sent == []
    job = watcher.journal.job(request_id, 0)
    assert job["status"] == "done" and job["detail"] == "agrees with the majority result"
    assert env.client.job(request_id).status == JobStatus.CHALLENGEABLE
