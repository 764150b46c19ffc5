"""A job that names a model is delivered with a zk-proved inference on the poster's inputs: verified on chain,
such a delivery is final and paid at once; a proof on other inputs, or no proof, is refused."""

from __future__ import annotations

import os

import pytest
from eth_abi import encode as abi_encode
from eth_utils import keccak

from tessera.accounts.dev import dev_account
from tessera.chain import Chain
from tessera.errors import ContractRevert
from tessera.protocol.deploy import Deployment
from tessera.zkml import CompiledModel, InferenceClient, InferenceProof

USD = 1_000_000
POSTER, OWNER = dev_account(3), dev_account(1)


def _post(d: Deployment, compiled: CompiledModel, inputs: list[int]) -> int:
    d.stablecoin.transact(dev_account(0), "mint", POSTER.address, USD)
    d.stablecoin.transact(POSTER, "approve", d.jobs.address, USD)
    now = d.jobs.chain.get_block("latest").timestamp
    receipt = d.jobs.transact(POSTER, "post", (keccak(b"classify"), USD, now + 3600, 0, 0, 3600,
                                               bytes.fromhex(compiled.model_id[2:]),
                                               keccak(abi_encode(["uint256[]"], [inputs])), len(inputs)))
    return int(d.jobs.events(receipt, "Posted")[0].args["id"])


def _deliver(d: Deployment, job: int, agent: int, instances: list[int]) -> None:
    salt = os.urandom(32)
    h = d.jobs.call("deliveryHash", job, agent, OWNER.address, b"\0" * 32, USD, instances, salt)
    d.jobs.transact(OWNER, "commit", job, agent, h)
    d.jobs.transact(OWNER, "deliver", job, agent, b"\0" * 32, USD, instances, salt)


def test_a_proved_inference_on_the_posters_inputs_is_final(chain: Chain, deployment: Deployment,
                                                          compiled: CompiledModel, proof: InferenceProof) -> None:
    d = deployment
    client = InferenceClient.of(chain, d)
    client.register(dev_account(0), compiled)
    r = d.agents.transact(OWNER, "register", "https://a", keccak(b"card"))
    agent = int(d.agents.events(r, "Registered")[0].args["id"])
    job = _post(d, compiled, proof.input_commitment)
    with pytest.raises(ContractRevert, match="NotProved"):  # the right inputs, but no proof on chain yet
        _deliver(d, job, agent, proof.instances)
    client.verify(dev_account(1), proof)
    other = _post(d, compiled, [x + 1 for x in proof.input_commitment])
    with pytest.raises(ContractRevert, match="WrongInputs"):  # a proof, but of someone else's inputs
        _deliver(d, other, agent, proof.instances)
    before = int(d.stablecoin.call("balanceOf", OWNER.address))
    _deliver(d, job, agent, proof.instances)
    assert int(d.stablecoin.call("balanceOf", OWNER.address)) == before + USD  # paid at once
    with pytest.raises(ContractRevert, match="WrongState"):
        d.jobs.transact(POSTER, "dispute", job)  # final: nothing to dispute
