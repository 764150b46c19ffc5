"""Transactions/s and eth_calls/s: the embedded chain vs anvil, measured in the same run.

Machines here are noisy, so the figure that matters is the ratio embedded/anvil taken in one
run; absolute numbers are printed for context. Writes bench/results/chain_throughput.json.

    python bench/chain_throughput.py [--txs 300] [--calls 1000]
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path

from tessera.accounts.dev import dev_account
from tessera.chain import Chain, Contract, EmbeddedChain, RpcChain
from tessera.chain.devnet import start_anvil

OWNER, TO = dev_account(0), dev_account(1)


def measure(chain: Chain, txs: int, calls: int) -> dict[str, float]:
    token, _ = Contract.deploy(chain, OWNER, "DevStablecoin", OWNER.address)
    token.transact(OWNER, "mint", OWNER.address, 10**15)
    data = token.encode("transfer", TO.address, 1)
    max_fee, priority = chain.gas_price_hint()
    nonce = chain.get_nonce(OWNER.address)
    # signing is the same work on both backends, so it is done before the clock starts
    raw = [
        bytes(OWNER.sign_transaction({"type": 2, "chainId": chain.chain_id, "nonce": nonce + i, "gas": 80_000,
                                      "maxFeePerGas": max_fee * 4, "maxPriorityFeePerGas": priority,
                                      "to": token.address, "value": 0, "data": data}).raw_transaction)
        for i in range(txs)
    ]
    start = time.perf_counter()
    hashes = [chain.send_raw_transaction(r) for r in raw]
    for h in hashes:
        assert chain.wait_for_receipt(h).ok
    tx_seconds = time.perf_counter() - start
    assert token.call("balanceOf", TO.address) == txs

    start = time.perf_counter()
    for _ in range(calls):
        token.call("balanceOf", TO.address)
    call_seconds = time.perf_counter() - start

    start = time.perf_counter()
    n_transact = max(txs // 5, 10)
    for _ in range(n_transact):
        token.transact(OWNER, "transfer", TO.address, 1)  # estimate + nonce + fee + send + receipt
    transact_seconds = time.perf_counter() - start
    return {
        "tx_per_s": txs / tx_seconds,
        "eth_call_per_s": calls / call_seconds,
        "transact_per_s": n_transact / transact_seconds,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--txs", type=int, default=300)
    parser.add_argument("--calls", type=int, default=1000)
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "chain_throughput.json")
    args = parser.parse_args()

    with EmbeddedChain() as chain:
        embedded = measure(chain, args.txs, args.calls)
    devnet = start_anvil()
    try:
        with RpcChain(devnet.url) as chain:
            anvil = measure(chain, args.txs, args.calls)
    finally:
        devnet.stop()
    result = {
        "benchmark": "chain_throughput",
        "machine": {"python": platform.python_version(), "processor": platform.machine()},
        "params": {"txs": args.txs, "calls": args.calls},
        "embedded": embedded,
        "anvil": anvil,
        "ratio_embedded_over_anvil": {k: embedded[k] / anvil[k] for k in embedded},
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"{'':16}{'embedded':>12}{'anvil':>12}{'ratio':>8}")
    for key in embedded:
        print(f"{key:16}{embedded[key]:12.1f}{anvil[key]:12.1f}{embedded[key] / anvil[key]:8.2f}")
    print(f"written to {args.out}")


if __name__ == "__main__":
    main()
