"""The coprocessor node: follows Coordinator events, computes, proves and delivers, exactly once per job.

A pass (`step`) reads new events (reorg-safe follower: requests land in the journal exactly once), opens
the intervals whose time has come, and moves every job one stage forward:

    ready → (simulate: checkDelivery) → compute (circuit witness; onnxruntime cross-check; zk proof)
          → computed → committing → committed (the commitment names this node: a copy pays no one else)
          → sent (the reveal, once reveals are open, in a later block) → delivered → [optimistic: finalize] → done

A watching node contests a wrong optimistic result the same way: verify → challenge_committing →
challenge_committed → challenging → done. Each stage's result is written before the next starts (the salt of a
commitment before its transaction), and every transaction is journaled before it is broadcast. A node killed
between computing and delivering finds the computed output and delivers it once; one killed after
broadcasting finds the transaction and waits for it.

Outputs are the circuit's fixed-point outputs (what a proof of the same input would show), not floats, so
N honest nodes agree bit for bit and an optimistic result can be contradicted by a proof exactly.
onnxruntime runs the same model as a cross-check: a node refuses to deliver if the two disagree.
"""

from __future__ import annotations

import asyncio
import json
import os
import sqlite3
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np
from eth_abi import encode as abi_encode
from eth_utils import keccak

from ..chain.base import Chain, Log
from ..chain.contract import Signer
from ..chain.events import EventFollower
from ..errors import ChainError, ContractRevert, CoprocessorError, ProofError, TesseraError
from ..protocol.deploy import Deployment
from ..zkml import CompiledModel, InferenceProof, check_registered_model, evaluate, prove
from .client import CoordinatorClient
from .journal import Journal
from .requests import ProofMode, RequestParams, SignedRequest, decode_input, hash_instances, request_signer
from ..chain.txmanager import FeeCapExceeded, TxManager

CROSS_CHECK_TOLERANCE = 0.05  # |circuit - onnxruntime| per output, relative to max(1, |onnxruntime|)
RETRY_LATER = {"IntervalNotStarted"}  # simulation errors that clear with time


@dataclass
class CoprocessorConfig:
    models: list[CompiledModel]
    min_fee: int = 0  # stablecoin base units per delivery
    max_gas_price: int = 200 * 10**9  # our own cap for delivery transactions (wei/gas)
    confirmations: int = 0
    bump_after: float = 30.0
    start_block: int = 0
    watch: bool = True  # check other nodes' optimistic results for served models; challenge wrong ones with a proof


@dataclass
class StepReport:
    new_requests: int = 0
    computed: list[tuple[int, int]] = field(default_factory=list)
    sent: list[tuple[int, int]] = field(default_factory=list)
    committed: list[tuple[int, int]] = field(default_factory=list)
    finalized: list[tuple[int, int]] = field(default_factory=list)
    challenged: list[tuple[int, int]] = field(default_factory=list)
    skipped: list[tuple[int, int, str]] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Task:
    """Everything computing one job needs, and nothing from the chain or the journal (it runs in a thread)."""

    request_id: int
    interval: int
    compiled: CompiledModel
    data: dict[str, Any]
    expected_input_hash: bytes
    mode: ProofMode
    proof_dir: Path


@dataclass(frozen=True)
class Computed:
    output: list[int]
    outputs: list[list[float]]
    input_hash: bytes
    proof_path: str | None
    seconds: float


@dataclass(frozen=True)
class Check:
    """An optimistic majority result to check against this node's own computation."""

    request_id: int
    interval: int
    compiled: CompiledModel
    data: dict[str, Any]
    input_hash: bytes
    claimed: bytes
    proof_dir: Path


def result_hash(output: list[int]) -> bytes:
    return keccak(abi_encode(["uint256[]"], [output]))


