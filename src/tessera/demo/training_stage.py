"""Demo stage `training`: three digits tasks on the TrainingMarket (docs/training.md).

1. An honest solver trains, commits its 601 step leaves; a verifier audits the 44 drawn steps (replayed from the
   states the solver serves), signs off, and the solver is paid after the window.
2. A cheating solver skips 10% of its steps. The audit finds a skipped step; the verifier challenges it, the
   dispute game narrows it to one element of one operator, the on-chain referee recomputes it, the solver is
   slashed and the submitter refunded.
3. A forced task (governance sets the forced-error odds to 1 in 1 for it; the default is 1 in 8): the honest
   solver must publish deliberately wrong leaves; the verifier's audit catches one, it challenges, the solver
   reveals its secret, and the verifier wins the jackpot.
"""

from __future__ import annotations

import random
from pathlib import Path

from ..accounts.dev import dev_account
from ..protocol.deploy import Deployment
from ..protocol.faucet import fund_stablecoin, fund_tsr
from ..units import units_text
from .runner import DemoContext, StageResult

USD = 10**6
TSR = 10**18
FEE = 50 * USD
AUDIT_LEVEL = 44  # 0.9**44 < 1%: a solver faking 10% of its steps escapes with probability below 1%
TASK = {"model": {"layers": [64, 32, 10], "activation": "relu"},
        "data": {"dataset": "digits", "test_fraction": "0.2"},
        "train": {"optimizer": "sgd", "lr": "0.05", "momentum": "0.9", "batch_size": 32, "steps": 600, "seed": 7,
                  "checkpoint_every": 50}}


