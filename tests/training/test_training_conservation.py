"""Hypothesis stateful test of TrainingMarket and its dispute game: whatever submitters, honest and cheating
solvers, honest and lying verifiers and an attacker do (forced errors included: one task in two is forced), the
contract holds exactly the fees of its open tasks, the jackpot and what it owes, in the stablecoin; and the
bonds of its open tasks, the verifiers' stakes, the TSR jackpot and what it owes, in TSR. The attacker never
ends up with anything."""

from __future__ import annotations

from typing import Any

import pytest
from eth_utils import keccak
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

from tessera.accounts.dev import dev_account
from tessera.chain import EmbeddedChain
from tessera.errors import ContractRevert
from tessera.protocol.deploy import Deployment, deploy_protocol
from tessera.protocol.faucet import fund_tsr
from tessera.training.dispute import Challenger, Defender, play_dispute
from tessera.training.protocol import TrainingMarketClient
from tessera.training.solution import Commitment, Solution, is_forced, is_forced_step
from tessera.training.trace import StepTrace

from training_harness import CHALLENGE_BOND, MIN_STAKE, SETTLE_TIMEOUT, SOLVER_BOND, WINDOW, small_task

ADMIN, SUBMITTER, SOLVER, ATTACKER = dev_account(0), dev_account(1), dev_account(2), dev_account(7)
VERIFIERS = [dev_account(3), dev_account(4), dev_account(5)]
PEOPLE = [ADMIN, SUBMITTER, SOLVER, ATTACKER, *VERIFIERS]
OPEN_FEES = {1, 2, 3}  # Open, Claimed, Committed hold the fee
OPEN_BONDS = {2, 3}  # Claimed, Committed hold the solver bond
CHEAT_STEP = 5
_WORLD: dict[str, Any] = {}


def world() -> dict[str, Any]:
    if not _WORLD:
        chain = EmbeddedChain()
        manifest, _ = deploy_protocol(chain, ADMIN, path=None)
        d = Deployment.from_manifest(chain, manifest)
        d.training.transact(ADMIN, "setParams", SOLVER_BOND, MIN_STAKE, CHALLENGE_BOND, WINDOW, SETTLE_TIMEOUT, 2,
                            500, 500, 5000, 5000)
        for who in (SUBMITTER, ADMIN):
            d.stablecoin.transact(ADMIN, "mint", who.address, 10**12)
            d.stablecoin.transact(who, "approve", d.training.address, 2**255)
        fund_tsr(chain, d, ADMIN, SOLVER.address, 40 * SOLVER_BOND)
        d.token.transact(SOLVER, "approve", d.training.address, 2**255)
        for v in VERIFIERS:
            fund_tsr(chain, d, ADMIN, v.address, 4 * MIN_STAKE)
            d.token.transact(v, "approve", d.training.address, 2**255)
            d.training.transact(v, "stake", MIN_STAKE)
        task = small_task()
        x, y = task.data.x_train, task.data.y[task.data.train]
        solutions = {False: Solution.train(task.config, x, y, every=4),
                     True: Solution.train(task.config, x, y, skip=(CHEAT_STEP,), every=4)}
        _WORLD.update(chain=chain, d=d, task=task, solutions=solutions, snap=chain.snapshot())
    return _WORLD


