"""The owner's policy: a YAML file the owner signs and pins on chain, and the deterministic engine that
decides every payment and contract call an agent's tools ask for.

The policy is trusted only when three things agree: the file's bytes hash to what the agent's `PolicyWallet`
has pinned (so an edited file, or an older one restored, is refused), the detached signature beside it
(`policy.yaml.sig`, EIP-712 over wallet, file hash and version) recovers to the wallet's owner, and the
wallet's on-chain caps are the file's caps. The agent holds its own key, never the owner's, so it can read the
policy but cannot pin another one; the wallet contract enforces the same caps whatever the agent's software
does. Format: docs/agents.md.

    version: 3
    agent: 0x…          # the agent's key: spends within the caps
    wallet: 0x…         # its PolicyWallet (holds the funds, owner = the human)
    token: 0x…          # the stablecoin the caps are in
    caps: {per_payment: "0.50", per_window: "5.00", window: 1d, approval_above: "0.25"}
    payees: [0x…]
    contracts: [0x…]
    min_contract_score: 50
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Any, Callable, Literal

import yaml
from eth_account import Account
from eth_account.messages import encode_typed_data
from eth_account.signers.local import LocalAccount
from eth_utils import keccak, to_checksum_address
from pydantic import BeforeValidator, Field, model_validator

from ..errors import PolicyError
from ..schema import Amount, Int, Strict, amount, parse
from ..units import units_text

DOCS = "docs/agents.md"
_ADDRESS = re.compile(r"^0x[0-9a-fA-F]{40}$")
_DURATION = re.compile(r"^\s*(\d+)\s*([smhd])\s*$")
_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
POLICY_TYPES = {"Policy": [{"name": "wallet", "type": "address"}, {"name": "fileHash", "type": "bytes32"},
                           {"name": "version", "type": "uint64"}]}
MOVES_TOKENS = frozenset(bytes.fromhex(s) for s in (
    "a9059cbb", "23b872dd", "095ea7b3", "39509351", "a22cb465", "42842e0e", "b88d4fde", "d505accf"))


def _address(value: Any) -> str:
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value < 2**160:
        value = f"0x{value:040x}"  # YAML reads an unquoted 0x… address as a hex integer
    if not isinstance(value, str) or not _ADDRESS.match(value.strip()):
        raise ValueError(f"{value!r} is not an address: write 0x followed by 40 hex digits")
    return to_checksum_address(value.strip())


def _duration(value: Any) -> int:
    if isinstance(value, int) and not isinstance(value, bool) and value > 0:
        return value
    m = _DURATION.match(str(value))
    if not m or int(m.group(1)) == 0:
        raise ValueError(f"{value!r} is not a duration: write e.g. 1d, 12h, 30m or 3600 (seconds)")
    return int(m.group(1)) * _SECONDS[m.group(2)]


Address = Annotated[str, BeforeValidator(_address)]
Duration = Annotated[int, BeforeValidator(_duration)]


class CapsSpec(Strict):
    per_payment: Amount = amount(gt=0)
    per_window: Amount = amount(gt=0)
    window: Duration = Field(le=365 * 86400)
    approval_above: Amount = amount(ge=0)

    @model_validator(mode="after")
    def _ordered(self) -> "CapsSpec":
        if self.per_payment > self.per_window:
            raise ValueError("per_payment cannot exceed per_window: one payment would spend more than the budget")
        if self.approval_above > self.per_payment:
            raise ValueError("approval_above cannot exceed per_payment: payments above the cap are refused anyway")
        return self


class PolicySpec(Strict):
    version: Int = Field(ge=1, le=2**64 - 1)
    agent: Address
    wallet: Address
    token: Address
    caps: CapsSpec
    payees: list[Address] = Field(default_factory=list, max_length=1000)
    contracts: list[Address] = Field(default_factory=list, max_length=1000)
    min_contract_score: Int = Field(default=50, ge=0, le=100)


@dataclass(frozen=True)
class Caps:
    """Caps in the token's base units, as the wallet contract holds them."""

    per_payment: int
    per_window: int
    approval_above: int
    window: int

    def as_tuple(self) -> tuple[int, int, int, int]:
        return self.per_payment, self.per_window, self.approval_above, self.window


@dataclass(frozen=True)
class Policy:
    """A policy as the engine uses it: read-only; amounts in base units."""

    spec: PolicySpec
    file_hash: bytes
    caps: Caps
    decimals: int
    symbol: str
    payees: frozenset[str] = field(default_factory=frozenset)
    contracts: frozenset[str] = field(default_factory=frozenset)

    @classmethod
    def from_spec(cls, spec: PolicySpec, file_hash: bytes, decimals: int, symbol: str) -> "Policy":
        def base(x: Decimal) -> int:
            scaled = x.scaleb(decimals)
            if scaled != scaled.to_integral_value():
                raise PolicyError(f"{x} has more than {decimals} decimals, the token's precision - see {DOCS}")
            return int(scaled)

        c = spec.caps
        return cls(spec, file_hash, Caps(base(c.per_payment), base(c.per_window), base(c.approval_above), c.window),
                   decimals, symbol, frozenset(a.lower() for a in spec.payees),
                   frozenset(a.lower() for a in spec.contracts))

    def text(self, base: int) -> str:
        return f"{units_text(base, self.decimals)} {self.symbol}"


def read_spec(path: Path) -> tuple[bytes, PolicySpec]:
    try:
        data = path.read_bytes()
    except OSError as e:
        raise PolicyError(f"cannot read the policy {path}: {e.strerror}; pass the owner's signed policy file") from e
    try:
        raw = yaml.safe_load(data)
    except yaml.YAMLError as e:
        raise PolicyError(f"{path} is not valid YAML ({str(e).splitlines()[0]}) - see {DOCS}") from e
    return data, parse(PolicySpec, raw, str(path), DOCS)


