"""The provider node: registers, follows orders, bids, runs won workloads, heartbeats, withdraws.

All decisions are driven from SQLite state that chain events write exactly once, and every chain
action is checked against the chain before it is sent, so a node killed at any point (kill -9
included) resumes without double-bidding or double-starting: a bid already on chain is recorded,
not resent; a lease whose workload died is restarted from the stored manifest.
"""

from __future__ import annotations

import asyncio
import base64
import shutil
import sqlite3
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import httpx

from ..chain.base import Chain, Log
from ..chain.contract import Signer
from ..chain.events import EventFollower
from ..errors import ChainError, ManifestError, TesseraError, WorkloadError
from ..market.auth import manifest_message, recover
from ..market.bidengine import BidEngine, Decision
from ..market.client import MarketClient
from ..market.pricing import LinearPricing, PricingStrategy
from ..market.spec import Manifest
from ..market.types import LeaseState, OrderState, Prices, Resources
from ..protocol.deploy import Deployment
from . import sandbox
from ..zkml import default_cache_dir
from .store import ProviderStore
from .zk_service import ZkService


@dataclass
class ProviderConfig:
    endpoint: str
    region: str
    gpu_model: str
    capacity: Resources
    prices: Prices
    bond: int
    pricing: PricingStrategy | None = None  # default: LinearPricing(prices)
    confirmations: int = 0
    heartbeat_fraction: float = 0.33  # heartbeat when a third of the SLA has passed
    withdraw_interval: int = 3600  # chain seconds between withdrawals of earnings
    startup_timeout: float = 30.0


@dataclass
class StepReport:
    bids: list[int] = field(default_factory=list)
    skipped: list[tuple[int, str]] = field(default_factory=list)
    heartbeats: int = 0
    withdrawals: int = 0
    errors: list[str] = field(default_factory=list)
    zk_settled: int = 0
    acknowledged: list[int] = field(default_factory=list)
    gave_up: list[tuple[int, str]] = field(default_factory=list)


