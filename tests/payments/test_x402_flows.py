"""x402 both ways on the official SDK, on the embedded chain and on anvil: the SDK's own client pays a Tessera
endpoint, a Tessera payer pays an endpoint served by the SDK's plain middleware; `exact` and channels. And the
complaints users have about x402: paying twice on a retry, paying without getting the data, opaque errors."""

from __future__ import annotations

import asyncio
import base64
import json
from typing import Any

import httpx
import pytest
from payments_harness import CALL_PRICE, EXACT_PRICE, Capture, PayEnv, paid_app, pay_env, plain_sdk_app  # noqa: F401
from x402 import x402Client
from x402.http.clients.httpx import x402AsyncTransport
from x402.mechanisms.evm import EthAccountSigner
from x402.mechanisms.evm.batch_settlement.client import BatchSettlementEvmScheme
from x402.mechanisms.evm.batch_settlement.constants import BATCH_SETTLEMENT_ADDRESS
from x402.mechanisms.evm.exact import register_exact_evm_client

from tessera.errors import SpendLimitError
from tessera.payments import PaidAPI, PaidRoute

URL = "http://paid.test"


def sdk_client(env: PayEnv) -> x402Client:
    client = x402Client()
    register_exact_evm_client(client, EthAccountSigner(env.payer), networks=env.asset.network)
    client.register(env.asset.network, BatchSettlementEvmScheme(EthAccountSigner(env.payer)))
    client.set_spend_controls({"allowed_assets": [{"network": env.asset.network, "asset": env.asset.address,
                                                   "max_amount_per_payment": "1000000"}]})
    return client


def run(coro):  # type: ignore[no-untyped-def]
    return asyncio.run(coro)


def test_sdk_client_pays_a_tessera_endpoint_exact_and_channel(pay_env: PayEnv) -> None:
    env = pay_env
    before = env.balance(env.payee.address)

    async def go() -> list[httpx.Response]:
        transport = x402AsyncTransport(sdk_client(env), httpx.ASGITransport(app=env.app))
        async with httpx.AsyncClient(transport=transport, base_url=URL) as http:
            return [await http.get("/exact")] + [await http.get("/call") for _ in range(5)]

    responses = run(go())
    assert [r.status_code for r in responses] == [200] * 6
    assert responses[0].json() == {"answer": 42} and responses[1].json() == {"answer": 7}
    assert env.balance(env.payee.address) == before + EXACT_PRICE  # channel calls are not settled yet
    result = run(env.paid.settle_channels())
    assert result["settle"] and len(result["claims"]) == 1
    assert env.balance(env.payee.address) == before + EXACT_PRICE + 5 * CALL_PRICE
    served = env.paid.journal.list("served")
    assert len(served) == 6 and {r.scheme for r in served} == {"exact", "batch-settlement"}


def test_tessera_payer_pays_the_sdk_plain_middleware(pay_env: PayEnv) -> None:
    env = pay_env
    app = plain_sdk_app(env)
    payer = env.payer_client()
    before = env.balance(env.payee.address)

    async def go() -> list:  # type: ignore[type-arg]
        client = payer.http(httpx.ASGITransport(app=app))
        out = [await payer.get(f"{URL}/exact", client=client)]
        out += [await payer.get(f"{URL}/call", client=client) for _ in range(3)]
        await client[0].aclose()
        return out

    results = run(go())
    assert all(r.status == 200 and r.paid for r in results)
    assert results[0].scheme == "exact" and results[0].amount == EXACT_PRICE and results[0].transaction
    assert {r.scheme for r in results[1:]} == {"batch-settlement"}
    assert env.balance(env.payee.address) == before + EXACT_PRICE
    deposited = env.balance(BATCH_SETTLEMENT_ADDRESS)
    assert deposited >= 3 * CALL_PRICE  # the channel holds the deposit until the payee claims


def test_a_retry_after_a_timeout_pays_once_and_still_gets_the_data(pay_env: PayEnv) -> None:
    """The paid request reaches the server, settles, and the answer is lost on the way back (a time-out).
    The payer re-sends the same signed payment; the server answers from its journal."""
    env = pay_env
    inner = httpx.ASGITransport(app=env.app)

    class LoseFirstPaidAnswer(httpx.AsyncBaseTransport):
        lost = 0

        async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
            response = await inner.handle_async_request(request)
            if "payment-signature" in request.headers and not self.lost:
                self.lost += 1
                raise httpx.ReadTimeout("answer lost", request=request)
            return response

    payer = env.payer_client()
    before_payer, before_payee = env.balance(env.payer.address), env.balance(env.payee.address)
    result = run(payer.get(f"{URL}/exact", inner=LoseFirstPaidAnswer()))
    assert result.status == 200 and json.loads(result.body) == {"answer": 42}
    assert result.attempts == 2 and result.replayed
    assert env.balance(env.payee.address) == before_payee + EXACT_PRICE  # once
    assert env.balance(env.payer.address) == before_payer - EXACT_PRICE
    assert len(env.paid.journal.list("served")) == 1


