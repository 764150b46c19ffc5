"""The agent's HTTP face: its card, its paid skills (x402: exact or a channel, through the payments layer),
and, on loopback only, the tool API its owner's software drives (`POST /tools/pay`, idempotent by id)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from pydantic import Field, ValidationError

from ..errors import TesseraError
from ..schema import Strict, error_line
from .node import AgentNode
from .skills import SKILLS

LOOPBACK = ("127.0.0.1", "localhost", "::1")


class HireBody(Strict):
    id: str = Field(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9_.:-]+$")
    task: str = Field(min_length=1, max_length=2000)
    max: str = Field(min_length=1, max_length=40)
    hours: float = Field(default=24, gt=0, le=720)
    priority_agent: int = Field(default=0, ge=0, le=2**64 - 1)


class DeliverBody(Strict):
    job: int = Field(ge=0, le=2**64 - 1)
    result: str = Field(min_length=1, max_length=100_000)
    price: str = Field(min_length=1, max_length=40)


class CallBody(Strict):
    url: str = Field(pattern=r"^https?://\S+$", max_length=2000)
    max: str = Field(min_length=1, max_length=40)


class PayBody(Strict):
    id: str = Field(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9_.:-]+$")
    to: str = Field(pattern=r"^0x[0-9a-fA-F]{40}$")
    amount: str = Field(min_length=1, max_length=40)


def create_app(node: AgentNode, state: Path, *, outbound: Any = None) -> FastAPI:
    """`outbound`: the httpx transport the `call` tool uses to reach paid APIs (default: the network)."""
    from ..payments import PaidAPI, PaidRoute, Payer, PaymentAsset, build_facilitator

    app = FastAPI(title=f"Tessera agent {node.config.name}")
    asset = PaymentAsset.read(node.chain, node.d.stablecoin.address)

    @app.get("/health")
    async def health() -> dict[str, Any]:
        return {"ok": True, "agent_id": node.agent_id(), "wallet": node.wallet.address}

    @app.get("/card")
    async def card() -> dict[str, Any]:
        return node.card()

    @app.post("/skills/{skill}")
    async def run_skill(skill: str, request: Request) -> Any:
        if skill not in node.config.skills:
            return JSONResponse({"error": f"no skill {skill}: this agent offers {', '.join(node.config.skills)}"}, 404)
        try:
            body = await request.json()
        except ValueError:
            return JSONResponse({"error": "the body must be a JSON object"}, 400)
        if not isinstance(body, dict):
            return JSONResponse({"error": "the body must be a JSON object"}, 400)
        try:
            return SKILLS[skill](body)
        except TesseraError as e:
            return JSONResponse({"error": str(e)}, 400)

    if node.config.host in LOOPBACK:  # the tools spend the owner's money: never on a public interface
        @app.post("/tools/pay")
        async def pay(request: Request) -> Any:
            try:
                body = PayBody.model_validate(await request.json())
            except ValidationError as e:
                return JSONResponse({"error": error_line(e, PayBody, "body", "docs/agents.md")}, 400)
            except ValueError:
                return JSONResponse({"error": "the body must be JSON: {id, to, amount}"}, 400)
            try:
                return node.pay(body.id, body.to, node.amount(body.amount)).to_json()
            except TesseraError as e:
                return JSONResponse({"error": str(e)}, 400)

        @app.post("/tools/hire")
        async def hire(request: Request) -> Any:
            try:
                body = HireBody.model_validate(await request.json())
            except ValidationError as e:
                return JSONResponse({"error": error_line(e, HireBody, "body", "docs/agents.md")}, 400)
            except ValueError:
                return JSONResponse({"error": "the body must be JSON: {id, task, max, hours}"}, 400)
            try:
                return node.hire(body.id, body.task, node.amount(body.max), body.hours, body.priority_agent)
            except TesseraError as e:
                return JSONResponse({"error": str(e)}, 400)

        @app.post("/tools/deliver")
        async def deliver(request: Request) -> Any:
            try:
                body = DeliverBody.model_validate(await request.json())
            except ValidationError as e:
                return JSONResponse({"error": error_line(e, DeliverBody, "body", "docs/agents.md")}, 400)
            except ValueError:
                return JSONResponse({"error": "the body must be JSON: {job, result, price}"}, 400)
            try:
                return node.deliver(body.job, body.result.encode(), node.amount(body.price))
            except TesseraError as e:
                return JSONResponse({"error": str(e)}, 400)

        @app.post("/tools/accept/{job_id}")
        async def accept(job_id: int) -> Any:
            try:
                return {"job": job_id, "transaction": node.accept(job_id)}
            except TesseraError as e:
                return JSONResponse({"error": str(e)}, 400)

        @app.post("/tools/call")
        async def call(request: Request) -> Any:
            """GET a paid API, paying from the wallet within the policy (x402 exact or a channel)."""
            from ..agents import PolicyWalletSigner

            try:
                body = CallBody.model_validate(await request.json())
            except ValidationError as e:
                return JSONResponse({"error": error_line(e, CallBody, "body", "docs/agents.md")}, 400)
            except ValueError:
                return JSONResponse({"error": "the body must be JSON: {url, max}"}, 400)
            try:
                cap = min(node.amount(body.max), node.agent.policy.caps.per_payment)
                payer = Payer(node.key, asset, max_per_payment=cap, signer=PolicyWalletSigner(node.agent),
                              channel_state=state / "client-channels")
                result = await payer.get(body.url, inner=outbound)
                node.log(f"called {body.url}: HTTP {result.status}, paid {asset.text(result.amount)}")
                return result.json()
            except TesseraError as e:
                return JSONResponse({"error": str(e)}, 400)

        @app.get("/tools/payments")
        async def payments() -> dict[str, Any]:
            return {"payments": [p.to_json() for p in node.payments()]}

    priced = [PaidRoute(f"POST /skills/{s}", asset.base(p), ("exact", "batch-settlement"), f"the {s} skill")
              for s, p in node.config.prices.items() if p > 0]
    if priced:
        PaidAPI.install(app, chain=node.chain, facilitator=build_facilitator(node.chain, node.key,
                                                                             state=state / "facilitator.db"),
                        asset=asset, payee=node.key, state=state / "payments.db", routes=priced)
    return app
