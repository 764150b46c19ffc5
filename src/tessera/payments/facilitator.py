"""An x402 facilitator over any chain Tessera can reach, in-process or as an HTTP service.

It is the SDK's own `x402Facilitator` with the SDK's `exact` (EIP-3009) and `batch-settlement` (channels)
schemes registered, given `ChainFacilitatorSigner` so it also runs on the embedded chain, and a durable
pending-settlement store so a restarted facilitator never broadcasts a settlement twice. The HTTP service
answers `GET /supported`, `POST /verify` and `POST /settle` in the wire format the SDK's
`HTTPFacilitatorClient` speaks; failures carry the SDK's specific reasons (`nonce_already_used`,
`token_name_mismatch`, `insufficient_balance`, `invalid_exact_evm_payload_authorization_valid_before`, …).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Awaitable, Callable

from eth_account.signers.local import LocalAccount
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from x402 import x402Facilitator
from x402.mechanisms.evm.batch_settlement.facilitator import BatchSettlementEvmFacilitator
from x402.mechanisms.evm.exact.facilitator import ExactEvmScheme, ExactEvmSchemeConfig
from x402.schemas import parse_payment_payload, parse_payment_requirements

from ..chain.base import Chain
from .network import caip2
from .signer import ChainFacilitatorSigner
from .store import SqlitePendingSettlementStore, connect

DEFAULT_PORT = 8402


def build_facilitator(chain: Chain, account: LocalAccount, *, state: Path | None = None) -> x402Facilitator:
    """The SDK facilitator for this chain, settling from `account` (which pays the gas)."""
    signer = ChainFacilitatorSigner(chain, account)
    pending = SqlitePendingSettlementStore(connect(state)) if state is not None else None
    facilitator = x402Facilitator()
    network = caip2(chain)
    facilitator.register([network], ExactEvmScheme(signer, ExactEvmSchemeConfig(), pending_store=pending))
    facilitator.register([network], BatchSettlementEvmFacilitator(signer, pending_store=pending))
    return facilitator


def _error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status)


def facilitator_app(facilitator: x402Facilitator) -> FastAPI:
    """`/supported`, `/verify`, `/settle` over HTTP for remote resource servers."""
    app = FastAPI(title="Tessera x402 facilitator", docs_url=None, redoc_url=None)

    async def parse(request: Request) -> tuple[Any, Any] | JSONResponse:
        try:
            body = await request.json()
        except ValueError:
            return _error(400, "the body is not JSON: send {x402Version, paymentPayload, paymentRequirements}")
        if not isinstance(body, dict) or set(body) - {"x402Version", "paymentPayload", "paymentRequirements"}:
            extra = sorted(set(body) - {"x402Version", "paymentPayload", "paymentRequirements"}) \
                if isinstance(body, dict) else []
            return _error(400, f"unknown keys {extra}: send only x402Version, paymentPayload, paymentRequirements")
        if body.get("x402Version") != 2:
            return _error(400, f"x402Version {body.get('x402Version')!r} is not supported: this facilitator speaks 2")
        try:
            return (parse_payment_payload(body["paymentPayload"]),
                    parse_payment_requirements(2, body["paymentRequirements"]))
        except KeyError as e:
            return _error(400, f"missing {e.args[0]}: send {{x402Version, paymentPayload, paymentRequirements}}")
        except Exception as e:  # pydantic's ValidationError and the SDK's own parse errors
            first = str(e).splitlines()
            return _error(400, f"malformed payment: {first[1] if len(first) > 1 else first[0]}".strip())

    @app.get("/supported")
    async def supported() -> dict[str, Any]:
        return facilitator.get_supported().model_dump(by_alias=True, exclude_none=True)

    def endpoint(action: Callable[..., Awaitable[Any]]) -> Callable[[Request], Awaitable[Any]]:
        async def handle(request: Request) -> Any:
            parsed = await parse(request)
            if isinstance(parsed, JSONResponse):
                return parsed
            return (await action(*parsed)).model_dump(by_alias=True, exclude_none=True)

        return handle

    app.add_api_route("/verify", endpoint(facilitator.verify), methods=["POST"])
    app.add_api_route("/settle", endpoint(facilitator.settle), methods=["POST"])

    @app.get("/health")
    async def health() -> dict[str, str]:
        return {"status": "ok"}

    return app
