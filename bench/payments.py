"""Payments benchmark: vouchers verified per second on one core, on-chain transactions and gas for N paid
calls (exact vs a channel, on the embedded chain), and the latency payment adds to a localhost call.
Writes bench/results/payments.json.

Baselines measured in the same run (machines here are noisy):
- voucher verification / one bare secp256k1 recovery (coincurve) per second;
- gas per paid call / one ERC-20 transfer;
- paid-call latency, timed inside the server (verify + record + the handler): the same server's unpaid route,
  and the same channel calls through the SDK's own hooks (`fast_vouchers=False`); the client's signing on its own.

    python bench/payments.py [--calls 10000] [--exact-calls 200] [--sdk-calls 300]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import platform
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import coincurve
import httpx
from eth_account.messages import encode_typed_data
from eth_utils import keccak
from fastapi import FastAPI
from x402.mechanisms.evm.batch_settlement.constants import VOUCHER_TYPES
from x402.mechanisms.evm.batch_settlement.facilitator.utils import verify_batch_settlement_voucher_typed_data
from x402.mechanisms.evm.batch_settlement.utils import get_batch_settlement_eip712_domain

from tessera.accounts.dev import dev_account
from tessera.chain import EmbeddedChain
from tessera.payments import PaidAPI, PaidRoute, Payer, PaymentAsset, build_facilitator
from tessera.payments.vouchers import VoucherVerifier
from tessera.protocol.deploy import Deployment, deploy_protocol


def voucher_rate(n: int = 5000) -> dict[str, float]:
    """Vouchers verified per second on one core: what a payee checks (the payer's signature and that the total
    only grows), by Tessera's verifier (the server's fast path) and by the SDK's own check, against one bare
    secp256k1 recovery (coincurve) in the same run."""
    payer = dev_account(1)
    cid = "0x" + "ab" * 32
    channel = bytes.fromhex(cid[2:])
    verifier = VoucherVerifier(1337)
    sigs = [(amount, bytes(payer.unsafe_sign_hash(verifier.digest(channel, amount)).signature))
            for amount in range(1, n + 1)]
    me = bytes.fromhex(payer.address[2:])
    t = time.perf_counter()
    last = 0
    for amount, sig in sigs:
        assert verifier.verify(channel, amount, sig, me) and amount > last
        last = amount
    rate = n / (time.perf_counter() - t)
    sample = sigs[: n // 5]
    t = time.perf_counter()
    for amount, sig in sample:
        assert verify_batch_settlement_voucher_typed_data(None, cid, str(amount), payer.address,  # type: ignore[arg-type]
                                                          payer.address, "0x" + sig.hex(), 1337)
    sdk = len(sample) / (time.perf_counter() - t)
    msg = keccak(b"x")
    t = time.perf_counter()
    for _, s in sigs:
        coincurve.PublicKey.from_signature_and_message(s[:64] + bytes([s[64] - 27]), msg, hasher=None)
    bare = n / (time.perf_counter() - t)
    return {"vouchers_per_s": round(rate), "sdk_check_per_s": round(sdk), "bare_recover_per_s": round(bare),
            "ratio_to_bare": round(rate / bare, 3), "ratio_to_sdk": round(rate / sdk, 2)}


class ServerClock:
    """Outermost ASGI layer: how long the server spends on each request, by kind."""

    def __init__(self, app: FastAPI) -> None:
        self.app = app
        self.ms: dict[str, list[float]] = {"free": [], "challenge": [], "paid": []}

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        t = time.perf_counter()
        await self.app(scope, receive, send)
        kind = "free" if scope["path"] == "/free" else \
            "paid" if any(k == b"payment-signature" for k, _ in scope["headers"]) else "challenge"
        if scope["path"] in ("/free", "/call"):
            self.ms[kind].append((time.perf_counter() - t) * 1000)


def paid_calls(calls: int, exact_calls: int, sdk_calls: int) -> dict[str, object]:
    chain = EmbeddedChain()
    manifest, _ = deploy_protocol(chain, dev_account(0), path=None)
    d = Deployment.from_manifest(chain, manifest)
    payer = dev_account(4)
    d.stablecoin.transact(dev_account(0), "mint", payer.address, 10**12)
    erc20 = d.stablecoin.transact(payer, "transfer", dev_account(8).address, 1).gas_used
    asset = PaymentAsset.read(chain, d.stablecoin.address)
    tmp = Path(tempfile.mkdtemp())
    facilitator = build_facilitator(chain, dev_account(6), state=tmp / "f.db")

    def serve(payee_index: int, fast: bool) -> tuple[ServerClock, PaidAPI]:
        app = FastAPI()

        @app.get("/free")
        async def free() -> dict[str, int]:
            return {"answer": 1}

        @app.get("/exact")
        async def exact() -> dict[str, int]:
            return {"answer": 1}

        @app.get("/call")
        async def call() -> dict[str, int]:
            return {"answer": 1}

        paid = PaidAPI.install(app, chain=chain, facilitator=facilitator, asset=asset, payee=dev_account(payee_index),
                               state=tmp / f"s{payee_index}.db", fast_vouchers=fast,
                               routes=[PaidRoute("GET /exact", 10_000, ("exact",)),
                                       PaidRoute("GET /call", 100, ("batch-settlement",))])
        return ServerClock(app), paid

    def gas_between(start: int) -> tuple[int, int]:
        txs, gas = 0, 0
        for n in range(start + 1, chain.block_number() + 1):
            block = chain.get_block(n)
            txs += 1 if block.gas_used else 0
            gas += block.gas_used
        return txs, gas

    def median(xs: list[float]) -> float:
        return round(statistics.median(xs), 3)

    async def channel_run(clock: ServerClock, paid: PaidAPI, n: int) -> tuple[list[float], int, int]:
        client = Payer(payer, asset, max_per_payment=10**6, calls_per_deposit=max(n, 3))
        http = client.http(httpx.ASGITransport(app=clock))
        plain = httpx.AsyncClient(transport=httpx.ASGITransport(app=clock), base_url="http://b")
        for _ in range(200):
            await plain.get("/free")
        start = chain.block_number()
        end_to_end = []
        for _ in range(n):
            t = time.perf_counter()
            assert (await client.get("http://b/call", client=http)).paid
            end_to_end.append((time.perf_counter() - t) * 1000)
        await paid.settle_channels()
        txs, gas = gas_between(start)
        await http[0].aclose()
        await plain.aclose()
        for kind in ("paid", "challenge"):
            del clock.ms[kind][0]  # the first call carries the deposit
        return end_to_end[1:], txs, gas

    async def run() -> dict[str, object]:
        clock, paid = serve(5, fast=True)
        exact_client = Payer(payer, asset, max_per_payment=10**6)
        http = exact_client.http(httpx.ASGITransport(app=clock))
        start = chain.block_number()
        for _ in range(exact_calls):
            assert (await exact_client.get("http://b/exact", client=http)).paid
        exact_txs, exact_gas = gas_between(start)
        await http[0].aclose()
        e2e, chan_txs, chan_gas = await channel_run(clock, paid, calls)
        sdk_clock, sdk_paid = serve(7, fast=False)  # the same calls through the SDK's own hooks, same run
        sdk_e2e, _, _ = await channel_run(sdk_clock, sdk_paid, sdk_calls)
        # the client's share: signing one voucher
        domain = get_batch_settlement_eip712_domain(chain.chain_id)
        t = time.perf_counter()
        for amount in range(200):
            payer.sign_message(encode_typed_data(domain_data=domain, message_types=VOUCHER_TYPES,
                                                 message_data={"channelId": b"\x01" * 32, "maxClaimableAmount": amount}))
        sign_ms = (time.perf_counter() - t) * 1000 / 200

        def latency(c: ServerClock, e2e: list[float]) -> dict[str, float]:
            return {"server_unpaid_median": median(c.ms["free"]), "server_paid_median": median(c.ms["paid"]),
                    "server_added_median": round(median(c.ms["paid"]) - median(c.ms["free"]), 3),
                    "server_challenge_median": median(c.ms["challenge"]), "end_to_end_median": median(e2e)}

        return {
            "erc20_transfer_gas": erc20,
            "exact": {"calls": exact_calls, "transactions": exact_txs, "gas": exact_gas,
                      "gas_per_call": exact_gas // max(exact_calls, 1),
                      "gas_per_call_vs_erc20": round(exact_gas / max(exact_calls, 1) / erc20, 2)},
            "channel": {"calls": calls, "transactions": chan_txs, "gas": chan_gas, "gas_per_call": chan_gas // calls,
                        "gas_per_call_vs_erc20": round(chan_gas / calls / erc20, 4),
                        "fast_path_calls": paid.fast.served if paid.fast else 0},
            "latency_ms": {"client_signing": round(sign_ms, 3), "fast_path": latency(clock, e2e),
                           f"sdk_hooks_only_{sdk_calls}_calls": latency(sdk_clock, sdk_e2e)},
        }

    return asyncio.run(run())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--calls", type=int, default=10_000)
    ap.add_argument("--exact-calls", type=int, default=200)
    ap.add_argument("--sdk-calls", type=int, default=300, help="channel calls through the SDK's hooks only")
    args = ap.parse_args()
    out = {"machine": platform.processor() or platform.machine(), "vouchers": voucher_rate(),
           "paid_calls": paid_calls(args.calls, args.exact_calls, args.sdk_calls)}
    Path("bench/results").mkdir(parents=True, exist_ok=True)
    Path("bench/results/payments.json").write_text(json.dumps(out, indent=2) + "\n")
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
