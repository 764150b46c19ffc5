"""Yuma epoch benchmark: time per epoch for yuma2, yuma3 and yuma3_liquid at 64x256 and 256x4096
(validators x miners, dense random weights and bonds). Writes bench/results/yuma.json.

Each size reports:
- parse_ms: JSON-shaped state -> arrays (paid once by `tessera subnet epoch`, not by a node that
  already holds arrays);
- epoch_ms: the bit-exact epoch (tessera.subnet.yuma.compute_epoch), best of --repeat runs, one core;
- baseline_ms: a float32 numpy model of the same epoch (no fixed point, no exactness) measured in the
  same run, the analogue of the float32 PyTorch model; ratio = epoch_ms / baseline_ms.

    python bench/yuma.py [--repeat 5] [--quick]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import numpy as np  # noqa: E402

from tessera.subnet.epoch_state import parse_state  # noqa: E402
from tessera.subnet.yuma import compute_epoch  # noqa: E402


def make_state(validators: int, miners: int, version: str, seed: int = 7) -> dict[str, Any]:
    rng = np.random.default_rng(seed)
    n = validators + miners
    miner_uids = np.arange(validators, n)

    def rows(high: int) -> list[list[list[int]]]:
        return [np.stack([miner_uids, rng.integers(0, high, miners)], 1).tolist() for _ in range(validators)] + [
            [] for _ in range(miners)]

    return {
        "yuma_version": version,
        "hyperparameters": {"rao_emission": 295_200_000_000},
        "inputs": {
            "current_block": 10_000, "last_mechanism_step_block": 0,
            "last_update": [9_990] * validators + [0] * miners, "block_at_registration": [0] * n,
            "alpha_stake": rng.integers(1, 10**12, validators).tolist() + [0] * miners, "tao_stake": [0] * n,
            "validator_permit": [True] * validators + [False] * miners,
            # bonds in the range yuma3 keeps them (EMA of weights ~ 1/miners), so buys and sells mix
            "weights_submitted": rows(65536), "bonds": rows(max(2, 4 * 65536 // miners)), "commit_block": None,
        },
    }


def float_model(w: np.ndarray, stake: np.ndarray, bonds: np.ndarray, kappa: float = 0.5) -> np.ndarray:
    """Yuma 3 in float32: normalize, stake-weighted median, clip, EMA bonds, dividends."""
    s = stake / stake.sum()
    w = w / np.maximum(w.sum(axis=1, keepdims=True), 1e-12)
    order = np.argsort(w, axis=0)
    ws = np.take_along_axis(w, order, axis=0)
    cum = np.cumsum(s[order], axis=0)
    idx = (cum > 1 - kappa).argmax(axis=0)
    consensus = ws[idx, np.arange(w.shape[1])]
    clipped = np.minimum(w, consensus)
    incentive = (s[:, None] * clipped).sum(axis=0)
    incentive /= max(float(incentive.sum()), 1e-12)
    ema = 0.1 * clipped + 0.9 * bonds
    norm = ema / np.maximum(ema.sum(axis=0, keepdims=True), 1e-12)
    dividends = (norm * incentive).sum(axis=1) * s
    return dividends / max(float(dividends.sum()), 1e-12)


def best_of(fn: Any, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times) * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--quick", action="store_true", help="only the small size")
    args = parser.parse_args()
    sizes = [(64, 256)] if args.quick else [(64, 256), (256, 4096)]
    results = []
    for validators, miners in sizes:
        rng = np.random.default_rng(1)
        w32 = rng.random((validators, miners), dtype=np.float32)
        s32 = rng.random(validators, dtype=np.float32)
        b32 = rng.random((validators, miners), dtype=np.float32) / miners
        baseline = best_of(lambda: float_model(w32, s32, b32), args.repeat)
        for version in ("yuma2", "yuma3", "yuma3_liquid"):
            state = make_state(validators, miners, version)
            start = time.perf_counter()
            parsed = parse_state(state)
            parse_ms = (time.perf_counter() - start) * 1000
            epoch_ms = best_of(lambda: compute_epoch(parsed), args.repeat)
            row = {"validators": validators, "miners": miners, "version": version, "parse_ms": round(parse_ms, 1),
                   "epoch_ms": round(epoch_ms, 1), "baseline_float32_ms": round(baseline, 1),
                   "ratio_vs_float32": round(epoch_ms / baseline, 2)}
            results.append(row)
            print(f"{validators:>4}x{miners:<5} {version:<13} epoch {epoch_ms:8.1f} ms   parse {parse_ms:7.1f} ms   "
                  f"float32 model {baseline:6.1f} ms   ratio {epoch_ms / baseline:5.2f}")
    out = Path(__file__).parent / "results" / "yuma.json"
    out.write_text(json.dumps({"machine": platform.machine(), "python": platform.python_version(),
                               "cores_used": 1, "results": results}, indent=2) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
