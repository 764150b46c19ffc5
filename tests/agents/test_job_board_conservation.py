"""Hypothesis stateful test of the JobBoard: whatever posters, agents, the referee and an attacker do, the board
holds exactly the escrow of its unsettled jobs, and every posted token leaves once: to the delivering agent's
payout, or back to the poster."""

from __future__ import annotations

import os
from typing import Any

import pytest
from eth_utils import keccak
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from tessera.accounts.dev import dev_account
from tessera.chain import EmbeddedChain
from tessera.errors import ContractRevert
from tessera.protocol.deploy import Deployment, deploy_protocol

ADMIN, POSTER, ATTACKER = dev_account(0), dev_account(3), dev_account(7)
OWNERS = [dev_account(1), dev_account(2)]
_WORLD: dict[str, Any] = {}
UNSETTLED = {1, 2, 3}  # Open, Delivered, Disputed


def world() -> dict[str, Any]:
    if not _WORLD:
        chain = EmbeddedChain()
        manifest, _ = deploy_protocol(chain, ADMIN, path=None)
        d = Deployment.from_manifest(chain, manifest)
        agents = []
        for owner in OWNERS:
            r = d.agents.transact(owner, "register", "https://a", keccak(owner.address.encode()))
            agents.append(int(d.agents.events(r, "Registered")[0].args["id"]))
        d.stablecoin.transact(ADMIN, "mint", POSTER.address, 10**12)
        d.stablecoin.transact(POSTER, "approve", d.jobs.address, 2**255)
        _WORLD.update(chain=chain, d=d, agents=agents, snap=chain.snapshot())
    return _WORLD


class JobMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        w = world()
        w["chain"].revert(w["snap"])
        w["snap"] = w["chain"].snapshot()
        self.chain, self.d, self.agents = w["chain"], w["d"], w["agents"]
        self.coin, self.jobs = self.d.stablecoin, self.d.jobs
        self.posted = 0
        self.start = {a: int(self.coin.call("balanceOf", a)) for a in (POSTER.address, *(o.address for o in OWNERS))}

    def count(self) -> int:
        return int(self.jobs.call("jobCount"))

    def now(self) -> int:
        return int(self.chain.get_block("latest").timestamp)

    @rule(price=st.integers(1, 10**7), priority=st.integers(0, 2))
    def post(self, price: int, priority: int) -> None:
        agent = 0 if priority == 0 else self.agents[priority - 1]
        self.jobs.transact(POSTER, "post", (keccak(b"t"), price, self.now() + 3600, agent, 300, 600, b"\0" * 32,
                                            b"\0" * 32, 0))
        self.posted += price

    @rule(job=st.integers(0, 7), who=st.integers(0, 1), fraction=st.integers(0, 100))
    def deliver(self, job: int, who: int, fraction: int) -> None:
        if job >= self.count():
            return
        max_price = int(self.jobs.call("job", job)[1])
        price = max_price * fraction // 100
        owner, agent, salt = OWNERS[who], self.agents[who], os.urandom(32)
        h = self.jobs.call("deliveryHash", job, agent, owner.address, keccak(b"r"), price, [], salt)
        try:
            self.jobs.transact(owner, "commit", job, agent, h)
            self.jobs.transact(owner, "deliver", job, agent, keccak(b"r"), price, [], salt)
        except ContractRevert as e:
            assert e.error_name in {"WrongState", "PriorityWindow", "PastDeadline", "HeldByAnother", "AlreadyCommitted"}

    @rule(job=st.integers(0, 7), action=st.sampled_from(["accept", "dispute", "release", "refund", "pay", "deny"]))
    def settle(self, job: int, action: str) -> None:
        if job >= self.count():
            return
        try:
            if action in ("pay", "deny"):
                self.jobs.transact(ADMIN, "resolve", job, action == "pay")
            else:
                self.jobs.transact(POSTER if action in ("accept", "dispute") else ATTACKER, action, job)
        except ContractRevert as e:
            assert e.error_name in {"WrongState", "NotYet", "ReviewOver"}

    @rule(seconds=st.sampled_from([120, 400, 700, 4000]))
    def time_passes(self, seconds: int) -> None:
        self.chain.increase_time(seconds)
        self.chain.mine(1)

    @rule(job=st.integers(0, 7))
    def attacker_moves(self, job: int) -> None:
        if job >= self.count():
            return
        h = b"\x01" * 32
        for fn, args in (("commit", (job, self.agents[0], h)), ("accept", (job,)), ("dispute", (job,)),
                         ("resolve", (job, True)),
                         ("deliver", (job, self.agents[1], keccak(b"r"), 1, [], b"\0" * 32))):
            with pytest.raises(ContractRevert):
                self.jobs.transact(ATTACKER, fn, *args)

    @invariant()
    def conserved(self) -> None:
        held = int(self.coin.call("balanceOf", self.jobs.address))
        unsettled = sum(int(j[1]) for j in (self.jobs.call("job", i) for i in range(self.count()))
                        if int(j[10]) in UNSETTLED)
        assert held == unsettled
        moved = sum(int(self.coin.call("balanceOf", a)) - b for a, b in self.start.items())
        assert moved + held == 0  # every token is with the poster, an agent, or still in escrow
        assert int(self.coin.call("balanceOf", ATTACKER.address)) == 0


TestJobBoardConservation = JobMachine.TestCase
TestJobBoardConservation.settings = settings(max_examples=8, stateful_step_count=15, deadline=None, derandomize=True,
                                             suppress_health_check=list(HealthCheck))
