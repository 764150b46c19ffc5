"""Hypothesis stateful test of the PolicyWallet: whatever the agent (its software bypassed), the owner and an
attacker do, the tokens that leave the wallet go only to allowed payees, never more than the per-payment cap
at once nor the budget per window, and every token is accounted for."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from tessera.accounts.dev import dev_account
from tessera.accounts.typed_data import contract_domain, transfer_authorization_data, typed_data_digest
from tessera.chain import EmbeddedChain
from tessera.chain.contract import Contract
from tessera.errors import ContractRevert
from tessera.protocol.deploy import Deployment, deploy_protocol

OWNER, AGENT, ATTACKER = dev_account(1), dev_account(2), dev_account(7)
PAYEES = [dev_account(5), dev_account(6)]
FUNDS = 50_000_000
PER_PAYMENT, PER_WINDOW, APPROVAL, WINDOW = 2_000_000, 5_000_000, 1_000_000, 3_600
_WORLD: dict[str, Any] = {}


def world() -> dict[str, Any]:
    if not _WORLD:
        frozen = float(int(__import__("time").time()))
        chain = EmbeddedChain(clock=lambda: frozen)  # block times move only by +1 per block and time_passes
        manifest, _ = deploy_protocol(chain, dev_account(0), path=None)
        d = Deployment.from_manifest(chain, manifest)
        wallet, _ = Contract.deploy(chain, OWNER, "PolicyWallet", OWNER.address, AGENT.address)
        wallet.transact(OWNER, "setCaps", d.stablecoin.address, PER_PAYMENT, PER_WINDOW, APPROVAL, WINDOW)
        for p in PAYEES:
            wallet.transact(OWNER, "setPayee", p.address, True)
        d.stablecoin.transact(dev_account(0), "mint", wallet.address, FUNDS)
        _WORLD.update(chain=chain, d=d, wallet=wallet, snap=chain.snapshot())
    return _WORLD


class WalletMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        w = world()
        w["chain"].revert(w["snap"])
        w["snap"] = w["chain"].snapshot()
        self.chain, self.d, self.wallet = w["chain"], w["d"], w["wallet"]
        self.coin = self.d.stablecoin
        self.withdrawn = 0  # what the owner took out (to itself)
        self.window_start, self.spent = 0, 0
        self.proposals = 0

    def now(self) -> int:
        return int(self.chain.get_block("latest").timestamp)

    def mined_at(self, receipt: Any) -> int:
        return int(self.chain.get_block(receipt.block_number).timestamp)

    def _model_spend(self, amount: int, at: int) -> bool:
        """The contract's window rule, independently: True when `amount` fits."""
        if at >= self.window_start + WINDOW:
            start, spent = at, 0
        else:
            start, spent = self.window_start, self.spent
        if amount > PER_WINDOW - spent:
            return False
        self.window_start, self.spent = start, spent + amount
        return True

    @rule(amount=st.integers(1, 3_000_000), payee=st.integers(0, 2))
    def agent_pays(self, amount: int, payee: int) -> None:
        to = (PAYEES + [ATTACKER])[payee].address
        expected = payee < 2 and amount <= APPROVAL
        try:
            receipt = self.wallet.transact(AGENT, "pay", self.coin.address, to, amount)
            assert expected and self._model_spend(amount, self.mined_at(receipt))
        except ContractRevert as e:
            assert e.error_name in {"PayeeNotAllowed", "OverPaymentCap", "NeedsApproval", "OverWindowBudget"}
            if e.error_name == "OverWindowBudget":
                assert expected

    @rule(amount=st.integers(1, 2_000_000), payee=st.integers(0, 1))
    def propose_then_owner_approves(self, amount: int, payee: int) -> None:
        self.wallet.transact(AGENT, "propose", self.coin.address, PAYEES[payee].address, amount)
        pid = self.proposals
        self.proposals += 1
        snapshot = (self.window_start, self.spent)
        try:
            receipt = self.wallet.transact(OWNER, "approve", pid)
            assert self._model_spend(amount, self.mined_at(receipt))
        except ContractRevert as e:
            assert e.error_name == "OverWindowBudget"
            self.window_start, self.spent = snapshot

    @rule(amount=st.integers(1, 1_000_000))
    def authorization_settled_by_a_facilitator(self, amount: int) -> None:
        domain = contract_domain(self.coin.call("name"), self.coin.call("version"), self.chain.chain_id,
                                 self.coin.address)
        data = transfer_authorization_data(domain, self.wallet.address, PAYEES[0].address, amount, 0, self.now() + 600)
        m = data["message"]
        try:
            receipt = self.wallet.transact(AGENT, "reserve", self.coin.address, False, m["to"], amount, 0,
                                           m["validBefore"], m["nonce"])
        except ContractRevert as e:
            assert e.error_name == "OverWindowBudget"
            return
        assert self._model_spend(amount, self.mined_at(receipt))
        digest = typed_data_digest(data)
        assert bytes(self.wallet.events(receipt, "Reserved")[0].args["digest"]) == digest
        sig = bytes(AGENT.unsafe_sign_hash(digest).signature)
        self.coin.transact(ATTACKER, "transferWithAuthorization", self.wallet.address, m["to"], amount, 0,
                           m["validBefore"], m["nonce"], sig)

    @rule(seconds=st.sampled_from([60, 1_800, 3_600, 7_200]))
    def time_passes(self, seconds: int) -> None:
        self.chain.increase_time(seconds)
        self.chain.mine(1)

    @rule(amount=st.integers(1, 10_000_000))
    def owner_withdraws(self, amount: int) -> None:
        amount = min(amount, int(self.coin.call("balanceOf", self.wallet.address)))
        self.wallet.transact(OWNER, "withdraw", self.coin.address, OWNER.address, amount)
        self.withdrawn += amount

    @rule(amount=st.integers(1, 10_000_000))
    def attacker_moves(self, amount: int) -> None:
        token = self.coin.address
        # the attacker as the agent's caller, as the owner, and with a forged authorization
        for signer, fn, args in ((ATTACKER, "pay", (token, ATTACKER.address, amount)),
                                 (ATTACKER, "approve", (0,)),
                                 (ATTACKER, "withdraw", (token, ATTACKER.address, amount)),
                                 (AGENT, "withdraw", (token, AGENT.address, amount)),
                                 (AGENT, "setCaps", (token, 10**12, 10**12, 10**12, WINDOW)),
                                 (AGENT, "setPayee", (ATTACKER.address, True)),
                                 (ATTACKER, "reserve", (token, False, ATTACKER.address, 1, 0, self.now() + 60, b"\1" * 32))):
            with pytest.raises(ContractRevert):
                self.wallet.transact(signer, fn, *args)
        domain = contract_domain(self.coin.call("name"), self.coin.call("version"), self.chain.chain_id, token)
        data = transfer_authorization_data(domain, self.wallet.address, ATTACKER.address, amount, 0, self.now() + 600)
        m = data["message"]
        for key in (AGENT, ATTACKER):  # the agent's key on an unreserved authorization is no better
            sig = bytes(key.unsafe_sign_hash(typed_data_digest(data)).signature)
            with pytest.raises(ContractRevert, match="InvalidSignature"):
                self.coin.transact(ATTACKER, "transferWithAuthorization", self.wallet.address, ATTACKER.address,
                                   amount, 0, m["validBefore"], m["nonce"], sig)

    @invariant()
    def conserved_and_bounded(self) -> None:
        held = int(self.coin.call("balanceOf", self.wallet.address))
        paid = sum(int(self.coin.call("balanceOf", p.address)) for p in PAYEES)
        assert held + paid + self.withdrawn == FUNDS
        assert int(self.coin.call("balanceOf", ATTACKER.address)) == 0
        assert int(self.coin.call("balanceOf", AGENT.address)) == 0
        start, spent = self.wallet.call("budgets", self.coin.address)
        assert int(spent) <= PER_WINDOW
        if self.window_start:
            assert (int(start), int(spent)) == (self.window_start, self.spent)


TestPolicyWalletConservation = WalletMachine.TestCase
TestPolicyWalletConservation.settings = settings(max_examples=8, stateful_step_count=15, deadline=None,
                                                 derandomize=True, suppress_health_check=list(HealthCheck))
