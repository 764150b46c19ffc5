"""Market values as Python dataclasses, converted to and from the contracts' ABI tuples."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any

from ..errors import ConfigError

SECONDS_PER_HOUR = 3600


class OrderState(enum.IntEnum):
    NONE = 0
    OPEN = 1
    LEASED = 2
    CANCELLED = 3


class LeaseState(enum.IntEnum):
    NONE = 0
    ACTIVE = 1
    PAUSED = 2
    CLOSED = 3
    STARTING = 4  # won, not yet acknowledged by the provider: nothing is billed


class CloseReason(enum.IntEnum):
    TENANT = 0
    PROVIDER = 1
    MISSED_HEARTBEATS = 2
    GRACE_EXPIRED = 3
    NOT_STARTED = 4


def bytes32_text(text: str) -> bytes:
    """Attribute strings (region, gpu model) as the contracts' bytes32; empty means "any"."""
    raw = text.strip().lower().encode()
    if len(raw) > 32:
        raise ConfigError(f"attribute value {text!r} is longer than 32 bytes: use a shorter name")
    return raw.ljust(32, b"\0")


def text_bytes32(raw: bytes) -> str:
    return raw.rstrip(b"\0").decode(errors="replace")


@dataclass(frozen=True)
class Resources:
    """cpu in millicores, memory in MiB, storage in GiB, whole GPUs."""

    cpu: int = 0
    memory_mb: int = 0
    storage_gb: int = 0
    gpus: int = 0

    def as_abi(self) -> tuple[int, int, int, int]:
        return (self.cpu, self.memory_mb, self.storage_gb, self.gpus)

    @classmethod
    def from_abi(cls, raw: Any) -> "Resources":
        return cls(*(int(x) for x in raw))

    def fits_in(self, other: "Resources") -> bool:
        return all(a <= b for a, b in zip(self.as_abi(), other.as_abi()))

    def __add__(self, other: "Resources") -> "Resources":
        return Resources(*(a + b for a, b in zip(self.as_abi(), other.as_abi())))

    def __sub__(self, other: "Resources") -> "Resources":
        return Resources(*(a - b for a, b in zip(self.as_abi(), other.as_abi())))

    def describe(self) -> str:
        parts = [f"cpu={self.cpu / 1000:g}", f"mem={self.memory_mb}MiB", f"storage={self.storage_gb}GiB"]
        if self.gpus:
            parts.append(f"gpus={self.gpus}")
        return " ".join(parts)


