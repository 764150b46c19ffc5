"""The verifier node: audits every committed task it can (the steps the contract draws, replayed from the
states the solver serves), signs off on a clean audit, and otherwise challenges the first wrong step and plays
the dispute game to its end; a forced error it catches pays it the jackpot. Credits are withdrawn as they come.

    posted → committed → drawing (the audit seed, from blockhash(commit + 4)) → audited
           → attested → done                          (every drawn step replayed to its leaf)
           → challenging (salt journaled, then the commitment) → opening (a later block) → disputing → done
    committed → closed (the window ended, or the task is its own: the node's solver or submitter)

The audit only trusts what it checks: leaves against the committed root, each served state against its leaf;
a state that does not check is replayed from the seed instead.
"""

from __future__ import annotations

import json
import os
import sqlite3
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from eth_utils import keccak

from ..chain.base import Chain, Log
from ..chain.contract import Signer
from ..errors import TesseraError
from ..protocol.deploy import Deployment
from ..training.audit import AuditReport, audit
from ..training.commit import PositionTree
from ..training.dispute import Challenger, DisputeView, next_move
from ..training.job import TrainingJob, state_from_json
from ..training.mlp import Params
from ..training.solution import is_forced_step
from .base import NodeReport, NodeSettings, TrainingNode, Work
from .source import SolverSource


@dataclass
class VerifierSettings(NodeSettings):
    stake: int = 0  # TSR wei to keep staked (at least the market's verifierMinStake)


