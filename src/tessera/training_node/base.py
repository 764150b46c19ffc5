"""What the solver and the verifier node share: the journal bound to one chain and deployment, a reorg-safe
event follower over TrainingMarket and TrainingDisputes, journaled transactions sent once per key, the specs
the node knows, and the service loop.

A pass (`step`, or `astep` in the service) reads new events into the journal, records the transactions that
were mined, and moves every open task one stage forward. Heavy work (training, an audit) is a pure function of
the task and the data, run off the event loop; everything touching the chain or the journal stays on it.
"""

from __future__ import annotations

import asyncio
import sqlite3
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from ..chain.base import Chain, Log
from ..chain.contract import Contract, Signer
from ..chain.events import EventFollower
from ..chain.txmanager import TxManager, TxRecord
from ..errors import ChainError, ContractRevert, TesseraError
from ..protocol.deploy import Deployment
from ..training.job import TrainingJob
from ..training.protocol import TrainingMarketClient
from ..units import units_text
from .journal import Journal


@dataclass
class NodeReport:
    """One pass: an (event, text) line per action, and what went wrong."""

    actions: list[tuple[str, str]] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def act(self, event: str, text: str) -> None:
        self.actions.append((event, text))


@dataclass
class NodeSettings:
    confirmations: int = 0
    start_block: int = 0
    max_gas_price: int = 200 * 10**9
    bump_after: float = 30.0


