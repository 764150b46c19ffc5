"""Paid HTTP endpoints: the SDK's FastAPI middleware, with Tessera's durable record in front of it.

`PaidAPI.install(app, ...)` prices routes in the stablecoin for two x402 schemes: `exact` (one EIP-3009
transfer per call) and `batch-settlement` (a channel: one deposit, then cumulative vouchers, claimed and
settled in one transaction whatever the number of calls). The SDK verifies and settles; in front of it,
`PaymentJournal` gives every logical request one payment identity (the SDK's payment-identifier extension,
or the payment's own hash when a client sends none):

* a request whose payment was already served gets the stored response again, and pays nothing more;
* the record is written `pending` before the SDK settles and `served` with the response before it is sent,
  so a crash between the two is recovered from the chain (the authorization's nonce is used, or the voucher
  is recorded), and the response is produced then instead of charging again;
* the same payment id with a different payment is refused (409).

Settlement order (docs/payments.md): `exact` settles after the handler ran and before the response leaves
(a failed settlement charges nothing and serves nothing); a channel voucher is recorded durably before the
response leaves and settled on chain later by `settle_channels()` (restart-safe: the vouchers are in SQLite).

Channel calls are serialised per channel (vouchers are cumulative, so they are ordered anyway). The next voucher
of a channel the SDK already accepted takes `FastVoucherPath` (vouchers.py): a local signature recovery, the
handler, then one commit holding both the charge and the served response. Everything else goes to the SDK.
A voucher whose signature the contract would refuse at claim time (a malleable high-`s` twin, `v` not 27/28)
is refused before either path: the SDK's own check would take it, and the payee could never claim it.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import threading
import time
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

from eth_account.signers.local import LocalAccount
from fastapi import FastAPI
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from x402 import x402ResourceServer
from x402.extensions.payment_identifier import PAYMENT_IDENTIFIER, declare_payment_identifier_extension
from x402.http import PaymentOption
from x402.http.constants import SETTLEMENT_OVERRIDES_HEADER
from x402.http.middleware.fastapi import PaymentMiddlewareASGI
from x402.http.x402_http_server_base import with_private_cache_control
from x402.http.types import RouteConfig
from x402.mechanisms.evm.batch_settlement.authorizer_signer import LocalAuthorizerSigner
from x402.mechanisms.evm.batch_settlement.constants import BATCH_SETTLEMENT_ADDRESS, MIN_WITHDRAW_DELAY
from x402.mechanisms.evm.batch_settlement.server import (
    BatchSettlementEvmScheme,
    BatchSettlementEvmSchemeServerConfig,
)
from x402.mechanisms.evm.batch_settlement.server.channel_manager import BatchSettlementChannelManager
from x402.mechanisms.evm.batch_settlement.facilitator.claim import build_voucher_claim_args
from x402.mechanisms.evm.batch_settlement.server.channel_manager_common import (
    ChannelManagerConfig,
    ClaimOptions,
    get_claimable_vouchers_from_channels,
)
from x402.mechanisms.evm.batch_settlement.server.storage import Channel
from x402.mechanisms.evm.exact import register_exact_evm_server

from x402.mechanisms.evm.batch_settlement.types import is_deposit_payload, is_voucher_payload
from x402.mechanisms.evm.batch_settlement.utils import compute_channel_id, normalize_channel_id

from ..chain.base import Chain
from ..chain.contract import Contract
from .network import PaymentAsset
from .store import PaymentJournal, ServedPayment, SqliteChannelStorage, connect
from .vouchers import FastVoucherPath, is_claimable_signature

SCHEMES = ("exact", "batch-settlement")
DEFAULT_PAYMENT_TIMEOUT = 300  # the SDK's default maxTimeoutSeconds
REPLAYED_HEADER = "x-tessera-payment-replayed"


def decode_payment_header(value: str) -> dict[str, Any] | None:
    try:
        raw = json.loads(base64.b64decode(value))
    except (ValueError, TypeError):
        return None
    return raw if isinstance(raw, dict) else None


def payment_identity(payload: dict[str, Any], header: str) -> tuple[str, str]:
    """(payment id, payload hash). The id is the client's payment-identifier when it sent one."""
    digest = hashlib.sha256(json.dumps(payload.get("payload"), sort_keys=True).encode()).hexdigest()
    ext = (payload.get("extensions") or {}).get(PAYMENT_IDENTIFIER) or {}
    pid = (ext.get("info") or {}).get("id") if isinstance(ext, dict) else None
    if isinstance(pid, str) and pid:
        return "id:" + pid, digest
    return "payload:" + digest, digest