class VerifierNode(TrainingNode):
    role = "verifier"
    events = (("market", "Posted"), ("market", "Committed"))
    settings: VerifierSettings

    def __init__(self, chain: Chain, deployment: Deployment, signer: Signer, data_dir: Path,
                 source: SolverSource, settings: VerifierSettings | None = None, **kwargs: Any) -> None:
        super().__init__(chain, deployment, signer, data_dir, settings or VerifierSettings(), **kwargs)
        self.source = source
        self._leaves: dict[int, list[bytes]] = {}
        self._challengers: dict[int, Challenger] = {}  # by dispute: the honest trace of the challenged step

    def ensure_staked(self) -> int:
        """Stake up to max(settings.stake, the market's minimum). Returns what was added."""
        m = self.client.market
        want = max(self.settings.stake, int(m.call("verifierMinStake")))
        have = int(m.call("verifiers", self.address)[0])
        if have >= want:
            return 0
        self.client.stake(self.signer, want - have)
        return want - have

    def on_event(self, name: str, args: dict[str, Any], log: Log, conn: sqlite3.Connection) -> None:
        if name == "Committed":
            conn.execute("UPDATE tasks SET status = 'committed' WHERE task_id = ? AND status = 'posted'",
                         (int(args["id"]),))

    # ---- one pass: the base class calls `_<status>` for every open task
    def _posted(self, row: sqlite3.Row, report: NodeReport) -> None:
        """Nothing to check before a commitment."""

    def after_tasks(self, report: NodeReport) -> None:
        self._withdraw(report)

    def _job(self, row: sqlite3.Row) -> TrainingJob | str | None:
        h = bytes(row["spec_hash"])
        job = self.job(h)
        if job is None:
            text = self.source.spec(h)
            if text is None:
                return None
            try:
                self.add_spec(text, self.data_dir)
            except TesseraError as e:
                return str(e)
            job = self.job(h)
        return job

    def _committed(self, row: sqlite3.Row, report: NodeReport) -> Work | None:
        tid = row["task_id"]
        view = self.client.task(tid)
        if view.state != "committed" or self.chain_time() > view.deadline:
            self.journal.set(tid, status="closed", detail=f"{view.state}, not audited by this node")
            return None
        if self.address.lower() in (view.solver.lower(), view.submitter.lower()):
            self.journal.set(tid, status="closed", detail="the node's own task")
            return None
        job = self._job(row)
        if not isinstance(job, TrainingJob):
            self.journal.set(tid, detail=job or "waiting for the spec: no known solver serves it")
            return None
        refusal = job.mismatch(view.params_hash)
        if refusal:
            self.journal.set(tid, status="closed", detail=refusal)
            return None
        if view.audit_seed == b"\0" * 32:
            record = self.send(f"draw:{tid}", self.client.market, "drawAudit", tid, report=report,
                               not_yet=("TooEarly",))
            if not self.mined_ok(record):
                return None  # the seed's block is not there yet (or the draw is pending)
        leaves = self.source.leaves(tid, lambda ls: len(ls) == view.steps + 1 and PositionTree(ls).root == view.root)
        if leaves is None:
            self.journal.set(tid, detail="no solver serves leaves that are its committed root: waiting")
            return None
        self._leaves[tid] = leaves
        steps = self.client.audit_steps(tid)

        def run() -> AuditReport:
            return audit(job.config, job.x, job.y, steps, leaves, lambda s: self._served(job, tid, s, leaves))

        def done(result: AuditReport, r: NodeReport) -> None:
            body = {"checked": len(result.checked), "distinct": len(set(result.checked)), "wrong": result.wrong,
                    "refused_states": len(result.refused_states), "seconds": round(result.seconds, 3)}
            self.journal.set(tid, status="audited", audit=json.dumps(body), detail=None)
            verdict = "all right" if result.ok else f"wrong: steps {result.wrong[:5]}"
            r.act("audited", f"task {tid}: replayed {len(set(result.checked))} drawn steps in "
                             f"{result.seconds:.2f} s, {verdict}")

        return Work(tid, run, done)

    def _served(self, job: TrainingJob, tid: int, step: int, leaves: list[bytes]) -> Params | None:
        """The first served state of `step` that is its committed leaf (runs in the audit's thread: HTTP only)."""
        for body in self.source.state(tid, step):
            try:
                return state_from_json(body, step, job.config.layers, leaves[step])
            except TesseraError:
                continue
        return None

    def _audited(self, row: sqlite3.Row, report: NodeReport) -> None:
        tid = row["task_id"]
        wrong = self._challengeable(row)
        if not wrong:
            view = self.client.task(tid)
            if view.forced_caught:
                self.journal.set(tid, status="done", outcome="a forced error caught")
                return
            record = self.send(f"attest:{tid}", self.client.market, "attest", tid, report=report)
            if self.mined_ok(record):
                self.journal.set(tid, status="done", outcome="attested")
                report.act("attested", f"task {tid}: signed off on the audit")
            elif record is None and self.chain_time() > view.deadline:
                self.journal.set(tid, status="closed", detail="the window ended before the attestation")
            return
        step = wrong[0]
        self.journal.set(tid, status="challenging", challenge_step=step, salt=os.urandom(32))  # before the commit
        self._challenging(self._row(tid), report)

    def _challengeable(self, row: sqlite3.Row) -> list[int]:
        """Wrong steps still open to a challenge: not a forced step of a forced error already revealed."""
        wrong = json.loads(row["audit"])["wrong"]
        view = self.client.task(row["task_id"])
        if not view.forced_caught:
            return list(wrong)
        secret = bytes(self.client.market.call("getTask", row["task_id"])[23])
        return [s for s in wrong if not is_forced_step(secret, view.forced_seed, view.steps, s)]

    def _challenging(self, row: sqlite3.Row, report: NodeReport) -> None:
        tid, step, salt = row["task_id"], int(row["challenge_step"]), bytes(row["salt"])
        h = keccak(bytes.fromhex(self.address[2:]).rjust(32, b"\0") + tid.to_bytes(32, "big")
                   + step.to_bytes(32, "big") + salt)
        record = self.send(f"challenge-commit:{tid}:{step}", self.client.market, "commitChallenge", tid, h,
                           report=report)
        if self.mined_ok(record):
            self.journal.set(tid, status="opening")
            report.act("challenge", f"task {tid}: step {step} is wrong; challenge committed")

    def _opening(self, row: sqlite3.Row, report: NodeReport) -> None:
        tid, step, salt = row["task_id"], int(row["challenge_step"]), bytes(row["salt"])
        key = f"challenge-open:{tid}:{step}"
        record = self.send(key, self.client.market, "openChallenge", tid, step, salt, report=report,
                           not_yet=("TooEarly", "DisputeOpen"))
        if not self.mined_ok(record):
            return  # the commitment's block is not over yet, or another dispute is open: next pass
        receipt = self.chain.get_receipt(record.hashes[-1]) if record is not None else None
        opened = self.client.disputes.events(receipt, "Opened") if receipt is not None else []
        if opened:
            did = int(opened[0].args["disputeId"])
            self.journal.set(tid, status="disputing", dispute_id=did)
            report.act("dispute", f"task {tid}: dispute {did} opened over step {step}")

    def _disputing(self, row: sqlite3.Row, report: NodeReport) -> Work | None:
        tid, did, step = row["task_id"], int(row["dispute_id"]), int(row["challenge_step"])
        d = DisputeView.read(self.client, did)
        if d.stage == "done":
            self._challengers.pop(did, None)
            caught = self.client.market.get_events("ForcedErrorCaught", topics=[tid.to_bytes(32, "big")])
            if any(int(e.args["step"]) == step and str(e.args["verifier"]).lower() == self.address.lower()
                   for e in caught):
                outcome, status = "a forced error caught: the jackpot won", "audited"  # other wrong steps remain?
            elif d.solver_lost:
                outcome, status = "the solver lost and was slashed", "done"
            else:
                outcome, status = "the dispute was lost: the challenge bond went to the solver", "done"
            self.journal.set(tid, status=status, outcome=outcome)
            report.act("dispute-ended", f"task {tid}: dispute {did}: {outcome}")
            return None
        job = self._job(row)
        assert isinstance(job, TrainingJob)
        challenger = self._challengers.get(did)
        if challenger is None:
            root = self.client.task(tid).root
            leaves = self._leaves.get(tid) or self.source.leaves(tid, lambda ls: PositionTree(ls).root == root)
            challenger = Challenger(job.trace(self._before(job, tid, step, leaves), step), job.layers, job.config,
                                    job.data, job.dataset)
            self._challengers[did] = challenger
        move = next_move(self.client, d, job.params, challenger=challenger)
        if move is None:
            return None
        key = f"move:{did}:{d.rounds}:{move[0]}"
        new = self.tx.get(key) is None
        if self.send(key, self.client.disputes, move[0], *move[1], report=report) is not None and new:
            report.act("move", f"task {tid}: dispute {did} over step {step}: {move[0]}")
        return None

    def _before(self, job: TrainingJob, tid: int, step: int, leaves: list[bytes] | None) -> Params:
        if step == 0 or leaves is None:
            return job.replay(max(step - 1, 0))
        return self._served(job, tid, step - 1, leaves) or job.replay(step - 1)

    def _withdraw(self, report: NodeReport) -> None:
        m = self.client.market
        owed = int(m.call("owedStable", self.address)), int(m.call("owedTsr", self.address))
        if owed == (0, 0):
            return
        if self.journal.one("SELECT 1 FROM txs WHERE key LIKE 'withdraw:%' AND status = 'pending'"):
            return
        n = len(self.journal.q("SELECT key FROM txs WHERE key LIKE 'withdraw:%'"))
        if self.send(f"withdraw:{n}", m, "withdraw", report=report) is not None:
            report.act("withdrawn", f"withdrew {self.stable_text(owed[0])} and {self.tsr_text(owed[1])}")


__all__ = ["VerifierNode", "VerifierSettings"]
