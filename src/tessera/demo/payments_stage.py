"""Demo stage `payments`: a paid API over HTTP 402 on the embedded chain, with the official x402 SDK on both
sides. One call is paid with `exact` (an EIP-3009 transfer, settled on chain before the answer leaves), then
200 sub-cent calls over a channel (one deposit, cumulative vouchers checked locally, one transaction at close).
On the way: an answer lost to a time-out is retried with the same payment and paid once, and a replayed
authorization and a replayed voucher are refused with their reasons."""

from __future__ import annotations

import asyncio
import base64
import json
import tempfile
from pathlib import Path
from typing import Any

import httpx

from ..accounts.dev import dev_account
from ..chain.contract import Contract
from ..protocol.deploy import Deployment
from ..protocol.faucet import fund_stablecoin
from .runner import DemoContext, StageResult

URL = "http://signals.demo"
EXACT_PRICE = 10_000  # 0.01 tUSD: one report
CALL_PRICE = 1_000  # 0.001 tUSD: one feature vector, below what a per-call settlement could cost
CHANNEL_CALLS = 200
LOST_CALL = 100  # the channel call whose answer is lost to a time-out


def payments_stage(ctx: DemoContext, out: StageResult) -> None:
    with tempfile.TemporaryDirectory(prefix="tessera-demo-payments-") as tmp:
        asyncio.run(_run(ctx, out, Path(tmp)))


def _api() -> Any:
    from fastapi import FastAPI

    app = FastAPI()

    @app.get("/report")
    async def report() -> dict[str, Any]:
        return {"pair": "ETH/tUSD", "volatility_30d": "0.412", "regime": "calm"}

    @app.get("/features")
    async def features(n: int = 0) -> dict[str, Any]:
        return {"n": n, "features": [round((n * 37 % 101) / 101, 4), round((n * 53 % 97) / 97, 4)]}

    return app


class LoseOneAnswer(httpx.AsyncBaseTransport):
    """The network between payer and server: the answer to paid request number `lose` never arrives."""

    def __init__(self, app: Any, lose: int) -> None:
        self.inner = httpx.ASGITransport(app=app)
        self.lose = lose
        self.paid_requests = 0
        self.sent: list[str] = []  # every PAYMENT-SIGNATURE header, for the replay attempts

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        response = await self.inner.handle_async_request(request)
        if "payment-signature" in request.headers:
            self.sent.append(request.headers["payment-signature"])
            self.paid_requests += 1
            if self.paid_requests == self.lose:
                raise httpx.ReadTimeout("the answer was lost on the way back", request=request)
        return response


