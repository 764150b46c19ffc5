"""Both sides of the TrainingDisputes game, one move at a time (docs/training.md, "the dispute game").

A move is decided from the chain alone: the dispute's stage, tensor, side, level and index from `getDispute`,
the solver's revealed digests and leaf from its `TraceRevealed` and `LeafRevealed` events, and the party's own
data (the trace the solver stands behind, or the challenger's honest trace). So a node that restarts, or
follows the game from another process, makes the same next move; nothing is kept between moves.

`next_move` returns the call a party should send now (or None when it is the other party's turn), including a
`timeout` once the other party let its deadline pass. `play_dispute` runs both parties to the end in one
process (tests, the demo and the benchmark).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..chain.base import Receipt
from ..chain.contract import Signer
from ..errors import TrainingError
from .commit import PositionTree, as_matrix
from .protocol import TrainingMarketClient
from .task import Dataset, DatasetCommitment
from .trace import StepTrace, referee_inputs
from .trainer import TrainConfig

STAGES = ("none", "await-trace", "await-select", "await-open", "await-side", "await-children", "await-pick",
          "await-leaf", "await-referee", "done")
SOLVER_STAGES = frozenset({"await-trace", "await-open", "await-children", "await-leaf"})


@dataclass(frozen=True)
class DisputeView:
    """The fields of `getDispute` a move depends on."""

    id: int
    task_id: int
    challenger: str
    solver: str
    step: int
    stage: str
    deadline: int
    rounds: int
    by_columns: bool
    solver_lost: bool
    level: int
    tensor: int
    index: int
    row_root: bytes
    left: bytes

    @classmethod
    def read(cls, client: TrainingMarketClient, dispute_id: int) -> DisputeView:
        d = client.disputes.call("getDispute", dispute_id)
        return cls(dispute_id, int(d[0]), str(d[1]), str(d[2]), int(d[3]), STAGES[int(d[5])], int(d[6]), int(d[7]),
                   bool(d[8]), bool(d[9]), int(d[11]), int(d[12]), int(d[13]), bytes(d[19]), bytes(d[22]))

    @property
    def solver_to_move(self) -> bool:
        return self.stage in SOLVER_STAGES

    def to_json(self) -> dict[str, Any]:
        return {"dispute_id": self.id, "task_id": self.task_id, "step": self.step, "stage": self.stage,
                "rounds": self.rounds, "deadline": self.deadline, "challenger": self.challenger,
                "solver": self.solver, "tensor": self.tensor if self.stage not in ("await-trace", "await-select")
                else None, "solver_lost": self.solver_lost if self.stage == "done" else None}


class Defender:
    """The solver's answers, from the trace it stands behind and the tree of its committed leaves."""

    def __init__(self, trace: StepTrace, leaves: PositionTree) -> None:
        self.trace, self.leaves = trace, leaves

    def reveal_trace(self) -> tuple[Any, ...]:
        step = self.trace.step
        prev = self.leaves.proof(step - 1) if step > 0 else []
        return self.trace.digests, prev, self.leaves.proof(step)

    def open_tensor(self, k: int) -> tuple[Any, ...]:
        tensor = self.trace.commitments[k]
        if tensor is None:
            raise TrainingError(f"tensor {k} is the empty slot of the trace")
        return self.trace.digests, tensor.row_tree.root, tensor.col_root

    def children(self, k: int, by_columns: bool, level: int, index: int) -> tuple[bytes, bytes]:
        tensor = self.trace.commitments[k]
        assert tensor is not None
        return tensor.tree(by_columns).children(level, index)

    def leaf(self, k: int, by_columns: bool, index: int) -> list[int]:
        t = self.trace.tensors[k]
        assert t is not None
        m = as_matrix(t)
        return [int(v) for v in (m[:, index] if by_columns else m[index])]


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


def revealed_digests(client: TrainingMarketClient, dispute_id: int) -> list[bytes]:
    events = client.disputes.get_events("TraceRevealed", topics=[dispute_id.to_bytes(32, "big")])
    if not events:
        raise TrainingError(f"dispute {dispute_id}: the solver has not revealed its trace")
    return [bytes(x) for x in events[-1].args["digests"]]


def revealed_leaf(client: TrainingMarketClient, dispute_id: int) -> list[int]:
    events = client.disputes.get_events("LeafRevealed", topics=[dispute_id.to_bytes(32, "big")])
    if not events:
        raise TrainingError(f"dispute {dispute_id}: the solver has not revealed a leaf")
    return [int(v) for v in events[-1].args["values"]]