@dataclass
class PaidRoute:
    """One priced route: `"GET /weather"` at `price` base units of the stablecoin per call."""

    route: str
    price: int
    schemes: tuple[str, ...] = SCHEMES
    description: str = ""


@dataclass
class PaidAPI:
    """What `install` put on an app: the journal, the channel storage and the payee's settlement duties."""

    chain: Chain
    asset: PaymentAsset
    payee: LocalAccount
    server: x402ResourceServer
    facilitator: Any
    journal: PaymentJournal
    channels: SqliteChannelStorage
    batch: BatchSettlementEvmScheme
    routes: list[PaidRoute] = field(default_factory=list)
    fast: FastVoucherPath | None = None

    @classmethod
    def install(cls, app: FastAPI, *, chain: Chain, facilitator: Any, asset: PaymentAsset, payee: LocalAccount,
                routes: list[PaidRoute], state: Path, withdraw_delay: int = MIN_WITHDRAW_DELAY,
                fast_vouchers: bool = True) -> "PaidAPI":
        """Price `routes` on `app`. `fast_vouchers=False` sends every channel voucher through the SDK's own
        verify and settle hooks (slower, same result: the tests compare the two)."""
        conn = connect(state)
        lock = threading.RLock()  # one connection, one lock: the fast path commits across both tables
        journal, channels = PaymentJournal(conn, lock), SqliteChannelStorage(conn, lock)
        server = x402ResourceServer(facilitator)
        register_exact_evm_server(server, networks=asset.network)
        batch = BatchSettlementEvmScheme(payee.address, BatchSettlementEvmSchemeServerConfig(
            storage=channels, receiver_authorizer_signer=LocalAuthorizerSigner(payee), withdraw_delay=withdraw_delay))
        server.register(asset.network, batch)  # type: ignore[arg-type]  # the SDK's own scheme; its annotation is looser
        config: dict[str, RouteConfig] = {}
        timeout = payment_timeout(chain)
        for r in routes:
            config[r.route] = RouteConfig(
                accepts=[PaymentOption(scheme=s, pay_to=payee.address, network=asset.network, price=asset.price(r.price),  # type: ignore[arg-type]
                                       max_timeout_seconds=timeout)
                         for s in r.schemes],
                description=r.description or None,
                extensions={PAYMENT_IDENTIFIER: declare_payment_identifier_extension()},
            )
        from fastapi.middleware.asyncexitstack import AsyncExitStackMiddleware

        inner: ASGIApp = AsyncExitStackMiddleware(app.router)  # the routes without the payment layers
        app.add_middleware(PaymentMiddlewareASGI, routes=config, server=server)
        fast = FastVoucherPath(chain.chain_id, asset.network, batch.get_onchain_state_ttl_ms()) if fast_vouchers \
            else None
        paid = cls(chain, asset, payee, server, facilitator, journal, channels, batch, list(routes), fast)
        app.add_middleware(PaymentJournalMiddleware, paid=paid, unpaid_app=inner)
        return paid

    # -- the payee's duties on chain ---------------------------------------------------
    @cached_property
    def settlement(self) -> Contract:
        return Contract.at(self.chain, "BatchSettlement", BATCH_SETTLEMENT_ADDRESS)

    def channel_manager(self) -> BatchSettlementChannelManager:
        return BatchSettlementChannelManager(ChannelManagerConfig(
            scheme=self.batch, facilitator=self.facilitator, receiver=self.payee.address, token=self.asset.address,
            network=self.asset.network))

    async def settle_channels(self, *, direct: bool = False) -> dict[str, Any]:
        """Claim every channel's latest voucher and settle: through the facilitator, which pays the gas (one
        claim transaction per 100 channels, then one settle transfer), or with `direct=True` in one
        transaction of the payee's own (BatchSettlement's multicall: claim all, then settle)."""
        if direct:
            return self._settle_directly()
        manager = self.channel_manager()
        claims = await manager.claim()
        # settle whatever is claimed and unpaid on chain, including claims made while answering a withdrawal
        claimed, settled = self.settlement.call("receivers", self.payee.address, self.asset.address)
        settle = await manager.settle() if int(claimed) > int(settled) else None
        return {"claims": [{"vouchers": c.vouchers, "transaction": c.transaction} for c in claims],
                "settle": settle.transaction if settle else None}

    def _settle_directly(self) -> dict[str, Any]:
        claims = get_claimable_vouchers_from_channels(self.channels.list(), None)
        if not claims:
            return {"claims": [], "settle": None}
        receipt = self.settlement.transact(self.payee, "multicall", [
            self.settlement.encode("claim", build_voucher_claim_args(claims)),
            self.settlement.encode("settle", self.payee.address, self.asset.address)])
        for claim in claims:  # what the SDK's channel manager records after a claim
            claimed = claim.total_claimed

            def update(current: Channel | None, claimed: str = claimed) -> Channel | None:
                if current is None or int(claimed) <= int(current.total_claimed):
                    return current
                nxt = current.copy()
                nxt.total_claimed = claimed
                return nxt

            self.channels.update_channel(compute_channel_id(claim.channel, self.asset.network), update)
        tx = "0x" + receipt.transaction_hash.hex()
        return {"claims": [{"vouchers": len(claims), "transaction": tx}], "settle": tx}

    async def answer_withdrawals(self) -> list[str]:
        """A payer started a timed close: claim its channel's best voucher before the delay runs out."""
        pending = [c for c in self.channels.list()
                   if int(self.settlement.call("pendingWithdrawals", bytes.fromhex(c.channel_id[2:]))[1]) != 0
                   and int(c.charged_cumulative_amount) > int(c.total_claimed)]
        if not pending:
            return []
        ids = {c.channel_id for c in pending}
        await self.channel_manager().claim(ClaimOptions(
            select_claim_channels=lambda channels, _ctx: [c for c in channels if c.channel_id in ids]))
        return sorted(ids)


