"""A signer agent: a co-signer on a real Safe multisig that approves or rejects each proposed transaction by
its owner's written rules, and says why in one line.

The Safe is the audited `@safe-global/safe-contracts` 1.4.1 from npm (the project's pinned package): its
singleton and proxy factory are deployed from the package's own build artifacts on devnets, and a Safe is a
proxy created through the factory, exactly as the Safe{Wallet} does. The signer agent holds one owner key;
with a threshold of 2 of {human, agent}, nothing leaves the Safe unless both sign.

Rules (`SignerRules`, YAML): a limit per transaction on ETH and on each listed token (ERC-20 `transfer`s are
decoded), allowed targets and, per target, allowed function selectors, a UTC time window and weekdays, a
minimum contract ranking for targets, and delegatecalls refused unless allowed.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from decimal import Decimal
from functools import lru_cache
from typing import Any, Callable

from eth_abi import decode as abi_decode
from eth_abi import encode as abi_encode
from eth_account.signers.local import LocalAccount
from eth_typing import Hash32
from eth_utils import to_checksum_address
from pydantic import Field, field_validator

from ..chain.base import Chain, Receipt
from ..chain.compiler import REPO_ROOT
from ..chain.contract import Contract, Signer, send_transaction
from ..errors import AgentError
from ..schema import Amount, Strict
from ..units import units_text
from .policy import Address
from .ranking import ContractRanker

PACKAGE = REPO_ROOT / "node_modules" / "@safe-global" / "safe-contracts"
ARTIFACTS = PACKAGE / "build" / "artifacts" / "contracts"
ZERO = "0x0000000000000000000000000000000000000000"
TRANSFER = bytes.fromhex("a9059cbb")
DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


@lru_cache(maxsize=None)
def safe_artifact(path: str) -> dict[str, Any]:
    """A build artifact of the pinned Safe package, e.g. "Safe.sol/Safe.json"."""
    file = ARTIFACTS / path
    try:
        return dict(json.loads(file.read_text()))
    except FileNotFoundError:
        raise AgentError(f"the Safe contracts are not installed ({file} is missing): run `npm ci` "
                         "(or `make setup`)") from None


@dataclass(frozen=True)
class SafeDeployment:
    singleton: str
    factory: str


def deploy_safe_contracts(chain: Chain, signer: Signer) -> SafeDeployment:
    """The Safe singleton and proxy factory, from the package's bytecode (devnets; mainnets have them)."""
    out = []
    for path in ("Safe.sol/Safe.json", "proxies/SafeProxyFactory.sol/SafeProxyFactory.json"):
        art = safe_artifact(path)
        receipt = send_transaction(chain, signer, to=None, data=bytes.fromhex(art["bytecode"][2:]),
                                   context=f"deploy {art['contractName']}")
        assert receipt.contract_address is not None
        out.append(receipt.contract_address)
    return SafeDeployment(out[0], out[1])


@dataclass(frozen=True)
class SafeTx:
    to: str
    value: int
    data: bytes
    operation: int = 0  # 0 call, 1 delegatecall

    def selector(self) -> bytes:
        return self.data[:4]


class Safe:
    def __init__(self, chain: Chain, address: str) -> None:
        self.chain = chain
        self.contract = Contract(chain, address, safe_artifact("Safe.sol/Safe.json")["abi"], "Safe")
        self.address = self.contract.address

    @classmethod
    def create(cls, chain: Chain, deployment: SafeDeployment, signer: Signer, owners: list[str], threshold: int,
               salt: int = 0) -> "Safe":
        singleton = Contract(chain, deployment.singleton, safe_artifact("Safe.sol/Safe.json")["abi"], "Safe")
        init = singleton.encode("setup", owners, threshold, ZERO, b"", ZERO, ZERO, 0, ZERO)
        factory = Contract(chain, deployment.factory,
                           safe_artifact("proxies/SafeProxyFactory.sol/SafeProxyFactory.json")["abi"], "SafeProxyFactory")
        receipt = factory.transact(signer, "createProxyWithNonce", deployment.singleton, init, salt)
        [event] = factory.events(receipt, "ProxyCreation")
        return cls(chain, str(event.args["proxy"]))

    def owners(self) -> list[str]:
        return [str(a) for a in self.contract.call("getOwners")]

    def threshold(self) -> int:
        return int(self.contract.call("getThreshold"))

    def tx_hash(self, tx: SafeTx, nonce: int | None = None) -> bytes:
        n = int(self.contract.call("nonce")) if nonce is None else nonce
        return bytes(self.contract.call("getTransactionHash", tx.to, tx.value, tx.data, tx.operation, 0, 0, 0, ZERO,
                                        ZERO, n))

    def execute(self, sender: Signer, tx: SafeTx, signatures: dict[str, bytes]) -> Receipt:
        """Submit with the owners' signatures (the Safe wants them sorted by owner address)."""
        packed = b"".join(sig for _, sig in sorted(signatures.items(), key=lambda kv: int(kv[0], 16)))
        return self.contract.transact(sender, "execTransaction", tx.to, tx.value, tx.data, tx.operation, 0, 0, 0,
                                      ZERO, ZERO, packed)


def sign_safe_tx(key: LocalAccount, safe_tx_hash: bytes) -> bytes:
    """An owner's ECDSA signature over the Safe transaction hash (v 27/28: the Safe's plain EOA form)."""
    return bytes(key.unsafe_sign_hash(Hash32(safe_tx_hash)).signature)


class TokenLimit(Strict):
    token: Address
    max_per_tx: Amount = Field(ge=0)
    decimals: int = Field(default=6, ge=0, le=36)