class TrainingNode:
    role = "node"
    events: tuple[tuple[str, str], ...] = ()  # (contract attribute, event name) the node follows

    def __init__(self, chain: Chain, deployment: Deployment, signer: Signer, data_dir: Path,
                 settings: NodeSettings | None = None, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.chain, self.deployment, self.signer = chain, deployment, signer
        self.settings = settings or NodeSettings()
        self.client = TrainingMarketClient(deployment)
        data_dir.mkdir(parents=True, exist_ok=True)
        self.data_dir = data_dir
        path = data_dir / f"{self.role}.sqlite3"
        self.journal = Journal(path)
        self.journal.bind_chain(chain.chain_id, chain.get_block(0).hash, self.client.market.address, path)
        self.tx = TxManager(chain, signer, self.journal.conn, bump_after=self.settings.bump_after, clock=clock)
        contracts = {"market": self.client.market, "disputes": self.client.disputes}
        self._topics = {contracts[c].event(n).topic: (contracts[c], n) for c, n in self.events}
        self.follower = EventFollower(chain, self.journal.conn, f"training-{self.role}-{signer.address.lower()}",
                                      address=[self.client.market.address, self.client.disputes.address],
                                      topics=[list(self._topics)], confirmations=self.settings.confirmations,
                                      start_block=self.settings.start_block, on_reorg=self._on_reorg)
        self._jobs: dict[bytes, TrainingJob | str] = {}
        self.last_error: str | None = None
        self.tx.resume()

    @property
    def address(self) -> str:
        return self.signer.address

    def _row(self, task_id: int) -> sqlite3.Row:
        row = self.journal.one("SELECT * FROM tasks WHERE task_id = ?", task_id)
        assert row is not None
        return row

    # ---- specs and jobs
    def add_spec(self, text: bytes, base: Path) -> bytes:
        """Know a task spec (its hash is keccak of these bytes); its dataset paths are relative to `base`."""
        TrainingJob.of(text, base, "the spec")  # refused here, with its reason, if it cannot be trained
        return self.journal.add_spec(text, base)

    def job(self, spec_hash: bytes) -> TrainingJob | str | None:
        """The job for a spec hash; a string says why the spec cannot be used; None: the spec is not known."""
        if spec_hash not in self._jobs:
            found = self.journal.spec(spec_hash)
            if found is None:
                return None
            try:
                self._jobs[spec_hash] = TrainingJob.of(found[0], found[1], f"spec 0x{spec_hash.hex()[:12]}…")
            except TesseraError as e:
                self._jobs[spec_hash] = str(e)
        return self._jobs[spec_hash]

    # ---- events
    def _handle(self, log: Log, conn: sqlite3.Connection) -> None:
        contract, name = self._topics[log.topics[0]]
        args = contract.event(name).decode(log.topics, log.data)
        if name == "Posted":
            conn.execute("INSERT OR IGNORE INTO tasks (task_id, block, spec_hash, params_hash, fee, status) VALUES "
                         "(?, ?, ?, ?, ?, 'posted')", (int(args["id"]), log.block_number, bytes(args["specHash"]),
                                                       bytes(args["paramsHash"]), int(args["fee"])))
        else:
            self.on_event(name, args, log, conn)

    def on_event(self, name: str, args: dict[str, Any], log: Log, conn: sqlite3.Connection) -> None:
        """Other followed events (inside the follower's transaction)."""

    def _on_reorg(self, block: int, conn: sqlite3.Connection) -> None:
        # tasks first seen in orphaned blocks are read again from the new chain, unless the node acted on them
        conn.execute("DELETE FROM tasks WHERE block > ? AND status IN ('posted', 'skipped', 'gone')", (block,))

    # ---- transactions, once per key
    def send(self, key: str, contract: Contract, fn: str, *args: Any, report: NodeReport,
             not_yet: tuple[str, ...] = ()) -> TxRecord | None:
        """Send `fn` once under `key`. None when it would revert now: the reason goes in the report, unless it is
        one of `not_yet` (errors that clear with time, such as TooEarly)."""
        existing = self.tx.get(key)
        if existing is not None:
            return self.tx.poll_one(key)
        try:
            return self.tx.send(key, contract.address, contract.encode(fn, *args),
                                fee_cap=self.settings.max_gas_price, context=f"{contract.name}.{fn}")
        except ContractRevert as e:
            if not any(name in str(e) for name in not_yet):
                report.errors.append(f"{fn}: {e}")
            return None

    @staticmethod
    def mined_ok(record: TxRecord | None) -> bool | None:
        """True/False once mined (succeeded or reverted), None while pending or never sent."""
        if record is None or record.status == "pending":
            return None
        return bool(record.ok) if record.status == "mined" else False

    def stable_text(self, base: int) -> str:
        if not hasattr(self, "_stable"):
            sc = self.deployment.stablecoin
            self._stable = (int(sc.call("decimals")), str(sc.call("symbol")))
        return f"{units_text(base, self._stable[0])} {self._stable[1]}"

    @staticmethod
    def tsr_text(wei: int) -> str:
        return f"{units_text(wei, 18)} TSR"

    def chain_time(self) -> int:
        return int(self.chain.get_block("latest").timestamp)

    # ---- passes
    def _read_events(self) -> None:
        self.follower.catch_up(self._handle)
        self.tx.poll()

    def step(self, receipt_timeout: float = 30.0) -> NodeReport:
        """One synchronous pass (heavy work inline), waiting for what it sent: tests, the CLI's --once."""
        self._read_events()
        report = NodeReport()
        for work in self.advance(report):
            work.finish(work.run(), report)
        self.tx.wait_pending(receipt_timeout)
        return report

    async def astep(self) -> NodeReport:
        self._read_events()
        report = NodeReport()
        for work in self.advance(report):
            work.finish(await asyncio.to_thread(work.run), report)
        return report

    def advance(self, report: NodeReport) -> list[Work]:
        """Move every open task one stage: the handler `_<status>` of the subclass, which may return heavy work."""
        work: list[Work] = []
        for row in self.journal.open_tasks():
            try:
                w = getattr(self, "_" + row["status"])(row, report)
            except ContractRevert as e:
                report.errors.append(f"task {row['task_id']}: {e}")
                continue
            if w is not None:
                work.append(w)
        self.after_tasks(report)
        return work

    def after_tasks(self, report: NodeReport) -> None:
        """Once per pass, after every task moved (a verifier withdraws its credits here)."""

    async def run(self, stop: asyncio.Event, interval: float = 1.0,
                  on_report: Callable[[NodeReport], None] | None = None) -> None:
        while not stop.is_set():
            try:
                report = await self.astep()
            except (ChainError, TesseraError) as e:
                report = NodeReport(errors=[str(e)])
            self.last_error = report.errors[-1] if report.errors else None
            if on_report is not None:
                on_report(report)
            try:
                await asyncio.wait_for(stop.wait(), interval)
            except TimeoutError:
                pass

    def status(self) -> dict[str, Any]:
        return {"role": self.role, "address": self.address, "tasks": self.journal.counts(),
                "follower_block": self.follower.status.checkpoint, "last_error": self.last_error}


@dataclass
class Work:
    """Heavy work for one task: `run` is pure (no chain, no journal: it runs in a thread); `finish` records it."""

    task_id: int
    run: Callable[[], Any]
    finish: Callable[[Any, NodeReport], None]


__all__ = ["NodeReport", "NodeSettings", "TrainingNode", "Work"]
