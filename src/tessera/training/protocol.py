"""TrainingMarket and TrainingDisputes from Python: post, claim, commit, audit, attest, challenge, settle, and
both sides of the dispute game (docs/training.md, "the dispute game").

`Challenger` plays from the honest trace of the challenged step; `Defender` answers from whatever trace the
solver stands behind. `play_dispute` runs the game to its end between the two and reports the rounds and the
referee's gas; a party told to stay silent lets its move time out instead.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

from eth_utils import keccak

from ..chain.base import Receipt
from ..chain.contract import Signer
from ..errors import TrainingError
from ..protocol.deploy import Deployment
from .commit import PositionTree, TensorCommitment, as_matrix
from .solution import Commitment
from .task import Dataset, DatasetCommitment
from .trace import StepTrace, referee_inputs
from .trainer import TrainConfig

STATES = ("none", "open", "claimed", "committed", "settled", "slashed", "cancelled")
STAGES = ("none", "await-trace", "await-select", "await-open", "await-side", "await-children", "await-pick",
          "await-leaf", "await-referee", "done")
SOLVER_STAGES = {"await-trace", "await-open", "await-children", "await-leaf"}
ZERO32 = b"\0" * 32


def task_params(config: TrainConfig, dataset: DatasetCommitment) -> tuple[Any, ...]:
    """The contract's TrainParams for a task."""
    return (list(config.layers), config.batch_size, config.steps, config.seed, config.lr, config.momentum,
            dataset.root)


@dataclass(frozen=True)
class TaskView:
    id: int
    submitter: str
    state: str
    audit_level: int
    attesters: int
    disputed: bool
    forced_caught: bool
    fee: int
    steps: int
    solver: str
    root: bytes
    weights_hash: bytes
    forced_seed: bytes
    audit_seed: bytes
    deadline: int

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "state": self.state, "submitter": self.submitter, "fee": str(self.fee),
                "audit_level": self.audit_level, "steps": self.steps,
                "solver": None if int(self.solver, 16) == 0 else self.solver,
                "root": None if self.root == ZERO32 else "0x" + self.root.hex(),
                "weights_hash": None if self.weights_hash == ZERO32 else "0x" + self.weights_hash.hex(),
                "audit_drawn": self.audit_seed != ZERO32, "attesters": self.attesters, "disputed": self.disputed,
                "forced_caught": self.forced_caught, "deadline": self.deadline}

    def text(self, fee_text: str, when: str) -> str:
        lines = [f"training task {self.id}: {self.state}, fee {fee_text}, {self.steps} steps, "
                 f"audit level {self.audit_level}"]
        if int(self.solver, 16):
            lines.append(f"  solver {self.solver}")
        if self.state == "claimed":
            lines.append(f"  must commit by {when}")
        if self.root != ZERO32:
            lines.append(f"  committed root 0x{self.root.hex()}, weights 0x{self.weights_hash.hex()}")
            lines.append(f"  audit {'drawn' if self.audit_seed != ZERO32 else 'not drawn yet'}, "
                         f"{self.attesters} attester(s)" + (", a dispute is open" if self.disputed else "")
                         + (", a forced error was caught" if self.forced_caught else ""))
        if self.state == "committed":
            lines.append(f"  challenge window ends {when}")
        return "\n".join(lines)


