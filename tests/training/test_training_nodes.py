"""The solver and verifier nodes against each other on the embedded chain, through their public interfaces
(the chain, the solver's HTTP API, the journal): an honest task is claimed, trained, committed, audited from
the served states, attested and paid; a solver that skips steps is caught by the verifier node's audit, loses
the dispute game its node plays move by move, and is slashed; a forced error is caught for the jackpot. Both
nodes are rebuilt from their data directories after every pass in the cheating run (a restart at every stage
boundary) and nothing is sent twice. A solver served to nobody is not paid and gets its bond back; a reorg drops
an orphaned task."""

from __future__ import annotations

from pathlib import Path
from typing import Callable

import pytest
import yaml
from eth_utils import keccak
from fastapi.testclient import TestClient

from tessera.protocol.deploy import Deployment
from tessera.training.job import TrainingJob
from tessera.training.solution import Solution
from tessera.training_node import SolverNode, SolverSource, VerifierNode
from tessera.training_node.api import create_app
from tessera.training_node.journal import Journal

from training_harness import (  # noqa: F401 (fixtures)
    ALWAYS_FORCED, FEE, SETTLE_TIMEOUT, SMALL_TASK, SOLVER_BOND, TrainingEnv, small, training_env,
)

SPEC = yaml.safe_dump(SMALL_TASK).encode()
LEVEL = 200  # draws over 12 steps: every step is audited, whatever the seed
# the nodes' runs use the embedded chain; their contracts and the game's moves are tested on both backends
pytestmark = pytest.mark.parametrize("chain", ["embedded"], indirect=True)


class SkippingSolver(SolverNode):
    """A cheater: it claims the result of every step without training."""

    def train(self, job: TrainingJob, every: int) -> Solution:
        return Solution.train(job.config, job.x, job.y, skip=range(1, job.config.steps + 1), every=every)


def _nodes(env: TrainingEnv, tmp: Path, solver_cls: type[SolverNode] = SolverNode
           ) -> tuple[SolverNode, VerifierNode, TestClient]:
    chain, d = env.chain, env.deployment
    solver = solver_cls(chain, d, env.solver, tmp / "solver")  # type: ignore[arg-type]
    api = TestClient(create_app(solver))
    verifier = VerifierNode(chain, d, env.verifiers[0], tmp / "verifier",  # type: ignore[arg-type]
                            SolverSource(["http://solver"], client=api))
    return solver, verifier, api


def _post(env: TrainingEnv) -> int:
    d = env.deployment
    d.stablecoin.transact(env.submitter, "approve", d.training.address, FEE)
    r = d.training.transact(env.submitter, "post", env.task.params(), keccak(SPEC), FEE, 3600, LEVEL)
    return int(d.training.events(r, "Posted")[0].args["id"])


def _drive(env: TrainingEnv, make: Callable[[], tuple[SolverNode, VerifierNode]], done: Callable[[], bool],
           passes: int = 40) -> list[tuple[str, str]]:
    actions: list[tuple[str, str]] = []
    for _ in range(passes):
        solver, verifier = make()
        for node in (solver, verifier):
            report = node.step()
            actions += report.actions
            assert not report.errors, report.errors
        if done():
            return actions
        env.chain.increase_time(400)  # nine passes cover the one-hour window; a move has an hour
        env.chain.mine(1)
    raise AssertionError(f"not done after {passes} passes: {actions}")