class ProviderNode:
    def __init__(self, chain: Chain, deployment: Deployment, signer: Signer, config: ProviderConfig,
                 data_dir: Path, *, clock: Callable[[], float] = time.monotonic, zk_cache: Path | None = None) -> None:
        self.chain = chain
        self.deployment = deployment
        self.signer = signer
        self.config = config
        self.client = MarketClient(chain, deployment)
        self.data_dir = data_dir
        data_dir.mkdir(parents=True, exist_ok=True)
        self.store = ProviderStore(data_dir / "provider.sqlite3")
        self.store.bind_chain(chain.chain_id, chain.get_block(0).hash, deployment.market.address,
                              data_dir / "provider.sqlite3")
        market = self.client.market
        self._topics = {market.event(n).topic: n for n in ("OrderCreated", "LeaseCreated", "LeaseClosed")}
        self.follower = EventFollower(chain, self.store.conn, f"provider-{signer.address.lower()}",
                                      address=market.address, topics=[list(self._topics)],
                                      confirmations=config.confirmations, on_reorg=self._on_reorg)
        self.pricing = config.pricing or LinearPricing(config.prices)
        self.clock = clock
        self.last_error: str | None = None
        # `proof: zk` leases: proofs of the lease's ONNX model, paid per verified result
        self.zk = ZkService(self, zk_cache or default_cache_dir())

    @property
    def address(self) -> str:
        return self.signer.address

    # ---- registration ----

    def ensure_registered(self) -> bool:
        """Register or update on-chain only if the declared attributes differ. Returns True if a tx was sent."""
        c = self.config
        return self.client.register_provider(self.signer, endpoint=c.endpoint, region=c.region,
                                             gpu_model=c.gpu_model, capacity=c.capacity, prices=c.prices,
                                             bond=c.bond) is not None

    # ---- events → state (exactly once, inside the follower's transaction) ----

    def _handle(self, log: Log, conn: sqlite3.Connection) -> None:
        name = self._topics[log.topics[0]]
        args = self.client.market.event(name).decode(log.topics, log.data)
        if name == "OrderCreated":
            conn.execute("INSERT OR IGNORE INTO orders (order_id, block, status) VALUES (?, ?, 'new')",
                         (args["orderId"], log.block_number))
        elif name == "LeaseCreated" and args["provider"] == self.address:
            conn.execute("INSERT OR IGNORE INTO leases (lease_id, order_id, block, status) "
                         "VALUES (?, ?, ?, 'awaiting_manifest')", (args["leaseId"], args["orderId"], log.block_number))
            conn.execute("UPDATE orders SET status = 'won' WHERE order_id = ?", (args["orderId"],))
        elif name == "LeaseClosed":
            conn.execute("UPDATE leases SET status = 'closing' WHERE lease_id = ? AND status != 'closed'",
                         (args["leaseId"],))

    def _on_reorg(self, block: int, conn: sqlite3.Connection) -> None:
        # orphaned orders are forgotten (the chain is re-read); orphaned leases stop being served
        conn.execute("DELETE FROM orders WHERE block > ? AND status = 'new'", (block,))
        conn.execute("UPDATE leases SET status = 'closing' WHERE block > ? AND status != 'closed'", (block,))

    # ---- one pass of the node's work ----

    def sync(self) -> None:
        """Read new market events into the node's state, and take no action (the API calls this: every
        action belongs to the service loop, which reports and logs it)."""
        self.follower.poll(self._handle)

    def step(self) -> StepReport:
        report = StepReport()
        self.sync()
        now = self.chain.get_block().timestamp
        self._bid_on_new_orders(now, report)
        self._follow_bids(now, report)
        self._tend_leases(now, report)
        try:
            report.zk_settled = self.zk.settle_pending()
        except TesseraError as e:
            report.errors.append(f"zk settlement: {e}")
        return report

    def _bid_on_new_orders(self, now: int, report: StepReport) -> None:
        rows = self.store.q("SELECT order_id FROM orders WHERE status = 'new' ORDER BY order_id")
        if not rows:
            return  # most passes: no chain reads at all
        free = self.client.provider(self.address).free
        engine = BidEngine(self.config.region, self.config.gpu_model, self.pricing)
        for row in rows:
            order_id = row["order_id"]
            existing = self.client.market.call("bidOf", order_id, self.address)
            if existing:  # sent before a crash, recorded now: never bid twice
                self.store.x("UPDATE orders SET status='bid', bid_id=? WHERE order_id=?", existing, order_id)
                continue
            order = self.client.order(order_id)
            auditor = order.spec.requirements.auditor
            # certifications live on-chain and are voided by attribute changes: ask the chain each time
            ok = bool(auditor) and self.client.providers.call("isCertified", self.address, auditor)
            engine.certified_by = frozenset({auditor}) if ok and auditor else frozenset()
            try:
                decision = engine.evaluate(order, free, now)
            except TesseraError as e:
                decision = Decision(False, None, f"pricing failed: {e}")
            if not decision.bid:
                self.store.x("UPDATE orders SET status='skipped', reason=?, price=? WHERE order_id=?",
                             decision.reason, decision.price, order_id)
                report.skipped.append((order_id, decision.reason))
                continue
            assert decision.price is not None
            try:
                bid_id, _ = self.client.place_bid(self.signer, order_id, decision.price)
            except ChainError as e:
                self.store.x("UPDATE orders SET status='skipped', reason=? WHERE order_id=?", f"bid failed: {e}",
                             order_id)
                report.errors.append(f"order {order_id}: {e}")
                continue
            free = free - order.spec.resources
            self.store.x("UPDATE orders SET status='bid', bid_id=?, price=? WHERE order_id=?", bid_id, decision.price,
                         order_id)
            report.bids.append(bid_id)

    def _follow_bids(self, now: int, report: StepReport) -> None:
        for row in self.store.q("SELECT order_id, bid_id FROM orders WHERE status = 'bid'"):
            order = self.client.order(row["order_id"])
            try:
                if order.state == OrderState.OPEN:
                    if order.best_bid == row["bid_id"] and now >= order.closes_at:
                        self.client.close_auction(self.signer, order.order_id)  # we won: don't wait for the tenant
                    continue
                if order.state == OrderState.LEASED and self.client.lease(order.lease_id).provider == self.address:
                    continue  # ours: LeaseCreated moves it to 'won'
                if not self.client.bid(row["bid_id"]).settled:
                    self.client.refund_bid(self.signer, row["bid_id"])
                self.store.x("UPDATE orders SET status='refunded' WHERE order_id=?", order.order_id)
            except ChainError as e:
                report.errors.append(f"bid {row['bid_id']}: {e}")

    def _tend_leases(self, now: int, report: StepReport) -> None:
        rows = self.store.q("SELECT * FROM leases WHERE status != 'closed'")
        if not rows:
            return
        sla = self.client.market.call("heartbeatSla")  # one read, not the eight of params()
        for row in rows:
            lease_id = row["lease_id"]
            lease = self.client.lease(lease_id)
            if lease.state == LeaseState.CLOSED or row["status"] == "closing":
                self._stop_workload(row)
                self.store.x("UPDATE leases SET status='closed', pid=NULL WHERE lease_id=?", lease_id)
                continue
            status = self.client.lease_status(lease_id)
            if status.breached:
                continue  # too late: the lease will be closed and the bond slashed
            if lease.state == LeaseState.STARTING:
                self._start_or_give_up(row, lease, now, report)
                continue
            try:
                if status.state == LeaseState.PAUSED:
                    if row["status"] == "running" and row["pid"]:
                        sandbox.suspend(row["pid"])
                        self.store.x("UPDATE leases SET status='paused' WHERE lease_id=?", lease_id)
                elif row["status"] == "paused" and row["pid"]:
                    sandbox.resume(row["pid"])
                    self.store.x("UPDATE leases SET status='running' WHERE lease_id=?", lease_id)
                elif row["status"] == "running" and not (row["pid"] and sandbox.alive(row["pid"])):
                    self._start_workload(lease_id)  # died, or the node restarted: resume it
                if row["status"] == "running" and row["started_at"]:
                    manifest = self._manifest(lease_id)
                    if manifest and time.time() - row["started_at"] > manifest.workload["limits"]["wall_seconds"]:
                        self._stop_workload(row)
                        self.store.x("UPDATE leases SET status='failed', detail='wall-clock limit reached', "
                                     "pid=NULL WHERE lease_id=?", lease_id)
                since = now - lease.last_heartbeat
                if status.owed_to_provider and now - row["last_withdraw"] >= self.config.withdraw_interval:
                    self.client.withdraw(self.signer, lease_id)  # counts as a heartbeat too
                    self.store.x("UPDATE leases SET last_withdraw=? WHERE lease_id=?", now, lease_id)
                    report.withdrawals += 1
                elif since >= sla * self.config.heartbeat_fraction:
                    self.client.heartbeat(self.signer, lease_id)
                    report.heartbeats += 1
            except (ChainError, WorkloadError) as e:
                report.errors.append(f"lease {lease_id}: {e}")

    def _start_or_give_up(self, row: sqlite3.Row, lease: Any, now: int, report: StepReport) -> None:
        """A won lease bills only once acknowledged: acknowledge when the workload answers; close it (a full
        refund to the tenant, the capacity back to the market) when the manifest never came or the workload
        cannot start."""
        lease_id = lease.lease_id
        try:
            if row["status"] == "running" and self._workload_ready(row):
                self.client.acknowledge(self.signer, lease_id)
                self.store.x("UPDATE leases SET started_at=? WHERE lease_id=?", time.time(), lease_id)
                report.acknowledged.append(lease_id)
                return
            failed = row["status"] == "failed" or (row["status"] == "running" and not sandbox.alive(row["pid"]))
            if failed or now > lease.start_by:
                why = (row["detail"] or "the workload exited before it could serve") if failed else \
                    "no manifest before the start deadline"
                self._stop_workload(row)
                self.client.close_lease(self.signer, lease_id)
                self.store.x("UPDATE leases SET status='closed', pid=NULL, detail=? WHERE lease_id=?", why, lease_id)
                report.gave_up.append((lease_id, why))
        except ChainError as e:
            report.errors.append(f"lease {lease_id}: {e}")

    def _workload_ready(self, row: sqlite3.Row) -> bool:
        if not (row["pid"] and sandbox.alive(row["pid"])):
            return False
        if not row["port"]:
            return True  # a batch job runs as soon as its process does
        try:
            return httpx.get(f"http://127.0.0.1:{row['port']}/health", timeout=2.0).status_code == 200
        except httpx.HTTPError:
            return False  # still loading the model: the next pass asks again

    def withdraw_all(self) -> int:
        n = 0
        for row in self.store.q("SELECT lease_id FROM leases WHERE status IN ('running', 'paused')"):
            if self.client.lease_status(row["lease_id"]).owed_to_provider:
                self.client.withdraw(self.signer, row["lease_id"])
                n += 1
        return n

    # ---- manifests and workloads ----

    def _lease_dir(self, lease_id: int) -> Path:
        return self.data_dir / "leases" / str(lease_id)

    def _manifest(self, lease_id: int) -> Manifest | None:
        path = self._lease_dir(lease_id) / "manifest.json"
        return Manifest.from_bytes(path.read_bytes()) if path.exists() else None

    def accept_manifest(self, lease_id: int, raw: bytes, signature: str) -> dict[str, Any]:
        """Check the tenant's signed manifest against the order and start the workload."""
        row = self.store.one("SELECT * FROM leases WHERE lease_id = ?", lease_id)
        lease = self.client.lease(lease_id)
        if row is None or lease.provider != self.address:
            raise ManifestError(f"lease {lease_id} is not served by this provider ({self.address})")
        if lease.state == LeaseState.CLOSED:
            raise ManifestError(f"lease {lease_id} is closed")
        order = self.client.order(lease.order_id)
        manifest = Manifest.from_bytes(raw)
        if manifest.hash != order.spec.manifest_hash:
            raise ManifestError(
                f"manifest hash 0x{manifest.hash.hex()} does not match order {order.order_id}'s "
                f"0x{order.spec.manifest_hash.hex()}: send the exact manifest the order was created with")
        message = manifest_message(self.chain.chain_id, self.client.market.address, lease_id, manifest.hash)
        signer = recover(message, signature)
        if signer != lease.tenant:
            raise ManifestError(f"manifest signed by {signer}, not by the lease's tenant {lease.tenant}")
        if row["status"] in ("running", "paused"):
            return {"lease_id": lease_id, "status": row["status"], "already": True}
        d = self._lease_dir(lease_id)
        d.mkdir(parents=True, exist_ok=True)
        (d / "manifest.json").write_bytes(manifest.canonical)
        self._start_workload(lease_id)
        return {"lease_id": lease_id, "status": "running", "already": False}

    def _start_workload(self, lease_id: int) -> None:
        manifest = self._manifest(lease_id)
        if manifest is None:
            raise WorkloadError(f"lease {lease_id} has no manifest yet")
        w, d = manifest.workload, self._lease_dir(lease_id)
        limits = sandbox.Limits(w["limits"]["cpu_seconds"], w["limits"]["memory"], w["limits"]["wall_seconds"])
        files = d / "files"
        shutil.rmtree(files, ignore_errors=True)
        files.mkdir(parents=True)
        for name in w["files"]:
            (files / Path(name).name).write_bytes(manifest.file(name))
        port = None
        if w["kind"] == "onnx":
            port = sandbox.free_port()
            args = ["tessera.provider.onnx_server", str(files / "model.onnx"), str(port)]
        else:
            inputs = d / "inputs"
            inputs.mkdir(exist_ok=True)
            for name, b64 in w.get("inputs", {}).items():
                (inputs / Path(name).name).write_bytes(base64.b64decode(b64))
            args = ["tessera.provider.batch_runner", str(d), w["entrypoint"]]
        pid = sandbox.start(args, d, limits, d / "workload.log")
        self.store.x("UPDATE leases SET status='running', pid=?, port=?, started_at=?, detail=NULL WHERE lease_id=?",
                     pid, port, time.time(), lease_id)

    def _stop_workload(self, row: sqlite3.Row) -> None:
        if row["pid"]:
            sandbox.stop(row["pid"])

    def stop_all(self) -> None:
        for row in self.store.q("SELECT * FROM leases WHERE pid IS NOT NULL AND status != 'closed'"):
            self._stop_workload(row)

    def logs(self, lease_id: int, tail: int = 200) -> str:
        path = self._lease_dir(lease_id) / "workload.log"
        if not path.exists():
            return ""
        return "\n".join(path.read_text(errors="replace").splitlines()[-tail:])

    async def infer(self, lease_id: int, payload: dict[str, Any], timeout: float = 30.0) -> dict[str, Any]:
        row = self.store.one("SELECT * FROM leases WHERE lease_id = ?", lease_id)
        if row is None:
            raise WorkloadError(f"lease {lease_id} is not served here")
        if row["status"] == "paused":
            raise WorkloadError(f"lease {lease_id} is paused: its escrow ran dry; the tenant must top up")
        if row["status"] != "running" or not row["port"]:
            raise WorkloadError(f"lease {lease_id} is {row['status']}, not serving a model")
        deadline = self.clock() + self.config.startup_timeout
        async with httpx.AsyncClient(timeout=timeout) as http:
            while True:  # the model may still be loading just after the manifest arrived
                try:
                    resp = await http.post(f"http://127.0.0.1:{row['port']}/infer", json=payload)
                    break
                except httpx.TransportError as e:
                    if self.clock() > deadline or not sandbox.alive(row["pid"]):
                        raise WorkloadError(f"the workload of lease {lease_id} is not answering ({e}); "
                                            f"see its logs") from e
                    await asyncio.sleep(0.1)
        if resp.status_code != 200:
            raise WorkloadError(f"the model refused the request: {resp.json().get('error', resp.text)}")
        self.store.x("UPDATE leases SET served = served + 1 WHERE lease_id = ?", lease_id)
        result: dict[str, Any] = resp.json()
        return result

    def status(self) -> dict[str, Any]:
        return {"provider": self.address, "endpoint": self.config.endpoint,
                "follower": {"checkpoint": self.follower.status.checkpoint, "error": self.follower.status.last_error},
                **self.store.summary()}

    # ---- the service loop ----

    async def run(self, stop: asyncio.Event, interval: float = 1.0,
                  on_report: Callable[[StepReport], None] | None = None) -> None:
        """The service loop; `on_report` sees every pass's report (the CLI logs one line per action)."""
        self.ensure_registered()
        while not stop.is_set():
            try:
                report = self.step()
                self.last_error = "; ".join(report.errors) or None
            except ChainError as e:
                self.last_error = str(e)  # the node keeps going: the chain may come back
                report = StepReport(errors=[f"chain: {e}"])
            if on_report is not None:
                on_report(report)
            try:
                await asyncio.wait_for(stop.wait(), interval)
            except asyncio.TimeoutError:
                pass
