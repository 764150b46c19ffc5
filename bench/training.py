"""Verifiable-training benchmark. Writes bench/results/training.json.

- runtime: the Q16 trainer (with the per-step state commitments a solver must compute) against float32 PyTorch
  on the same task, initial weights and minibatches, same run: `speed.ratio_vs_torch` (target <= 5);
- verification overhead: the default audit (one verifier replaying the drawn steps from served states, hashing
  included) over the solver's training time, same run: `verification.overhead` (target <= 0.10);
- detection: for solvers that skip 1%, 10% and 50% of their steps (real trained commitments), the fraction of
  commitments whose audit draw, made by the contract itself from blockhash(commitBlock + 4) on the embedded
  chain, hits a wrong step: `detection.rate_*` (target >= 0.99 at 10%);
- the dispute game against the 10% cheater: moves, the referee's gas, the game's total gas.

    python bench/training.py [--trials 100] [--audit-level 44]
"""

from __future__ import annotations

import argparse
import json
import platform
import random
import sys
import time
from pathlib import Path
from typing import Any

from tessera.accounts.dev import dev_account
from tessera.chain import EmbeddedChain
from tessera.protocol.deploy import Deployment, deploy_protocol
from tessera.protocol.faucet import fund_stablecoin, fund_tsr
from tessera.training.audit import audit
from tessera.training.dispute import Challenger, Defender, play_dispute
from tessera.training.protocol import TrainingMarketClient, task_params
from tessera.training.reference import float32_reference
from tessera.training.solution import Commitment, Solution
from tessera.training.task import TaskSpec, load_dataset
from tessera.training.trace import step_trace

TASK = {"model": {"layers": [64, 32, 10]}, "data": {"dataset": "digits", "test_fraction": "0.2"},
        "train": {"lr": "0.05", "momentum": "0.9", "batch_size": 32, "steps": 600, "seed": 7, "checkpoint_every": 50}}
USD, TSR = 10**6, 10**18


def best_of(n: int, fn: Any) -> tuple[float, Any]:
    best, value = float("inf"), None
    for _ in range(n):
        start = time.perf_counter()
        value = fn()
        best = min(best, time.perf_counter() - start)
    return best, value


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--trials", type=int, default=100)
    ap.add_argument("--audit-level", type=int, default=44)
    args = ap.parse_args()
    spec = TaskSpec.model_validate(TASK)
    config = spec.config()
    data = load_dataset(spec.data, Path("."))
    x, y = data.x_train, data.y[data.train]

    # 1. speed, same run
    fixed_s, honest = best_of(3, lambda: Solution.train(config, x, y, every=50))
    torch_s = min(float32_reference(config, x, y, data.x_test, data.y[data.test]).seconds for _ in range(3))

    # 2. the default audit's cost: a verifier replays the drawn steps from served states
    chain = EmbeddedChain()
    gov, submitter, solver, verifier = (dev_account(i) for i in (0, 1, 2, 3))
    manifest, _ = deploy_protocol(chain, gov, path=None)
    d = Deployment.from_manifest(chain, manifest)
    client = TrainingMarketClient(d)
    m = d.training
    dataset = data.commitment()
    params = task_params(config, dataset)
    fund_stablecoin(chain, d, gov, submitter.address, 10**12)
    fund_tsr(chain, d, gov, solver.address, 4 * int(m.call("solverBond")))
    fund_tsr(chain, d, gov, verifier.address, int(m.call("verifierMinStake")))
    client.stake(verifier, int(m.call("verifierMinStake")))
    d.stablecoin.transact(submitter, "approve", m.address, 2**255)
    d.token.transact(solver, "approve", m.address, 2**255)
    # the trials leave hundreds of tasks open: a 1-wei solver bond and no forced errors for the measurement
    m.transact(gov, "setParams", 1, *[m.call(n) for n in ("verifierMinStake", "challengeBond",
                                                          "challengeWindow", "settleTimeout")], 65535,
               *[m.call(n) for n in ("jackpotBps", "auditBps", "verifierSlashBps", "challengerBps")])

    def commit(sol: Solution) -> tuple[int, Commitment]:
        r = m.transact(submitter, "post", params, b"\x01" * 32, USD, 3600, args.audit_level)
        task_id = int(m.events(r, "Posted")[0].args["id"])
        m.transact(solver, "claim", task_id, b"\x02" * 32)
        chain.mine(5)
        c = Commitment.of(sol, sol.leaves())
        client.commit(solver, task_id, c)
        chain.mine(5)
        m.transact(verifier, "drawAudit", task_id)
        return task_id, c

    task_id, c = commit(honest)
    drawn = client.audit_steps(task_id)
    # served states: the solver keeps every state of its run in memory here (its cost, not the verifier's)
    states = {s: honest.state(s) for s in {t - 1 for t in drawn}}
    verify_s, report = best_of(3, lambda: audit(config, x, y, drawn, c.tree.layers[0][:config.steps + 1],
                                                states.get))
    assert report.ok and not report.refused_states

    # 3. detection by the contract's own draw, against real cheating commitments
    detection: dict[str, Any] = {}
    dispute: dict[str, Any] = {}
    for rate in (0.01, 0.10, 0.50):
        skipped = sorted(random.Random(int(rate * 1000)).sample(range(1, config.steps), int(config.steps * rate)))
        cheat = Solution.train(config, x, y, skip=skipped, every=50)
        full = audit(config, x, y, range(1, config.steps + 1), cheat.leaves(), cheat.state)
        wrong = set(full.wrong)
        caught = 0
        for _ in range(args.trials):
            task_id, c = commit(cheat)
            caught += bool(wrong & set(client.audit_steps(task_id)))
        detection[f"rate_{int(rate * 100)}pct"] = caught / args.trials
        detection[f"wrong_steps_{int(rate * 100)}pct"] = len(wrong)
        if rate == 0.10:
            step = min(wrong)
            dispute_id = client.challenge(verifier, task_id, step)
            honest_trace = step_trace(config, x, y, cheat.state(step - 1), step)
            out = play_dispute(client, dispute_id, params, solver, Defender(cheat.claimed_trace(step), c.tree),
                               verifier, Challenger(honest_trace, len(config.layers) - 1, config, data, dataset))
            dispute = {"solver_lost": out.solver_lost, "moves": out.rounds, "referee_gas": out.referee_gas,
                       "total_gas": out.total_gas, "tensor": out.tensor}
    result = {
        "machine": {"python": platform.python_version(), "cpus": __import__("os").cpu_count()},
        "task": "digits 64-32-10, 600 steps, batch 32",
        "speed": {"fixed_point_s": round(fixed_s, 3), "torch_float32_s": round(torch_s, 3),
                  "ratio_vs_torch": round(fixed_s / torch_s, 2), "target_ratio": 5},
        "verification": {"audit_level": args.audit_level, "distinct_steps": len(set(drawn)), "verifiers": 1,
                         "verifier_s": round(verify_s, 4), "solver_s": round(fixed_s, 3),
                         "overhead": round(verify_s / fixed_s, 4), "target_overhead": 0.10},
        "detection": {"trials": args.trials, **detection, "target_at_10pct": 0.99},
        "dispute": dispute,
    }
    out_path = Path(__file__).parent / "results" / "training.json"
    out_path.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))
    sys.exit(0)


if __name__ == "__main__":
    main()