def test_an_honest_task_is_solved_audited_attested_and_paid_by_the_nodes(training_env: TrainingEnv,
                                                                        tmp_path: Path) -> None:
    env = training_env
    solver, verifier, api = _nodes(env, tmp_path)
    assert api.put("/specs", content=SPEC).json()["spec_hash"] == "0x" + keccak(SPEC).hex()
    task_id = _post(env)
    before = int(env.deployment.stablecoin.call("balanceOf", env.solver.address))  # type: ignore[attr-defined]
    actions = _drive(env, lambda: (solver, verifier),
                     lambda: (solver.journal.task(task_id) or {}).get("status") == "done")
    events = [e for e, _ in actions]
    assert events.index("claimed") < events.index("trained") < events.index("committed") < events.index("audited")
    assert "attested" in events and "settled" in events and "withdrawn" in events
    view = env.client.task(task_id)
    assert view.state == "settled" and view.attesters == 1
    paid = int(env.deployment.stablecoin.call("balanceOf", env.solver.address)) - before  # type: ignore[attr-defined]
    assert 0 < paid <= FEE
    audit = verifier.journal.task(task_id)["audit"]  # type: ignore[index]
    assert audit["wrong"] == [] and audit["distinct"] == 12 and audit["refused_states"] == 0
    # the API serves what was committed, and a state that checks against its leaf
    leaves = api.get(f"/tasks/{task_id}/leaves").json()["leaves"]
    assert len(leaves) == 13
    state = api.get(f"/tasks/{task_id}/states/7").json()
    assert state["leaf"] == leaves[7]
    assert "secret" not in str(api.get(f"/tasks/{task_id}").json())


def test_a_skipping_solver_is_caught_refereed_and_slashed_with_a_restart_after_every_pass(
        training_env: TrainingEnv, tmp_path: Path) -> None:
    env = training_env
    SolverNode(env.chain, env.deployment, env.solver, tmp_path / "solver").add_spec(SPEC, tmp_path)  # type: ignore[arg-type]
    task_id = _post(env)
    bond_owner = env.verifiers[0]
    actions = _drive(env, lambda: _nodes(env, tmp_path, SkippingSolver)[:2],
                     lambda: (Journal(tmp_path / "solver" / "solver.sqlite3").task(task_id) or {}).get("status")
                     == "slashed", passes=60)
    events = [e for e, _ in actions]
    assert "challenge" in events and "dispute" in events and events.count("claimed") == 1
    assert "move" in events and "slashed" in events
    # every transaction went out once: one claim, one commit, one challenge
    m = env.deployment.training
    assert len(m.get_events("Claimed")) == 1 and len(m.get_events("ChallengeOpened")) == 1
    ended = env.deployment.training_disputes.get_events("Ended")
    assert len(ended) == 1 and ended[0].args["solverLost"] and not ended[0].args["timedOut"]
    assert env.deployment.training_disputes.get_events("Refereed")
    assert env.client.task(task_id).state == "slashed"
    # the verifier node withdrew its reward (a share of the slashed bond) as soon as it was credited
    assert "withdrawn" in events and env.owed(bond_owner) == (0, 0)


def test_a_forced_error_is_caught_by_the_verifier_node_for_the_jackpot(training_env: TrainingEnv,
                                                                      tmp_path: Path) -> None:
    env = training_env
    env.set_forcing(ALWAYS_FORCED)
    solver, verifier, api = _nodes(env, tmp_path)
    api.put("/specs", content=SPEC)
    task_id = _post(env)
    actions = _drive(env, lambda: (solver, verifier),
                     lambda: (solver.journal.task(task_id) or {}).get("status") == "done", passes=60)
    events = [e for e, _ in actions]
    assert "forced" in events and "attested" not in events
    view = env.client.task(task_id)
    assert view.forced_caught and view.state == "settled"
    caught = env.deployment.training.get_events("ForcedErrorCaught")
    assert len(caught) == 1 and caught[0].args["verifier"] == env.verifiers[0].address  # type: ignore[attr-defined]
    assert verifier.journal.task(task_id)["outcome"] == "a forced error caught"  # type: ignore[index]


