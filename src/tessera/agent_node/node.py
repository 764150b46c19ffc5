"""The agent runtime's state and actions: a restart-safe journal of what the agent paid and published.

Every payment a tool asks for has an id (the tool's idempotency key). It is journalled in SQLite (WAL,
synchronous=FULL) *before* anything is signed. Its transaction then goes through the `TxManager`, which
journals nonce and hash before broadcasting. A node killed at any point therefore restarts knowing the
payment: one with no transaction yet is sent now, one whose transaction may be out is waited for, never sent
twice. Asking again with the same id returns the recorded payment. The owner's policy decides first
(`AgentWallet`), and the PolicyWallet contract bounds what any transaction can do.
"""

from __future__ import annotations

import json
import sqlite3
import time
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any, Callable

from eth_account.signers.local import LocalAccount
from eth_utils import keccak

from ..agents import AgentWallet, PolicyWallet, read_spec
from ..chain.base import Chain
from ..chain.txmanager import TxManager
from ..errors import AgentError, ContractRevert, TransactionError
from ..protocol.deploy import Deployment
from ..sqlite_store import bind_chain
from .config import AgentConfig

SCHEMA = """
PRAGMA journal_mode=WAL;
PRAGMA synchronous=FULL;
CREATE TABLE IF NOT EXISTS payments (
    id TEXT PRIMARY KEY, payee TEXT NOT NULL, amount TEXT NOT NULL,
    status TEXT NOT NULL,              -- pending | paid | waiting (for the owner) | refused | failed
    reason TEXT NOT NULL DEFAULT '', tx_key TEXT NOT NULL DEFAULT '', tx TEXT NOT NULL DEFAULT '',
    proposal INTEGER, created REAL NOT NULL, updated REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS hires (
    id TEXT PRIMARY KEY, args TEXT NOT NULL, valid_before INTEGER NOT NULL,
    status TEXT NOT NULL,              -- pending | posted | refused | failed
    reason TEXT NOT NULL DEFAULT '', job INTEGER, created REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS deliveries (
    job INTEGER PRIMARY KEY, salt BLOB NOT NULL, result_hash BLOB NOT NULL, price TEXT NOT NULL,
    status TEXT NOT NULL,              -- pending | delivered | failed
    reason TEXT NOT NULL DEFAULT '', created REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS meta (k TEXT PRIMARY KEY, v TEXT NOT NULL);
"""
FEE_CAP = 500 * 10**9  # wei per gas the agent will ever pay for its own transactions


@dataclass(frozen=True)
class PaymentRecord:
    id: str
    payee: str
    amount: int
    status: str
    reason: str
    tx: str
    proposal: int | None

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "payee": self.payee, "amount": str(self.amount), "status": self.status,
                "reason": self.reason, "transaction": self.tx, "proposal": self.proposal}


