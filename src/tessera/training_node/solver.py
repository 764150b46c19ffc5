"""The solver node: claims posted tasks whose spec it holds, trains them, commits the step leaves, serves any
step's state over HTTP, defends its steps in the dispute game, answers a challenged forced error with its
secret, settles after the window, and withdraws what it is owed.

    posted → claiming (secret journaled, then the claim) → claimed → trained (checkpoints and hashes on disk)
           → committing → committed → [defending a dispute] → settling → settled → done
    posted → skipped (fee too low, too many steps, parameters not the spec's) | gone (claimed by another)
    A task whose spec the node does not hold waits in `posted` until the spec arrives (PUT /specs).

A node killed while training trains again (the result is bit-identical); one killed after claiming finds its
secret in the journal; one killed after any transaction finds it by key and sends nothing twice.
"""

from __future__ import annotations

import json
import os
import sqlite3
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..chain.base import Chain, Log
from ..chain.contract import Signer
from ..errors import ContractRevert, TrainingError
from ..protocol.deploy import Deployment
from ..training.commit import PositionTree
from ..training.dispute import Defender, DisputeView, next_move
from ..training.job import TrainingJob, state_json
from ..training.mlp import Params
from ..training.solution import Commitment, Solution, forced_leaf, is_forced, is_forced_step
from .base import NodeReport, NodeSettings, TrainingNode, Work


@dataclass
class SolverSettings(NodeSettings):
    min_fee: int = 0  # stablecoin base units
    max_steps: int = 100_000
    checkpoint_every: int | None = None  # None: the spec's checkpoint_every


