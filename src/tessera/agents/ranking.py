"""Ranking contracts from on-chain facts, so an agent refuses to touch what its owner would not trust.

A contract's score (0-100) adds up points for facts anyone can check on chain:
- verified code (30): its runtime code carries the metadata hash of one of Tessera's compiled artifacts, so
  it was built from the sources in this repository with the pinned solc (immutables do not change that hash);
- age (20): 20 points at 30 days since its code appeared, linear before that;
- transactions (20): direct transactions to it in the scanned window, log-scaled to 20 at 1,000;
- distinct callers (20): log-scaled to 20 at 100;
- value held (10): the stablecoin it holds, log-scaled to 10 at 1,000,000 units.
An address without code, or on the owner's known-bad list, scores 0. Every ranking explains each factor in
one line. Scanning is bounded (the last `window` blocks), and the explanation says so.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from eth_utils import to_checksum_address

from ..chain.artifacts import artifact_names, load_artifact
from ..chain.base import Chain
from ..errors import ConfigError
from ..units import units_text
from .policy import _address

MAX_POINTS = {"verified": 30, "age": 20, "transactions": 20, "callers": 20, "value": 10}
FULL_AGE_DAYS = 30
FULL_TRANSACTIONS = 1000
FULL_CALLERS = 100
FULL_VALUE_UNITS = 1_000_000


def _metadata(code: bytes) -> bytes | None:
    """The CBOR metadata solc appends to runtime code (its length is the code's last two bytes)."""
    if len(code) < 2:
        return None
    n = int.from_bytes(code[-2:], "big")
    return code[-2 - n:-2] if 0 < n < len(code) - 2 else None


def _artifact_metadata() -> dict[bytes, str]:
    out: dict[bytes, str] = {}
    for name in artifact_names():
        meta = _metadata(load_artifact(name).deployed_bytecode)
        if meta:
            out[meta] = name
    return out


def load_known_bad(path: Path) -> dict[str, str]:
    """A YAML mapping `address: reason` (e.g. from a security feed)."""
    try:
        raw = yaml.safe_load(path.read_text()) or {}
    except (OSError, yaml.YAMLError) as e:
        raise ConfigError(f"cannot read the known-bad list {path}: {e}; write `0xADDRESS: reason` per line") from e
    if not isinstance(raw, dict):
        raise ConfigError(f"{path} must map addresses to reasons: `0xADDRESS: drained in the 2026 exploit`")
    try:  # the policy's address reader: it also turns YAML's hex-integer reading of an unquoted 0x… back
        return {_address(k).lower(): str(v) for k, v in raw.items()}
    except ValueError as e:
        raise ConfigError(f"{path}: {e}") from None


@dataclass(frozen=True)
class ContractFacts:
    address: str
    code_size: int
    first_block: int | None
    age_seconds: int
    transactions: int
    callers: int
    scanned_from: int
    scanned_to: int
    value_held: int
    verified_as: str | None
    known_bad: str | None


@dataclass(frozen=True)
class Ranking:
    address: str
    score: int
    facts: ContractFacts
    reasons: list[tuple[str, int, str]] = field(default_factory=list)

    def explain(self) -> str:
        return f"{self.address}: {self.score}/100 (" + "; ".join(text for _, _, text in self.reasons) + ")"

    def to_json(self) -> dict[str, Any]:
        return {"address": self.address, "score": self.score,
                "factors": [{"factor": f, "points": p, "why": t} for f, p, t in self.reasons]}


class ContractRanker:
    def __init__(self, chain: Chain, *, token: str | None = None, decimals: int = 6,
                 known_bad: dict[str, str] | None = None, window: int = 5000) -> None:
        self.chain = chain
        self.token = token
        self.decimals = decimals
        self.known_bad = {k.lower(): v for k, v in (known_bad or {}).items()}
        self.window = window
        self._verified = _artifact_metadata()
        self._scanned: dict[int, list[tuple[str, str]]] = {}  # block -> [(to, sender)]

    def _first_block(self, address: str, head: int) -> int | None:
        if not self.chain.get_code(address, head):
            return None
        lo, hi = 0, head  # the first block whose state has the code
        while lo < hi:
            mid = (lo + hi) // 2
            if self.chain.get_code(address, mid):
                hi = mid
            else:
                lo = mid + 1
        return lo

    def _calls(self, start: int, end: int) -> list[tuple[str, str]]:
        out: list[tuple[str, str]] = []
        for n in range(start, end + 1):
            if n not in self._scanned:
                rows = []
                for tx in self.chain.block_transactions(n):
                    r = self.chain.get_receipt(tx)
                    if r is not None and r.to:
                        rows.append((r.to.lower(), r.sender.lower()))
                self._scanned[n] = rows
            out.extend(self._scanned[n])
        return out

    def facts(self, address: str) -> ContractFacts:
        address = to_checksum_address(address)
        head = self.chain.block_number()
        code = self.chain.get_code(address, head)
        first = self._first_block(address, head)
        start = max(0, head - self.window + 1)
        calls = [sender for to, sender in self._calls(start, head) if to == address.lower()] if code else []
        age = 0
        if first is not None:
            age = int(self.chain.get_block(head).timestamp) - int(self.chain.get_block(first).timestamp)
        value = 0
        if self.token and code:
            from ..chain.contract import Contract

            value = int(Contract.at(self.chain, "DevStablecoin", self.token).call("balanceOf", address))
        return ContractFacts(address, len(code), first, age, len(calls), len(set(calls)), start, head, value,
                             self._verified.get(_metadata(code) or b"") if code else None,
                             self.known_bad.get(address.lower()))

    def rank(self, address: str) -> Ranking:
        f = self.facts(address)
        if f.code_size == 0:
            return Ranking(f.address, 0, f, [("code", 0, "no code: not a contract")])
        if f.known_bad is not None:
            return Ranking(f.address, 0, f, [("known_bad", 0, f"on the known-bad list: {f.known_bad}")])

        def scaled(x: float, full: float, points: int) -> int:
            return min(points, int(points * math.log10(1 + x) / math.log10(1 + full)))

        days = f.age_seconds / 86400
        reasons = [
            ("verified", MAX_POINTS["verified"] if f.verified_as else 0,
             f"code built from Tessera's {f.verified_as}" if f.verified_as else "code matches no known build"),
            ("age", min(MAX_POINTS["age"], int(MAX_POINTS["age"] * days / FULL_AGE_DAYS)),
             f"code since block {f.first_block} ({days:.1f} days)"),
            ("transactions", scaled(f.transactions, FULL_TRANSACTIONS, MAX_POINTS["transactions"]),
             f"{f.transactions} transactions in blocks {f.scanned_from}-{f.scanned_to}"),
            ("callers", scaled(f.callers, FULL_CALLERS, MAX_POINTS["callers"]), f"{f.callers} distinct callers"),
            ("value", scaled(f.value_held / 10**self.decimals, FULL_VALUE_UNITS, MAX_POINTS["value"]),
             f"holds {units_text(f.value_held, self.decimals)} of the stablecoin"),
        ]
        return Ranking(f.address, sum(p for _, p, _ in reasons), f, reasons)
