"""TrainingMarket from Python: post, claim, commit, audit, attest, challenge, settle (docs/training.md). The
dispute game's moves are in `tessera.training.dispute`."""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

from eth_abi import encode as abi_encode
from eth_utils import keccak

from ..chain.base import Receipt
from ..chain.contract import Signer
from ..protocol.deploy import Deployment
from .solution import Commitment
from .task import DatasetCommitment
from .trainer import TrainConfig

STATES = ("none", "open", "claimed", "committed", "settled", "slashed", "cancelled")
ZERO32 = b"\0" * 32


TRAIN_PARAMS = "(uint32[],uint32,uint32,uint256,int256,int256,bytes32)"


def params_hash(params: tuple[Any, ...]) -> bytes:
    """TrainingMarket's paramsHash: keccak256(abi.encode(TrainParams))."""
    return keccak(abi_encode([TRAIN_PARAMS], [params]))


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
    params_hash: bytes = ZERO32
    claim_block: int = 0

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
        (submitter, state, level, attesters, disputed, caught, fee, ph, _dr, steps, _nl, _tt, solver, cb,
         deadline, _bond, _cmb, _aa, _sh, root, wh, fseed, aseed, _revealed) = t
        return TaskView(task_id, str(submitter), STATES[int(state)], int(level), int(attesters), bool(disputed),
                        bool(caught), int(fee), int(steps), str(solver), bytes(root), bytes(wh), bytes(fseed),
                        bytes(aseed), int(deadline), bytes(ph), int(cb))



def _word(n: int) -> bytes:
    return n.to_bytes(32, "big")


def _word_address(a: str) -> bytes:
    return bytes.fromhex(a[2:]).rjust(32, b"\0")


__all__ = ["TaskView", "TrainingMarketClient", "params_hash", "task_params"]