class PaymentJournalMiddleware:
    """Outermost ASGI layer: one payment identity per logical request; never charge twice, never lose a paid
    response."""

    def __init__(self, app: ASGIApp, paid: PaidAPI, unpaid_app: ASGIApp) -> None:
        self.app = app
        self.paid = paid
        self.unpaid_app = unpaid_app
        self._locks: dict[str, asyncio.Lock] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = {k.decode().lower(): v.decode() for k, v in scope.get("headers", [])}
        header = headers.get("payment-signature") or headers.get("x-payment")
        payload = decode_payment_header(header) if header else None
        if payload is None:
            await self.app(scope, receive, send)
            return
        pid, digest = payment_identity(payload, header or "")
        journal = self.paid.journal
        record = journal.get(pid)
        if record is not None and record.payload_hash != digest:
            await _json(send, 409, {"error": f"payment id {pid.split(':', 1)[1]} was already used for a different "
                                             "payment: send a new payment identifier with a new payment"})
            return
        if record is not None and record.status == "served":
            await _replay(send, record.response_status or 200, record.response_headers, record.response_body)
            return
        route = f"{scope.get('method', 'GET')} {scope.get('path', '/')}"
        if record is not None and record.status == "pending" and self._settled_on_chain(payload):
            # the last attempt settled, then died before it answered: answer now, charge nothing more
            status, out_headers, body = await _capture(self.unpaid_app, scope, receive)
            journal.served(pid, record.tx, status, out_headers, body)
            await _replay(send, status, out_headers, body)
            return
        raw = payload.get("payload")
        channel_id = _channel_id(raw)
        if channel_id is None:
            await self._through_sdk(scope, receive, send, pid, digest, route, payload)
            return
        refusal = _unclaimable(raw) if isinstance(raw, dict) else None
        if refusal:
            await _refuse(send, refusal)
            return
        body = await _read_body(receive)  # a fast attempt that cannot commit hands the request to the SDK
        async with self._lock(channel_id):
            if not await self._fast(scope, _replaying(body, receive), send, pid, digest, route, payload, channel_id):
                await self._through_sdk(scope, _replaying(body, receive), send, pid, digest, route, payload)

    def _lock(self, channel_id: str) -> asyncio.Lock:
        return self._locks.setdefault(channel_id, asyncio.Lock())

    async def _through_sdk(self, scope: Scope, receive: Receive, send: Send, pid: str, digest: str, route: str,
                           payload: dict[str, Any]) -> None:
        journal = self.paid.journal
        accepted = payload.get("accepted") or {}
        journal.begin(pid, digest, route, str(accepted.get("scheme", "")), _payer(payload),
                      int(accepted.get("amount", 0) or 0))
        status, out_headers, body = await _capture(self.app, scope, receive)
        settlement = decode_payment_header(out_headers.get("payment-response", "")) or {}
        if status < 400 and settlement.get("success"):
            journal.served(pid, str(settlement.get("transaction", "")), status, out_headers, body)
            if self.paid.fast is not None:
                self.paid.fast.learn(route, payload)
        else:
            journal.forget(pid)  # nothing was taken: the same id may pay again once the cause is fixed
        await _send(send, status, out_headers, body)

    async def _fast(self, scope: Scope, receive: Receive, send: Send, pid: str, digest: str, route: str,
                    payload: dict[str, Any], channel_id: str) -> bool:
        """Serve the next voucher of a known channel without the SDK; False leaves the request to the SDK."""
        fast = self.paid.fast
        if fast is None:
            return False
        channel = self.paid.channels.get(channel_id)
        if channel is None:
            return False
        authorizer = channel.channel_config.payer_authorizer
        if not fast.knows_authorizer(authorizer):  # a contract authorizer answers through ERC-1271: the SDK's path
            fast.note_authorizer(authorizer, int(authorizer, 16) != 0 and not self.paid.chain.get_code(authorizer))
        charge = fast.check(route, payload, channel)
        if charge is None:
            return False
        status, headers, body = await _capture(self.unpaid_app, scope, receive)
        if status >= 400:  # the handler failed: nothing is charged, as on the SDK's path
            await _send(send, status, headers, body)
            return True
        if SETTLEMENT_OVERRIDES_HEADER.lower() in headers:  # the handler prices its own call: the SDK settles it
            return False
        headers["payment-response"] = charge.payment_response
        headers["cache-control"] = with_private_cache_control(headers.get("cache-control"))
        served = ServedPayment(pid, digest, route, "batch-settlement", channel.channel_config.payer,
                               int((payload.get("accepted") or {}).get("amount", 0)), status, headers, body)
        if not self.paid.channels.charge(charge.previous, charge.current, self.paid.journal, served):
            return False  # the channel moved under us (another process on this state): let the SDK decide
        fast.served += 1
        await _send(send, status, headers, body)
        return True

    def _settled_on_chain(self, payload: dict[str, Any]) -> bool:
        inner = payload.get("payload") or {}
        auth = inner.get("authorization")
        if isinstance(auth, dict) and "nonce" in auth and "from" in auth:
            token = Contract.at(self.paid.chain, "DevStablecoin", self.paid.asset.address)
            return bool(token.call("authorizationState", auth["from"], bytes.fromhex(auth["nonce"][2:])))
        voucher = inner.get("voucher")
        if isinstance(voucher, dict) and "channelId" in voucher:
            channel = self.paid.channels.get(voucher["channelId"])
            return channel is not None and int(channel.signed_max_claimable) >= int(voucher["maxClaimableAmount"]) \
                and channel.signature.lower() == str(voucher.get("signature", "")).lower()
        return False


