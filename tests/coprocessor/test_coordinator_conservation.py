"""Hypothesis stateful test: every stablecoin unit and every wei the Coordinator holds is, at every step,
escrowed for an interval that is still open, or credited to an account's withdrawable ETH balance; TSR it
holds is exactly the nodes' bonds. Requests, committed and revealed deliveries (honest and lying), reveals
without a commitment (a copier), slashes of unrevealed commitments, governance retiring the model, refunds, cancellations,
challenge-window finalization, referee rulings and withdrawals interleave at random.

Runs on the embedded chain; one deployment is shared and each example starts from a snapshot.
"""

from __future__ import annotations

import os

from typing import Any

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from tessera.accounts.dev import dev_account
from tessera.chain import EmbeddedChain
from tessera.coprocessor import CoordinatorClient, JobStatus, ProofMode, RequestParams
from tessera.errors import ContractRevert
from tessera.protocol.deploy import Deployment, deploy_protocol
from tessera.protocol.faucet import fund_stablecoin, fund_tsr
from tessera.zkml.onchain import InferenceClient

TSR = 10**18
INPUT = b"\x01" * 32
OUTPUTS = ([1, 2, 3], [1, 2, 4])  # the honest answer and a lie
_WORLD: dict[str, Any] = {}
_CLOSED: list[int] = []


def world(model: Any) -> dict[str, Any]:
    if not _WORLD:
        chain = EmbeddedChain()
        owner = dev_account(0)
        manifest, _ = deploy_protocol(chain, owner, path=None)
        d = Deployment.from_manifest(chain, manifest)
        client = CoordinatorClient.of(chain, d)
        referee = dev_account(9)
        d.coordinator.transact(owner, "setParams", 10 * TSR, 3 * TSR, 600, 3 * 86400, referee.address,
                               owner.address)
        InferenceClient.of(chain, d).register(owner, model)
        consumers = [dev_account(5), dev_account(6)]
        nodes = [dev_account(1), dev_account(2), dev_account(3)]
        for c in consumers:
            fund_stablecoin(chain, d, owner, c.address, 10**12)
            d.stablecoin.transact(c, "approve", client.address, 2**256 - 1)
        for n in nodes:
            fund_tsr(chain, d, owner, n.address, 40 * TSR)
            client.bond(n, 40 * TSR)
        _WORLD.update(chain=chain, d=d, client=client, consumers=consumers, nodes=nodes, referee=referee,
                      owner=owner, model_id=bytes.fromhex(model.model_id[2:]), snapshot=chain.snapshot())
    return _WORLD


