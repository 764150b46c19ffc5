"""A small real task (iris, a 3-layer MLP) with its dataset commitment and traces, shared by the referee, the
dispute game and the market tests. A module of its own name (not `conftest`)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from tessera.training.commit import PositionTree
from tessera.training.mlp import Params, init_params, sgd_step
from tessera.training.task import Dataset, DatasetCommitment, TaskSpec, load_dataset
from tessera.training.trace import StepTrace, step_trace
from tessera.training.trainer import TrainConfig

SMALL_TASK = {
    "model": {"layers": [4, 6, 5, 3]},
    "data": {"dataset": "iris", "test_fraction": "0.2"},
    "train": {"lr": "0.1", "momentum": "0.9", "batch_size": 4, "steps": 12, "seed": 11, "checkpoint_every": 4},
}


@dataclass
class SmallTask:
    spec: TaskSpec
    config: TrainConfig
    data: Dataset
    commitment: DatasetCommitment
    states: list[Params]  # the state after steps 0..steps

    @property
    def layers(self) -> int:
        return len(self.config.layers) - 1

    def trace(self, step: int) -> StepTrace:
        before = self.states[step - 1] if step else None
        return step_trace(self.config, self.data.x_train, self.data.y[self.data.train], before, step)

    def params(self) -> tuple[object, ...]:
        c = self.config
        return (c.layers, c.batch_size, c.steps, c.seed, c.lr, c.momentum, self.commitment.root)


def small_task() -> SmallTask:
    spec = TaskSpec.model_validate(SMALL_TASK)
    config = spec.config()
    data = load_dataset(spec.data, Path("."))
    x, y = data.x_train, data.y[data.train]
    states = [init_params(config.seed, config.layers)]
    from tessera.training.mlp import batch_indices
    for step in range(1, config.steps + 1):
        idx = batch_indices(config.seed, step, config.batch_size, x.shape[0])
        states.append(sgd_step(states[-1], x[idx], y[idx], config.lr, config.momentum))
    return SmallTask(spec, config, data, data.commitment(), states)


# -- an on-chain environment: the protocol with small bonds, a funded submitter, solver and three verifiers

import pytest  # noqa: E402

from tessera.accounts.dev import dev_account  # noqa: E402
from tessera.protocol.deploy import Deployment  # noqa: E402
from tessera.protocol.faucet import fund_tsr  # noqa: E402
from tessera.training.dispute import Challenger, Defender  # noqa: E402
from tessera.training.protocol import TrainingMarketClient, task_params  # noqa: E402
from tessera.training.solution import Commitment, Solution, is_forced, is_forced_step  # noqa: E402

USD = 10**6
TSR = 10**18
FEE = 100 * USD
SOLVER_BOND, MIN_STAKE, CHALLENGE_BOND = 4 * TSR, 2 * TSR, 1 * TSR
WINDOW, SETTLE_TIMEOUT = 3600, 86400
NO_FORCING, ALWAYS_FORCED = 65535, 1


@dataclass
class TrainingEnv:
    deployment: Deployment
    client: TrainingMarketClient
    task: SmallTask
    submitter: object
    solver: object
    verifiers: list[object]

    @property
    def chain(self):  # type: ignore[no-untyped-def]
        return self.client.chain

    def set_forcing(self, odds: int) -> None:
        m = self.deployment.training
        m.transact(dev_account(0), "setParams", SOLVER_BOND, MIN_STAKE, CHALLENGE_BOND, WINDOW, SETTLE_TIMEOUT, odds,
                   500, 500, 5000, 5000)

    def post(self, audit_level: int = 8) -> int:
        return self.client.post(self.submitter, self.task.params(), b"\x11" * 32, FEE, 3600, audit_level)

    def solve(self, task_id: int, secret: bytes, *, skip: tuple[int, ...] = ()) -> tuple[Solution, PositionTree, list[int]]:
        """Claim, train (skipping `skip`), mark the forced steps if the task is forced, and commit."""
        self.client.claim(self.solver, task_id, secret)
        self.chain.mine(5)
        seed, _ = self.client.forced_seed(task_id)
        t = self.task
        sol = Solution.train(t.config, t.data.x_train, t.data.y[t.data.train], skip=skip, every=4)
        steps = t.config.steps
        odds = int(self.deployment.training.call("forcedOdds"))
        forced = [s for s in range(steps + 1) if is_forced(secret, seed, steps, odds)
                  and is_forced_step(secret, seed, steps, s)]
        leaves = sol.leaves(forced)
        commitment = Commitment.of(sol, leaves)
        self.client.commit(self.solver, task_id, commitment)
        return sol, commitment.tree, forced

    def draw(self, task_id: int) -> list[int]:
        self.chain.mine(5)
        self.client.draw_audit(self.verifiers[0], task_id)
        return self.client.audit_steps(task_id)

    def defender(self, sol: Solution, tree: PositionTree, step: int) -> Defender:
        return Defender(sol.claimed_trace(step), tree)

    def challenger(self, step: int) -> Challenger:
        t = self.task
        return Challenger(t.trace(step), t.layers, t.config, t.data, t.commitment)

    def past_window(self) -> None:
        self.chain.increase_time(WINDOW + 10)
        self.chain.mine(1)

    def owed(self, who: object) -> tuple[int, int]:
        m = self.deployment.training
        return int(m.call("owedStable", who.address)), int(m.call("owedTsr", who.address))  # type: ignore[attr-defined]

    def stake_of(self, who: object) -> int:
        return int(self.deployment.training.call("verifiers", who.address)[0])  # type: ignore[attr-defined]


@pytest.fixture(scope="module")
def small() -> SmallTask:
    return small_task()


@pytest.fixture
def training_env(deployment: Deployment, small: SmallTask) -> TrainingEnv:
    chain = deployment.training.chain
    owner = dev_account(0)
    submitter, solver = dev_account(1), dev_account(2)
    verifiers = [dev_account(3), dev_account(4), dev_account(5)]
    deployment.stablecoin.transact(owner, "mint", submitter.address, 10 * FEE)
    env = TrainingEnv(deployment, TrainingMarketClient(deployment), small, submitter, solver, verifiers)
    env.set_forcing(NO_FORCING)
    fund_tsr(chain, deployment, owner, solver.address, 3 * SOLVER_BOND)
    for v in verifiers:
        fund_tsr(chain, deployment, owner, v.address, 2 * MIN_STAKE)
        env.client.stake(v, MIN_STAKE)
    return env