def payment_timeout(chain: Chain) -> int:
    """How long a signed payment stays valid: the SDK's clients sign `validBefore = wall clock + this`.

    On a devnet the chain's clock runs ahead of the wall whenever time was moved forward or more blocks were
    mined than seconds passed; an authorization valid for 300 wall-clock seconds would then arrive expired
    on chain. There the window also covers the chain's lead, plus an hour for the drift still to come."""
    if not chain.is_devnet:
        return DEFAULT_PAYMENT_TIMEOUT
    lead = max(0, int(chain.get_block("latest").timestamp) - int(time.time()))
    return DEFAULT_PAYMENT_TIMEOUT + lead + 3600


def _channel_id(raw: Any) -> str | None:
    if not isinstance(raw, dict) or not (is_voucher_payload(raw) or is_deposit_payload(raw)):
        return None
    try:
        return normalize_channel_id(str(raw["voucher"]["channelId"]))
    except (KeyError, TypeError, ValueError):
        return None


def _unclaimable(raw: dict[str, Any]) -> str | None:
    """Why the contract would refuse this voucher's signature at claim time, if it would."""
    voucher, config = raw.get("voucher") or {}, raw.get("channelConfig") or {}
    try:
        if int(str(config.get("payerAuthorizer", "0x0")), 16) == 0:
            return None  # an ERC-1271 payer: its wallet decides, on chain
        sig = bytes.fromhex(str(voucher.get("signature", ""))[2:])
    except ValueError:
        return "invalid_voucher_signature: the voucher signature is not hex"
    if is_claimable_signature(sig):
        return None
    return ("invalid_voucher_signature: the voucher signature is not the 65-byte low-s form (v 27 or 28) that "
            "BatchSettlement accepts at claim time; sign it with a standard secp256k1 signer")