async def _run(ctx: DemoContext, out: StageResult, tmp: Path) -> None:
    from x402.mechanisms.evm.batch_settlement.constants import BATCH_SETTLEMENT_ADDRESS

    from ..payments import PaidAPI, PaidRoute, Payer, PaymentAsset, build_facilitator

    chain = ctx.chain
    d: Deployment = ctx.state["deployment"]
    owner, payer_acct, payee, relayer = dev_account(0), dev_account(8), dev_account(9), dev_account(3)
    fund_stablecoin(chain, d, owner, payer_acct.address, 5 * 10**6)
    asset = PaymentAsset.read(chain, d.stablecoin.address)
    app = _api()
    paid = PaidAPI.install(app, chain=chain, facilitator=build_facilitator(chain, relayer, state=tmp / "facilitator.db"),
                           asset=asset, payee=payee, state=tmp / "server.db",
                           routes=[PaidRoute("GET /report", EXACT_PRICE, ("exact",), "a volatility report"),
                                   PaidRoute("GET /features", CALL_PRICE, ("batch-settlement",),
                                             "one feature vector")])
    who = {payer_acct.address: "payer (an agent)", payee.address: "API (payee)",
           BATCH_SETTLEMENT_ADDRESS: "channel contract"}
    balance = lambda a: int(d.stablecoin.call("balanceOf", a))  # noqa: E731
    before = {a: balance(a) for a in who}
    payer = Payer(payer_acct, asset, max_per_payment=EXACT_PRICE, channel_state=tmp / "channels",
                  calls_per_deposit=CHANNEL_CALLS)

    def gas_since(block: int) -> list[int]:
        """Gas of each transaction since `block` (the embedded chain mines one transaction per block)."""
        return [g for g in (chain.get_block(n).gas_used for n in range(block + 1, chain.block_number() + 1)) if g]

    # 1. exact: the answer to the paid request is lost; the payer re-sends the same authorization
    exact_net = LoseOneAnswer(app, lose=1)
    http = payer.http(exact_net, retries=2)
    start = chain.block_number()
    report = await payer.get(f"{URL}/report", client=http)
    exact_txs = gas_since(start)
    await http[0].aclose()
    exact_paid = before[payer_acct.address] - balance(payer_acct.address)

    # 2. the channel: 200 calls, one of whose answers is lost on the way back
    net = LoseOneAnswer(app, lose=LOST_CALL)
    http = payer.http(net, retries=2)
    start = chain.block_number()
    results = [await payer.get(f"{URL}/features?n={n}", client=http) for n in range(CHANNEL_CALLS)]
    deposit_txs = gas_since(start)
    await http[0].aclose()
    lost = results[LOST_CALL - 1]

    # 3. attacks: the exact authorization and the latest voucher, each sent again as a new payment
    auth_reason = await _replay(app, "/report", exact_net.sent[0], "pay_replay_of_authorization_1")
    voucher_reason = await _replay(app, "/features?n=7", net.sent[-1], "pay_replay_of_latest_voucher_1")

    # 4. the payee closes: every voucher claimed and settled in one transaction of its own
    start = chain.block_number()
    settled = await paid.settle_channels(direct=True)
    close_txs = gas_since(start)
    after = {a: balance(a) for a in who}

    settlement = Contract.at(chain, "BatchSettlement", BATCH_SETTLEMENT_ADDRESS)
    [channel] = paid.channels.list()
    _, claimed = settlement.call("channels", bytes.fromhex(channel.channel_id[2:]))
    exact_settlements = len(exact_txs)
    charged_calls = int(claimed) // CALL_PRICE + exact_paid // EXACT_PRICE
    double = charged_calls - (CHANNEL_CALLS + 1)
    gas_exact = sum(exact_txs)
    gas_channel = sum(deposit_txs + close_txs)
    delta = {a: after[a] - before[a] for a in who}
    ok_calls = report.status == 200 and report.attempts == 2 and report.replayed and \
        all(r.status == 200 and r.paid for r in results) and lost.attempts == 2 and lost.replayed
    out.ok = ok_calls and double == 0 and exact_settlements == 1 and len(close_txs) == 1 \
        and auth_reason is not None and voucher_reason is not None and sum(delta.values()) == 0 \
        and delta[payee.address] == EXACT_PRICE + CHANNEL_CALLS * CALL_PRICE and bool(settled["settle"])
    fast = paid.fast.served if paid.fast else 0
    out.figures = {
        "exact_calls": 1,
        "channel_calls": CHANNEL_CALLS,
        "onchain_settlements": exact_settlements + len(close_txs),
        "onchain_transactions": len(exact_txs) + len(deposit_txs) + len(close_txs),
        "double_payments": double,
        "gas_per_exact_call": gas_exact,
        "gas_per_channel_call": gas_channel // CHANNEL_CALLS,
        "retries_paid_once": int(report.replayed) + int(lost.replayed),
        "replayed_authorization_refused": auth_reason or "",
        "replayed_voucher_refused": voucher_reason or "",
        "fast_path_calls": fast,
        "paid_total": str(-delta[payer_acct.address]),
    }
    text = asset.text
    out.lines = [
        f"A paid API on {asset.network}: GET /report for {text(EXACT_PRICE)} (exact, EIP-3009), "
        f"GET /features?n=N for {text(CALL_PRICE)} (a batch-settlement channel); facilitator in process",
        f"exact: 1 call, answer lost to a time-out, re-sent with the same authorization after {report.attempts - 1} "
        f"retry: served from the journal, settled once on chain ({gas_exact:,} gas)",
        f"channel: {CHANNEL_CALLS} calls for {text(CHANNEL_CALLS * CALL_PRICE)}; one deposit on the first call, "
        f"then a local voucher check per call ({fast} on the fast path); call {LOST_CALL}'s answer was lost and "
        "replayed, paid once",
        f"closed in one transaction (claim {settled['claims'][0]['vouchers']} voucher + settle): "
        f"{gas_channel:,} gas for the channel in all, {gas_channel // CHANNEL_CALLS:,} per call "
        f"against {gas_exact:,} for one exact call",
        f"replayed authorization refused: {auth_reason}",
        f"replayed voucher refused: {voucher_reason}",
        "Balances (stablecoin):",
        *[f"  {who[a]:<18} {text(before[a]):>18} -> {text(after[a]):>18}  ({delta[a] / 10**asset.decimals:+,.6f})"
          for a in who],
        f"  {charged_calls} calls charged for {CHANNEL_CALLS + 1} made: {double} double payments",
    ]


async def _replay(app: Any, path: str, header: str, new_id: str) -> str | None:
    """Send a payment already used, under a new payment id (what an attacker who saw it would do).
    Returns the server's reason for refusing it, or None if it was accepted."""
    payload = json.loads(base64.b64decode(header))
    payload.setdefault("extensions", {}).setdefault("payment-identifier", {}).setdefault("info", {})["id"] = new_id
    forged = base64.b64encode(json.dumps(payload).encode()).decode()
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=URL) as http:
        response = await http.get(path, headers={"payment-signature": forged})
    if response.status_code != 402:
        return None
    required = json.loads(base64.b64decode(response.headers.get("payment-required", "") or "e30=") or b"{}")
    return str(required.get("error") or "refused")
