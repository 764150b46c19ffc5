"""Hypothesis properties of the TSR cap and the halving schedule, against the exact-integer model.

The contract is exercised on the embedded chain (in-process, so hundreds of examples are cheap);
the same contract code runs on anvil in test_contracts.py.
"""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

from tessera.accounts.dev import dev_account
from tessera.chain import Contract, EmbeddedChain
from tessera.protocol.emission import CAP, TSR, emission_at, emission_for, halving_threshold, halvings_at

OWNER = dev_account(0)
BASE = 10**18


@pytest.fixture(scope="module")
def schedule() -> Contract:
    chain = EmbeddedChain()
    contract, _ = Contract.deploy(chain, OWNER, "EmissionSchedule", BASE, 1, OWNER.address)
    return contract


issuance = st.one_of(
    st.integers(min_value=0, max_value=CAP + 10),
    # dense sampling right around every halving threshold
    st.builds(lambda k, d: max(0, halving_threshold(k) + d), st.integers(1, 90), st.integers(-3, 3)),
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(issuance)
def test_emission_rate_matches_model(schedule: Contract, value: int) -> None:
    assert schedule.call("emissionAt", value) == emission_at(value, BASE)


@pytest.mark.parametrize("k", [1, 2, 3, 4, 10, 20, 40, 60])
def test_emission_halves_exactly_at_each_threshold(schedule: Contract, k: int) -> None:
    t = halving_threshold(k)
    # the threshold is where issuance crosses CAP*(1 - 1/2^k)
    assert t * 2**k >= CAP * (2**k - 1) > (t - 1) * 2**k
    assert schedule.call("emissionAt", t - 1) == BASE >> (k - 1)
    assert schedule.call("emissionAt", t) == BASE >> k
    assert halvings_at(t) == k and halvings_at(t - 1) == k - 1


def test_emission_at_named_fractions(schedule: Contract) -> None:
    assert schedule.call("emissionAt", 0) == BASE
    assert schedule.call("emissionAt", CAP // 2) == BASE // 2
    assert schedule.call("emissionAt", CAP * 3 // 4) == BASE // 4
    assert schedule.call("emissionAt", CAP * 7 // 8) == BASE // 8
    assert schedule.call("emissionAt", CAP) == 0


BASES = [BASE, 10**24, 3 * 10**24 + 7, 1]


@pytest.fixture(scope="module")
def schedule_by_base(schedule: Contract) -> dict[int, Contract]:
    return {base: Contract.deploy(schedule.chain, OWNER, "EmissionSchedule", base, 1, OWNER.address)[0]
            for base in BASES}


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(start=issuance, periods=st.integers(0, 400), base=st.sampled_from(BASES))
def test_closed_form_emission_equals_period_by_period(schedule_by_base: dict[int, Contract], start: int,
                                                      periods: int, base: int) -> None:
    got = schedule_by_base[base].call("emissionFor", min(start, CAP), periods)
    assert got == emission_for(min(start, CAP), periods, base)
    assert min(start, CAP) + got <= CAP


class EmissionMachine(RuleBasedStateMachine):
    """Random mining, distributions and recipient changes: the supply is always the model's and never above the cap."""

    @initialize(base=st.sampled_from([10**24, 2_500_000 * TSR, 7 * 10**23 + 1]),
                interval=st.integers(1, 3))
    def setup(self, base: int, interval: int) -> None:
        self.chain = EmbeddedChain()
        self.base, self.interval = base, interval
        self.schedule, receipt = Contract.deploy(self.chain, OWNER, "EmissionSchedule", base, interval, OWNER.address)
        self.token = Contract.at(self.chain, "TesseraToken", self.schedule.call("token"))
        self.last = receipt.block_number
        self.supply = 0
        self.recipients: dict[str, int] = {}

    @rule(index=st.integers(1, 5), weight=st.integers(0, 5))
    def set_recipient(self, index: int, weight: int) -> None:
        addr = dev_account(index).address
        self.schedule.transact(OWNER, "setRecipient", addr, weight)
        if weight:
            self.recipients[addr] = weight
        else:
            self.recipients.pop(addr, None)

    @rule(blocks=st.integers(1, 40))
    def mine(self, blocks: int) -> None:
        self.chain.mine(blocks)

    @rule()
    def distribute(self) -> None:
        if not self.recipients:
            return
        receipt = self.schedule.transact(OWNER, "distribute")
        periods = (receipt.block_number - self.last) // self.interval
        self.last += periods * self.interval
        self.supply += emission_for(self.supply, periods, self.base)

    @invariant()
    def supply_matches_model_and_cap(self) -> None:
        supply = self.token.call("totalSupply")
        assert supply == self.supply
        assert supply <= CAP
        balances = sum(self.token.call("balanceOf", dev_account(i).address) for i in range(1, 6))
        assert balances == supply  # only recipients ever receive TSR

    def teardown(self) -> None:
        self.chain.close()


TestEmissionMachine = EmissionMachine.TestCase
TestEmissionMachine.settings = settings(max_examples=25, stateful_step_count=15, deadline=None)