def test_a_crash_between_settlement_and_answer_is_recovered_without_charging_again(pay_env: PayEnv) -> None:
    """The journal says `pending` (the server died after settling, before recording the answer): the same
    payment arriving again is answered from the chain's record that it settled, and charges nothing more."""
    env = pay_env
    capture = Capture(env.app)
    inner = capture.inner
    payer = env.payer_client()
    run(payer.get(f"{URL}/exact", inner=capture))
    paid_once = env.balance(env.payee.address)
    # simulate the crash: the answer was never recorded
    env.paid.journal.conn.execute("UPDATE payments SET status = 'pending', response_status = NULL")

    async def resend() -> httpx.Response:
        async with httpx.AsyncClient(transport=inner, base_url=URL) as http:
            return await http.get("/exact", headers={"payment-signature": capture.headers[0]})

    again = run(resend())
    assert again.status_code == 200 and again.json() == {"answer": 42}
    assert env.balance(env.payee.address) == paid_once
    assert env.paid.journal.list("served")[0].response_status == 200


def test_a_replayed_authorization_is_refused_with_its_reason(pay_env: PayEnv) -> None:
    """The same EIP-3009 authorization under a new payment id: the SDK facilitator says nonce_already_used."""
    env = pay_env
    capture = Capture(env.app)
    inner = capture.inner
    run(env.payer_client().get(f"{URL}/exact", inner=capture))
    payload = json.loads(base64.b64decode(capture.headers[0]))
    payload["extensions"]["payment-identifier"]["info"]["id"] = "pay_replayed_by_an_attacker_0001"
    forged = base64.b64encode(json.dumps(payload).encode()).decode()
    balance = env.balance(env.payee.address)

    async def replay() -> httpx.Response:
        async with httpx.AsyncClient(transport=inner, base_url=URL) as http:
            return await http.get("/exact", headers={"payment-signature": forged})

    response = run(replay())
    assert response.status_code == 402
    assert env.balance(env.payee.address) == balance
    required = json.loads(base64.b64decode(response.headers["payment-required"]))
    assert "nonce_already_used" in required["error"]


def test_a_replayed_voucher_is_refused(pay_env: PayEnv) -> None:
    env = pay_env
    capture = Capture(env.app)
    inner = capture.inner
    payer = env.payer_client()

    async def two_calls() -> None:
        client = payer.http(capture)
        await payer.get(f"{URL}/call", client=client)
        await payer.get(f"{URL}/call", client=client)
        await client[0].aclose()

    run(two_calls())
    payload = json.loads(base64.b64decode(capture.headers[-1]))  # the latest voucher, sent again as a new request
    payload["extensions"]["payment-identifier"]["info"]["id"] = "pay_voucher_replay_attempt_0001"
    forged = base64.b64encode(json.dumps(payload).encode()).decode()

    async def replay() -> httpx.Response:
        async with httpx.AsyncClient(transport=inner, base_url=URL) as http:
            return await http.get("/call", headers={"payment-signature": forged})

    response = run(replay())
    assert response.status_code == 402
    assert len(env.paid.journal.list("served")) == 2


def test_the_cap_stops_a_payment_with_a_clear_error_and_signs_nothing(pay_env: PayEnv) -> None:
    env = pay_env
    before = env.balance(env.payer.address)
    payer = env.payer_client(max_per_payment=EXACT_PRICE - 1)
    with pytest.raises(SpendLimitError, match=r"cap is 0\.009999 tUSD"):
        run(payer.get(f"{URL}/exact", inner=httpx.ASGITransport(app=env.app)))
    assert env.balance(env.payer.address) == before
    assert env.paid.journal.list() == []


def test_wrong_domain_name_is_reported_as_such(pay_env: PayEnv) -> None:
    """The classic opaque failure: a route priced with a wrong EIP-712 name. The facilitator says so."""
    env = pay_env
    from fastapi import FastAPI

    from tessera.payments import PaidAPI, PaidRoute, PaymentAsset

    wrong = PaymentAsset(env.asset.network, env.asset.address, "USD Coin", env.asset.version, 6, "tUSD")
    app = FastAPI()

    @app.get("/exact")
    async def exact() -> dict[str, int]:
        return {"answer": 1}

    PaidAPI.install(app, chain=env.chain, facilitator=env.facilitator, asset=wrong, payee=env.payee,
                    routes=[PaidRoute("GET /exact", EXACT_PRICE, ("exact",))], state=env.tmp / "wrong.db")
    payer = env.payer_client()
    with pytest.raises(Exception, match="invalid_exact_evm_payload_signature|token_name_mismatch"):
        run(payer.get(f"{URL}/exact", inner=httpx.ASGITransport(app=app)))


def test_payments_work_on_a_devnet_whose_clock_ran_ahead(pay_env: PayEnv) -> None:
    """Time travel (or more blocks than seconds) puts a devnet's clock hours ahead of the wall clock the SDK
    signs with; a payment must not arrive expired."""
    env = pay_env
    env.chain.increase_time(7200)
    env.chain.mine(1)
    app = paid_app()
    paid = PaidAPI.install(app, chain=env.chain, facilitator=env.facilitator, asset=env.asset, payee=env.payee,
                           state=env.tmp / "ahead.db", routes=[PaidRoute("GET /exact", EXACT_PRICE, ("exact",)),
                                                               PaidRoute("GET /call", CALL_PRICE, ("batch-settlement",))])
    payer = env.payer_client()

    async def go() -> list[Any]:
        client = payer.http(httpx.ASGITransport(app=app))
        try:
            return [await payer.get(f"{URL}/exact", client=client), await payer.get(f"{URL}/call", client=client),
                    await payer.get(f"{URL}/call", client=client)]
        finally:
            await client[0].aclose()

    assert all(r.paid for r in run(go()))
    assert paid.journal.list("served")