def timed_out(client: TrainingMarketClient, d: DisputeView) -> bool:
    """The party to move let its deadline pass (the contract accepts `timeout` from the next block)."""
    return d.stage not in ("none", "done") and client.chain.get_block("latest").timestamp > d.deadline


def next_move(client: TrainingMarketClient, d: DisputeView, params: tuple[Any, ...], *,
              defender: Defender | None = None, challenger: Challenger | None = None) -> tuple[str, tuple[Any, ...]] | None:
    """The call the party holding `defender` (the solver) or `challenger` should send now, or None."""
    if d.stage in ("none", "done"):
        return None
    mine = defender is not None if d.solver_to_move else challenger is not None
    if not mine:
        return ("timeout", (d.id,)) if timed_out(client, d) else None
    if defender is not None and d.solver_to_move:
        if d.stage == "await-trace":
            return "revealTrace", (d.id, *defender.reveal_trace())
        if d.stage == "await-open":
            return "openTensor", (d.id, *defender.open_tensor(d.tensor))
        if d.stage == "await-children":
            return "revealChildren", (d.id, *defender.children(d.tensor, d.by_columns, d.level, d.index))
        return "revealLeaf", (d.id, defender.leaf(d.tensor, d.by_columns, d.index))
    assert challenger is not None
    if d.stage == "await-select":
        return "selectTensor", (d.id, params, challenger.select(revealed_digests(client, d.id)))
    if d.stage == "await-side":
        return "chooseSide", (d.id, challenger.side(d.tensor, d.row_root))
    if d.stage == "await-pick":
        return "pick", (d.id, challenger.pick(d.tensor, d.by_columns, d.level, d.index, d.left))
    values = revealed_leaf(client, d.id)
    e = challenger.element(d.tensor, d.by_columns, d.index, values)
    openings, sample = challenger.referee_args(d.tensor, d.by_columns, d.index, e)
    return "refereeElement", (d.id, params, revealed_digests(client, d.id), values, e, openings, sample)


@dataclass(frozen=True)
class DisputeOutcome:
    dispute_id: int
    solver_lost: bool
    timed_out: bool
    rounds: int
    tensor: int
    referee_gas: int
    total_gas: int


def outcome(client: TrainingMarketClient, dispute_id: int, total_gas: int = 0) -> DisputeOutcome:
    d = DisputeView.read(client, dispute_id)
    topic = [dispute_id.to_bytes(32, "big")]
    ended = client.disputes.get_events("Ended", topics=topic)
    refereed = client.disputes.get_events("Refereed", topics=topic)
    referee_gas = 0
    if refereed:
        referee_gas = client.chain.get_receipt(refereed[-1].transaction_hash).gas_used  # type: ignore[union-attr]
    return DisputeOutcome(dispute_id, d.solver_lost, bool(ended and ended[-1].args["timedOut"]), d.rounds,
                          d.tensor, referee_gas, total_gas)


def play_dispute(client: TrainingMarketClient, dispute_id: int, params: tuple[Any, ...], solver: Signer,
                 defender: Defender, verifier: Signer, challenger: Challenger, *,
                 solver_silent_at: str | None = None, challenger_silent_at: str | None = None) -> DisputeOutcome:
    """Play the dispute to its end. A party silent at a stage lets its deadline pass, then the other times it out."""
    gas = 0

    def send(signer: Signer, move: tuple[str, tuple[Any, ...]]) -> Receipt:
        nonlocal gas
        r = client.disputes.transact(signer, move[0], *move[1])
        gas += r.gas_used
        return r

    while True:
        d = DisputeView.read(client, dispute_id)
        if d.stage == "done":
            break
        silent = (solver_silent_at if d.solver_to_move else challenger_silent_at) == d.stage
        if silent:  # the other party times the silent one out once its deadline has passed
            client.chain.increase_time(int(client.disputes.call("moveTimeout")) + 1)
            client.chain.mine(1)
            d = DisputeView.read(client, dispute_id)
        solver_moves = d.solver_to_move != silent
        if solver_moves:
            move = next_move(client, d, params, defender=defender)
        else:
            move = next_move(client, d, params, challenger=challenger)
        assert move is not None and (move[0] == "timeout") == silent
        send(solver if solver_moves else verifier, move)
    return outcome(client, dispute_id, gas)


__all__ = ["Challenger", "Defender", "DisputeOutcome", "DisputeView", "STAGES", "next_move", "outcome",
           "play_dispute", "revealed_digests", "revealed_leaf"]