class TrainingMarketClient:
    def __init__(self, deployment: Deployment) -> None:
        self.d = deployment
        self.market = deployment.training
        self.disputes = deployment.training_disputes
        self.chain = deployment.training.chain

    # -- tasks
    def post(self, submitter: Signer, params: tuple[Any, ...], spec_hash: bytes, fee: int, train_time: int,
             audit_level: int) -> int:
        self.d.stablecoin.transact(submitter, "approve", self.market.address, fee)
        r = self.market.transact(submitter, "post", params, spec_hash, fee, train_time, audit_level)
        return int(self.market.events(r, "Posted")[0].args["id"])

    def claim(self, solver: Signer, task_id: int, secret: bytes) -> Receipt:
        bond = int(self.market.call("solverBond"))
        self.d.token.transact(solver, "approve", self.market.address, bond)
        return self.market.transact(solver, "claim", task_id, keccak(secret))

    def forced_seed(self, task_id: int) -> tuple[bytes, bool]:
        seed, expired = self.market.call("forcedSeedOf", task_id)
        return (b"\0" * 31 + b"\1", True) if expired else (bytes(seed), False)

    def commit(self, solver: Signer, task_id: int, commitment: Commitment) -> Receipt:
        return self.market.transact(solver, "commit", task_id, commitment.root, commitment.final_digests,
                                    commitment.final_proof)

    def draw_audit(self, caller: Signer, task_id: int) -> bytes:
        self.market.transact(caller, "drawAudit", task_id)
        return self.task(task_id).audit_seed

    def audit_steps(self, task_id: int) -> list[int]:
        level = self.task(task_id).audit_level
        return [int(self.market.call("auditStep", task_id, i)) for i in range(level)]

    def stake(self, verifier: Signer, amount: int) -> None:
        self.d.token.transact(verifier, "approve", self.market.address, amount)
        self.market.transact(verifier, "stake", amount)

    def attest(self, verifier: Signer, task_id: int) -> Receipt:
        return self.market.transact(verifier, "attest", task_id)

    def challenge(self, verifier: Signer, task_id: int, step: int) -> int:
        """Commit, wait a block, open: returns the dispute id."""
        salt = os.urandom(32)
        h = keccak(_word_address(verifier.address) + _word(task_id) + _word(step) + salt)
        self.market.transact(verifier, "commitChallenge", task_id, h)
        self.chain.mine(1)
        r = self.market.transact(verifier, "openChallenge", task_id, step, salt)
        return int(self.disputes.events(r, "Opened")[0].args["disputeId"])

    def reveal_forced(self, solver: Signer, task_id: int, secret: bytes) -> Receipt:
        return self.market.transact(solver, "revealForced", task_id, secret)

    def settle(self, solver: Signer, task_id: int, secret: bytes) -> Receipt:
        return self.market.transact(solver, "settle", task_id, secret)

    def withdraw(self, who: Signer) -> Receipt:
        return self.market.transact(who, "withdraw")

    def task(self, task_id: int) -> TaskView:
        t = self.market.call("getTask", task_id)
        (submitter, state, level, attesters, disputed, caught, fee, _ph, _dr, steps, _nl, _tt, solver, _cb,
         deadline, _bond, _cmb, _aa, _sh, root, wh, fseed, aseed, _revealed) = t
        return TaskView(task_id, str(submitter), STATES[int(state)], int(level), int(attesters), bool(disputed),
                        bool(caught), int(fee), int(steps), str(solver), bytes(root), bytes(wh), bytes(fseed),
                        bytes(aseed), int(deadline))

    def stage(self, dispute_id: int) -> str:
        return STAGES[int(self.disputes.call("getDispute", dispute_id)[5])]


def _word(n: int) -> bytes:
    return n.to_bytes(32, "big")


def _word_address(a: str) -> bytes:
    return bytes.fromhex(a[2:]).rjust(32, b"\0")


class Defender:
    """The solver's answers, from the trace it stands behind and the tree of its committed leaves."""

    def __init__(self, trace: StepTrace, leaves: PositionTree) -> None:
        self.trace, self.leaves = trace, leaves
        self.tensor: TensorCommitment | None = None
        self.by_columns = False

    def reveal_trace(self) -> tuple[Any, ...]:
        step = self.trace.step
        prev = self.leaves.proof(step - 1) if step > 0 else []
        return self.trace.digests, prev, self.leaves.proof(step)

    def open_tensor(self, k: int) -> tuple[Any, ...]:
        self.tensor = self.trace.commitments[k]
        if self.tensor is None:
            raise TrainingError(f"tensor {k} is the empty slot of the trace")
        return self.trace.digests, self.tensor.row_tree.root, self.tensor.col_root

    def children(self, level: int, index: int) -> tuple[bytes, bytes]:
        assert self.tensor is not None
        return self.tensor.tree(self.by_columns).children(level, index)

    def leaf(self, k: int, index: int) -> list[int]:
        t = self.trace.tensors[k]
        assert t is not None
        m = as_matrix(t)
        return [int(v) for v in (m[:, index] if self.by_columns else m[index])]


