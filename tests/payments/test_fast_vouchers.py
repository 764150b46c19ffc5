"""The fast voucher path: the steady state of a channel answered without the SDK's per-request work, with
exactly the SDK's result; and the voucher check itself against the SDK's and the contract's."""

from __future__ import annotations

import asyncio
import base64
import json
from typing import Any

import httpx
import pytest
from eth_account import Account
from hypothesis import given, settings
from hypothesis import strategies as st
from payments_harness import CALL_PRICE, Capture, PayEnv, pay_env  # noqa: F401  (pay_env: the fixture)
from x402.mechanisms.evm.batch_settlement.constants import BATCH_SETTLEMENT_ADDRESS
from x402.mechanisms.evm.batch_settlement.facilitator.utils import verify_batch_settlement_voucher_typed_data

from tessera.accounts.dev import dev_account
from tessera.chain.contract import Contract
from tessera.errors import ContractRevert
from tessera.payments import ChannelClient, PaidAPI, PaidRoute
from tessera.payments.vouchers import HALF_N, SECP256K1_N, VoucherVerifier, is_claimable_signature

URL = "http://paid.test"
N_KEYS = st.integers(min_value=1, max_value=SECP256K1_N - 1)


def malleable_twin(signature: bytes) -> bytes:
    """The other valid ECDSA signature of the same digest: s -> n - s, v flipped."""
    s = int.from_bytes(signature[32:64], "big")
    return signature[:32] + (SECP256K1_N - s).to_bytes(32, "big") + bytes([55 - signature[64]])


def calls(env: PayEnv, n: int, capture: httpx.AsyncBaseTransport | None = None) -> list[Any]:
    payer = env.payer_client()

    async def go() -> list[Any]:
        client = payer.http(capture or httpx.ASGITransport(app=env.app))
        try:
            return [await payer.get(f"{URL}/call", client=client) for _ in range(n)]
        finally:
            await client[0].aclose()

    return asyncio.run(go())


def reinstall(env: PayEnv, name: str, fast: bool) -> None:
    """A fresh server state for the same payee, with the fast path on or off."""
    from payments_harness import paid_app

    env.app = paid_app()
    env.paid = PaidAPI.install(env.app, chain=env.chain, facilitator=env.facilitator, asset=env.asset,
                               payee=env.payee, state=env.tmp / f"{name}.db", fast_vouchers=fast,
                               routes=[PaidRoute("GET /call", CALL_PRICE, ("batch-settlement",))])
    env.tmp = env.tmp / name  # the payer's channel file starts afresh too
    env.tmp.mkdir()


def _settlements(capture: Capture, responses: list[Any]) -> list[dict[str, Any]]:
    out = []
    for r in responses:
        assert r.status == 200 and r.paid
    for h in capture.answers:
        decoded = json.loads(base64.b64decode(h))
        decoded.pop("transaction", None)  # the deposit's transaction hash carries the wall-clock time
        out.append(decoded)
    return out


class AnswerCapture(Capture):
    def __init__(self, app: Any) -> None:
        super().__init__(app)
        self.answers: list[str] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        response = await super().handle_async_request(request)
        if "payment-response" in response.headers:
            self.answers.append(response.headers["payment-response"])
        return response


def test_the_fast_path_answers_exactly_as_the_sdk_does(pay_env: PayEnv) -> None:
    """The same 12 calls from the same chain state, once through the fast path and once through the SDK's
    hooks only: the same settlement headers, the same stored channel, the same claim on chain."""
    env = pay_env
    start = env.chain.snapshot()
    results: dict[bool, tuple[list[dict[str, Any]], dict[str, Any], int, int]] = {}
    for fast in (True, False):
        env.chain.revert(start)
        start = env.chain.snapshot()
        reinstall(env, f"fast-{fast}", fast)
        capture = AnswerCapture(env.app)
        settled = _settlements(capture, calls(env, 12, capture))
        [channel] = env.paid.channels.list()
        state = channel.to_dict()
        for volatile in ("lastRequestTimestamp", "onchainSyncedAt"):
            state.pop(volatile)
        before = env.balance(env.payee.address)
        asyncio.run(env.paid.settle_channels())
        served = env.paid.fast.served if env.paid.fast else 0
        results[fast] = (settled, state, env.balance(env.payee.address) - before, served)
    assert results[True][:3] == results[False][:3]
    assert results[True][2] == 12 * CALL_PRICE
    assert results[True][3] == 11 and results[False][3] == 0  # the deposit goes through the SDK


def test_a_lost_fast_answer_is_replayed_not_charged_again(pay_env: PayEnv) -> None:
    env = pay_env
    inner = httpx.ASGITransport(app=env.app)

    class LoseThirdPaidAnswer(httpx.AsyncBaseTransport):
        paid = 0

        async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
            response = await inner.handle_async_request(request)
            if "payment-signature" in request.headers:
                self.paid += 1
                if self.paid == 3:
                    raise httpx.ReadTimeout("answer lost", request=request)
            return response

    results = calls(env, 4, LoseThirdPaidAnswer())
    assert [r.replayed for r in results] == [False, False, True, False]
    assert env.paid.fast is not None and env.paid.fast.served == 3
    [channel] = env.paid.channels.list()
    assert int(channel.charged_cumulative_amount) == 4 * CALL_PRICE


