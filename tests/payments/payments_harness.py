"""The `pay_env` fixture: a paid API on a fresh deployment, served by Tessera (journal in front of the SDK
middleware); and the same API behind the SDK's plain middleware.

A module of its own name (not `conftest`), so imports from several test directories cannot shadow each other."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from eth_account.signers.local import LocalAccount
from fastapi import FastAPI
from x402 import x402Facilitator, x402ResourceServer
from x402.http import PaymentOption
from x402.http.middleware.fastapi import PaymentMiddlewareASGI
from x402.http.types import RouteConfig
from x402.mechanisms.evm.batch_settlement.authorizer_signer import LocalAuthorizerSigner
from x402.mechanisms.evm.batch_settlement.server import (
    BatchSettlementEvmScheme,
    BatchSettlementEvmSchemeServerConfig,
)
from x402.mechanisms.evm.exact import register_exact_evm_server

from tessera.accounts.dev import dev_account
from tessera.chain import Chain
from tessera.chain.contract import Contract
from tessera.payments import PaidAPI, PaidRoute, Payer, PaymentAsset, build_facilitator
from tessera.protocol.deploy import Deployment

EXACT_PRICE = 10_000  # 0.01 tUSD
CALL_PRICE = 1_000  # 0.001 tUSD: a sub-cent call, paid over a channel
FUNDS = 100_000_000  # 100 tUSD


@dataclass
class PayEnv:
    chain: Chain
    deployment: Deployment
    asset: PaymentAsset
    payer: LocalAccount
    payee: LocalAccount
    facilitator: x402Facilitator
    app: FastAPI
    paid: PaidAPI
    tmp: Path

    def balance(self, who: str) -> int:
        return int(self.deployment.stablecoin.call("balanceOf", who))

    def payer_client(self, max_per_payment: int = 50_000, prefer: str | None = None) -> Payer:
        return Payer(self.payer, self.asset, max_per_payment=max_per_payment, channel_state=self.tmp / "channels",
                     prefer=prefer)

    def token(self) -> Contract:
        return self.deployment.stablecoin


def paid_app() -> FastAPI:
    app = FastAPI()

    @app.get("/exact")
    async def exact() -> dict[str, int]:
        return {"answer": 42}

    @app.get("/call")
    async def call() -> dict[str, int]:
        return {"answer": 7}

    return app


@pytest.fixture
def pay_env(deployment: Deployment, tmp_path: Path) -> PayEnv:
    chain = deployment.stablecoin.chain
    payer, payee = dev_account(4), dev_account(5)
    deployment.stablecoin.transact(dev_account(0), "mint", payer.address, FUNDS)
    asset = PaymentAsset.read(chain, deployment.stablecoin.address)
    facilitator = build_facilitator(chain, dev_account(6), state=tmp_path / "facilitator.db")
    app = paid_app()
    paid = PaidAPI.install(app, chain=chain, facilitator=facilitator, asset=asset, payee=payee, state=tmp_path / "server.db",
                           routes=[PaidRoute("GET /exact", EXACT_PRICE, ("exact",)),
                                   PaidRoute("GET /call", CALL_PRICE, ("batch-settlement",))])
    return PayEnv(chain, deployment, asset, payer, payee, facilitator, app, paid, tmp_path)


def plain_sdk_app(env: PayEnv) -> FastAPI:
    """An endpoint served by the SDK's plain middleware only (no Tessera code on the server side)."""
    server = x402ResourceServer(env.facilitator)
    register_exact_evm_server(server, networks=env.asset.network)
    server.register(env.asset.network, BatchSettlementEvmScheme(
        env.payee.address, BatchSettlementEvmSchemeServerConfig(receiver_authorizer_signer=LocalAuthorizerSigner(env.payee))))
    app = paid_app()
    routes = {
        "GET /exact": RouteConfig(accepts=[PaymentOption(scheme="exact", pay_to=env.payee.address,
                                                         network=env.asset.network, price=env.asset.price(EXACT_PRICE))]),
        "GET /call": RouteConfig(accepts=[PaymentOption(scheme="batch-settlement", pay_to=env.payee.address,
                                                        network=env.asset.network, price=env.asset.price(CALL_PRICE))]),
    }
    app.add_middleware(PaymentMiddlewareASGI, routes=routes, server=server)
    return app


class Capture(httpx.AsyncBaseTransport):
    """An in-process transport to `app` that keeps every PAYMENT-SIGNATURE header it carried."""

    def __init__(self, app: FastAPI) -> None:
        self.inner = httpx.ASGITransport(app=app)
        self.headers: list[str] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if "payment-signature" in request.headers:
            self.headers.append(request.headers["payment-signature"])
        return await self.inner.handle_async_request(request)
