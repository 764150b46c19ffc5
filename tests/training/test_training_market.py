"""TrainingMarket and the dispute game on a real task (iris, 12 steps), on the embedded chain and on anvil:
the honest path pays; a solver that skips a step is caught, narrowed to one operator element, refereed and
slashed; a verifier who challenges an honest step pays the solver; a silent party loses; a forced error is
caught for the jackpot; a verifier who signed off on one is slashed and barred; nobody can take another's
move or challenge."""

from __future__ import annotations

import pytest

from tessera.accounts.dev import dev_account
from tessera.errors import ContractRevert
from tessera.training.dispute import Challenger, play_dispute
from tessera.training.trace import StepTrace

from training_harness import (  # noqa: F401 (fixtures)
    ALWAYS_FORCED, CHALLENGE_BOND, FEE, SETTLE_TIMEOUT, SOLVER_BOND, TrainingEnv, small, training_env,
)


def test_an_honest_task_is_audited_attested_and_paid(training_env: TrainingEnv) -> None:
    env, c = training_env, training_env.client
    task_id = env.post()
    secret = b"\x01" * 32
    sol, _, forced = env.solve(task_id, secret)
    assert forced == []
    view = c.task(task_id)
    assert view.state == "committed" and view.root == env.client.task(task_id).root
    from tessera.training.mlp import weights_hash
    assert view.weights_hash == weights_hash(sol.final)
    audited = env.draw(task_id)
    assert len(audited) == 8 and all(1 <= s <= 12 for s in audited)
    v = env.verifiers[0]
    for s in set(audited):  # the verifier's audit: replay each drawn step from the served state before it
        assert env.task.trace(s).digests == sol.claimed_trace(s).digests
    c.attest(v, task_id)
    with pytest.raises(ContractRevert, match="TooEarly"):
        c.settle(env.solver, task_id, secret)
    env.past_window()
    with pytest.raises(ContractRevert, match="NotSolver"):
        c.settle(env.verifiers[1], task_id, secret)
    c.settle(env.solver, task_id, secret)
    assert c.task(task_id).state == "settled"
    assert env.owed(env.solver) == (FEE * 90 // 100, SOLVER_BOND)
    assert env.owed(v)[0] == FEE * 5 // 100
    assert int(env.deployment.training.call("jackpot")) == FEE * 5 // 100
    before = int(env.deployment.stablecoin.call("balanceOf", env.solver.address))
    c.withdraw(env.solver)
    assert int(env.deployment.stablecoin.call("balanceOf", env.solver.address)) - before == FEE * 90 // 100


def test_a_solver_that_skips_a_step_is_caught_refereed_and_slashed(training_env: TrainingEnv) -> None:
    env, c = training_env, training_env.client
    task_id = env.post()
    secret = b"\x02" * 32
    sol, tree, _ = env.solve(task_id, secret, skip=(5,))
    env.draw(task_id)
    v = env.verifiers[1]
    c.attest(env.verifiers[0], task_id)  # a verifier that signed off without checking step 5
    dispute = c.challenge(v, task_id, 5)
    out = play_dispute(c, dispute, env.task.params(), env.solver, env.defender(sol, tree, 5), v, env.challenger(5))
    assert out.solver_lost and not out.timed_out
    assert out.rounds >= 6 and 0 < out.referee_gas < 10_000_000
    view = c.task(task_id)
    assert view.state == "slashed"
    assert env.owed(env.submitter)[0] == FEE  # the fee goes back
    assert env.owed(v)[1] == SOLVER_BOND // 2  # half the bond to the challenger, half to the jackpot
    assert int(env.deployment.training.call("tsrJackpot")) >= SOLVER_BOND // 2
    # the verifier's bond is free again
    assert int(env.deployment.training.call("verifiers", v.address)[1]) == 0


def test_a_verifier_that_challenges_an_honest_step_loses_its_bond(training_env: TrainingEnv) -> None:
    env, c = training_env, training_env.client
    task_id = env.post()
    secret = b"\x03" * 32
    sol, tree, _ = env.solve(task_id, secret)
    env.draw(task_id)
    liar = env.verifiers[2]
    dispute = c.challenge(liar, task_id, 4)
    # the liar plays from a trace with one gradient element changed: it disputes a correct value
    t = env.task.trace(4)
    lying = [None if x is None else x.copy() for x in t.tensors]
    k = 5 * env.task.layers + 2  # the last layer's weight gradient
    lying[k][0, 0] += 1  # type: ignore[index]
    liar_side = Challenger(StepTrace.of(4, lying), env.task.layers, env.task.config, env.task.data,
                           env.task.commitment)
    stake = env.stake_of(liar)
    out = play_dispute(c, dispute, env.task.params(), env.solver, env.defender(sol, tree, 4), liar, liar_side)
    assert not out.solver_lost and out.tensor == k
    assert env.stake_of(liar) == stake - CHALLENGE_BOND
    assert env.owed(env.solver)[1] == CHALLENGE_BOND
    assert c.task(task_id).state == "committed"  # the task goes on; the solver is paid after the window
    c.attest(env.verifiers[0], task_id)  # an honest verifier's audit signs off
    env.chain.increase_time(2 * 3600 + 10)
    env.chain.mine(1)
    c.settle(env.solver, task_id, secret)
    assert c.task(task_id).state == "settled"


def test_attack_a_solver_that_withholds_its_states_is_never_paid(training_env: TrainingEnv) -> None:
    """A cheater that serves no verifier its leaves or states cannot be audited, so nobody attests. It cannot
    settle (NotVerified); after settleTimeout the task is cancelled: the submitter gets the whole fee back and
    the solver only its bond (its time was wasted, and the submitter's only delayed)."""
    env, c, m = training_env, training_env.client, training_env.deployment.training
    task_id = env.post()
    secret = b"\x0a" * 32
    env.solve(task_id, secret, skip=(3, 4, 5))
    env.draw(task_id)
    env.past_window()
    with pytest.raises(ContractRevert, match="NotVerified"):
        c.settle(env.solver, task_id, secret)
    with pytest.raises(ContractRevert, match="TooEarly"):
        m.transact(env.submitter, "forfeit", task_id)
    env.chain.increase_time(SETTLE_TIMEOUT + 10)
    env.chain.mine(1)
    fee_before, bond_before = env.owed(env.submitter)[0], env.owed(env.solver)[1]
    r = m.transact(env.submitter, "forfeit", task_id)
    assert m.events(r, "Unverified")[0].args["feeRefunded"] == FEE
    assert c.task(task_id).state == "cancelled"
    assert env.owed(env.submitter)[0] - fee_before == FEE and env.owed(env.solver) == (0, bond_before + SOLVER_BOND)
    with pytest.raises(ContractRevert, match="WrongState"):
        c.settle(env.solver, task_id, secret)


@pytest.mark.parametrize("silent, solver_loses", [("await-trace", True), ("await-leaf", True),
                                                  ("await-pick", False), ("await-referee", False)])
def test_the_silent_party_loses(training_env: TrainingEnv, silent: str, solver_loses: bool) -> None:
    env, c = training_env, training_env.client
    task_id = env.post()
    sol, tree, _ = env.solve(task_id, b"\x04" * 32, skip=(7,))
    env.draw(task_id)
    v = env.verifiers[0]
    dispute = c.challenge(v, task_id, 7)
    kwargs = {"solver_silent_at": silent} if solver_loses else {"challenger_silent_at": silent}
    out = play_dispute(c, dispute, env.task.params(), env.solver, env.defender(sol, tree, 7), v,
                       env.challenger(7), **kwargs)
    assert out.timed_out and out.solver_lost == solver_loses
    assert c.task(task_id).state == ("slashed" if solver_loses else "committed")


def test_a_forced_error_is_caught_for_the_jackpot_and_a_lazy_attester_is_slashed(training_env: TrainingEnv) -> None:
    env, c = training_env, training_env.client
    env.set_forcing(ALWAYS_FORCED)
    owner = dev_account(0)
    env.deployment.stablecoin.transact(owner, "mint", owner.address, 50 * 10**6)
    env.deployment.stablecoin.transact(owner, "approve", env.deployment.training.address, 50 * 10**6)
    env.deployment.training.transact(owner, "fundJackpot", 50 * 10**6)
    # task 1: a diligent verifier replays every step and challenges the first leaf that is wrong
    task_id = env.post()
    secret = b"\x05" * 32
    sol, tree, forced = env.solve(task_id, secret)
    assert forced, "a forced task carries at least one deliberately wrong leaf"
    env.draw(task_id)
    v = env.verifiers[0]
    wrong = [s for s in range(1, 13) if tree.layers[0][s] != sol.hashes[s]]
    assert wrong == forced
    c.challenge(v, task_id, wrong[0])
    c.reveal_forced(env.solver, task_id, secret)
    assert env.owed(v)[0] == 25 * 10**6  # half the stablecoin jackpot
    assert c.task(task_id).forced_caught and not c.task(task_id).disputed
    env.past_window()
    c.settle(env.solver, task_id, secret)  # the solver is compensated: paid as for an honest task
    assert env.owed(env.solver)[0] == FEE * 90 // 100

    # task 2: a lazy verifier signs off without replaying; every step is audited, so a forced one is among them
    task_id = env.post(audit_level=64)
    secret = b"\x06" * 32
    env.solve(task_id, secret)
    env.draw(task_id)
    lazy = env.verifiers[1]
    stake = env.stake_of(lazy)
    c.attest(lazy, task_id)
    env.past_window()
    c.settle(env.solver, task_id, secret)
    assert env.stake_of(lazy) == stake // 2
    assert env.deployment.training.call("verifiers", lazy.address)[3]  # barred
    assert env.owed(lazy)[0] == 0  # and not paid for the audit
    t3 = env.post()
    env.solve(t3, b"\x07" * 32)
    env.draw(t3)
    with pytest.raises(ContractRevert, match="barred"):
        c.attest(lazy, t3)


def test_moves_and_challenges_are_bound_to_their_sender(training_env: TrainingEnv) -> None:
    env, c = training_env, training_env.client
    task_id = env.post()
    secret = b"\x08" * 32
    sol, tree, _ = env.solve(task_id, secret, skip=(3,))
    env.draw(task_id)
    v, bot = env.verifiers[0], env.verifiers[1]
    m = env.deployment.training
    # a bot copies a challenge opening from the mempool: without its own commitment it cannot open it
    from eth_utils import keccak
    salt = b"\x09" * 32
    h = keccak(bytes.fromhex(v.address[2:]).rjust(32, b"\0") + task_id.to_bytes(32, "big") + (3).to_bytes(32, "big")
               + salt)
    m.transact(v, "commitChallenge", task_id, h)
    env.chain.mine(1)
    with pytest.raises(ContractRevert, match="no matching challenge commitment"):
        m.transact(bot, "openChallenge", task_id, 3, salt)
    m.transact(bot, "commitChallenge", task_id, h)  # copying the commitment does not help either
    env.chain.mine(1)
    with pytest.raises(ContractRevert, match="no matching challenge commitment"):
        m.transact(bot, "openChallenge", task_id, 3, salt)
    r = m.transact(v, "openChallenge", task_id, 3, salt)
    dispute = int(env.deployment.training_disputes.events(r, "Opened")[0].args["disputeId"])
    digests, prev, cur = env.defender(sol, tree, 3).reveal_trace()
    with pytest.raises(ContractRevert, match="NotYourMove"):
        env.deployment.training_disputes.transact(bot, "revealTrace", dispute, digests, prev, cur)
    # the solver cannot answer with a trace that does not end in its committed leaf
    honest = env.task.trace(3)
    with pytest.raises(ContractRevert, match="not the committed leaf"):
        env.deployment.training_disputes.transact(env.solver, "revealTrace", dispute, honest.digests, prev, cur)
    with pytest.raises(ContractRevert, match="NotSolver"):
        c.reveal_forced(bot, task_id, secret)
    with pytest.raises(ContractRevert, match="the challenged step is not a forced error"):
        c.reveal_forced(env.solver, task_id, secret)


def test_the_step_after_a_forced_error_can_still_be_defended(training_env: TrainingEnv) -> None:
    """Regression (found by the conservation machine): the leaf before a challenged step may be a forced
    error's wrapper; the honest solver must still be able to reveal the step's trace, and win."""
    env, c = training_env, training_env.client
    env.set_forcing(ALWAYS_FORCED)
    for n in range(20):  # a secret whose forced steps leave room for a following, unforced step
        task_id = env.post()
        secret = bytes([0x30 + n]) * 32
        sol, tree, forced = env.solve(task_id, secret)
        after = [f + 1 for f in forced if f + 1 not in forced and f + 1 <= 12]
        if after:
            break
    else:
        pytest.fail("no secret gave a forced step followed by an unforced one")
    env.draw(task_id)
    step = after[0]
    liar = env.verifiers[2]
    dispute = c.challenge(liar, task_id, step)
    t = env.task.trace(step)
    lying = [None if x is None else x.copy() for x in t.tensors]
    lying[5 * env.task.layers + 2][0, 0] += 1  # type: ignore[index]
    liar_side = Challenger(StepTrace.of(step, lying), env.task.layers, env.task.config, env.task.data,
                           env.task.commitment)
    out = play_dispute(c, dispute, env.task.params(), env.solver, env.defender(sol, tree, step), liar, liar_side)
    assert not out.solver_lost and not out.timed_out


def test_audit_randomness_is_fixed_by_a_later_block_and_nobody_can_reroll_it(training_env: TrainingEnv) -> None:
    env, c = training_env, training_env.client
    m = env.deployment.training
    task_id = env.post()
    env.solve(task_id, b"\x0a" * 32)
    with pytest.raises(ContractRevert, match="TooEarly"):  # the seed block does not exist yet
        m.transact(env.verifiers[0], "drawAudit", task_id)
    with pytest.raises(ContractRevert, match="SeedNotDrawn"):
        c.attest(env.verifiers[0], task_id)
    env.chain.mine(300)  # nobody drew within 256 blocks: the hash is gone, so the anchor moves forward
    r = m.transact(env.verifiers[0], "drawAudit", task_id)
    assert m.events(r, "AuditReanchored") and c.task(task_id).audit_seed == b"\0" * 32
    env.chain.mine(5)
    seed = c.draw_audit(env.verifiers[1], task_id)
    assert seed != b"\0" * 32
    assert c.draw_audit(env.verifiers[2], task_id) == seed  # fixed once: a later call cannot change it
    anchor = int(m.call("getTask", task_id)[17])
    assert seed == env.chain.get_block(anchor + 4).hash


def test_a_forced_seed_left_to_expire_counts_as_forcing(training_env: TrainingEnv) -> None:
    env, c = training_env, training_env.client
    task_id = env.post()
    c.claim(env.solver, task_id, b"\x0b" * 32)
    env.chain.mine(300)  # a solver hoping to re-roll an unwelcome forced draw by waiting
    assert c.forced_seed(task_id) == (b"\0" * 31 + b"\1", True)
    assert env.deployment.training.call("isForced", b"\x0b" * 32, b"\0" * 31 + b"\1", 12)


def test_the_python_forced_error_rules_are_the_contracts(training_env: TrainingEnv) -> None:
    from eth_utils import keccak as k

    from tessera.training.solution import is_forced, is_forced_step
    m = training_env.deployment.training
    training_env.set_forcing(3)
    for n in range(12):
        secret, seed = k(bytes([n])), k(bytes([n, 1]))
        assert is_forced(secret, seed, 12, 3) == m.call("isForced", secret, seed, 12)
        for step in range(14):
            assert is_forced_step(secret, seed, 12, step) == m.call("isForcedStep", secret, seed, 12, step)


def test_a_revealed_forced_error_cannot_be_challenged_again(training_env: TrainingEnv) -> None:
    """Regression (found by the conservation machine): once the secret is public, anyone knows the forced steps;
    challenging another forced step would leave the solver no answer but a timeout."""
    env, c = training_env, training_env.client
    env.set_forcing(ALWAYS_FORCED)
    task_id = env.post()
    secret = b"\x0c" * 32
    sol, tree, forced = env.solve(task_id, secret)
    env.draw(task_id)
    c.challenge(env.verifiers[0], task_id, forced[0])
    c.reveal_forced(env.solver, task_id, secret)
    for step in forced[:3]:
        with pytest.raises(ContractRevert, match="already revealed"):
            c.challenge(env.verifiers[1], task_id, step)


def test_a_front_run_permit_does_not_block_a_post(training_env: TrainingEnv) -> None:
    """postWithPermit tries the permit and does not require it: a bot that submits the submitter's permit to the
    token first only spends the permit; the post goes through on the allowance it granted."""
    from tessera.accounts.typed_data import contract_domain, permit_data, sign_typed_data

    env = training_env
    usd, m = env.deployment.stablecoin, env.deployment.training
    domain = contract_domain(usd.call("name"), usd.call("version"), env.chain.chain_id, usd.address)
    deadline = env.chain.get_block().timestamp + 3600
    nonce = usd.call("nonces", env.submitter.address)
    v, r, s = sign_typed_data(env.submitter, permit_data(domain, env.submitter.address, m.address, FEE, nonce,
                                                         deadline)).vrs
    usd.transact(dev_account(9), "permit", env.submitter.address, m.address, FEE, deadline, v, r, s)
    before = int(usd.call("balanceOf", env.submitter.address))
    receipt = m.transact(env.submitter, "postWithPermit", env.task.params(), b"\x11" * 32, FEE, 3600, 8,
                         deadline, v, r, s)
    assert m.events(receipt, "Posted")
    assert before - int(usd.call("balanceOf", env.submitter.address)) == FEE
    with pytest.raises(ContractRevert, match="Allowance|allowance"):  # a spent permit grants nothing more
        m.transact(env.submitter, "postWithPermit", env.task.params(), b"\x11" * 32, FEE, 3600, 8, deadline, v, r, s)