class SignerRules(Strict):
    max_eth_per_tx: Amount = Field(default=Decimal(0), ge=0)
    tokens: list[TokenLimit] = Field(default_factory=list)
    targets: list[Address] = Field(default_factory=list)
    selectors: dict[str, list[str]] = Field(default_factory=dict)  # target -> ["0xa9059cbb", ...]
    hours_utc: str = "00:00-24:00"
    weekdays: list[str] = Field(default_factory=lambda: list(DAYS))
    min_contract_score: int = Field(default=0, ge=0, le=100)
    allow_delegatecall: bool = False

    @field_validator("hours_utc")
    @classmethod
    def _window(cls, v: str) -> str:
        try:
            a, b = v.split("-")
            ah, am = (int(x) for x in a.split(":"))
            bh, bm = (int(x) for x in b.split(":"))
        except ValueError:
            raise ValueError(f"{v!r} is not a time window: write e.g. 09:00-18:00") from None
        if not (0 <= ah <= 24 and 0 <= bh <= 24 and 0 <= am < 60 and 0 <= bm < 60 and (ah, am) < (bh, bm)):
            raise ValueError(f"{v!r} is not a time window: write e.g. 09:00-18:00 (start before end, UTC)")
        return v

    @field_validator("weekdays")
    @classmethod
    def _days(cls, v: list[str]) -> list[str]:
        bad = [d for d in v if d.lower()[:3] not in DAYS]
        if bad:
            raise ValueError(f"{', '.join(bad)}: weekdays are mon..sun")
        return [d.lower()[:3] for d in v]


@dataclass(frozen=True)
class Review:
    approved: bool
    reason: str


class SignerAgent:
    """One owner key of a Safe, signing only what the rules allow."""

    def __init__(self, safe: Safe, key: LocalAccount, rules: SignerRules, *, ranker: ContractRanker | None = None,
                 clock: Callable[[], float] = time.time) -> None:
        if key.address not in safe.owners():
            raise AgentError(f"{key.address} is not an owner of the Safe {safe.address}")
        self.safe, self.key, self.rules, self.ranker, self.clock = safe, key, rules, ranker, clock
        self._targets = {t.lower() for t in rules.targets}
        self._tokens = {t.token.lower(): t for t in rules.tokens}
        self._selectors = {to_checksum_address(k).lower(): {s.lower().removeprefix("0x") for s in v}
                           for k, v in rules.selectors.items()}

    def review(self, tx: SafeTx) -> Review:
        r = self.rules
        to = tx.to.lower()
        if tx.operation != 0 and not r.allow_delegatecall:
            return Review(False, "rejected: a delegatecall can rewrite the Safe itself; the rules allow none")
        when = datetime.fromtimestamp(self.clock(), tz=timezone.utc)
        day = DAYS[when.weekday()]
        if day not in r.weekdays:
            return Review(False, f"rejected: {day} is outside the allowed days ({', '.join(r.weekdays)})")
        start, end = r.hours_utc.split("-")
        now = f"{when.hour:02d}:{when.minute:02d}"
        if not start <= now < end:  # "HH:MM" strings compare in time order; 24:00 ends the day
            return Review(False, f"rejected: {now} UTC is outside the allowed hours {r.hours_utc}")
        if tx.value > int(r.max_eth_per_tx.scaleb(18)):
            return Review(False, f"rejected: sends {Decimal(tx.value).scaleb(-18)} ETH, over the limit of "
                                 f"{r.max_eth_per_tx} ETH per transaction")
        if to not in self._targets:
            return Review(False, f"rejected: {tx.to} is not an allowed target")
        allowed = self._selectors.get(to)
        if allowed is not None and tx.data and tx.selector().hex() not in allowed:
            return Review(False, f"rejected: function 0x{tx.selector().hex()} is not allowed on {tx.to}")
        if to in self._tokens and tx.selector() == TRANSFER:
            limit = self._tokens[to]
            try:
                recipient, amount = abi_decode(["address", "uint256"], tx.data[4:])
            except Exception:  # eth_abi raises several types for short or malformed calldata
                return Review(False, f"rejected: a malformed transfer call to token {tx.to}")
            cap = int(limit.max_per_tx.scaleb(limit.decimals))
            moved = units_text(amount, limit.decimals)
            if amount > cap:
                return Review(False, f"rejected: transfers {moved} of token {tx.to}, over the limit of "
                                     f"{units_text(cap, limit.decimals)} per transaction")
            what = f"a transfer of {moved} of token {tx.to} to {recipient} (limit {units_text(cap, limit.decimals)})"
        elif to in self._tokens and tx.data:
            return Review(False, f"rejected: only plain transfers of token {tx.to} are allowed, not "
                                 f"0x{tx.selector().hex()}")
        if self.ranker is not None and r.min_contract_score and self.safe.chain.get_code(tx.to):
            ranking = self.ranker.rank(tx.to)
            if ranking.score < r.min_contract_score:
                return Review(False, f"rejected: {tx.to} ranks {ranking.score}/100, below "
                                     f"{r.min_contract_score} ({ranking.explain()})")
        if not (to in self._tokens and tx.selector() == TRANSFER):
            what = f"a call to {tx.to}" if tx.data else f"a payment to {tx.to}"
        return Review(True, f"approved: {what}, within the rules at {now} UTC on {day}")

    def sign(self, tx: SafeTx) -> tuple[Review, bytes | None]:
        """Review, then sign the Safe transaction hash only if approved."""
        review = self.review(tx)
        return review, (sign_safe_tx(self.key, self.safe.tx_hash(tx)) if review.approved else None)


def erc20_transfer(token: str, to: str, amount: int) -> SafeTx:
    return SafeTx(token, 0, TRANSFER + abi_encode(["address", "uint256"], [to, amount]))