def file_hash(data: bytes) -> bytes:
    return keccak(data)


def _signable(chain_id: int, wallet: str, digest: bytes, version: int) -> Any:
    domain = {"name": "Tessera Agent Policy", "version": "1", "chainId": chain_id, "verifyingContract": wallet}
    return encode_typed_data(domain_data=domain, message_types=POLICY_TYPES,
                             message_data={"wallet": wallet, "fileHash": digest, "version": version})


def signature_path(path: Path) -> Path:
    return path.with_name(path.name + ".sig")


def sign_policy(path: Path, owner: LocalAccount, chain_id: int) -> Path:
    """The owner signs the file as it is now; writes `<file>.sig` and returns its path."""
    data, spec = read_spec(path)
    signed = owner.sign_message(_signable(chain_id, spec.wallet, file_hash(data), spec.version))
    out = signature_path(path)
    out.write_text("0x" + bytes(signed.signature).hex() + "\n")
    return out


def policy_signer(path: Path, chain_id: int) -> tuple[bytes, PolicySpec, str]:
    """(file bytes, spec, the address that signed it). Raises PolicyError when there is no valid signature."""
    data, spec = read_spec(path)
    sig_file = signature_path(path)
    try:
        sig = bytes.fromhex(sig_file.read_text().strip().removeprefix("0x"))
    except FileNotFoundError:
        raise PolicyError(f"{path} has no signature ({sig_file.name} is missing): the owner signs it with "
                          f"`tessera agent policy sign {path.name}`") from None
    except ValueError:
        raise PolicyError(f"{sig_file} is not a hex signature: sign the policy again") from None
    try:
        signer = Account.recover_message(_signable(chain_id, spec.wallet, file_hash(data), spec.version),
                                         signature=sig)
    except Exception as e:  # eth_keys raises several types for a malformed signature
        raise PolicyError(f"{sig_file} is not a valid signature of {path.name}: sign the policy again") from e
    return data, spec, signer


Verdict = Literal["allow", "approve", "refuse"]


@dataclass(frozen=True)
class Decision:
    verdict: Verdict
    reason: str

    @property
    def allowed(self) -> bool:
        return self.verdict == "allow"


class PolicyEngine:
    """Decides payments and calls by the policy and the window's spending; deterministic given the clock.

    The engine mirrors the wallet contract's rules (the contract is the last word): a payment must go to an
    allowed payee, be at most `per_payment`, fit what is left of the window's budget, and above
    `approval_above` wait for the owner."""

    def __init__(self, policy: Policy, *, clock: Callable[[], float] = time.time, spent: int = 0,
                 window_start: int = 0) -> None:
        self.policy = policy
        self.clock = clock
        self.spent = spent
        self.window_start = window_start

    def _window(self) -> tuple[int, int]:
        now = int(self.clock())
        if now >= self.window_start + self.policy.caps.window:
            return now, 0
        return self.window_start, self.spent

    def budget_left(self) -> int:
        return self.policy.caps.per_window - self._window()[1]

    def renews_at(self) -> int:
        start, _ = self._window()
        return start + self.policy.caps.window

    def check_payment(self, to: str, amount: int) -> Decision:
        p, caps = self.policy, self.policy.caps
        if amount <= 0:
            return Decision("refuse", f"a payment of {p.text(amount)} is not a payment")
        if to.lower() not in p.payees:
            return Decision("refuse", f"{to} is not an allowed payee: the owner adds it to `payees` and re-pins")
        if amount > caps.per_payment:
            return Decision("refuse", f"{p.text(amount)} is over the per-payment cap of {p.text(caps.per_payment)}")
        _, spent = self._window()
        left = caps.per_window - spent
        if amount > left:
            renew = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(self.renews_at()))
            return Decision("refuse", f"the budget of {p.text(caps.per_window)} per {_span(caps.window)} is spent "
                                      f"({p.text(spent)} used, {p.text(amount)} asked); it renews at {renew}")
        if amount > caps.approval_above:
            return Decision("approve", f"{p.text(amount)} is above {p.text(caps.approval_above)}: it waits for the "
                                       "owner's approval (`tessera agent approve ID`)")
        return Decision("allow", f"{p.text(amount)} to {to}: within the caps ({p.text(left - amount)} left "
                                 f"this {_span(caps.window)})")

    def record(self, amount: int) -> None:
        """A payment was made (or reserved): count it in the window."""
        start, spent = self._window()
        self.window_start, self.spent = start, spent + amount

    def check_call(self, target: str, data: bytes, score: int | None = None) -> Decision:
        p = self.policy
        selector = bytes(data[:4])
        if selector in MOVES_TOKENS:
            return Decision("refuse", f"call 0x{selector.hex()} on {target} moves or approves tokens: pay through "
                                      "the wallet's capped payments instead")
        if target.lower() == p.spec.wallet.lower():
            return Decision("refuse", "the agent cannot call its own wallet's settings: only the owner changes them")
        if target.lower() not in p.contracts:
            if score is not None and score >= p.spec.min_contract_score:
                return Decision("approve", f"{target} is not in `contracts` (ranking {score}/100): the owner approves "
                                           "it or adds it and re-pins")
            ranked = f"ranked {score}/100, below {p.spec.min_contract_score}" if score is not None else "unranked"
            return Decision("refuse", f"{target} is not an allowed contract and is {ranked}")
        return Decision("allow", f"{target} is an allowed contract")


def _span(seconds: int) -> str:
    for unit, n in (("day", 86400), ("hour", 3600), ("minute", 60)):
        if seconds % n == 0:
            count = seconds // n
            return unit if count == 1 else f"{count} {unit}s"
    return f"{seconds} s"
