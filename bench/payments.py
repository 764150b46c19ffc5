"""Payments benchmark: vouchers verified per second on one core, on-chain transactions and gas for N paid
calls (exact vs a channel, on the embedded chain), and the latency payment adds to a localhost call.
Writes bench/results/payments.json.

Baselines measured in the same run (machines here are noisy):
- voucher verification / one bare secp256k1 recovery (coincurve) per second;
- gas per paid call / one ERC-20 transfer;
- paid-call latency: the same in-process call with no payment, and the client's signing timed on its own.

    python bench/payments.py [--calls 10000] [--exact-calls 200]
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

import httpx
from eth_account.messages import encode_typed_data
from fastapi import FastAPI
from x402.mechanisms.evm.batch_settlement.constants import BATCH_SETTLEMENT_ADDRESS, VOUCHER_TYPES
from x402.mechanisms.evm.batch_settlement.facilitator.utils import verify_batch_settlement_voucher_typed_data
from x402.mechanisms.evm.batch_settlement.utils import get_batch_settlement_eip712_domain

from tessera.accounts.dev import dev_account
from tessera.chain import EmbeddedChain
from tessera.payments import PaidAPI, PaidRoute, Payer, PaymentAsset, build_facilitator
from tessera.protocol.deploy import Deployment, deploy_protocol


def voucher_rate(n: int = 5000) -> dict[str, float]:
    payer = dev_account(1)
    domain = get_batch_settlement_eip712_domain(1337)
    cid = "0x" + "ab" * 32
    sigs = []
    for amount in range(1, n + 1):
        signable = encode_typed_data(domain_data=domain, message_types=VOUCHER_TYPES,
                                     message_data={"channelId": bytes.fromhex(cid[2:]), "maxClaimableAmount": amount})
        sigs.append((amount, "0x" + bytes(payer.sign_message(signable).signature).hex()))
    t = time.perf_counter()
    last = 0
    for amount, sig in sigs:  # what a payee checks: the payer's signature and that the total only grows
        assert verify_batch_settlement_voucher_typed_data(None, cid, str(amount), payer.address, payer.address,  # type: ignore[arg-type]
                                                          sig, 1337)
        assert amount > last
        last = amount
    rate = n / (time.perf_counter() - t)
    import coincurve
    from eth_utils import keccak

    msg = keccak(b"x")
    raw = [bytes.fromhex(s[2:]) for _, s in sigs[:n]]
    t = time.perf_counter()
    for s in raw:
        coincurve.PublicKey.from_signature_and_message(s[:64] + bytes([s[64] - 27]), msg, hasher=None)
    bare = n / (time.perf_counter() - t)
    return {"vouchers_per_s": round(rate), "bare_recover_per_s": round(bare), "ratio_to_bare": round(rate / bare, 3)}


def paid_calls(calls: int, exact_calls: int) -> dict[str, object]:
    chain = EmbeddedChain()
    manifest, _ = deploy_protocol(chain, dev_account(0), path=None)
    d = Deployment.from_manifest(chain, manifest)
    payer, payee = dev_account(4), dev_account(5)
    d.stablecoin.transact(dev_account(0), "mint", payer.address, 10**12)
    erc20 = d.stablecoin.transact(payer, "transfer", dev_account(8).address, 1).gas_used
    asset = PaymentAsset.read(chain, d.stablecoin.address)
    tmp = Path(tempfile.mkdtemp())
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

    paid = PaidAPI.install(app, chain=chain, facilitator=build_facilitator(chain, dev_account(6), state=tmp / "f.db"),
                           asset=asset, payee=payee, state=tmp / "s.db",
                           routes=[PaidRoute("GET /exact", 10_000, ("exact",)),
                                   PaidRoute("GET /call", 100, ("batch-settlement",))])
    client = Payer(payer, asset, max_per_payment=10**6, calls_per_deposit=max(calls, 3))

    def gas_between(start: int) -> tuple[int, int]:
        txs, gas = 0, 0
        for n in range(start + 1, chain.block_number() + 1):
            block = chain.get_block(n)
            txs += 1 if block.gas_used else 0
            gas += block.gas_used
        return txs, gas

    async def run() -> dict[str, object]:
        http = client.http(httpx.ASGITransport(app=app))
        plain = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://b")
        free_ms = []
        for _ in range(200):
            t = time.perf_counter()
            await plain.get("/free")
            free_ms.append((time.perf_counter() - t) * 1000)
        start = chain.block_number()
        for _ in range(exact_calls):
            assert (await client.get("http://b/exact", client=http)).paid
        exact_txs, exact_gas = gas_between(start)
        start = chain.block_number()
        paid_ms = []
        for _ in range(calls):
            t = time.perf_counter()
            assert (await client.get("http://b/call", client=http)).paid
            paid_ms.append((time.perf_counter() - t) * 1000)
        await paid.settle_channels()
        chan_txs, chan_gas = gas_between(start)
        await http[0].aclose()
        await plain.aclose()
        # the client's share: signing one voucher
        domain = get_batch_settlement_eip712_domain(chain.chain_id)
        t = time.perf_counter()
        for amount in range(200):
            payer.sign_message(encode_typed_data(domain_data=domain, message_types=VOUCHER_TYPES,
                                                 message_data={"channelId": b"\x01" * 32, "maxClaimableAmount": amount}))
        sign_ms = (time.perf_counter() - t) * 1000 / 200
        steady = paid_ms[1:]  # the first call carries the deposit
        return {
            "erc20_transfer_gas": erc20,
            "exact": {"calls": exact_calls, "transactions": exact_txs, "gas": exact_gas,
                      "gas_per_call": exact_gas // max(exact_calls, 1),
                      "gas_per_call_vs_erc20": round(exact_gas / max(exact_calls, 1) / erc20, 2)},
            "channel": {"calls": calls, "transactions": chan_txs, "gas": chan_gas, "gas_per_call": chan_gas // calls,
                        "gas_per_call_vs_erc20": round(chan_gas / calls / erc20, 4)},
            "latency_ms": {"unpaid_median": round(statistics.median(free_ms), 3),
                           "paid_channel_median": round(statistics.median(steady), 3),
                           "client_signing": round(sign_ms, 3),
                           "added_by_payment_median": round(statistics.median(steady) - statistics.median(free_ms), 3),
                           "added_server_side_median": round(statistics.median(steady) - statistics.median(free_ms)
                                                             - sign_ms, 3)},
        }

    return asyncio.run(run())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--calls", type=int, default=10_000)
    ap.add_argument("--exact-calls", type=int, default=200)
    args = ap.parse_args()
    out = {"machine": platform.processor() or platform.machine(), "vouchers": voucher_rate(),
           "paid_calls": paid_calls(args.calls, args.exact_calls)}
    Path("bench/results").mkdir(parents=True, exist_ok=True)
    Path("bench/results/payments.json").write_text(json.dumps(out, indent=2) + "\n")
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