class SolverNode(TrainingNode):
    role = "solver"
    events = (("market", "Posted"), ("disputes", "Opened"))

    settings: SolverSettings

    def __init__(self, chain: Chain, deployment: Deployment, signer: Signer, data_dir: Path,
                 settings: SolverSettings | None = None, **kwargs: Any) -> None:
        super().__init__(chain, deployment, signer, data_dir, settings or SolverSettings(), **kwargs)
        self._solutions: dict[int, Solution] = {}

    def _bonds_approved(self, report: NodeReport) -> bool:
        """The market pulls a TSR bond at each claim: one approval, sent once, covers them all."""
        token, market = self.deployment.token, self.client.market.address
        if int(token.call("allowance", self.address, market)) >= int(self.client.market.call("solverBond")):
            return True
        self.send("approve-bonds", token, "approve", market, 2**256 - 1, report=report)
        return bool(self.mined_ok(self.tx.get("approve-bonds")))

    def on_event(self, name: str, args: dict[str, Any], log: Log, conn: sqlite3.Connection) -> None:
        if name == "Opened" and str(args["challenger"]).lower() != self.address.lower():
            conn.execute("UPDATE tasks SET dispute_id = ?, challenge_step = ? WHERE task_id = ? AND status IN "
                         "('committed', 'settling')", (int(args["disputeId"]), int(args["step"]),
                                                       int(args["taskId"])))

    # ---- served data (the API reads these; both are checked by whoever receives them)
    def task_dir(self, task_id: int) -> Path:
        return self.data_dir / "tasks" / str(task_id)

    def served_leaves(self, task_id: int) -> list[bytes] | None:
        row = self.journal.one("SELECT status, forced FROM tasks WHERE task_id = ?", task_id)
        path = self.task_dir(task_id) / "hashes.bin"
        if row is None or row["forced"] is None or not path.is_file():
            return None  # leaves are served once committed (before, they would tell when forced errors exist)
        raw = path.read_bytes()
        forced = set(json.loads(row["forced"]))
        return [forced_leaf(raw[i:i + 32]) if i // 32 in forced else raw[i:i + 32] for i in range(0, len(raw), 32)]

    def served_state(self, task_id: int, step: int) -> dict[str, Any] | None:
        sol = self._solution(task_id)
        if sol is None or not 0 <= step <= sol.config.steps:
            return None
        return state_json(step, sol.state(step))

    def _solution(self, task_id: int) -> Solution | None:
        if task_id in self._solutions:
            return self._solutions[task_id]
        row = self.journal.one("SELECT spec_hash FROM tasks WHERE task_id = ?", task_id)
        d = self.task_dir(task_id)
        if row is None or not (d / "checkpoints.npz").is_file():
            return None
        job = self.job(bytes(row["spec_hash"]))
        if not isinstance(job, TrainingJob):
            return None
        sol = _load(job, d)
        self._solutions[task_id] = sol
        return sol

    # ---- one pass: the base class calls `_<status>` for every open task
    def _posted(self, row: sqlite3.Row, report: NodeReport) -> None:
        tid = row["task_id"]
        view = self.client.task(tid)
        if view.state != "open":
            self.journal.set(tid, status="gone", detail=f"{view.state} before this node claimed it")
            return
        job = self.job(bytes(row["spec_hash"]))
        refusal = None
        if job is None:
            if row["detail"] is None:
                self.journal.set(tid, detail="waiting for its spec: PUT it to /specs or add it to the specs dir")
            return
        if isinstance(job, str):
            refusal = job
        elif row["fee"] < self.settings.min_fee:
            refusal = (f"fee {self.stable_text(row['fee'])} is below this node's minimum "
                       f"{self.stable_text(self.settings.min_fee)}")
        elif job.config.steps > self.settings.max_steps:
            refusal = f"{job.config.steps} steps is above this node's limit {self.settings.max_steps}"
        else:
            refusal = job.mismatch(bytes(row["params_hash"]))
        if refusal:
            self.journal.set(tid, status="skipped", detail=refusal)
            report.act("skipped", f"task {tid} skipped: {refusal}")
            return
        if not self._bonds_approved(report):
            return
        self.journal.set(tid, status="claiming", secret=os.urandom(32), detail=None)  # durable before the claim
        self._claiming(self._row(tid), report)

    def _claiming(self, row: sqlite3.Row, report: NodeReport) -> None:
        tid = row["task_id"]
        from eth_utils import keccak

        record = self.send(f"claim:{tid}", self.client.market, "claim", tid, keccak(bytes(row["secret"])),
                           report=report)
        ok = self.mined_ok(record)
        if record is None:
            view = self.client.task(tid)
            if view.state != "open":
                self.journal.set(tid, status="gone", detail=f"{view.state} by {view.solver}")
        elif ok:
            self.journal.set(tid, status="claimed")
            report.act("claimed", f"task {tid} claimed (bond locked); training starts once its seed is drawn")
        elif ok is False:
            view = self.client.task(tid)
            self.journal.set(tid, status="gone", detail=f"the claim failed: {view.state} by {view.solver}")

    def _claimed(self, row: sqlite3.Row, report: NodeReport) -> Work | None:
        tid = row["task_id"]
        job = self.job(bytes(row["spec_hash"]))
        assert isinstance(job, TrainingJob)
        every = self.settings.checkpoint_every or job.spec.train.checkpoint_every
        out = self.task_dir(tid)

        def train() -> Solution:
            sol = self.train(job, every)
            _save(sol, out)
            return sol

        def done(sol: Solution, r: NodeReport) -> None:
            self._solutions[tid] = sol
            self.journal.set(tid, status="trained")
            r.act("trained", f"task {tid} trained: {job.config.steps} steps, weights 0x{sol.hashes[-1].hex()[:12]}…")

        return Work(tid, train, done)

    def train(self, job: TrainingJob, every: int) -> Solution:
        """The training itself (pure: it runs in a worker thread)."""
        return Solution.train(job.config, job.x, job.y, every=every)

    def _trained(self, row: sqlite3.Row, report: NodeReport) -> None:
        tid = row["task_id"]
        sol = self._solution(tid)
        if sol is None:  # artifacts lost with the disk: train again
            self.journal.set(tid, status="claimed")
            return
        try:
            seed, _ = self.client.forced_seed(tid)
        except ContractRevert:
            return  # the seed's block is not there yet
        secret, steps = bytes(row["secret"]), sol.config.steps
        odds = int(self.client.market.call("forcedOdds"))
        forced = [s for s in range(steps + 1)
                  if is_forced(secret, seed, steps, odds) and is_forced_step(secret, seed, steps, s)]
        commitment = Commitment.of(sol, sol.leaves(forced))
        self.journal.set(tid, forced=json.dumps(forced))
        record = self.send(f"commit:{tid}", self.client.market, "commit", tid, commitment.root,
                           commitment.final_digests, commitment.final_proof, report=report)
        if record is not None:
            self.journal.set(tid, status="committing")
            self._committing(self._row(tid), report)

    def _committing(self, row: sqlite3.Row, report: NodeReport) -> None:
        tid = row["task_id"]
        ok = self.mined_ok(self.tx.poll_one(f"commit:{tid}"))
        if ok:
            self.journal.set(tid, status="committed")
            report.act("committed", f"task {tid} committed: root 0x{self.client.task(tid).root.hex()[:12]}…, "
                                    "serving its states")
        elif ok is False:
            self.journal.set(tid, status="failed", detail="the commit reverted")
            report.errors.append(f"task {tid}: the commit reverted")

    def _committed(self, row: sqlite3.Row, report: NodeReport) -> None:
        tid = row["task_id"]
        settled = self.mined_ok(self.tx.poll_one(f"settle:{tid}"))
        if settled:
            self.journal.set(tid, status="settling")
            report.act("settled", f"task {tid} settled after its window: the fee is credited")
            return
        if settled is None and self.tx.get(f"settle:{tid}") is not None:
            return  # the settlement is pending
        view = self.client.task(tid)
        if view.state == "slashed":
            self.journal.set(tid, status="slashed", outcome="lost a dispute: the bond was slashed")
            report.act("slashed", f"task {tid}: a dispute was lost, the bond slashed")
            return
        if view.state == "settled":
            self.journal.set(tid, status="settling")
            return
        if view.disputed:
            if row["dispute_id"] is not None:
                self._defend(row, report)
            return  # its Opened event is not read yet
        if view.audit_seed == b"\0" * 32:
            self.send(f"draw:{tid}", self.client.market, "drawAudit", tid, report=report, not_yet=("TooEarly",))
            return
        if self.chain_time() > view.deadline and not view.attesters and not view.forced_caught:
            self._unverified(row, view, report)
            return
        if self.chain_time() > view.deadline and settled is None:
            if self.send(f"settle:{tid}", self.client.market, "settle", tid, bytes(row["secret"]), report=report,
                         not_yet=("TooEarly",)) is not None:
                self._committed(row, report)  # mined at once on an automining chain

    def _unverified(self, row: sqlite3.Row, view: Any, report: NodeReport) -> None:
        """Nobody attested (no verifier audited the served states): the fee is not earned. After settleTimeout
        the task is cancelled and the bond comes back."""
        tid = row["task_id"]
        at = view.deadline + int(self.client.market.call("settleTimeout"))
        if self.chain_time() <= at:
            if row["detail"] is None:
                self.journal.set(tid, detail="no verifier attested: the bond comes back after settleTimeout")
                report.act("unverified", f"task {tid}: no verifier attested by the end of its window; no fee, "
                                         "the bond is returned after settleTimeout")
            return
        if self.mined_ok(self.send(f"forfeit:{tid}", self.client.market, "forfeit", tid, report=report)):
            self.journal.set(tid, status="settling", outcome="unverified: the bond returned, no fee")
            report.act("cancelled", f"task {tid} cancelled as unverified: the bond is credited back")

    def _defend(self, row: sqlite3.Row, report: NodeReport) -> None:
        tid, did, step = row["task_id"], int(row["dispute_id"]), int(row["challenge_step"])
        d = DisputeView.read(self.client, did)
        if d.stage == "done":
            return
        forced = json.loads(row["forced"] or "[]")
        if step in forced:
            key = f"forced:{tid}:{did}"
            new = self.tx.get(key) is None
            if self.send(key, self.client.market, "revealForced", tid, bytes(row["secret"]),
                         report=report) is not None and new:
                report.act("forced", f"task {tid}: step {step} was a forced error; secret revealed, the challenger "
                                     "wins the jackpot")
            return
        sol = self._solution(tid)
        leaves = self.served_leaves(tid)
        if sol is None or leaves is None:
            report.errors.append(f"task {tid}: dispute {did} needs the training artifacts, which are gone")
            return
        defender = Defender(sol.claimed_trace(step), PositionTree(leaves))
        job = self.job(bytes(row["spec_hash"]))
        assert isinstance(job, TrainingJob)
        move = next_move(self.client, d, job.params, defender=defender)
        if move is None:
            return
        key = f"move:{did}:{d.rounds}:{move[0]}"
        new = self.tx.get(key) is None
        if self.send(key, self.client.disputes, move[0], *move[1], report=report) is not None and new:
            report.act("move", f"task {tid}: dispute {did} over step {step}: {move[0]}")

    def _settling(self, row: sqlite3.Row, report: NodeReport) -> None:
        tid = row["task_id"]
        m = self.client.market
        key = f"withdraw:{tid}"
        if self.tx.get(key) is None:
            owed = int(m.call("owedStable", self.address)), int(m.call("owedTsr", self.address))
            if owed == (0, 0):
                self.journal.set(tid, status="done", outcome=row["outcome"] or "paid (withdrawn with another task)")
                return
            if self.send(key, m, "withdraw", report=report) is None:
                return
            report.act("withdrawn", f"task {tid}: withdrew {self.stable_text(owed[0])} and {self.tsr_text(owed[1])}")
        ok = self.mined_ok(self.tx.poll_one(key))
        if ok:
            self.journal.set(tid, status="done", outcome=row["outcome"] or "paid")
        elif ok is False:
            self.journal.set(tid, status="failed", detail="the withdrawal reverted")


def _save(sol: Solution, out: Path) -> None:
    """Checkpoints and the true hash of every step, written whole before the node moves on (a partial file is
    never read: the rename is atomic)."""
    out.mkdir(parents=True, exist_ok=True)
    arrays: dict[str, np.ndarray] = {}
    for step, p in sol.checkpoints.items():
        for name, group in (("w", p.weights), ("b", p.biases), ("vw", p.w_velocity), ("vb", p.b_velocity)):
            for i, t in enumerate(group):
                arrays[f"s{step}_{name}{i}"] = t
    tmp = out / "checkpoints.tmp.npz"
    arrays["every"] = np.int64(sol.every)  # type: ignore[assignment]
    arrays["steps"] = np.array(sorted(sol.checkpoints), dtype=np.int64)
    arrays["skip"] = np.array(sorted(sol.skip), dtype=np.int64)  # what a cheater skipped: its own record
    np.savez(tmp, **arrays)  # type: ignore[arg-type]
    (out / "hashes.tmp").write_bytes(b"".join(sol.hashes))
    os.replace(out / "hashes.tmp", out / "hashes.bin")
    os.replace(tmp, out / "checkpoints.npz")


def _load(job: TrainingJob, d: Path) -> Solution:
    with np.load(d / "checkpoints.npz") as z:
        layers = job.layers
        checkpoints = {}
        for step in z["steps"].tolist():
            groups = [[z[f"s{step}_{n}{i}"] for i in range(layers)] for n in ("w", "b", "vw", "vb")]
            checkpoints[int(step)] = Params(*groups)
        every = int(z["every"])
        skip = frozenset(int(v) for v in z["skip"].tolist())
    raw = (d / "hashes.bin").read_bytes()
    hashes = [raw[i:i + 32] for i in range(0, len(raw), 32)]
    if len(hashes) != job.config.steps + 1:
        raise TrainingError(f"{d}: the training artifacts are incomplete; delete the directory to train again")
    return Solution(job.config, job.x, job.y, skip, every, checkpoints, hashes)


__all__ = ["SolverNode", "SolverSettings"]