def test_a_failing_handler_on_the_fast_path_charges_nothing(pay_env: PayEnv) -> None:
    env = pay_env
    from fastapi import FastAPI
    from fastapi.responses import JSONResponse

    app = FastAPI()
    failures = [False, True, False, False]

    @app.get("/call")
    async def call() -> Any:
        if failures.pop(0):
            return JSONResponse({"error": "model not loaded"}, status_code=503)
        return {"answer": 7}

    env.paid = PaidAPI.install(app, chain=env.chain, facilitator=env.facilitator, asset=env.asset, payee=env.payee,
                               state=env.tmp / "flaky.db", routes=[PaidRoute("GET /call", CALL_PRICE, ("batch-settlement",))])
    env.app = app
    results = calls(env, 4)
    assert [r.status for r in results] == [200, 503, 200, 200]
    [channel] = env.paid.channels.list()
    assert int(channel.charged_cumulative_amount) == 3 * CALL_PRICE
    assert len(env.paid.journal.list("served")) == 3


def test_a_malleable_voucher_is_refused_before_it_is_served(pay_env: PayEnv) -> None:
    """The payer's attack: send each voucher's high-s twin. The SDK's recovery accepts it, the contract will
    not let the payee claim it, so a server that served it would have given the call away."""
    env = pay_env
    capture = Capture(env.app)
    calls(env, 2, capture)
    payload = json.loads(base64.b64decode(capture.headers[-1]))
    voucher = payload["payload"]["voucher"]
    amount = int(voucher["maxClaimableAmount"]) + CALL_PRICE
    settlement = Contract.at(env.chain, "BatchSettlement", BATCH_SETTLEMENT_ADDRESS)
    digest = settlement.call("getVoucherDigest", bytes.fromhex(voucher["channelId"][2:]), amount)
    twin = malleable_twin(bytes(env.payer.unsafe_sign_hash(digest).signature))
    assert not is_claimable_signature(twin)
    assert verify_batch_settlement_voucher_typed_data(
        None, voucher["channelId"], str(amount), env.payer.address, env.payer.address,  # type: ignore[arg-type]
        "0x" + twin.hex(), env.chain.chain_id)  # the SDK alone would take it
    voucher.update(maxClaimableAmount=str(amount), signature="0x" + twin.hex())
    payload["extensions"]["payment-identifier"]["info"]["id"] = "pay_malleable_voucher_attack_01"

    async def send() -> httpx.Response:
        async with httpx.AsyncClient(transport=capture.inner, base_url=URL) as http:
            return await http.get("/call", headers={
                "payment-signature": base64.b64encode(json.dumps(payload).encode()).decode()})

    response = asyncio.run(send())
    assert response.status_code == 402
    assert "invalid_voucher_signature" in json.loads(base64.b64decode(response.headers["payment-required"]))["error"]
    assert len(env.paid.journal.list("served")) == 2
    config = ChannelClient(env.chain, env.asset, env.payer, env.tmp / "book.json").config(env.payee.address)
    with pytest.raises(ContractRevert, match="InvalidVoucherSignature"):
        settlement.transact(env.payee, "claim", [((config, amount), twin, amount)])


@settings(max_examples=40, deadline=None)
@given(key=N_KEYS, channel=st.binary(min_size=32, max_size=32), amount=st.integers(0, 2**128 - 1))
def test_the_voucher_check_agrees_with_the_sdks_and_the_contracts_rule(key: int, channel: bytes, amount: int) -> None:
    account = Account.from_key(key.to_bytes(32, "big"))
    verifier = VoucherVerifier(1337)
    signature = bytes(account.unsafe_sign_hash(verifier.digest(channel, amount)).signature)
    cid = "0x" + channel.hex()

    def sdk(amount: int, sig: bytes) -> bool:
        return verify_batch_settlement_voucher_typed_data(None, cid, str(amount), account.address,  # type: ignore[arg-type]
                                                          account.address, "0x" + sig.hex(), 1337)

    me = bytes.fromhex(account.address[2:])
    assert sdk(amount, signature) and verifier.verify(channel, amount, signature, me)
    other = (amount + 1) % 2**128
    assert not sdk(other, signature) and not verifier.verify(channel, other, signature, me)
    twin = malleable_twin(signature)
    assert int.from_bytes(twin[32:64], "big") > HALF_N
    assert verifier.signer(channel, amount, twin) is None  # the contract's rule: low s only
    assert not verifier.verify(channel, amount, signature, bytes.fromhex(dev_account(1).address[2:]))
    assert VoucherVerifier(1).digest(channel, amount) != verifier.digest(channel, amount)  # the chain id is bound