def compute(task: Task) -> Computed:
    """Run the model on the task's input: the circuit's outputs, cross-checked by onnxruntime, and a proof
    when the request asks for one. Raises CoprocessorError when the input is not the requested one."""
    started = time.perf_counter()
    evaluation = evaluate(task.compiled, task.data)
    input_hash = hash_instances(evaluation.input_commitment)
    if input_hash != task.expected_input_hash:
        raise CoprocessorError(f"the input does not hash to the request's input hash (0x{input_hash.hex()} != "
                               f"0x{task.expected_input_hash.hex()}): the consumer sent inconsistent data")
    reference = _onnxruntime(task.compiled, task.data)
    for circuit, ref in zip(evaluation.outputs, reference):
        worst = max((abs(c - r) / max(1.0, abs(r)) for c, r in zip(circuit, ref)), default=0.0)
        if worst > CROSS_CHECK_TOLERANCE:
            raise CoprocessorError(f"the circuit's fixed-point output differs from onnxruntime's by {worst:.3f} "
                                   f"(over {CROSS_CHECK_TOLERANCE}): the model's quantization is too coarse for "
                                   "this input; recompile it with target accuracy")
    proof_path = None
    output = evaluation.output_commitment
    if task.mode == ProofMode.ZK:
        proof = prove(task.compiled, task.data)
        if proof.instances != evaluation.instances:
            raise CoprocessorError("the proof's instances differ from the witness's: the circuit is not deterministic")
        task.proof_dir.mkdir(parents=True, exist_ok=True)
        path = task.proof_dir / f"{task.request_id}-{task.interval}.json"
        proof.save(path)
        proof_path = str(path)
    return Computed(output, [list(map(float, r)) for r in reference], input_hash, proof_path,
                    time.perf_counter() - started)


def _onnxruntime(compiled: CompiledModel, data: dict[str, Any]) -> list[list[float]]:
    import onnxruntime as ort

    session = ort.InferenceSession(str(compiled.path("model.onnx")), providers=["CPUExecutionProvider"])
    feeds = {spec["name"]: np.asarray(values, dtype=np.float32).reshape(spec["shape"])
             for spec, values in zip(compiled.inputs, data["input_data"])}
    return [np.asarray(out).reshape(-1).tolist() for out in session.run(None, feeds)]