class CoordinatorConservation(RuleBasedStateMachine):
    model: Any = None

    def __init__(self) -> None:
        super().__init__()
        w = world(self.model)
        w["chain"].revert(w["snapshot"])
        w["snapshot"] = w["chain"].snapshot()
        self.w = w
        self.chain: EmbeddedChain = w["chain"]
        self.c: CoordinatorClient = w["client"]
        self.coin = w["d"].stablecoin
        self.token = w["d"].token
        self.requests: list[int] = []
        self.commits: dict[tuple[int, int, int], tuple[bytes, int]] = {}  # (rid, k, node) -> (salt, output)
        self.retired = False
        self.accounts = [a.address for a in w["consumers"] + w["nodes"] + [w["referee"], w["owner"]]]
        self.total_coin = self._coin_total()

    def _coin_total(self) -> int:
        return sum(self.coin.call("balanceOf", a) for a in self.accounts + [self.c.address])

    def _jobs(self) -> list[tuple[int, int]]:
        return [(rid, k) for rid in self.requests for k in range(self.c.get_request(rid).params.count)]

    def _try(self, fn: Any, *args: Any) -> None:
        try:
            fn(*args)
        except ContractRevert as e:
            # only refusals the rule could not foresee cheaply; never a failed transfer or arithmetic error
            assert e.error_name in {"JobClosed", "DeadlinePassed", "IntervalNotStarted", "IntervalOutOfRange",
                                    "AlreadyDelivered", "NotEligible", "ChallengeWindowOpen", "ChallengeWindowOver",
                                    "NotChallengeable", "NoContradiction", "DeadlineNotPassed",
                                    "NothingToCancel", "ResultMismatch", "CommitsFull", "CommitPhaseOver",
                                    "AlreadyCommitted", "NotCommitted", "RevealsNotOpen", "NotSlashable"}, e

    @rule(consumer=st.integers(0, 1), redundancy=st.integers(1, 3), optimistic=st.booleans(),
          count=st.integers(1, 3), period=st.integers(30, 300), fee=st.integers(0, 10**7),
          gwei=st.integers(1, 20), callback=st.integers(0, 300_000), ttl=st.integers(10, 600))
    def request(self, consumer: int, redundancy: int, optimistic: bool, count: int, period: int, fee: int,
                gwei: int, callback: int, ttl: int) -> None:
        params = RequestParams(self.w["model_id"], INPUT, fee, gwei * 10**9, callback, ttl, redundancy,
                               ProofMode.OPTIMISTIC if optimistic else ProofMode.NONE, count,
                               period if count > 1 else 0)
        if self.retired:  # no new obligations on a retired model
            with pytest.raises(ContractRevert, match="UnknownModel"):
                self.c.request(self.w["consumers"][consumer], params, b"")
            return
        request_id, _ = self.c.request(self.w["consumers"][consumer], params, b"")
        self.requests.append(request_id)

    @precondition(lambda self: self.requests)
    @rule(data=st.data(), node=st.integers(0, 2), lie=st.booleans())
    def commit(self, data: st.DataObject, node: int, lie: bool) -> None:
        rid, k = data.draw(st.sampled_from(self._jobs()))
        salt = os.urandom(32)
        try:
            self.c.commit_delivery(self.w["nodes"][node], rid, k, OUTPUTS[int(lie)], salt)
        except ContractRevert:
            self._try(self.c.commit_delivery, self.w["nodes"][node], rid, k, OUTPUTS[int(lie)], salt)
        else:
            self.commits[(rid, k, node)] = (salt, int(lie))

    @precondition(lambda self: self.commits)
    @rule(data=st.data())
    def reveal(self, data: st.DataObject) -> None:
        rid, k, node = data.draw(st.sampled_from(sorted(self.commits)))
        salt, lie = self.commits[(rid, k, node)]
        self._try(self.c.reveal, self.w["nodes"][node], rid, k, INPUT, OUTPUTS[lie], salt)

    @precondition(lambda self: self.requests)
    @rule(data=st.data(), node=st.integers(0, 2))
    def attacker_reveals_without_committing(self, data: st.DataObject, node: int) -> None:
        """A node that saw the truth revealed copies it without having committed: never counted."""
        rid, k = data.draw(st.sampled_from(self._jobs()))
        if (rid, k, node) in self.commits:
            return
        with pytest.raises(ContractRevert):
            self.c.reveal(self.w["nodes"][node], rid, k, INPUT, OUTPUTS[0], b"\0" * 32)

    @precondition(lambda self: self.commits)
    @rule(data=st.data())
    def slash_unrevealed(self, data: st.DataObject) -> None:
        rid, k, node = data.draw(st.sampled_from(sorted(self.commits)))
        self._try(self.c.slash_unrevealed, self.w["owner"], rid, k, self.w["nodes"][node].address)

    @precondition(lambda self: not self.retired)
    @rule()
    def governance_retires_the_model(self) -> None:
        """Open requests still settle, refund and slash; only new requests are refused."""
        self.w["d"].models.transact(self.w["owner"], "retireModel", self.w["model_id"])
        self.retired = True

    @precondition(lambda self: self.requests)
    @rule(data=st.data())
    def refund(self, data: st.DataObject) -> None:
        rid, k = data.draw(st.sampled_from(self._jobs()))
        self._try(self.c.refund, self.w["owner"], rid, k)

    @precondition(lambda self: self.requests)
    @rule(data=st.data(), lie=st.booleans())
    def finalize(self, data: st.DataObject, lie: bool) -> None:
        rid, k = data.draw(st.sampled_from(self._jobs()))
        if self.c.job(rid, k).status == JobStatus.CHALLENGEABLE:
            self._try(self.c.finalize, self.w["owner"], rid, k, OUTPUTS[int(lie)])

    @precondition(lambda self: self.requests)
    @rule(data=st.data(), lie=st.booleans())
    def referee(self, data: st.DataObject, lie: bool) -> None:
        rid, k = data.draw(st.sampled_from(self._jobs()))
        self._try(self.c.referee_resolve, self.w["referee"], rid, k, OUTPUTS[int(lie)])

    @precondition(lambda self: self.requests)
    @rule(data=st.data())
    def cancel(self, data: st.DataObject) -> None:
        rid = data.draw(st.sampled_from(self.requests))
        consumer = self.c.get_request(rid).consumer
        self._try(self.c.cancel, next(a for a in self.w["consumers"] if a.address == consumer), rid)

    @rule(who=st.integers(0, 5))
    def withdraw(self, who: int) -> None:
        account = (self.w["consumers"] + self.w["nodes"] + [self.w["referee"]])[who]
        if self.c.eth_balance(account.address):
            self.c.withdraw_eth(account)

    @rule(seconds=st.integers(1, 700))
    def wait(self, seconds: int) -> None:
        self.chain.increase_time(seconds)
        self.chain.mine(1)

    def teardown(self) -> None:
        closed = self.c.coordinator.get_events("JobCompleted") + self.c.coordinator.get_events("JobExpired")
        _CLOSED.append(len(closed))

    @invariant()
    def conservation(self) -> None:
        open_fees = open_eth = 0
        for rid in self.requests:
            info = self.c.get_request(rid)
            p = info.params
            per_interval_eth = (p.redundancy * info.delivery_gas + p.callback_gas_limit + 60_000) * p.max_gas_price
            for k in range(info.cancelled_from):
                job = self.c.job(rid, k)
                if job.status in (JobStatus.OPEN, JobStatus.CHALLENGEABLE):
                    open_fees += p.fee * p.redundancy
                    open_eth += per_interval_eth - job.eth_spent
        assert self.coin.call("balanceOf", self.c.address) == open_fees
        assert self._coin_total() == self.total_coin
        credited = sum(self.c.eth_balance(a) for a in self.accounts)
        assert self.chain.get_balance(self.c.address) == credited + open_eth
        bonds = sum(self.c.node_bond(n.address)[0] for n in self.w["nodes"])
        assert self.token.call("balanceOf", self.c.address) == bonds


# derandomized: the suite runs the same examples every time (the check below needs them to reach completions,
# and a random draw of 8 short runs sometimes did not); `make fuzz` explores with fresh randomness
CoordinatorConservation.TestCase.settings = settings(
    max_examples=8, stateful_step_count=30, deadline=None, derandomize=True, database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)


def test_coordinator_conservation(public_model: Any) -> None:
    CoordinatorConservation.model = public_model
    CoordinatorConservation.TestCase("runTest").runTest()
    assert sum(_CLOSED) > 0  # the examples did reach completions and expiries, not only refusals
