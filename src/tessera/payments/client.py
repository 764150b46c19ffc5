"""Paying for HTTP calls: the SDK's x402 client with spending controls on and a retry that never pays twice.

`Payer` registers the SDK's `exact` and `batch-settlement` client schemes for one account and:

* turns on the SDK's spend controls by default: only the deployment's stablecoin (plus assets you add), at
  most `max_per_payment` base units per payment. A 402 asking for more raises `SpendLimitError` naming the
  price and the cap, and signs nothing;
* gives every logical request one payment identity (the payment-identifier extension, when the server
  declares it) and, when a paid request times out or its connection drops, re-sends *the same* signed
  payment rather than letting a new 402 round sign a second one: the server recognises it and answers
  from its record, or settles it once;
* keeps channel state in a file, so a later process pays over the channel an earlier one opened.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from eth_account.signers.local import LocalAccount
from x402 import x402Client
from x402.extensions.payment_identifier import PAYMENT_IDENTIFIER, append_payment_identifier_to_extensions
from x402.http.clients.httpx import PaymentError as SdkPaymentError
from x402.http.clients.httpx import x402AsyncTransport
from x402.mechanisms.evm import EthAccountSigner
from x402.mechanisms.evm.batch_settlement.client import BatchSettlementEvmScheme
from x402.mechanisms.evm.batch_settlement.client.config import (
    BatchSettlementDepositPolicy,
    BatchSettlementEvmSchemeOptions,
)
from x402.mechanisms.evm.exact import register_exact_evm_client

from ..errors import PaymentError, SpendLimitError
from .network import PaymentAsset
from .server import REPLAYED_HEADER, decode_payment_header

# a channel deposit covers this many calls (the SDK's default is 10): fewer deposits, O(1) transactions per channel
DEPOSIT_CALLS = 100
RETRYABLE = (httpx.TimeoutException, httpx.NetworkError, httpx.RemoteProtocolError)


class PaymentIdentifierExtension:
    """Adds a fresh payment id to each payment when the server declared the extension."""

    key = PAYMENT_IDENTIFIER

    def enrich_payment_payload(self, payment_payload: Any, payment_required: Any) -> Any:
        declared = dict(payment_required.extensions or {})
        if PAYMENT_IDENTIFIER not in declared:
            return payment_payload
        extensions = json.loads(json.dumps(declared))
        append_payment_identifier_to_extensions(extensions)
        return payment_payload.model_copy(update={"extensions": {**(payment_payload.extensions or {}), **extensions}})


@dataclass
class SentPayment:
    """What the last paid attempt sent and what came back (read from the wire, not from the SDK's internals)."""

    payload: dict[str, Any]
    settlement: dict[str, Any] = field(default_factory=dict)
    attempts: int = 1


class SameRequestRetry(httpx.AsyncBaseTransport):
    """Below the SDK's payment transport: re-sends the identical request (same signed payment) on a time-out."""

    def __init__(self, inner: httpx.AsyncBaseTransport, retries: int = 2, backoff: float = 0.2) -> None:
        self.inner = inner
        self.retries = retries
        self.backoff = backoff
        self.sent: list[SentPayment] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        header = request.headers.get("payment-signature")
        record = SentPayment(decode_payment_header(header) or {}) if header else None
        if record is not None:
            self.sent.append(record)
        for attempt in range(self.retries + 1):
            try:
                response = await self.inner.handle_async_request(request)
                break
            except RETRYABLE:
                if record is None or attempt == self.retries:
                    raise
                record.attempts += 1
                await asyncio.sleep(self.backoff * (attempt + 1))
        if record is not None:
            record.settlement = decode_payment_header(response.headers.get("payment-response", "")) or {}
        return response

    async def aclose(self) -> None:
        await self.inner.aclose()


@dataclass(frozen=True)
class PaidResponse:
    status: int
    paid: bool
    amount: int
    transaction: str
    scheme: str
    body: bytes
    attempts: int
    replayed: bool

    def json(self) -> dict[str, Any]:
        try:
            body: Any = json.loads(self.body)
        except ValueError:
            body = self.body.decode(errors="replace")
        return {"status": self.status, "paid": self.paid, "amount": str(self.amount), "transaction": self.transaction,
                "scheme": self.scheme, "body": body}


class Payer:
    """One account paying x402 endpoints, within its caps.

    `signer` pays from another address than `account`'s: a smart wallet (an agent's PolicyWallet signer). Its
    token authorizations fund `exact` payments and channel deposits, while `account` (an EOA) signs the
    channel's vouchers as the channel's payer authorizer."""

    def __init__(self, account: LocalAccount, asset: PaymentAsset, *, max_per_payment: int,
                 extra_assets: list[PaymentAsset] | None = None, channel_state: Path | None = None,
                 prefer: str | None = None, calls_per_deposit: int = DEPOSIT_CALLS,
                 signer: Any | None = None) -> None:
        self.account = account
        self.asset = asset
        self.max_per_payment = max_per_payment
        self.client = x402Client()
        voucher_signer = EthAccountSigner(account) if signer is not None else None
        signer = signer or EthAccountSigner(account)
        register_exact_evm_client(self.client, signer, networks=asset.network)
        storage = None
        if channel_state is not None:
            from x402.mechanisms.evm.batch_settlement.client.file_storage import (
                FileChannelStorageOptions,
                FileClientChannelStorage,
            )

            channel_state.mkdir(parents=True, exist_ok=True)
            storage = FileClientChannelStorage(FileChannelStorageOptions(directory=channel_state))
        self.client.register(asset.network, BatchSettlementEvmScheme(signer, BatchSettlementEvmSchemeOptions(
            storage=storage, deposit_policy=BatchSettlementDepositPolicy(deposit_multiplier=calls_per_deposit),
            voucher_signer=voucher_signer,
            # the server's minDeposit hint is 10 calls; deposit for `calls_per_deposit` calls (capped by the SDK at
            # multiplier x the per-payment cap) so a channel needs O(1) transactions
            deposit_strategy=lambda ctx: str(max(int(ctx.minimum_deposit_amount),
                                                 int(ctx.request_amount) * calls_per_deposit)))))
        self.client.register_extension(PaymentIdentifierExtension())  # type: ignore[arg-type]  # hooks are optional
        if prefer:
            from x402.client_base import prefer_scheme

            self.client.register_policy(prefer_scheme(prefer))
        allowed = [asset, *(extra_assets or [])]
        self.client.set_spend_controls({"allowed_assets": [
            {"network": a.network, "asset": a.address, "max_amount_per_payment": str(max_per_payment)}
            for a in allowed]})

    def http(self, inner: httpx.AsyncBaseTransport | None = None, timeout: float = 30.0,
             retries: int = 2) -> tuple[httpx.AsyncClient, SameRequestRetry]:
        retry = SameRequestRetry(inner or httpx.AsyncHTTPTransport(), retries=retries)
        return httpx.AsyncClient(transport=x402AsyncTransport(self.client, retry), timeout=timeout), retry

    async def get(self, url: str, *, inner: httpx.AsyncBaseTransport | None = None, timeout: float = 30.0,
                  client: tuple[httpx.AsyncClient, SameRequestRetry] | None = None) -> PaidResponse:
        own = client is None
        http, retry = client or self.http(inner, timeout)
        before = len(retry.sent)
        try:
            response = await http.get(url)
        except SdkPaymentError as e:
            raise self._explain(e) from e
        except httpx.HTTPError as e:
            raise PaymentError(f"cannot reach {url}: {e.__class__.__name__} {e}: check the URL and that the "
                               "server is running") from e
        finally:
            if own:
                await http.aclose()
        sent = retry.sent[before:]
        last = sent[-1] if sent else None
        settlement = last.settlement if last else {}
        paid = bool(last and settlement.get("success") and response.status_code < 400)
        accepted = (last.payload.get("accepted") or {}) if last else {}
        if response.status_code == 402 and last is not None:
            reason = settlement.get("errorReason") or _payment_required_error(response) or "payment refused"
            raise PaymentError(f"{url} refused the payment: {reason}")
        return PaidResponse(response.status_code, paid, int(accepted.get("amount", 0) or 0) if paid else 0,
                            str(settlement.get("transaction", "")), str(accepted.get("scheme", "")),
                            response.content, sum(s.attempts for s in sent),
                            response.headers.get(REPLAYED_HEADER) == "1")

    def _explain(self, e: Exception) -> PaymentError:
        text = str(e)
        if "spend" in text.lower() or "allowed" in text.lower() or "max_amount" in text.lower() or \
                "No payment requirements" in text or "exceed" in text.lower():
            return SpendLimitError(
                f"the price is above your cap or in an asset you do not allow ({text.removeprefix('Failed to handle payment: ')}): "
                f"the cap is {self.asset.text(self.max_per_payment)} per payment in {self.asset.symbol}; "
                "raise it with --max if you mean to pay more")
        return PaymentError(f"payment failed: {text.removeprefix('Failed to handle payment: ')}")


def _payment_required_error(response: httpx.Response) -> str:
    raw = decode_payment_header(response.headers.get("payment-required", "")) or {}
    return str(raw.get("error") or "")