class CoprocessorNode:
    def __init__(self, chain: Chain, deployment: Deployment, signer: Signer, config: CoprocessorConfig,
                 data_dir: Path, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.chain = chain
        self.signer = signer
        self.config = config
        self.client = CoordinatorClient.of(chain, deployment)
        data_dir.mkdir(parents=True, exist_ok=True)
        self.data_dir = data_dir
        self.journal = Journal(data_dir / "coprocessor.sqlite3")
        self.journal.bind_chain(chain.chain_id, chain.get_block(0).hash, self.client.coordinator.address,
                                data_dir / "coprocessor.sqlite3")
        self.tx = TxManager(chain, signer, self.journal.conn, bump_after=config.bump_after, clock=clock)
        self.models = {c.model_id.lower(): c for c in config.models}
        self._registrations_ok: set[str] = set()
        self.model_registry = deployment.models
        coordinator = self.client.coordinator
        names = ("RequestCreated", "SubscriptionCancelled", "ChallengeWindowOpened", "JobCompleted", "JobExpired")
        self._topics = {coordinator.event(n).topic: n for n in names}
        self.follower = EventFollower(chain, self.journal.conn, f"coprocessor-{signer.address.lower()}",
                                      address=coordinator.address, topics=[list(self._topics)],
                                      confirmations=config.confirmations, start_block=config.start_block,
                                      on_reorg=self._on_reorg)
        self.last_error: str | None = None
        self.tx.resume()

    @property
    def address(self) -> str:
        return self.signer.address

    def ensure_bonded(self, amount: int) -> bool:
        bond, _ = self.client.node_bond(self.address)
        if bond >= amount:
            return False
        self.client.bond(self.signer, amount - bond)
        return True

    # ---- events → journal (exactly once, inside the follower's transaction) ----

    def _handle(self, log: Log, conn: sqlite3.Connection) -> None:
        name = self._topics[log.topics[0]]
        args = self.client.coordinator.event(name).decode(log.topics, log.data)
        rid = int(args["requestId"])
        if name == "RequestCreated":
            params = RequestParams.from_tuple(args["params"])
            reason = self._refusal(params)
            conn.execute("INSERT OR IGNORE INTO requests (request_id, block, consumer, params, start, input, status, "
                         "reason) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                         (rid, log.block_number, args["consumer"], json.dumps(params.to_json()), int(args["start"]),
                          bytes(args["input"]), "skipped" if reason else "active", reason))
        elif name == "SubscriptionCancelled":
            conn.execute("UPDATE requests SET cancelled_from = ? WHERE request_id = ?",
                         (int(args["fromInterval"]), rid))
        elif name == "ChallengeWindowOpened":
            k, claimed = int(args["interval"]), bytes(args["result"])
            # a window can open on a job this node has not reached yet: track it, to check the claim
            conn.execute("INSERT OR IGNORE INTO jobs (request_id, interval, status, opened_block) SELECT ?, ?, "
                         "'ready', ? WHERE EXISTS (SELECT 1 FROM requests WHERE request_id = ? AND status != "
                         "'skipped')", (rid, k, log.block_number, rid))
            ours = self._our_result(conn, rid, k)
            if ours == claimed:
                status, detail = "awaiting_finalize", None
            elif self.config.watch:
                status, detail = "verify", "checking another node's result before its window closes"
            else:
                status, detail = "done", "another result has the majority"
            conn.execute("UPDATE jobs SET status = ?, challenge_ends = ?, detail = ?, claimed = ? WHERE "
                         "request_id = ? AND interval = ? AND status NOT IN ('done', 'skipped', 'failed')",
                         (status, int(args["endsAt"]), detail, claimed, rid, k))
        elif name == "JobCompleted":
            k = int(args["interval"])
            ours = self._our_result(conn, rid, k)
            detail = "paid" if ours == bytes(args["result"]) else "closed with another result"
            conn.execute("UPDATE jobs SET status = 'done', detail = ?, completed_block = ? WHERE request_id = ? AND "
                         "interval = ? AND status NOT IN ('done', 'skipped', 'failed')",
                         (detail, log.block_number, rid, k))
        elif name == "JobExpired":
            conn.execute("UPDATE jobs SET status = 'done', detail = 'expired without a majority' WHERE request_id = ? "
                         "AND interval = ? AND status NOT IN ('done', 'skipped', 'failed')",
                         (rid, int(args["interval"])))

    @staticmethod
    def _our_result(conn: sqlite3.Connection, rid: int, interval: int) -> bytes | None:
        row = conn.execute("SELECT output FROM jobs WHERE request_id = ? AND interval = ?", (rid, interval)).fetchone()
        return result_hash(json.loads(row[0])) if row and row[0] else None

    def _on_reorg(self, block: int, conn: sqlite3.Connection) -> None:
        # requests from orphaned blocks are re-read from the new chain; jobs not yet sent are dropped with them
        orphaned = [r[0] for r in conn.execute("SELECT request_id FROM requests WHERE block > ?", (block,))]
        for rid in orphaned:
            conn.execute("DELETE FROM jobs WHERE request_id = ? AND status IN ('ready', 'computed')", (rid,))
            conn.execute("DELETE FROM requests WHERE request_id = ?", (rid,))

    def _refusal(self, params: RequestParams) -> str | None:
        model_id = "0x" + params.model_id.hex()
        if model_id not in self.models:
            return f"model {model_id} is not served by this node"
        if params.fee < self.config.min_fee:
            return f"fee {params.fee} is below this node's minimum {self.config.min_fee}"
        return self._registration_problem(model_id)

    def _registration_problem(self, model_id: str) -> str | None:
        """Why the chain would not verify this model's proofs as the local artifacts do (None: it would). A
        registration is immutable, so a good one is checked once."""
        if model_id in self._registrations_ok:
            return None
        try:
            check_registered_model(self.chain, self.model_registry.call("getModel", bytes.fromhex(model_id[2:])),
                                   self.models[model_id])
        except ContractRevert:
            return f"model {model_id} is not registered on this chain"
        except ProofError as e:
            return str(e)
        self._registrations_ok.add(model_id)
        return None

    # ---- one pass ----

    def step(self, receipt_timeout: float = 30.0) -> StepReport:
        """One synchronous pass (proofs computed inline) that also waits for the receipts of what it sent:
        for tests, benches and the CLI's --once."""
        report = self._advance()
        for task in self._tasks(report):
            self._record(task, self._compute(task, report), report)
        for check in self._checks(report):
            self._contest(check, self._check(check, report), report)
        # two rounds: a commitment mined in the first is revealed in the second (a later block)
        for _ in range(2):
            self._commit(report)
            self._deliver(report)
            for record in self.tx.wait_pending(receipt_timeout):
                self._tx_final(record.key, record.ok, record.block, record.gas_used, report)
        return report

    async def astep(self) -> StepReport:
        report = self._advance()
        for task in self._tasks(report):
            # proving takes seconds to minutes: off the event loop, so the API keeps answering
            self._record(task, await asyncio.to_thread(self._compute, task, report), report)
        for check in self._checks(report):
            self._contest(check, await asyncio.to_thread(self._check, check, report), report)
        self._commit(report)
        self._deliver(report)
        return report

    async def run(self, stop: asyncio.Event, interval: float = 1.0,
                  on_report: Callable[[StepReport], None] | None = None) -> None:
        """The service loop; `on_report` sees every pass's report (the CLI logs one line per action)."""
        while not stop.is_set():
            try:
                report = await self.astep()
                self.last_error = report.errors[-1] if report.errors else None
            except ChainError as e:
                self.last_error = str(e)
                report = StepReport(errors=[f"chain: {e}"])
            if on_report is not None:
                on_report(report)
            try:
                await asyncio.wait_for(stop.wait(), interval)
            except TimeoutError:
                pass

    def _advance(self) -> StepReport:
        report = StepReport()
        before = self.journal.one("SELECT COUNT(*) n FROM requests")
        self.follower.catch_up(self._handle)
        after = self.journal.one("SELECT COUNT(*) n FROM requests")
        report.new_requests = (after["n"] if after else 0) - (before["n"] if before else 0)
        for record in self.tx.poll():
            self._tx_final(record.key, record.ok, record.block, record.gas_used, report)
        self._open_intervals()
        return report

    def _open_intervals(self) -> None:
        now = self.chain.get_block("latest").timestamp
        for row in self.journal.q("SELECT * FROM requests WHERE status = 'active'"):
            params = RequestParams.from_json(json.loads(row["params"]))
            end = min(params.count, row["cancelled_from"] if row["cancelled_from"] is not None else params.count)
            k = row["next_interval"]
            while k < end and row["start"] + params.period * k <= now:
                self.journal.x("INSERT OR IGNORE INTO jobs (request_id, interval, status, opened_block) "
                               "VALUES (?, ?, 'ready', ?)", row["request_id"], k, self.chain.block_number())
                k += 1
            status = "done" if k >= end else "active"
            self.journal.x("UPDATE requests SET next_interval = ?, status = ? WHERE request_id = ?", k, status,
                           row["request_id"])

    def _tasks(self, report: StepReport) -> list[Task]:
        tasks = []
        for job in self.journal.q("SELECT j.request_id, j.interval, r.consumer, r.params, r.input FROM jobs j "
                                  "JOIN requests r USING (request_id) WHERE j.status = 'ready' ORDER BY request_id"):
            rid, k = job["request_id"], job["interval"]
            params = RequestParams.from_json(json.loads(job["params"]))
            try:
                # simulate first: never compute (or prove) what the Coordinator would refuse
                expected = self.client.check_delivery(rid, k, self.address)
                data = self._job_input(job, params)
            except ContractRevert as e:
                if e.error_name in RETRY_LATER:
                    continue
                self._skip(rid, k, f"{e.error_name or 'revert'}: {e}", report)
                continue
            except TesseraError as e:
                self._skip(rid, k, str(e), report)
                continue
            tasks.append(Task(rid, k, self.models["0x" + params.model_id.hex()], data, expected, params.mode,
                              self.data_dir / "proofs"))
        return tasks

    def _job_input(self, job: sqlite3.Row, params: RequestParams) -> dict[str, Any]:
        """The input of a job: the request's own, or the consumer contract's for this interval."""
        raw = bytes(job["input"])
        if params.input_hash == bytes(32):
            raw, _ = self.client.consumer_input(job["consumer"], job["request_id"], job["interval"])
        return decode_input(raw)

    def _compute(self, task: Task, report: StepReport) -> Computed | None:
        try:
            return compute(task)
        except TesseraError as e:
            report.skipped.append((task.request_id, task.interval, str(e)))
            return None

    def _record(self, task: Task, done: Computed | None, report: StepReport) -> None:
        if done is None:
            reason = next((r for i, k, r in report.skipped if (i, k) == (task.request_id, task.interval)), "failed")
            self.journal.set_job(task.request_id, task.interval, status="skipped", detail=reason)
            return
        self.journal.set_job(task.request_id, task.interval, status="computed", input_hash=done.input_hash,
                             output=json.dumps(done.output), outputs=json.dumps(done.outputs),
                             proof_path=done.proof_path, computed_at=time.time(), compute_seconds=done.seconds)
        report.computed.append((task.request_id, task.interval))

    def _skip(self, rid: int, k: int, reason: str, report: StepReport) -> None:
        self.journal.set_job(rid, k, status="skipped", detail=reason)
        report.skipped.append((rid, k, reason))

    # ---- watching optimistic results ----

    def _checks(self, report: StepReport) -> list[Check]:
        now = self.chain.get_block("latest").timestamp
        checks = []
        for job in self.journal.q("SELECT j.*, r.consumer, r.params, r.input FROM jobs j JOIN requests r "
                                  "USING (request_id) WHERE j.status = 'verify'"):
            rid, k = job["request_id"], job["interval"]
            if now >= job["challenge_ends"]:
                self.journal.set_job(rid, k, status="done", detail="the challenge window closed before the check")
                continue
            params = RequestParams.from_json(json.loads(job["params"]))
            try:
                data = self._job_input(job, params)
            except TesseraError as e:
                self._skip(rid, k, f"cannot check the claimed result: {e}", report)
                continue
            checks.append(Check(rid, k, self.models["0x" + params.model_id.hex()], data,
                                self.client.job(rid, k).input_hash, bytes(job["claimed"]), self.data_dir / "proofs"))
        return checks

    def _check(self, check: Check, report: StepReport) -> InferenceProof | str:
        """A proof that contradicts the claimed result, or why there is none (computed off the event loop)."""
        try:
            evaluation = evaluate(check.compiled, check.data)
            if hash_instances(evaluation.input_commitment) != check.input_hash:
                return "the input changed since the claim: it cannot be checked"
            if result_hash(evaluation.output_commitment) == check.claimed:
                return "agrees with the majority result"
            proof = prove(check.compiled, check.data)
        except TesseraError as e:
            return f"cannot check the claimed result: {e}"
        check.proof_dir.mkdir(parents=True, exist_ok=True)
        proof.save(check.proof_dir / f"challenge-{check.request_id}-{check.interval}.json")
        return proof

    def _contest(self, check: Check, outcome: InferenceProof | str, report: StepReport) -> None:
        rid, k = check.request_id, check.interval
        if isinstance(outcome, str):
            self.journal.set_job(rid, k, status="done", detail=outcome)
            return
        params = RequestParams.from_json(json.loads(
            self.journal.one("SELECT params FROM requests WHERE request_id = ?", rid)["params"]))  # type: ignore[index]
        path = check.proof_dir / f"challenge-{rid}-{k}.json"
        self.journal.set_job(rid, k, output=json.dumps(outcome.output_commitment), proof_path=str(path))
        data = self.client.commit_challenge_data(self.address, rid, k, outcome)
        self._send(f"challcommit:{rid}:{k}", data, params, rid, k, "challenge_committing", report)

    # ---- transactions ----

    def _commit(self, report: StepReport) -> None:
        """Commit to each computed delivery: the commitment names this node, so a copy pays no one else."""
        for job in self.journal.q("SELECT j.*, r.params FROM jobs j JOIN requests r USING (request_id) "
                                  "WHERE j.status = 'computed' ORDER BY request_id, interval"):
            rid, k = job["request_id"], job["interval"]
            params = RequestParams.from_json(json.loads(job["params"]))
            if params.mode == ProofMode.ZK:
                proof = InferenceProof.load(job["proof_path"])
                commitment = self.client.proof_commitment(self.address, rid, k, proof)
            else:
                salt = job["salt"]
                if salt is None:  # journaled before the commitment leaves: a restart reveals with the same salt
                    salt = os.urandom(32)
                    self.journal.set_job(rid, k, salt=salt)
                commitment = self.client.delivery_commitment(self.address, rid, k, json.loads(job["output"]),
                                                             bytes(salt))
            self._send(f"commit:{rid}:{k}", self.client.commit_data(rid, k, commitment), params, rid, k,
                       "committing", report)

    def _commit_mined(self, job: sqlite3.Row) -> bool:
        """The job's commitment is mined, so a transaction sent now lands in a later block."""
        return job["commit_block"] is not None and self.chain.block_number() >= job["commit_block"]

    def _reveal_ready(self, job: sqlite3.Row, now: int) -> bool:
        """A commitment can be revealed in the next block once the interval's reveals are open."""
        if not self._commit_mined(job):
            return False
        rid, k = job["request_id"], job["interval"]
        return self.client.reveals_open(self.client.get_request(rid), k, self.client.job(rid, k), now)

    def _deliver(self, report: StepReport) -> None:
        now = self.chain.get_block("latest").timestamp
        for job in self.journal.q("SELECT j.*, r.params FROM jobs j JOIN requests r USING (request_id) "
                                  "WHERE j.status = 'committed' ORDER BY request_id, interval"):
            if not self._reveal_ready(job, now):
                continue  # other nodes are still committing (redundancy > 1)
            rid, k = job["request_id"], job["interval"]
            params = RequestParams.from_json(json.loads(job["params"]))
            if params.mode == ProofMode.ZK:
                data = self.client.deliver_proof_data(rid, k, InferenceProof.load(job["proof_path"]))
            else:
                data = self.client.deliver_data(rid, k, bytes(job["input_hash"]), json.loads(job["output"]),
                                                bytes(job["salt"]))
            self._send(f"deliver:{rid}:{k}", data, params, rid, k, "sent", report)
        for job in self.journal.q("SELECT j.*, r.params FROM jobs j JOIN requests r USING (request_id) "
                                  "WHERE j.status = 'challenge_committed' AND j.challenge_ends >= ?", now):
            rid, k = job["request_id"], job["interval"]
            if not self._commit_mined(job):
                continue
            params = RequestParams.from_json(json.loads(job["params"]))
            proof = InferenceProof.load(job["proof_path"])
            data = self.client.coordinator.encode("challenge", rid, k, proof.proof_bytes, proof.instances)
            self._send(f"challenge:{rid}:{k}", data, params, rid, k, "challenging", report)
        for job in self.journal.q("SELECT j.*, r.params FROM jobs j JOIN requests r USING (request_id) "
                                  "WHERE j.status = 'awaiting_finalize' AND j.challenge_ends < ?", now):
            rid, k = job["request_id"], job["interval"]
            params = RequestParams.from_json(json.loads(job["params"]))
            data = self.client.coordinator.encode("finalize", rid, k, json.loads(job["output"]))
            self._send(f"finalize:{rid}:{k}", data, params, rid, k, "finalizing", report)

    def _send(self, key: str, data: bytes, params: RequestParams, rid: int, k: int, status: str,
              report: StepReport) -> None:
        cap = min(self.config.max_gas_price, params.max_gas_price)
        try:
            record = self.tx.send(key, self.client.address, data, fee_cap=cap, context=f"{key}")
        except FeeCapExceeded as e:
            report.errors.append(str(e))  # stays computed: retried next pass, until the deadline
            return
        except ContractRevert as e:
            self._skip(rid, k, f"{e.error_name or 'revert'} when simulating the delivery: {e}", report)
            return
        except ChainError as e:
            report.errors.append(f"{key}: {e}")
            return
        self.journal.set_job(rid, k, status=status)
        {"sent": report.sent, "finalizing": report.finalized, "challenging": report.challenged,
         "committing": report.committed, "challenge_committing": report.committed}[status].append((rid, k))
        if record.status != "pending":
            self._tx_final(key, record.ok, record.block, record.gas_used, report)

    def _tx_final(self, key: str, ok: bool | None, block: int | None, gas_used: int | None,
                  report: StepReport) -> None:
        """`ok` is None when another transaction took the nonce (the job is not retried: it was our only try)."""
        kind, rid_s, k_s = key.split(":")
        rid, k = int(rid_s), int(k_s)
        job = self.journal.job(rid, k)
        if job is None:
            return
        if not ok:
            what = f"reverted in block {block}" if ok is False else "was replaced by another transaction"
            self.journal.set_job(rid, k, status="failed", detail=f"{kind} transaction {what}")
            report.errors.append(f"{key} {what}")
        elif kind == "commit" and job["status"] == "committing":
            self.journal.set_job(rid, k, status="committed", commit_block=block)
        elif kind == "challcommit" and job["status"] == "challenge_committing":
            self.journal.set_job(rid, k, status="challenge_committed", commit_block=block)
        elif kind == "deliver" and job["status"] == "sent":
            self.journal.set_job(rid, k, status="delivered", delivered_block=block, gas_used=gas_used)
        elif kind == "deliver":
            self.journal.set_job(rid, k, delivered_block=block, gas_used=gas_used)
        elif kind == "finalize" and job["status"] == "finalizing":
            self.journal.set_job(rid, k, status="done", detail="finalized and paid")
        elif kind == "challenge":
            self.journal.set_job(rid, k, status="done", detail="contradicted the claimed result with a proof: the "
                                                               "nodes that gave it were slashed")

    # ---- off-chain signed requests ----

    def submit_signed(self, req: SignedRequest) -> int:
        """Put a request an account signed off-chain on chain (the node pays the gas; the escrow is the
        signer's). Refused before any gas is spent if the signature, model or fee is not acceptable."""
        signer = request_signer(self.chain.chain_id, self.client.address, req)
        if signer != req.consumer:
            raise CoprocessorError(f"the request is signed by {signer}, not by its consumer {req.consumer}: "
                                   "sign it with the consumer's key")
        refusal = self._refusal(req.params)
        if refusal:
            raise CoprocessorError(f"this node will not serve the request: {refusal}")
        if req.deadline < self.chain.get_block("latest").timestamp:
            raise CoprocessorError(f"the signed request expired at {req.deadline}: sign a new one")
        decode_input(req.input)  # refuse undecodable input before paying gas for it
        request_id, _ = self.client.submit_signed(self.signer, req)
        return request_id

    # ---- reporting ----

    def status(self) -> dict[str, Any]:
        bond, unbond_at = self.client.node_bond(self.address)
        return {"node": self.address, "coordinator": self.client.address, "bond": bond, "unbonding_at": unbond_at,
                "models": sorted(self.models), "jobs": self.journal.counts(),
                "follower": {"checkpoint": self.follower.status.checkpoint, "head": self.follower.status.head,
                             "reorgs": self.follower.status.reorgs},
                "pending_transactions": len(self.tx.pending()), "last_error": self.last_error}