@dataclass(frozen=True)
class Prices:
    """Asks per hour in stablecoin base units: per CPU core, per GiB memory, per GiB storage, per GPU."""

    per_cpu: int = 0
    per_gb_memory: int = 0
    per_gb_storage: int = 0
    per_gpu: int = 0

    def as_abi(self) -> tuple[int, int, int, int]:
        return (self.per_cpu, self.per_gb_memory, self.per_gb_storage, self.per_gpu)

    @classmethod
    def from_abi(cls, raw: Any) -> "Prices":
        return cls(*(int(x) for x in raw))

    def price_for(self, r: Resources) -> int:
        """Linear price per hour, rounded up to a whole base unit."""
        # integer maths over a common denominator: cpu is in millicores, memory in MiB
        numerator = (r.cpu * self.per_cpu * 1024 + r.memory_mb * self.per_gb_memory * 1000
                     + (r.storage_gb * self.per_gb_storage + r.gpus * self.per_gpu) * 1000 * 1024)
        return -(-numerator // (1000 * 1024))


@dataclass(frozen=True)
class Requirements:
    region: str = ""
    gpu_model: str = ""
    auditor: str | None = None

    def as_abi(self) -> tuple[bytes, bytes, str]:
        return (bytes32_text(self.region) if self.region else b"\0" * 32,
                bytes32_text(self.gpu_model) if self.gpu_model else b"\0" * 32,
                self.auditor or "0x" + "00" * 20)

    @classmethod
    def from_abi(cls, raw: Any) -> "Requirements":
        auditor = raw[2] if int(raw[2], 16) else None
        return cls(text_bytes32(raw[0]), text_bytes32(raw[1]), auditor)


@dataclass(frozen=True)
class OrderSpec:
    resources: Resources
    requirements: Requirements
    max_price_per_hour: int
    bid_window: int
    manifest_hash: bytes
    deposit: int

    def as_abi(self) -> tuple[Any, ...]:
        return (self.resources.as_abi(), self.requirements.as_abi(), self.max_price_per_hour, self.bid_window,
                self.manifest_hash, self.deposit)

    @classmethod
    def from_abi(cls, raw: Any) -> "OrderSpec":
        return cls(Resources.from_abi(raw[0]), Requirements.from_abi(raw[1]), int(raw[2]), int(raw[3]),
                   bytes(raw[4]), int(raw[5]))


@dataclass(frozen=True)
class Order:
    order_id: int
    tenant: str
    state: OrderState
    closes_at: int
    best_bid: int
    bid_count: int
    lease_id: int
    spec: OrderSpec

    @classmethod
    def from_abi(cls, order_id: int, raw: Any) -> "Order":
        return cls(order_id, raw[0], OrderState(raw[1]), int(raw[2]), int(raw[3]), int(raw[4]), int(raw[5]),
                   OrderSpec.from_abi(raw[6]))


@dataclass(frozen=True)
class Bid:
    bid_id: int
    order_id: int
    provider: str
    price_per_hour: int
    placed_at: int
    settled: bool
    deposit: int

    @classmethod
    def from_abi(cls, bid_id: int, raw: Any) -> "Bid":
        return cls(bid_id, int(raw[0]), raw[1], int(raw[2]), int(raw[3]), bool(raw[4]), int(raw[5]))


@dataclass(frozen=True)
class Lease:
    lease_id: int
    order_id: int
    bid_id: int
    tenant: str
    provider: str
    state: LeaseState
    price_per_hour: int
    started_at: int
    settled_at: int
    last_heartbeat: int
    paused_at: int
    billed_seconds: int
    start_by: int  # a STARTING lease not acknowledged by then: anyone may close it for a full refund
    charged: int
    escrow: int

    @classmethod
    def from_abi(cls, lease_id: int, raw: Any) -> "Lease":
        return cls(lease_id, int(raw[0]), int(raw[1]), raw[2], raw[3], LeaseState(raw[4]),
                   *(int(x) for x in raw[5:]))


@dataclass(frozen=True)
class LeaseStatus:
    """A lease as of the chain's latest block, with lazy settlement applied."""

    state: LeaseState
    funded_until: int
    grace_ends_at: int
    breached: bool
    escrow: int
    owed_to_provider: int

    @classmethod
    def from_abi(cls, raw: Any) -> "LeaseStatus":
        return cls(LeaseState(raw[0]), int(raw[1]), int(raw[2]), bool(raw[3]), int(raw[4]), int(raw[5]))


@dataclass(frozen=True)
class ProviderInfo:
    address: str
    registered: bool
    version: int
    active_leases: int
    unbond_at: int
    bond: int
    region: str
    gpu_model: str
    capacity: Resources
    reserved: Resources
    prices: Prices
    endpoint: str
    certified_by: tuple[str, ...] = field(default=())

    @property
    def free(self) -> Resources:
        return self.capacity - self.reserved

    @classmethod
    def from_abi(cls, address: str, raw: Any) -> "ProviderInfo":
        return cls(address, bool(raw[0]), int(raw[1]), int(raw[2]), int(raw[3]), int(raw[4]),
                   text_bytes32(raw[5]), text_bytes32(raw[6]), Resources.from_abi(raw[7]),
                   Resources.from_abi(raw[8]), Prices.from_abi(raw[9]), raw[10])