class AgentNode:
    def __init__(self, chain: Chain, d: Deployment, key: LocalAccount, config: AgentConfig, data_dir: Path, *,
                 log: Callable[[str], None] = lambda line: None) -> None:
        self.chain, self.d, self.key, self.config, self.log = chain, d, key, config, log
        _, spec = read_spec(config.policy)
        self.wallet = PolicyWallet(chain, spec.wallet)
        self.agent = AgentWallet(self.wallet, key, self.wallet.trusted_policy(config.policy))
        data_dir.mkdir(parents=True, exist_ok=True)
        path = data_dir / "agent.db"
        self.conn = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False)
        self.conn.executescript(SCHEMA)
        bind_chain(self.conn, chain.chain_id, chain.get_block(0).hash, d.agents.address, path)
        self.tx = TxManager(chain, key, self.conn)
        self.tx.resume()
        self.recover()

    # -- identity -----------------------------------------------------------------------------
    def card(self) -> dict[str, Any]:
        c = self.config
        return {"name": c.name, "endpoint": c.endpoint, "skills": list(c.skills),
                "prices": {k: str(v) for k, v in c.prices.items()}, "schemes": ["exact", "batch-settlement"],
                "wallet": self.wallet.address, "payee": self.key.address}

    def card_hash(self) -> bytes:
        return keccak(json.dumps(self.card(), sort_keys=True).encode())

    def agent_id(self) -> int | None:
        row = self.conn.execute("SELECT v FROM meta WHERE k = 'agent_id'").fetchone()
        return int(row[0]) if row else None

    def ensure_registered(self) -> int:
        """Publish the card in the AgentRegistry once (journalled: a restart never mints a second agent)."""
        known = self.agent_id()
        if known is not None:
            return known
        data = self.d.agents.encode("register", self.config.endpoint + "/card", self.card_hash())
        record = self.tx.send("register", self.d.agents.address, data, fee_cap=FEE_CAP, context="register agent")
        receipt = self._wait(record.key)
        [event] = self.d.agents.events(receipt, "Registered")
        agent_id = int(event.args["id"])
        self.conn.execute("INSERT OR REPLACE INTO meta (k, v) VALUES ('agent_id', ?)", (str(agent_id),))
        self.log(f"registered as agent {agent_id} (card {self.card_hash().hex()[:16]}…)")
        return agent_id

    # -- paying -------------------------------------------------------------------------------
    def payment(self, payment_id: str) -> PaymentRecord | None:
        row = self.conn.execute("SELECT id, payee, amount, status, reason, tx, proposal FROM payments WHERE id = ?",
                                (payment_id,)).fetchone()
        return None if row is None else PaymentRecord(row[0], row[1], int(row[2]), row[3], row[4], row[5], row[6])

    def payments(self) -> list[PaymentRecord]:
        ids = [r[0] for r in self.conn.execute("SELECT id FROM payments ORDER BY created").fetchall()]
        return [p for p in (self.payment(i) for i in ids) if p is not None]

    def pay(self, payment_id: str, payee: str, amount: int) -> PaymentRecord:
        """Pay `amount` to `payee` once for `payment_id`, within the policy."""
        existing = self.payment(payment_id)
        if existing is not None:
            if (existing.payee.lower(), existing.amount) != (payee.lower(), amount):
                raise AgentError(f"payment id {payment_id} was already used for {existing.amount} to "
                                 f"{existing.payee}: use a new id for a new payment")
            return self._settle(existing) if existing.status == "pending" else existing
        decision = self.agent.engine.check_payment(payee, amount)
        now = time.time()
        status = {"allow": "pending", "approve": "pending", "refuse": "refused"}[decision.verdict]
        function = "propose" if decision.verdict == "approve" else "pay"
        self.conn.execute("INSERT INTO payments (id, payee, amount, status, reason, tx_key, created, updated) "
                          "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                          (payment_id, payee, str(amount), status, decision.reason, f"{function}:{payment_id}", now, now))
        self.log(f"payment {payment_id}: {decision.verdict}: {decision.reason}")
        record = self.payment(payment_id)
        assert record is not None
        return record if status == "refused" else self._settle(record)

    def _settle(self, record: PaymentRecord) -> PaymentRecord:
        tx_key = self.conn.execute("SELECT tx_key FROM payments WHERE id = ?", (record.id,)).fetchone()[0]
        function = tx_key.split(":", 1)[0]
        data = self.wallet.contract.encode(function, self.agent.token, record.payee, record.amount)
        try:
            sent = self.tx.send(tx_key, self.wallet.address, data, fee_cap=FEE_CAP, context=f"{function} {record.id}")
        except (ContractRevert, TransactionError) as e:
            self._update(record.id, "failed", f"the wallet refused it: {e}")
            return self.payment(record.id)  # type: ignore[return-value]
        receipt = self._wait(sent.key)
        tx = "0x" + receipt.transaction_hash.hex()
        if not receipt.ok:
            self._update(record.id, "failed", "the transaction reverted", tx)
        elif function == "propose":
            [event] = self.wallet.contract.events(receipt, "Proposed")
            self._update(record.id, "waiting", "waits for the owner's approval", tx, int(event.args["id"]))
        else:
            self._update(record.id, "paid", record.reason, tx)
        self._sync_budget()
        final = self.payment(record.id)
        assert final is not None
        self.log(f"payment {record.id}: {final.status} ({tx[:12]}…)")
        return final

    def _sync_budget(self) -> None:
        """The wallet's own count of the window's spending is the truth (a resumed payment is counted once)."""
        start, spent = self.wallet.budget(self.agent.token)
        self.agent.engine.window_start, self.agent.engine.spent = start, spent

    def recover(self) -> None:
        """After a restart: finish every payment and hire that was journalled but not settled."""
        for row in self.conn.execute("SELECT id FROM payments WHERE status = 'pending'").fetchall():
            record = self.payment(row[0])
            if record is not None:
                self.log(f"payment {record.id}: resuming after a restart")
                self._settle(record)
        for row in self.conn.execute("SELECT job FROM deliveries WHERE status = 'pending'").fetchall():
            self.log(f"delivery for job {row[0]}: resuming after a restart")
            self._deliver(int(row[0]))
        for row in self.conn.execute("SELECT id FROM hires WHERE status = 'pending'").fetchall():
            self.log(f"hire {row[0]}: resuming after a restart")
            self._post(row[0])

    # -- hiring -------------------------------------------------------------------------------
    def hire(self, hire_id: str, task: str, max_price: int, hours: float, priority_agent: int = 0,
             priority_window: int = 600, review_window: int = 3600) -> dict[str, Any]:
        """Post a job funded from the wallet (a reserved authorization, then the post), once per id."""
        from ..agents.jobs import JobBoardClient

        row = self.conn.execute("SELECT status FROM hires WHERE id = ?", (hire_id,)).fetchone()
        if row is None:
            decision = self.agent.engine.check_payment(self.d.jobs.address, max_price)
            args = JobBoardClient(self.d).post_args(task, max_price, hours, priority_agent=priority_agent,
                                                    priority_window=priority_window if priority_agent else 0,
                                                    review_window=review_window)
            valid_before = int(self.chain.get_block("latest").timestamp) + 600
            refused = decision.verdict != "allow"
            reason = decision.reason if decision.verdict != "approve" else (
                f"{decision.reason.split(':')[0]}: a job is funded by a signed authorization, which cannot wait for "
                "approval; lower the max or have the owner raise approval_above")
            self.conn.execute("INSERT INTO hires (id, args, valid_before, status, reason, created) VALUES (?, ?, ?, ?, ?, ?)",
                              (hire_id, json.dumps([a.hex() if isinstance(a, bytes) else a for a in args]),
                               valid_before, "refused" if refused else "pending", reason, time.time()))
            self.log(f"hire {hire_id}: {decision.verdict}: {reason}")
            if not refused:
                self._post(hire_id)
        elif row[0] == "pending":
            self._post(hire_id)
        return self.hire_record(hire_id)

    def hire_record(self, hire_id: str) -> dict[str, Any]:
        row = self.conn.execute("SELECT id, status, reason, job FROM hires WHERE id = ?", (hire_id,)).fetchone()
        if row is None:
            raise AgentError(f"no hire {hire_id}")
        return {"id": row[0], "status": row[1], "reason": row[2], "job": row[3]}

    def _post(self, hire_id: str) -> None:
        raw, valid_before = self.conn.execute("SELECT args, valid_before FROM hires WHERE id = ?", (hire_id,)).fetchone()
        args = tuple(bytes.fromhex(a) if isinstance(a, str) else a for a in json.loads(raw))
        jobs, token, price = self.d.jobs, self.agent.token, int(args[1])
        nonce = bytes(jobs.call("postNonce", args, self.wallet.address))
        try:
            reserve = self.wallet.contract.encode("reserve", token, True, jobs.address, price, 0, valid_before, nonce)
            self._wait(self.tx.send(f"reserve:{hire_id}", self.wallet.address, reserve, fee_cap=FEE_CAP,
                                    context=f"reserve {hire_id}").key)
            digest = bytes(self.wallet.contract.call("authorizationDigest", token, True, jobs.address, price, 0,
                                                     valid_before, nonce))
            sig = bytes(self.key.unsafe_sign_hash(digest).signature)  # type: ignore[arg-type]
            post = jobs.encode("postWithAuthorization", args, self.wallet.address, 0, valid_before, sig)
            receipt = self._wait(self.tx.send(f"post:{hire_id}", jobs.address, post, fee_cap=FEE_CAP,
                                              context=f"post {hire_id}").key)
        except (ContractRevert, TransactionError) as e:
            self.conn.execute("UPDATE hires SET status = 'failed', reason = ? WHERE id = ?", (str(e), hire_id))
            return
        self._sync_budget()
        [event] = jobs.events(receipt, "Posted")
        self.conn.execute("UPDATE hires SET status = 'posted', job = ? WHERE id = ?", (int(event.args["id"]), hire_id))
        self.log(f"hire {hire_id}: posted job {int(event.args['id'])}")

    # -- answering jobs -------------------------------------------------------------------------
    def deliver(self, job_id: int, result: bytes, price: int) -> dict[str, Any]:
        """Answer a job as this agent: commit, then reveal (journalled with its salt, resumed after a restart)."""
        import os

        row = self.conn.execute("SELECT status FROM deliveries WHERE job = ?", (job_id,)).fetchone()
        if row is None:
            self.conn.execute("INSERT INTO deliveries (job, salt, result_hash, price, status, created) "
                              "VALUES (?, ?, ?, ?, 'pending', ?)", (job_id, os.urandom(32), keccak(result), str(price),
                                                                   time.time()))
            self._deliver(job_id)
        elif row[0] == "pending":
            self._deliver(job_id)
        status, reason = self.conn.execute("SELECT status, reason FROM deliveries WHERE job = ?", (job_id,)).fetchone()
        return {"job": job_id, "status": status, "reason": reason}

    def _deliver(self, job_id: int) -> None:
        salt, result_hash, price = self.conn.execute("SELECT salt, result_hash, price FROM deliveries WHERE job = ?",
                                                     (job_id,)).fetchone()
        agent_id, jobs = self.ensure_registered(), self.d.jobs
        try:
            h = bytes(jobs.call("deliveryHash", job_id, agent_id, self.key.address, bytes(result_hash), int(price), [],
                                bytes(salt)))
            self._wait(self.tx.send(f"commit:{job_id}", jobs.address, jobs.encode("commit", job_id, agent_id, h),
                                    fee_cap=FEE_CAP, context=f"commit job {job_id}").key)
            data = jobs.encode("deliver", job_id, agent_id, bytes(result_hash), int(price), [], bytes(salt))
            self._wait(self.tx.send(f"deliver:{job_id}", jobs.address, data, fee_cap=FEE_CAP,
                                    context=f"deliver job {job_id}").key)
        except (ContractRevert, TransactionError) as e:
            self.conn.execute("UPDATE deliveries SET status = 'failed', reason = ? WHERE job = ?", (str(e), job_id))
            self.log(f"delivery for job {job_id}: failed: {e}")
            return
        self.conn.execute("UPDATE deliveries SET status = 'delivered' WHERE job = ?", (job_id,))
        self.log(f"delivery for job {job_id}: delivered as agent {agent_id}")

    def accept(self, job_id: int) -> str:
        """Accept a delivery on a job this agent's wallet posted (through the wallet's execute)."""
        data = self.d.jobs.encode("accept", job_id)
        decision = self.agent.engine.check_call(self.d.jobs.address, data)
        if decision.verdict != "allow":
            raise AgentError(f"refused by the policy: {decision.reason}")
        call = self.wallet.contract.encode("execute", self.d.jobs.address, data)
        receipt = self._wait(self.tx.send(f"accept:{job_id}", self.wallet.address, call, fee_cap=FEE_CAP,
                                          context=f"accept job {job_id}").key)
        self.log(f"job {job_id}: accepted")
        return "0x" + receipt.transaction_hash.hex()

    def _update(self, payment_id: str, status: str, reason: str, tx: str = "", proposal: int | None = None) -> None:
        self.conn.execute("UPDATE payments SET status = ?, reason = ?, tx = ?, proposal = ?, updated = ? WHERE id = ?",
                          (status, reason, tx, proposal, time.time(), payment_id))

    def _wait(self, key: str, timeout: float = 120.0) -> Any:
        deadline = time.monotonic() + timeout
        while True:
            record = self.tx.poll_one(key)
            if record is not None and record.status != "pending":
                for h in record.hashes[::-1]:
                    receipt = self.chain.get_receipt(h)
                    if receipt is not None:
                        return receipt
            if time.monotonic() > deadline:
                raise AgentError(f"transaction {key} was not mined within {timeout:.0f} s: it stays journalled "
                                 "and is resumed on the next start")
            time.sleep(0.2)

    def amount(self, text: str) -> int:
        try:
            value = Decimal(text)
        except ArithmeticError:
            raise AgentError(f"{text!r} is not an amount: write e.g. 0.10") from None
        scaled = value.scaleb(self.agent.policy.decimals)
        if value <= 0 or scaled != scaled.to_integral_value():
            raise AgentError(f"{text} is not a positive amount with at most {self.agent.policy.decimals} decimals")
        return int(scaled)
