"""A subnet validator: challenge miners, score them, catch copiers, commit/reveal, settle epochs.

Scoring sends each miner the same batch: held-out labelled rows plus fresh random rows nobody can
have seen. Accuracy on the labelled rows and latency make the score. Two miners whose answers on
the random rows agree to 1e-4 did not compute independently: the slower one copied and scores 0.
Every answer must carry the miner's hotkey signature over (challenge, outputs).

State that must survive a restart (the salt of an unrevealed commit, the bonds and permits carried
between epochs, the last epoch signed) lives in SQLite, so a restarted validator reveals what it
committed and never signs two different results for one epoch (which would get it slashed).
"""

from __future__ import annotations

import json
import os
import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import numpy as np
from eth_account.signers.local import LocalAccount

from .client import Carry, EpochComputation, SubnetClient
from .miner import recover_answer_signer
from .settlement import order_signatures

COPY_TOLERANCE = 1e-4


@dataclass
class MinerScore:
    uid: int
    accuracy: float = 0.0
    latency_ms: float = 0.0
    copied_from: int | None = None
    error: str | None = None
    score: float = 0.0


@dataclass
class Dataset:
    """Held-out labelled rows the validator challenges with."""

    inputs: np.ndarray
    labels: np.ndarray


class ValidatorStore:
    """SQLite key-value state: pending commit, carried bonds/permits, last signed epoch."""

    def __init__(self, path: Path | str) -> None:
        self.db = sqlite3.connect(str(path))
        self.db.execute("CREATE TABLE IF NOT EXISTS kv (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
        self.db.commit()

    def get(self, key: str, default: Any = None) -> Any:
        row = self.db.execute("SELECT value FROM kv WHERE key = ?", (key,)).fetchone()
        return default if row is None else json.loads(row[0])

    def put(self, key: str, value: Any) -> None:
        with self.db:
            self.db.execute("INSERT OR REPLACE INTO kv (key, value) VALUES (?, ?)", (key, json.dumps(value)))

    def carry(self, netuid: int) -> Carry:
        raw = self.get(f"carry:{netuid}", {"bonds": {}, "permits": {}})
        return Carry({int(k): v for k, v in raw["bonds"].items()}, {int(k): v for k, v in raw["permits"].items()})

    def save_carry(self, netuid: int, carry: Carry) -> None:
        self.put(f"carry:{netuid}", {"bonds": carry.bonds, "permits": carry.permits})


class SubnetValidator:
    def __init__(self, client: SubnetClient, hotkey: LocalAccount, netuid: int, store: ValidatorStore,
                 dataset: Dataset, *, random_rows: int = 4, seed: int | None = None) -> None:
        self.client = client
        self.hotkey = hotkey
        self.netuid = netuid
        self.store = store
        self.dataset = dataset
        self.random_rows = random_rows
        self.rng = np.random.default_rng(seed)

    # ------------------------------------------------------------ scoring

    async def score(self, miners: dict[int, tuple[str, httpx.AsyncClient]]) -> dict[int, MinerScore]:
        """Challenge every miner (uid -> (hotkey, http client)) with one batch and score the answers."""
        noise = self.rng.normal(size=(self.random_rows, self.dataset.inputs.shape[1])).round(4)
        batch = np.vstack([self.dataset.inputs, noise]).tolist()
        challenge = os.urandom(16).hex()
        labelled = len(self.dataset.inputs)
        scores: dict[int, MinerScore] = {}
        answers: dict[int, np.ndarray] = {}
        for uid, (hotkey, http) in miners.items():
            s = scores[uid] = MinerScore(uid)
            start = time.perf_counter()
            try:
                r = await http.post("/predict", json={"challenge": challenge, "inputs": batch}, timeout=5.0)
                r.raise_for_status()
                body = r.json()
                s.latency_ms = (time.perf_counter() - start) * 1000
                if recover_answer_signer(challenge, body["outputs"], body["signature"]) != hotkey:
                    s.error = "answer not signed by the miner's hotkey"
                    continue
                out = np.asarray(body["outputs"], dtype=np.float64)
            except (httpx.HTTPError, KeyError, ValueError) as e:
                s.error = f"no valid answer: {type(e).__name__}"
                continue
            answers[uid] = out
            s.accuracy = float((out[:labelled].argmax(axis=1) == self.dataset.labels).mean())
        for a in answers:
            for b in answers:
                if a < b and np.abs(answers[a][labelled:] - answers[b][labelled:]).max() <= COPY_TOLERANCE:
                    slow, fast = (a, b) if scores[a].latency_ms >= scores[b].latency_ms else (b, a)
                    scores[slow].copied_from = fast
        for s in scores.values():
            if s.error is None and s.copied_from is None:
                s.score = s.accuracy**2 * max(0.5, 1.0 - s.latency_ms / 2000.0)
        return scores

    @staticmethod
    def weights(scores: dict[int, MinerScore]) -> tuple[list[int], list[int]]:
        """Scores as set_weights values: UIDs ascending, max-upscaled to u16."""
        positive = {uid: s.score for uid, s in scores.items() if s.score > 0}
        if not positive:
            return [], []
        top = max(positive.values())
        uids = sorted(positive)
        return uids, [max(1, round(positive[u] / top * 65535)) for u in uids]

    # ------------------------------------------------------------ commit-reveal

    def commit(self, uids: list[int], values: list[int]) -> None:
        salt = self.client.commit_weights(self.hotkey, self.netuid, uids, values)
        self.store.put(f"commit:{self.netuid}", {"uids": uids, "values": values, "salt": salt.hex()})

    def reveal(self) -> bool:
        pending = self.store.get(f"commit:{self.netuid}")
        if pending is None:
            return False
        self.client.reveal_weights(self.hotkey, self.netuid, pending["uids"], pending["values"],
                                   bytes.fromhex(pending["salt"]))
        self.store.put(f"commit:{self.netuid}", None)
        return True

    # ------------------------------------------------------------ epochs

    def compute_and_sign(self) -> tuple[EpochComputation, bytes]:
        """Compute the pending epoch and sign it, refusing to sign a second, different result."""
        comp = self.client.compute_epoch(self.netuid, self.store.carry(self.netuid))
        signed = self.store.get(f"signed:{self.netuid}:{comp.epoch}")
        root = comp.result.result_root.hex() + comp.result.state_root.hex()
        if signed is not None and signed != root:
            raise RuntimeError(f"already signed a different result for epoch {comp.epoch}: not signing twice")
        signature = comp.result.sign(self.hotkey, self.client.chain.chain_id, self.client.registry.address)
        # Everything needed once the epoch is final (carry, own claim) is kept, so a restarted
        # validator finishes the epoch without recomputing it.
        registered, uid = self.client.registry.call("uidOf", self.netuid, self.hotkey.address)
        leaf = comp.leaves[uid] if registered else None
        self.store.put(f"signed:{self.netuid}:{comp.epoch}", root)
        self.store.put(f"awaiting:{self.netuid}", {
            "epoch": comp.epoch, "result_root": comp.result.result_root.hex(),
            "bonds_stored": comp.output["bonds_stored"], "permits": comp.output["new_validator_permits"],
            "claim": None if leaf is None else {
                "uid": uid, "hotkey": leaf.hotkey, "incentive": leaf.incentive, "dividend": leaf.dividend,
                "proof": [p.hex() for p in comp.proof(uid)]},
        })
        return comp, signature

    def awaiting_epoch(self) -> int | None:
        record = self.store.get(f"awaiting:{self.netuid}")
        return None if record is None else int(record["epoch"])

    def epoch_finalized(self, epoch: int) -> bool:
        """If the epoch this validator signed is final on-chain with its root: carry bonds and permits
        forward and claim its own emission. Returns False when the chain holds another result."""
        record = self.store.get(f"awaiting:{self.netuid}")
        if record is None or record["epoch"] != epoch:
            return False
        if self.client.registry.call("results", self.netuid, epoch)[0].hex() != record["result_root"]:
            return False
        carry = self.store.carry(self.netuid)
        carry.update({"bonds_stored": record["bonds_stored"], "new_validator_permits": record["permits"]})
        self.store.save_carry(self.netuid, carry)
        claim = record["claim"]
        if claim and claim["incentive"] + claim["dividend"] > 0 and not self.client.registry.call(
                "claimed", self.netuid, epoch, claim["uid"]):
            self.client.registry.transact(self.hotkey, "claim", self.netuid, epoch, claim["uid"], claim["hotkey"],
                                          claim["incentive"], claim["dividend"],
                                          [bytes.fromhex(p) for p in claim["proof"]])
        self.store.put(f"awaiting:{self.netuid}", None)
        return True


class ValidatorLoop:
    """One validator's cycle, one action per pass: score+commit, reveal, sign, finalize, claim.

    Validators exchange signatures through ``signatures_dir`` (a directory they share: one JSON file
    per validator and epoch); whoever sees more than 2/3 of the stake signed finalizes. Every
    decision is re-derived from the chain and SQLite, so a restarted loop picks up where it was.
    """

    def __init__(self, node: SubnetValidator, miners: dict[int, tuple[str, httpx.AsyncClient]],
                 signatures_dir: Path) -> None:
        self.node = node
        self.miners = miners
        self.signatures_dir = signatures_dir
        self._last_head: int | None = None
        signatures_dir.mkdir(parents=True, exist_ok=True)

    async def step(self) -> str:
        node, client, store = self.node, self.node.client, self.node.store
        netuid = node.netuid
        subnet = client.subnet(netuid)
        target = int(subnet["lastEpoch"]) + 1
        awaiting = node.awaiting_epoch()
        if awaiting is not None and awaiting < target:
            if node.epoch_finalized(awaiting):
                return f"epoch {awaiting} finalized: carried bonds forward and claimed"
            store.put(f"awaiting:{netuid}", None)
            return f"epoch {awaiting} finalized with a result this validator did not sign: carry not updated"
        head = client.chain.block_number()
        commit_block = client.pending_commit_block(netuid, node.hotkey.address)
        if store.get(f"commit:{netuid}") is not None and commit_block is not None:
            opens = client.reveal_opens(netuid, commit_block)
            if head + 1 >= opens:  # a transaction sent now lands in block head + 1
                node.reveal()
                return f"revealed weights committed at block {commit_block} (they count from epoch {target})"
        # one commit per period between boundaries: the period the next transaction's block falls in
        tempo = subnet["hyper"].tempo
        period = -(-(head + 1 - int(subnet["lastEpochBlock"]) % tempo) // tempo)
        if store.get(f"commit:{netuid}") is None and store.get(f"committed_period:{netuid}") != period:
            scores = await node.score(self.miners)
            uids, values = node.weights(scores)
            if not uids:
                return "no miner answered correctly: nothing to commit"
            node.commit(uids, values)
            store.put(f"committed_period:{netuid}", period)
            return f"committed weights on {len(uids)} miners (revealed after the next epoch boundary)"
        if head < client.next_epoch_block(netuid):
            stalled = head == self._last_head
            self._last_head = head
            why = (f"; the head has not moved from block {head}: a devnet that mines only on transactions needs "
                   "`tessera devnet up --block-time 1` (or `tessera devnet mine N`)") if stalled else f" (head {head})"
            return f"waiting for block {client.next_epoch_block(netuid)} (epoch {target}){why}"
        comp, signature = node.compute_and_sign()
        mine = self.signatures_dir / f"{netuid}-{comp.epoch}-{node.hotkey.address}.json"
        mine.write_text(json.dumps({"root": comp.result.result_root.hex(), "state": comp.result.state_root.hex(),
                                    "signature": signature.hex()}))
        signatures: dict[str, bytes] = {}
        for path in self.signatures_dir.glob(f"{netuid}-{comp.epoch}-0x*.json"):
            body = json.loads(path.read_text())
            if body["root"] == comp.result.result_root.hex() and body["state"] == comp.result.state_root.hex():
                signatures[path.stem.split("-")[-1]] = bytes.fromhex(body["signature"])
        signed, total = client.signed_stake(netuid, list(signatures), comp.block)
        if signed * 3 <= total * 2:
            return f"signed epoch {comp.epoch}; {len(signatures)} signatures so far, below 2/3 of stake"
        try:
            client.finalize(node.hotkey, comp.result, order_signatures(signatures))
        except Exception as e:  # another validator may have finalized first
            if int(client.subnet(netuid)["lastEpoch"]) < comp.epoch:
                raise
            return f"epoch {comp.epoch} was finalized by another validator ({type(e).__name__})"
        return f"finalized epoch {comp.epoch} with {len(signatures)} signatures"

    def status(self) -> dict[str, Any]:
        store, netuid = self.node.store, self.node.netuid
        carry = store.carry(netuid)
        return {"netuid": netuid, "hotkey": self.node.hotkey.address,
                "committed_period": store.get(f"committed_period:{netuid}"),
                "pending_reveal": store.get(f"commit:{netuid}") is not None,
                "carried_bond_rows": len(carry.bonds), "permits": sum(carry.permits.values())}
