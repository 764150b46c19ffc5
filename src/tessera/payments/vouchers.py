"""Channel vouchers checked locally and fast: one signature recovery and a monotonic amount.

`VoucherVerifier` recovers the signer of a `batch-settlement` voucher with one libsecp256k1 recovery and
three keccaks: the EIP-712 domain separator is computed once per chain (by eth_account, from the SDK's own
domain), so a voucher costs only its struct hash and digest. It is stricter than the SDK's check in the way
the contract is: a 65-byte `r||s||v` signature with `v` 27 or 28 and a low `s`. The SDK's recovery accepts a
malleable high-`s` twin, which `BatchSettlement` refuses at claim time; a payee that took one would have
served a call it can never claim (`is_claimable_signature` lets the server refuse those up front).

`FastVoucherPath` is how a paid server answers the steady state of a channel, a voucher for exactly one
more call on a channel the SDK has already accepted, without the SDK's per-request work (four channel-id
derivations, typed-data encoding and two storage round trips; about 5 ms on this machine). It accepts only
what the SDK would accept and leaves everything else to the SDK, which then gives its own specific reason:
a first voucher, on-chain state older than the SDK's TTL, a pending SDK request, a refund, a contract
authorizer, terms other than those the SDK last accepted for the route, or any amount but charged + price.
What it writes is what the SDK writes for the same voucher (tests/payments/test_fast_vouchers.py compares
the two paths call by call).
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Any

import coincurve
from Crypto.Hash import keccak as _keccak
from eth_account.messages import encode_typed_data
from x402.mechanisms.evm.batch_settlement.constants import BATCH_SETTLEMENT_ADDRESS, VOUCHER_TYPES
from x402.mechanisms.evm.batch_settlement.server.storage import Channel
from x402.mechanisms.evm.batch_settlement.types import ChannelConfig, is_voucher_payload
from x402.mechanisms.evm.batch_settlement.utils import get_batch_settlement_eip712_domain
from x402.http.utils import encode_payment_response_header
from x402.schemas import SettleResponse

SECP256K1_N = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141
HALF_N = SECP256K1_N // 2
MAX_UINT128 = 2**128 - 1


def keccak(data: bytes) -> bytes:
    return _keccak.new(digest_bits=256, data=data).digest()


def _type_string() -> bytes:
    fields = ",".join(f"{f['type']} {f['name']}" for f in VOUCHER_TYPES["Voucher"])
    return f"Voucher({fields})".encode()


def is_claimable_signature(signature: bytes) -> bool:
    """What `BatchSettlement` accepts from an EOA: 65 bytes, v 27/28, 0 < r < n, 0 < s <= n/2."""
    if len(signature) != 65 or signature[64] not in (27, 28):
        return False
    r, s = int.from_bytes(signature[:32], "big"), int.from_bytes(signature[32:64], "big")
    return 0 < r < SECP256K1_N and 0 < s <= HALF_N


class VoucherVerifier:
    """Recovers voucher signers for one chain's `BatchSettlement` domain."""

    def __init__(self, chain_id: int, verifying_contract: str = BATCH_SETTLEMENT_ADDRESS) -> None:
        domain = {**get_batch_settlement_eip712_domain(chain_id), "verifyingContract": verifying_contract}
        probe = encode_typed_data(domain_data=domain, message_types=VOUCHER_TYPES,
                                  message_data={"channelId": b"\0" * 32, "maxClaimableAmount": 0})
        self._prefix = b"\x19\x01" + bytes(probe.header)  # the domain separator, once
        self._typehash = keccak(_type_string())

    def digest(self, channel_id: bytes, amount: int) -> bytes:
        if len(channel_id) != 32 or not 0 <= amount <= MAX_UINT128:
            raise ValueError("a voucher has a 32-byte channel id and a uint128 amount")
        return keccak(self._prefix + keccak(self._typehash + channel_id + amount.to_bytes(32, "big")))

    def signer(self, channel_id: bytes, amount: int, signature: bytes) -> bytes | None:
        """The 20-byte address that signed this voucher, or None for a malformed or malleable signature."""
        if not is_claimable_signature(signature):
            return None
        try:
            pub = coincurve.PublicKey.from_signature_and_message(
                signature[:64] + bytes([signature[64] - 27]), self.digest(channel_id, amount), hasher=None)
        except ValueError:
            return None
        return keccak(pub.format(compressed=False)[1:])[12:]

    def verify(self, channel_id: bytes, amount: int, signature: bytes, signer: bytes) -> bool:
        return self.signer(channel_id, amount, signature) == signer


