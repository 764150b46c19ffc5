"""One-off requests end to end on both backends: the node follows the request, computes the circuit's
output, delivers, and is paid; the consumer's callback stores the output; the escrow's rest comes back."""

from __future__ import annotations

import pytest
from coprocessor_env import FEE, OTHER, SAMPLE, CoprocessorEnv, advance

from tessera.chain.contract import decode_revert, send_transaction
from tessera.coprocessor import CoprocessorConfig, CoprocessorNode, JobStatus, encode_json_input, result_hash
from tessera.chain.base import CallRequest
from tessera.errors import ContractRevert, TransactionError
from tessera.zkml import evaluate


def test_one_off_request_is_delivered_paid_and_called_back(cp_env: CoprocessorEnv) -> None:
    env = cp_env
    request_id = env.request_via_store()
    node = env.node(0)
    coin_before = env.coin(env.nodes[0])
    report = node.step()
    assert report.sent == [(request_id, 0)], report
    job = env.client.job(request_id)
    assert job.status == JobStatus.COMPLETED
    expected = evaluate(env.model, SAMPLE).output_commitment
    (done,) = env.client.coordinator.get_events("JobCompleted")
    assert done.args["result"] == result_hash(expected) and done.args["callbackOk"] is True
    stored = env.store.call("getResult", request_id, 0)
    assert list(stored[0]) == expected
    assert env.coin(env.nodes[0]) - coin_before == FEE
    assert env.client.eth_balance(env.nodes[0].address) > 0  # gas reimbursed
    assert env.coin(env.client.address) == 0  # nothing left in escrow
    node.step()
    assert node.journal.job(request_id, 0)["status"] == "done"


def test_subscription_serves_each_interval_with_its_own_input_and_cancel_refunds_the_rest(
        cp_env: CoprocessorEnv) -> None:
    env = cp_env
    period = 120
    request_id = env.request_via_store(None, count=4, period=period, ttl=100)  # inputs come per interval
    for k, data in enumerate((SAMPLE, OTHER)):
        env.store.transact(env.consumer, "setIntervalInput", request_id, k, encode_json_input(data),
                           env.input_hash(data))
    node = env.node(0)
    node.step()
    assert env.client.job(request_id, 0).status == JobStatus.COMPLETED
    assert env.client.job(request_id, 1).status == JobStatus.OPEN  # not started yet: nothing sent early
    advance(env.chain, period)
    node.step()
    assert env.client.job(request_id, 1).status == JobStatus.COMPLETED
    outputs = [list(env.store.call("getResult", request_id, k)[0]) for k in (0, 1)]
    assert outputs == [evaluate(env.model, d).output_commitment for d in (SAMPLE, OTHER)]
    # intervals 2 and 3 have not started: cancelling returns their escrow at once
    coin_before = env.coin(env.store.address)
    eth_before = env.client.eth_balance(env.store.address)
    receipt = env.store.transact(env.consumer, "cancelRequest", request_id)
    (cancelled,) = env.client.coordinator.events(receipt, "SubscriptionCancelled")
    assert cancelled.args["fromInterval"] == 2
    assert env.coin(env.store.address) - coin_before == 2 * FEE
    per_interval = env.client.gas_deposit(env.params(None, count=1))
    assert env.client.eth_balance(env.store.address) - eth_before == 2 * per_interval
    advance(env.chain, 2 * period)
    node.step()
    assert env.client.job(request_id, 2).status == JobStatus.OPEN  # cancelled: never served
    with pytest.raises(ContractRevert, match="IntervalOutOfRange"):
        env.client.check_delivery(request_id, 2, env.nodes[0].address)
    with pytest.raises(ContractRevert, match="NothingToCancel"):
        env.store.transact(env.consumer, "cancelRequest", request_id)