class Challenger:
    """The honest verifier's moves, from its own trace of the challenged step."""

    def __init__(self, honest: StepTrace, layers: int, config: TrainConfig, data: Dataset,
                 dataset: DatasetCommitment) -> None:
        self.honest, self.layers, self.config, self.data, self.dataset = honest, layers, config, data, dataset

    def select(self, solver_digests: list[bytes]) -> int:
        """The first operator output whose digest differs (the empty slot and, after step 0, the state skipped)."""
        start = 0 if self.honest.step == 0 else 4 * self.layers
        for k in range(start, len(solver_digests)):
            if self.honest.commitments[k] is not None and solver_digests[k] != self.honest.digests[k]:
                return k
        raise TrainingError(f"the solver's trace of step {self.honest.step} matches the honest one: no dispute")

    def side(self, k: int, row_root: bytes) -> bool:
        """Bisect the columns when the row root agrees (then the column root is the one that differs)."""
        c = self.honest.commitments[k]
        assert c is not None
        return row_root == c.row_tree.root

    def pick(self, k: int, by_columns: bool, level: int, index: int, left: bytes) -> bool:
        c = self.honest.commitments[k]
        assert c is not None
        return c.tree(by_columns).children(level, index)[0] == left  # the left child agrees: the right one differs

    def element(self, k: int, by_columns: bool, index: int, values: list[int]) -> int:
        t = self.honest.tensors[k]
        assert t is not None
        m = as_matrix(t)
        mine = m[:, index] if by_columns else m[index]
        for e, (a, b) in enumerate(zip(values, mine)):
            if a != int(b):
                return e
        return 0  # nothing differs here: the game is lost whichever element is named

    def referee_args(self, k: int, by_columns: bool, index: int, e: int) -> tuple[Any, ...]:
        i, j = (e, index) if by_columns else (index, e)
        return referee_inputs(self.honest, self.layers, k, i, j, self.config, self.data, self.dataset)


@dataclass(frozen=True)
class DisputeOutcome:
    dispute_id: int
    solver_lost: bool
    timed_out: bool
    rounds: int
    tensor: int
    referee_gas: int
    total_gas: int


def play_dispute(client: TrainingMarketClient, dispute_id: int, params: tuple[Any, ...], solver: Signer,
                 defender: Defender, verifier: Signer, challenger: Challenger, *,
                 solver_silent_at: str | None = None, challenger_silent_at: str | None = None) -> DisputeOutcome:
    """Play the dispute to its end. A party silent at a stage lets its deadline pass, then anyone times it out."""
    g = client.disputes
    gas = referee_gas = 0
    k = -1
    leaf_values: list[int] = []
    digests: list[bytes] = []

    def send(signer: Signer, fn: str, *args: Any) -> Receipt:
        nonlocal gas
        r = g.transact(signer, fn, *args)
        gas += r.gas_used
        return r

    while True:
        d = g.call("getDispute", dispute_id)
        stage = STAGES[int(d[5])]
        if stage == "done":
            break
        silent = solver_silent_at if stage in SOLVER_STAGES else challenger_silent_at
        if silent == stage:
            client.chain.increase_time(int(g.call("moveTimeout")) + 1)
            client.chain.mine(1)
            send(verifier if stage in SOLVER_STAGES else solver, "timeout", dispute_id)
            continue
        by_columns, level, index = bool(d[8]), int(d[11]), int(d[13])
        if stage == "await-trace":
            digests, prev, cur = defender.reveal_trace()
            send(solver, "revealTrace", dispute_id, digests, prev, cur)
        elif stage == "await-select":
            k = challenger.select(digests)
            send(verifier, "selectTensor", dispute_id, params, k)
        elif stage == "await-open":
            send(solver, "openTensor", dispute_id, *defender.open_tensor(int(d[12])))
        elif stage == "await-side":
            side = challenger.side(k, bytes(d[19]))
            defender.by_columns = side
            send(verifier, "chooseSide", dispute_id, side)
        elif stage == "await-children":
            left, right = defender.children(level, index)
            send(solver, "revealChildren", dispute_id, left, right)
        elif stage == "await-pick":
            send(verifier, "pick", dispute_id, challenger.pick(k, by_columns, level, index, bytes(d[22])))
        elif stage == "await-leaf":
            leaf_values = defender.leaf(int(d[12]), index)
            send(solver, "revealLeaf", dispute_id, leaf_values)
        elif stage == "await-referee":
            e = challenger.element(k, by_columns, index, leaf_values)
            openings, sample = challenger.referee_args(k, by_columns, index, e)
            r = send(verifier, "refereeElement", dispute_id, params, digests, leaf_values, e, openings, sample)
            referee_gas = r.gas_used
    d = g.call("getDispute", dispute_id)
    ended = g.get_events("Ended")
    timed_out = any(int(ev.args["disputeId"]) == dispute_id and ev.args["timedOut"] for ev in ended)
    return DisputeOutcome(dispute_id, bool(d[9]), timed_out, int(d[7]), int(d[12]), referee_gas, gas)


__all__ = ["Challenger", "Defender", "DisputeOutcome", "TaskView", "TrainingMarketClient",
           "play_dispute", "task_params"]