def training_stage(ctx: DemoContext, out: StageResult) -> None:
    from ..training.audit import audit
    from ..training.dispute import Challenger, Defender, play_dispute
    from ..training.protocol import TrainingMarketClient, task_params
    from ..training.reference import float32_reference
    from ..training.solution import Commitment, Solution, is_forced, is_forced_step
    from ..training.task import TaskSpec, load_dataset
    from ..training.trace import step_trace
    from ..training.trainer import accuracy

    chain = ctx.chain
    d: Deployment = ctx.state["deployment"]
    client = TrainingMarketClient(d)
    m = d.training
    gov, submitter, solver, cheater, verifier = (dev_account(i) for i in (0, 1, 2, 6, 3))
    spec = TaskSpec.model_validate(TASK)
    config = spec.config()
    data = load_dataset(spec.data, Path("."))
    x, y = data.x_train, data.y[data.train]
    dataset = data.commitment()
    params = task_params(config, dataset)
    fund_stablecoin(chain, d, gov, submitter.address, 3 * FEE)
    bond, min_stake = int(m.call("solverBond")), int(m.call("verifierMinStake"))
    for who, amount in ((solver, 2 * bond), (cheater, bond), (verifier, min_stake)):
        fund_tsr(chain, d, gov, who.address, amount)
    client.stake(verifier, min_stake)
    stable = lambda v: f"{units_text(v, 6)} tUSD"  # noqa: E731
    lines: list[str] = []

    def set_forcing(odds: int) -> None:
        current = [m.call(n) for n in ("solverBond", "verifierMinStake", "challengeBond", "challengeWindow",
                                       "settleTimeout", "forcedOdds", "jackpotBps", "auditBps", "verifierSlashBps",
                                       "challengerBps")]
        current[5] = odds
        m.transact(gov, "setParams", *current)

    def solve(who: object, secret: bytes, sol: Solution) -> tuple[int, Commitment, list[int]]:
        task_id = client.post(submitter, params, b"\x01" * 32, FEE, 3600, AUDIT_LEVEL)
        client.claim(who, task_id, secret)  # type: ignore[arg-type]
        chain.mine(5)
        seed, _ = client.forced_seed(task_id)
        odds = int(m.call("forcedOdds"))
        forced = [s for s in range(config.steps + 1) if is_forced(secret, seed, config.steps, odds)
                  and is_forced_step(secret, seed, config.steps, s)]
        commitment = Commitment.of(sol, sol.leaves(forced))
        client.commit(who, task_id, commitment)  # type: ignore[arg-type]
        chain.mine(5)
        client.draw_audit(verifier, task_id)
        return task_id, commitment, forced

    def run_audit(task_id: int, sol: Solution, commitment: Commitment) -> list[int]:
        steps = client.audit_steps(task_id)
        return audit(config, x, y, steps, commitment.tree.layers[0][:config.steps + 1], sol.state).wrong

    # 1. honest
    set_forcing(65535)
    honest = Solution.train(config, x, y, every=50)
    float_run = float32_reference(config, x, y, data.x_test, data.y[data.test])
    test_accuracy = accuracy(honest.final, data.x_test, data.y[data.test])
    t1, c1, _ = solve(solver, b"\x11" * 32, honest)
    wrong1 = run_audit(t1, honest, c1)
    if not wrong1:
        client.attest(verifier, t1)
    chain.increase_time(3601)
    chain.mine(1)
    client.settle(solver, t1, b"\x11" * 32)
    honest_accepted = client.task(t1).state == "settled" and not wrong1
    lines.append(f"task {t1}: digits, MLP 64-32-10, 600 steps, fee {stable(FEE)}; solver {solver.address[:10]}… "
                 f"committed 601 step leaves; the audit replayed {AUDIT_LEVEL} drawn steps, all right; settled, "
                 f"test accuracy {test_accuracy:.1%} (float32 PyTorch, same batches: {float_run.test_accuracy:.1%})")

    # 2. a cheating solver skips 10% of its steps
    skipped = sorted(random.Random(16).sample(range(1, config.steps), config.steps // 10))
    cheat = Solution.train(config, x, y, skip=skipped, every=50)
    t2, c2, _ = solve(cheater, b"\x22" * 32, cheat)
    wrong2 = run_audit(t2, cheat, c2)
    cheater_slashed, rounds, referee_gas = False, 0, 0
    if wrong2:
        step = wrong2[0]
        dispute = client.challenge(verifier, t2, step)
        before = cheat.state(step - 1)
        honest_trace = step_trace(config, x, y, before, step)
        result = play_dispute(client, dispute, params, cheater, Defender(cheat.claimed_trace(step), c2.tree),
                              verifier, Challenger(honest_trace, len(config.layers) - 1, config, data, dataset))
        cheater_slashed = result.solver_lost and client.task(t2).state == "slashed"
        rounds, referee_gas = result.rounds, result.referee_gas
        lines.append(f"task {t2}: a solver that skipped {len(skipped)} of 600 steps; the audit found "
                     f"{len(wrong2)} wrong among {AUDIT_LEVEL} drawn; step {step} challenged, narrowed in {rounds} "
                     f"moves to one element of tensor {result.tensor}, refereed on chain ({referee_gas:,} gas): "
                     f"slashed {units_text(bond, 18) + ' TSR'}, the fee refunded")
    else:
        lines.append(f"task {t2}: the audit missed the skipped steps (probability below 1%)")

    # 3. a forced error, caught for the jackpot
    set_forcing(1)
    jackpot_before = int(m.call("jackpot"))
    secret = b"\x33" * 32
    t3, c3, forced = solve(solver, secret, honest)
    wrong3 = run_audit(t3, honest, c3)
    forced_error_caught = False
    if wrong3:
        client.challenge(verifier, t3, wrong3[0])
        owed = int(m.call("owedStable", verifier.address))
        client.reveal_forced(solver, t3, secret)
        won = int(m.call("owedStable", verifier.address)) - owed
        forced_error_caught = client.task(t3).forced_caught and won > 0
        lines.append(f"task {t3}: forced ({len(forced)} deliberately wrong leaves); the audit caught step "
                     f"{wrong3[0]}, the solver revealed its secret, the verifier won {stable(won)} of the "
                     f"{stable(jackpot_before)} jackpot")
    set_forcing(8)

    out.ok = honest_accepted and cheater_slashed and forced_error_caught
    out.figures = {
        "honest_accepted": honest_accepted,
        "cheater_slashed": cheater_slashed,
        "forced_error_caught": forced_error_caught,
        "dispute_rounds": rounds,
        "referee_gas": referee_gas,
        "test_accuracy": round(test_accuracy, 4),
        "float_accuracy": round(float_run.test_accuracy, 4),
    }
    out.lines = lines