class TrainingConservation(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        w = world()
        w["chain"].revert(w["snap"])
        w["snap"] = w["chain"].snapshot()
        self.chain, self.d, self.task, self.solutions = w["chain"], w["d"], w["task"], w["solutions"]
        self.client = TrainingMarketClient(self.d)
        self.m = self.d.training
        self.runs: dict[int, dict[str, Any]] = {}  # task id -> secret, cheat, tree, forced steps
        self.start = {name: {p.address: self._balance(name, p.address) for p in PEOPLE} for name in ("s", "t")}
        self.start["s"][self.m.address] = self._balance("s", self.m.address)
        self.start["t"][self.m.address] = self._balance("t", self.m.address)

    def _balance(self, token: str, who: str) -> int:
        return int((self.d.stablecoin if token == "s" else self.d.token).call("balanceOf", who))

    def count(self) -> int:
        return int(self.m.call("taskCount"))

    def pick(self, i: int) -> int | None:
        """A posted task (Hypothesis draws small integers; any of them names one)."""
        n = self.count()
        return None if n == 0 else i % n

    def pick_run(self, i: int) -> int | None:
        """A task this machine's solver committed to."""
        return None if not self.runs else sorted(self.runs)[i % len(self.runs)]

    @rule(fee=st.integers(1, 10**9), level=st.integers(1, 40))
    def post(self, fee: int, level: int) -> None:
        self.m.transact(SUBMITTER, "post", self.task.params(), b"\x01" * 32, fee, 3600, level)

    @initialize(honest_fee=st.integers(1, 10**9), cheat_fee=st.integers(1, 10**9))
    def two_committed_tasks(self, honest_fee: int, cheat_fee: int) -> None:
        """Every example starts with an honest and a cheating solver's commitments to challenge."""
        for fee, cheat in ((honest_fee, False), (cheat_fee, True)):
            self.post(fee, 8)
            self.claim_and_commit(self.count() - 1, cheat)

    @rule(task=st.integers(0, 5), cheat=st.booleans())
    def claim_and_commit(self, task: int, cheat: bool) -> None:
        task = self.pick(task)  # type: ignore[assignment]
        if task is None or self.client.task(task).state != "open":
            return
        secret = keccak(bytes([task, cheat]))
        self.client.claim(SOLVER, task, secret)
        self.chain.mine(5)
        seed, _ = self.client.forced_seed(task)
        steps = self.task.config.steps
        odds = int(self.m.call("forcedOdds"))
        forced = [s for s in range(steps + 1) if is_forced(secret, seed, steps, odds)
                  and is_forced_step(secret, seed, steps, s)]
        sol = self.solutions[cheat]
        commitment = Commitment.of(sol, sol.leaves(forced))
        self.client.commit(SOLVER, task, commitment)
        self.runs[task] = {"secret": secret, "cheat": cheat, "tree": commitment.tree, "forced": forced}

    @rule(task=st.integers(0, 5))
    def cancel(self, task: int) -> None:
        task = self.pick(task)  # type: ignore[assignment]
        if task is None:
            return
        try:
            self.m.transact(SUBMITTER, "cancel", task)
        except ContractRevert as e:
            assert e.error_name == "WrongState"

    @rule(task=st.integers(0, 5), who=st.integers(0, 2))
    def draw_and_attest(self, task: int, who: int) -> None:
        task = self.pick_run(task)  # type: ignore[assignment]
        if task is None:
            return
        try:
            self.chain.mine(5)
            self.m.transact(VERIFIERS[who], "drawAudit", task)
            self.m.transact(VERIFIERS[who], "attest", task)
        except ContractRevert as e:
            assert e.error_name in {"WrongState", "AlreadyAttested", "NotEligible", "TooLate", "SeedNotDrawn"}

    @rule(task=st.integers(0, 5), who=st.integers(0, 2), step=st.sampled_from([CHEAT_STEP, 3, "forced"]),
          silent=st.sampled_from([None, "await-trace", "await-pick", "await-leaf"]))
    def challenge(self, task: int, who: int, step: Any, silent: str | None) -> None:
        task = self.pick_run(task)  # type: ignore[assignment]
        if task is None:
            return
        run = self.runs[task]
        if step == "forced":
            if not run["forced"]:
                return
            step = run["forced"][0]
        v = VERIFIERS[who]
        try:
            dispute = self.client.challenge(v, task, step)
        except ContractRevert as e:
            assert e.error_name in {"WrongState", "DisputeOpen", "TooLate", "NotEligible", "BadParams"}
            return
        if step in run["forced"]:
            self.client.reveal_forced(SOLVER, task, run["secret"])
            return
        sol = self.solutions[run["cheat"]]
        honest = self.task.trace(step)
        if run["cheat"] and step == CHEAT_STEP:
            side = Challenger(honest, self.task.layers, self.task.config, self.task.data, self.task.commitment)
        else:  # a lying verifier: it disputes one correct weight-gradient element
            lying = [None if t is None else t.copy() for t in honest.tensors]
            lying[5 * self.task.layers + 2][0, 0] += 1  # type: ignore[index]
            side = Challenger(StepTrace.of(step, lying), self.task.layers, self.task.config, self.task.data,
                              self.task.commitment)
        solver_silent = silent if silent in ("await-trace", "await-leaf") else None
        challenger_silent = silent if silent == "await-pick" else None
        out = play_dispute(self.client, dispute, self.task.params(), SOLVER,
                           Defender(sol.claimed_trace(step), run["tree"]), v, side,
                           solver_silent_at=solver_silent, challenger_silent_at=challenger_silent)
        lying_won = out.solver_lost and not (run["cheat"] and step == CHEAT_STEP) and not solver_silent
        assert not lying_won, "a lying verifier beat an honest solver"

    @rule(task=st.integers(0, 5), action=st.sampled_from(["settle", "forfeit", "expire"]))
    def finish(self, task: int, action: str) -> None:
        task = self.pick(task)  # type: ignore[assignment]
        if task is None:
            return
        try:
            if action == "settle":
                secret = self.runs[task]["secret"] if task in self.runs else b"\0" * 32
                self.m.transact(SOLVER, "settle", task, secret)
            else:
                self.m.transact(ATTACKER, action, task)
        except ContractRevert as e:
            assert e.error_name in {"WrongState", "TooEarly", "DisputeOpen", "SeedNotDrawn", "BadCommitment", "NotVerified"}

    @rule(who=st.sampled_from(PEOPLE))
    def withdraw(self, who: Any) -> None:
        self.m.transact(who, "withdraw")

    @rule(who=st.integers(0, 2), amount=st.sampled_from([MIN_STAKE, MIN_STAKE // 2]), unstake=st.booleans())
    def stake(self, who: int, amount: int, unstake: bool) -> None:
        try:
            self.m.transact(VERIFIERS[who], "unstake" if unstake else "stake", amount)
        except ContractRevert as e:
            assert e.error_name in {"Obligations", "Panic", "TokenTransferFailed"}

    @rule(amount=st.integers(1, 10**8))
    def fund_jackpot(self, amount: int) -> None:
        self.m.transact(ADMIN, "fundJackpot", amount)

    @rule(seconds=st.sampled_from([600, 3700, 90_000]))
    def time_passes(self, seconds: int) -> None:
        self.chain.increase_time(seconds)
        self.chain.mine(1)

    @rule(task=st.integers(0, 5))
    def attacker_moves(self, task: int) -> None:
        task = self.pick(task)  # type: ignore[assignment]
        if task is None:
            return
        for fn, args in (("commit", (task, b"\1" * 32, [b"\0" * 32] * 12, [])), ("settle", (task, b"\0" * 32)),
                         ("revealForced", (task, b"\0" * 32)), ("resolve", (task, ATTACKER.address, 1, False)),
                         ("openChallenge", (task, 1, b"\0" * 32)), ("cancel", (task,))):
            with pytest.raises(ContractRevert):
                self.m.transact(ATTACKER, fn, *args)
        with pytest.raises(ContractRevert):
            self.d.training_disputes.transact(ATTACKER, "open", task, ATTACKER.address, SOLVER.address, 1,
                                              b"\0" * 32, 3, b"\0" * 32)

    @invariant()
    def conserved(self) -> None:
        tasks = [self.m.call("getTask", i) for i in range(self.count())]
        people = [p.address for p in PEOPLE]
        fees = sum(int(t[6]) for t in tasks if int(t[1]) in OPEN_FEES)
        bonds = sum(int(t[15]) for t in tasks if int(t[1]) in OPEN_BONDS)
        owed_s = sum(int(self.m.call("owedStable", a)) for a in people)
        owed_t = sum(int(self.m.call("owedTsr", a)) for a in people)
        stakes = sum(int(self.m.call("verifiers", v.address)[0]) for v in VERIFIERS)
        assert self._balance("s", self.m.address) == fees + int(self.m.call("jackpot")) + owed_s
        assert self._balance("t", self.m.address) == bonds + stakes + int(self.m.call("tsrJackpot")) + owed_t
        for token in ("s", "t"):  # tokens only move between these accounts and the contract
            assert sum(self._balance(token, a) - b for a, b in self.start[token].items()) == 0
        assert self._balance("s", ATTACKER.address) == self.start["s"][ATTACKER.address]
        assert self._balance("t", ATTACKER.address) == self.start["t"][ATTACKER.address]
        assert int(self.m.call("owedStable", ATTACKER.address)) == int(self.m.call("owedTsr", ATTACKER.address)) == 0


TestTrainingConservation = TrainingConservation.TestCase
TestTrainingConservation.settings = settings(max_examples=6, stateful_step_count=14, deadline=None,
                                             derandomize=True, suppress_health_check=list(HealthCheck))