def _hex_bytes(value: Any, size: int | None = None) -> bytes | None:
    if not isinstance(value, str) or not value.startswith("0x"):
        return None
    try:
        raw = bytes.fromhex(value[2:])
    except ValueError:
        return None
    return raw if size is None or len(raw) == size else None


@dataclass(frozen=True)
class FastCharge:
    """A voucher the fast path accepted: the channel as it will be once the call is served, and the header."""

    channel_id: str
    previous: Channel
    current: Channel
    payment_response: str


class FastVoucherPath:
    """Accepts the next voucher of a known, fresh channel; None means "let the SDK decide"."""

    def __init__(self, chain_id: int, network: str, ttl_ms: int) -> None:
        self.verifier = VoucherVerifier(chain_id)
        self.network = network
        self.ttl_ms = ttl_ms
        self._accepted: dict[str, str] = {}  # route -> the terms the SDK last accepted on it (canonical JSON)
        self._eoa: dict[str, bool] = {}  # payer authorizer -> has no code (ERC-1271 wallets take the SDK path)
        self.served = 0  # calls answered on this path (the rest went through the SDK)

    def learn(self, route: str, payload: dict[str, Any]) -> None:
        """The SDK accepted a batch-settlement payment on `route`: its terms are the route's terms."""
        accepted = payload.get("accepted")
        if isinstance(accepted, dict) and accepted.get("scheme") == "batch-settlement":
            self._accepted[route] = json.dumps(accepted, sort_keys=True)

    def note_authorizer(self, address: str, is_eoa: bool) -> None:
        self._eoa[address.lower()] = is_eoa

    def knows_authorizer(self, address: str) -> bool:
        return address.lower() in self._eoa

    def check(self, route: str, payload: dict[str, Any], channel: Channel | None) -> FastCharge | None:
        raw = payload.get("payload")
        accepted = payload.get("accepted")
        if not isinstance(raw, dict) or not is_voucher_payload(raw) or not isinstance(accepted, dict):
            return None
        if self._accepted.get(route) != json.dumps(accepted, sort_keys=True):
            return None
        if channel is None or channel.pending_request is not None and channel.pending_request.expires_at > _now_ms():
            return None
        now = _now_ms()
        if channel.onchain_synced_at is None or now - channel.onchain_synced_at > self.ttl_ms:
            return None
        voucher, config = raw["voucher"], raw["channelConfig"]
        if not isinstance(voucher, dict) or not isinstance(config, dict):
            return None
        try:
            if ChannelConfig.from_dict(config) != channel.channel_config:
                return None
            amount = int(voucher["maxClaimableAmount"])
            price = int(accepted["amount"])
        except (KeyError, TypeError, ValueError):
            return None
        authorizer = channel.channel_config.payer_authorizer
        if str(voucher.get("channelId", "")).lower() != channel.channel_id.lower() or \
                not self._eoa.get(authorizer.lower(), False):
            return None
        charged = int(channel.charged_cumulative_amount)
        if amount != charged + price or amount > int(channel.balance) or amount <= int(channel.total_claimed):
            return None
        cid, sig, signer = (_hex_bytes(channel.channel_id, 32), _hex_bytes(voucher.get("signature"), 65),
                            _hex_bytes(authorizer, 20))
        if cid is None or sig is None or signer is None or not self.verifier.verify(cid, amount, sig, signer):
            return None
        current = channel.copy()
        current.charged_cumulative_amount = str(amount)
        current.signed_max_claimable = str(amount)
        current.signature = str(voucher["signature"])
        current.last_request_timestamp = now
        current.pending_request = None
        # the same settle response the SDK's before_settle hook gives a voucher
        state = {"channelId": channel.channel_id, "balance": channel.balance, "totalClaimed": channel.total_claimed,
                 "withdrawRequestedAt": channel.withdraw_requested_at, "refundNonce": str(channel.refund_nonce),
                 "chargedCumulativeAmount": str(amount)}
        response = SettleResponse(success=True, payer=channel.channel_config.payer.lower(), transaction="",
                                  network=self.network, amount="",  # type: ignore[arg-type]
                                  extra={"channelState": state, "chargedAmount": str(price)})
        return FastCharge(channel.channel_id, channel, current, encode_payment_response_header(response))


def _now_ms() -> int:
    return int(time.time() * 1000)