def test_specs_are_refused_with_a_reason_and_unknown_ones_wait(training_env: TrainingEnv, tmp_path: Path) -> None:
    env = training_env
    solver, _, api = _nodes(env, tmp_path)
    bad = api.put("/specs", content=yaml.safe_dump({**SMALL_TASK, "bogus": 1}).encode())
    assert bad.status_code == 422 and "bogus" in bad.json()["error"] and "\n" not in bad.json()["error"]
    assert api.put("/specs", content=b"\xff\xfe").json()["error"].startswith("the spec: a task spec is UTF-8")
    task_id = _post(env)
    solver.step()
    row = solver.journal.task(task_id)
    assert row["status"] == "posted" and "waiting for its spec" in row["detail"]  # type: ignore[index]
    # a spec whose parameters are not the posted ones (another seed) is refused, not trained
    other = yaml.safe_dump({**SMALL_TASK, "train": {**SMALL_TASK["train"], "seed": 12}}).encode()  # type: ignore[dict-item]
    d = env.deployment
    d.stablecoin.transact(env.submitter, "approve", d.training.address, FEE)
    r = d.training.transact(env.submitter, "post", env.task.params(), keccak(other), FEE, 3600, LEVEL)
    mismatched = int(d.training.events(r, "Posted")[0].args["id"])
    api.put("/specs", content=other)
    solver.step()
    row = solver.journal.task(mismatched)
    assert row["status"] == "skipped" and "not those of its spec" in row["detail"]  # type: ignore[index]


def test_a_solver_that_serves_no_verifier_is_not_paid_and_gets_its_bond_back(training_env: TrainingEnv,
                                                                            tmp_path: Path) -> None:
    env = training_env
    solver, _, api = _nodes(env, tmp_path)
    api.put("/specs", content=SPEC)
    blind = VerifierNode(env.chain, env.deployment, env.verifiers[0], tmp_path / "blind",  # type: ignore[arg-type]
                         SolverSource([]))  # it knows no solver: nothing is served to it
    blind.add_spec(SPEC, tmp_path)
    task_id = _post(env)
    seen: list[str] = []

    def unverified() -> bool:
        return "no verifier attested" in ((solver.journal.task(task_id) or {}).get("detail") or "")

    seen += [e for e, _ in _drive(env, lambda: (solver, blind), unverified, passes=20)]
    row = blind.journal.task(task_id)
    assert row["status"] == "closed" and row["audit"] is None  # type: ignore[index]  # nothing to audit, no attestation
    env.chain.increase_time(SETTLE_TIMEOUT)
    seen += [e for e, _ in _drive(env, lambda: (solver, blind),
                                  lambda: (solver.journal.task(task_id) or {}).get("status") == "done", passes=5)]
    assert "unverified" in seen and "cancelled" in seen and "withdrawn" in seen and "settled" not in seen
    assert env.client.task(task_id).state == "cancelled"
    assert env.owed(env.submitter)[0] == FEE  # the whole fee, waiting for the submitter to withdraw
    assert solver.journal.task(task_id)["outcome"] == "unverified: the bond returned, no fee"  # type: ignore[index]


def test_a_reorg_drops_the_orphaned_task_and_reads_the_new_chain(training_env: TrainingEnv, tmp_path: Path) -> None:
    env = training_env
    solver, _, _ = _nodes(env, tmp_path)  # no spec: posted tasks wait, so nothing is acted on yet
    snapshot = env.chain.snapshot()
    orphan = _post(env)
    solver.step()
    assert solver.journal.task(orphan)["fee"] == str(FEE)  # type: ignore[index]
    env.chain.revert(snapshot)  # the post is orphaned; another one takes its id on the new chain
    d = env.deployment
    d.stablecoin.transact(env.submitter, "approve", d.training.address, FEE // 2)
    r = d.training.transact(env.submitter, "post", env.task.params(), keccak(SPEC), FEE // 2, 3600, LEVEL)
    assert int(d.training.events(r, "Posted")[0].args["id"]) == orphan
    env.chain.mine(2)
    solver.step()
    assert solver.follower.status.reorgs >= 1
    assert solver.journal.task(orphan)["fee"] == str(FEE // 2)  # type: ignore[index]