async def _refuse(send: Send, reason: str) -> None:
    required = {"x402Version": 2, "error": reason, "accepts": []}
    await _send(send, 402, {"content-type": "application/json",
                            "payment-required": base64.b64encode(json.dumps(required).encode()).decode()},
                json.dumps({"error": reason}).encode())


async def _read_body(receive: Receive) -> bytes:
    """Read the request body now, so the request can be handed to a second app if the first declines it."""
    chunks: list[bytes] = []
    while True:
        message = await receive()
        if message["type"] != "http.request":
            break
        chunks.append(message.get("body", b""))
        if not message.get("more_body"):
            break
    return b"".join(chunks)


def _replaying(body: bytes, receive: Receive) -> Receive:
    given = False

    async def replay() -> Message:
        nonlocal given
        if not given:
            given = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay


def _payer(payload: dict[str, Any]) -> str:
    inner = payload.get("payload") or {}
    auth = inner.get("authorization") or {}
    config = inner.get("channelConfig") or {}
    return str(auth.get("from") or config.get("payer") or "")


async def _capture(app: ASGIApp, scope: Scope, receive: Receive) -> tuple[int, dict[str, str], bytes]:
    status = 500
    out_headers: dict[str, str] = {}
    chunks: list[bytes] = []

    async def capture(message: Message) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = int(message["status"])
            out_headers.update({k.decode().lower(): v.decode() for k, v in message.get("headers", [])})
        elif message["type"] == "http.response.body":
            chunks.append(message.get("body", b""))

    await app(scope, receive, capture)
    return status, out_headers, b"".join(chunks)


async def _send(send: Send, status: int, headers: dict[str, str], body: bytes) -> None:
    raw = [(k.encode(), v.encode()) for k, v in headers.items() if k != "content-length"]
    raw.append((b"content-length", str(len(body)).encode()))
    await send({"type": "http.response.start", "status": status, "headers": raw})
    await send({"type": "http.response.body", "body": body})


async def _replay(send: Send, status: int, headers: dict[str, str], body: bytes) -> None:
    await _send(send, status, {**headers, REPLAYED_HEADER: "1"}, body)


async def _json(send: Send, status: int, body: dict[str, Any]) -> None:
    await _send(send, status, {"content-type": "application/json"}, json.dumps(body).encode())