def test_deadline_passes_without_delivery_and_everything_is_refunded(cp_env: CoprocessorEnv) -> None:
    env = cp_env
    coin_before = env.coin(env.consumer)
    eth_before = env.client.eth_balance(env.consumer.address)
    params = env.params(redundancy=2)
    request_id = env.request(redundancy=2)
    deposit = env.client.gas_deposit(params)
    with pytest.raises(ContractRevert, match="DeadlineNotPassed"):
        env.client.refund(env.nodes[0], request_id)
    advance(env.chain, params.ttl + 1)
    with pytest.raises(ContractRevert, match="DeadlinePassed"):
        env.client.deliver(env.nodes[0], request_id, 0, params.input_hash, [1, 2, 3])
    report = env.node(0).step()
    assert report.sent == [] and report.skipped and "DeadlinePassed" in report.skipped[0][2]
    receipt = env.client.refund(env.nodes[1], request_id)  # anyone may trigger it
    (expired,) = env.client.coordinator.events(receipt, "JobExpired")
    assert expired.args["deliveries"] == 0
    assert env.coin(env.consumer) == coin_before
    assert env.client.eth_balance(env.consumer.address) == eth_before + deposit
    assert env.client.job(request_id).status == JobStatus.REFUNDED
    with pytest.raises(ContractRevert, match="JobClosed"):
        env.client.refund(env.nodes[1], request_id)


def test_reverting_callback_does_not_block_payment(cp_env: CoprocessorEnv) -> None:
    env = cp_env
    env.store.transact(env.consumer, "setFailing", True)
    request_id = env.request_via_store()
    before = env.coin(env.nodes[0])
    env.node(0).step()
    (done,) = env.client.coordinator.get_events("JobCompleted")
    assert done.args["requestId"] == request_id and done.args["callbackOk"] is False
    assert env.coin(env.nodes[0]) - before == FEE
    assert env.store.call("resultCount") == 0


def test_a_node_cannot_starve_the_callback_of_gas(cp_env: CoprocessorEnv) -> None:
    env = cp_env
    params = env.params(callback_gas_limit=2_000_000)
    request_id = env.request_via_store(callback_gas_limit=2_000_000)
    output = evaluate(env.model, SAMPLE).output_commitment
    salt = env.client.commit_delivery(env.nodes[0], request_id, 0, output)
    env.chain.mine(1)  # eth_call runs in the latest block's context: the reveal must come after the commit's
    data = env.client.deliver_data(request_id, 0, params.input_hash, output, salt)
    call = CallRequest(to=env.client.address, data=data, sender=env.nodes[0].address, gas=400_000)
    with pytest.raises(ContractRevert) as raised:
        env.chain.call(call)
    assert decode_revert(raised.value, "deliver").error_name == "InsufficientGasForCallback"
    with pytest.raises(TransactionError):  # sent anyway: it fails and pays nothing
        send_transaction(env.chain, env.nodes[0], to=env.client.address, data=data, gas=400_000)
    assert env.client.job(request_id).status == JobStatus.OPEN


def test_request_input_that_does_not_match_its_hash_is_refused_before_delivery(cp_env: CoprocessorEnv) -> None:
    env = cp_env
    params = env.params(SAMPLE)
    request_id, _ = env.client.request(env.consumer, params, encode_json_input(OTHER))  # hash of SAMPLE
    report = env.node(0).step()
    assert report.sent == []
    assert "does not hash to the request's input hash" in report.skipped[0][2]
    assert env.node(0).journal.job(request_id, 0)["status"] == "skipped"


def test_unserved_model_and_low_fee_are_not_taken(cp_env: CoprocessorEnv) -> None:
    env = cp_env
    request_id = env.request()
    node = env.node(0, min_fee=FEE + 1)
    assert node.step().sent == []
    row = node.journal.one("SELECT status, reason FROM requests WHERE request_id = ?", request_id)
    assert row["status"] == "skipped" and "below this node's minimum" in row["reason"]
    other = CoprocessorNode(env.chain, env.deployment, env.nodes[1], CoprocessorConfig([]), env.tmp / "no-models")
    assert other.step().sent == []
    row = other.journal.one("SELECT status, reason FROM requests WHERE request_id = ?", request_id)
    assert row["status"] == "skipped" and "is not served by this node" in row["reason"]
