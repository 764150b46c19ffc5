"""An agent's money: the `PolicyWallet` contract seen from its owner and from its agent.

`PolicyWallet` (the client) deploys the contract and does the owner's part: pin a signed policy (caps,
allow-lists, file hash and version in one go), approve or reject what waits for approval. `trusted_policy`
is how an agent loads its policy: it refuses a file that is unsigned, signed by someone else, edited after it
was pinned, older than the pinned one, or whose caps are not the wallet's.

`AgentWallet` is the agent's part, and the only way its tools spend: each payment, authorization or call is
decided by the `PolicyEngine` first (a refusal raises `PolicyRefusal` with the reason and sends nothing), and
by the contract second (which refuses past the caps whatever the agent's software does).
`PolicyWalletSigner` lets the x402 SDK pay from the wallet: it signs only EIP-3009 authorizations, each
reserved in the wallet against the caps before it is signed.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from eth_account.signers.local import LocalAccount
from eth_typing import Hash32

from ..chain.base import Chain, Receipt
from ..chain.contract import Contract, Signer
from ..errors import ContractRevert, PolicyError, PolicyRefusal
from .policy import Caps, Decision, Policy, PolicyEngine, file_hash, policy_signer

AUTHORIZATION_TYPES = ("TransferWithAuthorization", "ReceiveWithAuthorization")


@dataclass(frozen=True)
class Spent:
    """What an AgentWallet call did: paid now, or waiting for the owner as proposal `proposal`."""

    decision: Decision
    receipt: Receipt | None = None
    proposal: int | None = None


class PolicyWallet:
    def __init__(self, chain: Chain, address: str) -> None:
        self.chain = chain
        self.contract = Contract.at(chain, "PolicyWallet", address)
        self.address = self.contract.address

    @classmethod
    def deploy(cls, chain: Chain, owner: Signer, agent: str) -> "PolicyWallet":
        contract, _ = Contract.deploy(chain, owner, "PolicyWallet", owner.address, agent)
        return cls(chain, contract.address)

    # -- reads --------------------------------------------------------------------------------
    def owner(self) -> str:
        return str(self.contract.call("owner"))

    def agent(self) -> str:
        return str(self.contract.call("agent"))

    def pinned(self) -> tuple[bytes, int]:
        return bytes(self.contract.call("policyHash")), int(self.contract.call("policyVersion"))

    def caps(self, token: str) -> Caps:
        per_payment, per_window, approval_above, window = self.contract.call("caps", token)
        return Caps(int(per_payment), int(per_window), int(approval_above), int(window))

    def budget(self, token: str) -> tuple[int, int]:
        start, spent = self.contract.call("budgets", token)
        return int(start), int(spent)

    def _listed(self, event: str, key: str) -> set[str]:
        state: dict[str, bool] = {}
        for e in self.contract.get_events(event):
            state[str(e.args[key]).lower()] = bool(e.args["allowed"])
        return {a for a, on in state.items() if on}

    # -- the owner ----------------------------------------------------------------------------
    def pin(self, owner: Signer, path: Path) -> list[Receipt]:
        """Make the wallet enforce the signed policy at `path`: caps, payees, contracts, then the file's hash."""
        data, spec, signer = policy_signer(path, self.chain.chain_id)
        if signer.lower() != owner.address.lower():
            raise PolicyError(f"{path} is signed by {signer}, not by {owner.address}: sign it with the owner's key")
        if spec.wallet.lower() != self.address.lower():
            raise PolicyError(f"{path} is for wallet {spec.wallet}, not {self.address}")
        _, version = self.pinned()
        if spec.version <= version:
            raise PolicyError(f"{path} has version {spec.version} but version {version} is pinned: raise `version` "
                              "to replace it (an older policy can never be pinned again)")
        policy = self._policy(spec, data)
        out = [self.contract.transact(owner, "setCaps", spec.token, *policy.caps.as_tuple())]
        for event, setter, wanted in (("PayeeSet", "setPayee", policy.payees),
                                      ("ContractSet", "setContract", policy.contracts)):
            key = "payee" if event == "PayeeSet" else "target"
            current = self._listed(event, key)
            for a in sorted(wanted - current):
                out.append(self.contract.transact(owner, setter, a, True))
            for a in sorted(current - wanted):
                out.append(self.contract.transact(owner, setter, a, False))
        if spec.agent.lower() != self.agent().lower():
            out.append(self.contract.transact(owner, "setAgent", spec.agent))
        out.append(self.contract.transact(owner, "pinPolicy", policy.file_hash, spec.version))
        return out

    def approve(self, owner: Signer, proposal: int) -> Receipt:
        return self.contract.transact(owner, "approve", proposal)

    def reject(self, owner: Signer, proposal: int) -> Receipt:
        return self.contract.transact(owner, "reject", proposal)

    # -- the agent's trust in its policy --------------------------------------------------------
    def trusted_policy(self, path: Path) -> Policy:
        data, spec, signer = policy_signer(path, self.chain.chain_id)
        if spec.wallet.lower() != self.address.lower():
            raise PolicyError(f"{path} is for wallet {spec.wallet}, not this agent's wallet {self.address}")
        pinned, version = self.pinned()
        if file_hash(data) != pinned:
            if spec.version < version:
                raise PolicyError(f"{path} is version {spec.version}, older than the pinned version {version}: "
                                  "an older policy is never obeyed; use the owner's current file")
            raise PolicyError(f"{path} is not the policy the owner pinned (its hash is 0x{file_hash(data).hex()[:16]}…, "
                              f"the wallet pins 0x{pinned.hex()[:16]}…): it was edited or never pinned; the owner "
                              "signs and pins it with `tessera agent policy pin`")
        owner = self.owner()
        if signer.lower() != owner.lower():  # the pinned file, with a signature that is not the owner's
            raise PolicyError(f"{path} is signed by {signer}, not by the wallet's owner {owner}: only the owner's "
                              "signed policy is obeyed")
        policy = self._policy(spec, data)
        if self.caps(spec.token) != policy.caps:
            raise PolicyError(f"the wallet's caps differ from {path}'s: the owner re-pins the policy")
        return policy

    def _policy(self, spec: Any, data: bytes) -> Policy:
        token = Contract.at(self.chain, "DevStablecoin", spec.token)
        try:
            decimals, symbol = int(token.call("decimals")), str(token.call("symbol"))
        except ContractRevert as e:
            raise PolicyError(f"the policy's token {spec.token} is not an ERC-20 on this chain") from e
        return Policy.from_spec(spec, file_hash(data), decimals, symbol)


class AgentWallet:
    """The agent's spending, decided by its policy, then bounded by the contract."""

    def __init__(self, wallet: PolicyWallet, agent: LocalAccount, policy: Policy) -> None:
        if agent.address.lower() != policy.spec.agent.lower():
            raise PolicyError(f"the policy is for agent {policy.spec.agent}, not {agent.address}")
        self.wallet = wallet
        self.agent = agent
        self.policy = policy
        self.token = policy.spec.token
        start, spent = wallet.budget(self.token)
        self.engine = PolicyEngine(policy, clock=self._chain_time, spent=spent, window_start=start)

    def _chain_time(self) -> float:
        return float(self.wallet.chain.get_block("latest").timestamp)

    def _refuse(self, decision: Decision) -> None:
        if decision.verdict == "refuse":
            raise PolicyRefusal(f"refused by the policy: {decision.reason}")

    def pay(self, to: str, amount: int) -> Spent:
        """Pay now within the caps; above the approval threshold, propose and wait for the owner."""
        decision = self.engine.check_payment(to, amount)
        self._refuse(decision)
        c = self.wallet.contract
        if decision.verdict == "approve":
            receipt = c.transact(self.agent, "propose", self.token, to, amount)
            [event] = c.events(receipt, "Proposed")
            return Spent(decision, receipt, int(event.args["id"]))
        receipt = c.transact(self.agent, "pay", self.token, to, amount)
        self.engine.record(amount)
        return Spent(decision, receipt)

    def authorize(self, to: str, value: int, valid_after: int, valid_before: int, nonce: bytes, *,
                  receive: bool = False) -> bytes:
        """Reserve an EIP-3009 authorization from the wallet against the caps, then sign it (65 bytes)."""
        decision = self.engine.check_payment(to, value)
        self._refuse(decision)
        if decision.verdict == "approve":
            raise PolicyRefusal(f"refused by the policy: {decision.reason}; a signed authorization cannot wait "
                                "for approval, so pay it with `pay` instead")
        c = self.wallet.contract
        receipt = c.transact(self.agent, "reserve", self.token, receive, to, value, valid_after, valid_before, nonce)
        [event] = c.events(receipt, "Reserved")
        self.engine.record(value)
        return bytes(self.agent.unsafe_sign_hash(Hash32(bytes(event.args["digest"]))).signature)

    def call(self, target: str, data: bytes, score: int | None = None) -> Receipt:
        decision = self.engine.check_call(target, data, score)
        self._refuse(decision)
        if decision.verdict == "approve":
            raise PolicyRefusal(f"needs the owner: {decision.reason}")
        return self.wallet.contract.transact(self.agent, "execute", target, data)


class PolicyWalletSigner:
    """The x402 SDK's `ClientEvmSigner` for a PolicyWallet: the SDK pays as the wallet, within its caps."""

    def __init__(self, wallet: AgentWallet) -> None:
        self.wallet = wallet

    @property
    def address(self) -> str:
        return self.wallet.wallet.address

    def sign_typed_data(self, domain: Any, types: dict[str, Any], primary_type: str, message: dict[str, Any]) -> bytes:
        if primary_type not in AUTHORIZATION_TYPES:
            raise PolicyRefusal(f"refused by the policy: the wallet signs only token authorizations, not {primary_type}")
        verifying = getattr(domain, "verifying_contract", None) or (domain.get("verifyingContract")
                                                                    if isinstance(domain, dict) else None)
        if str(verifying).lower() != self.wallet.token.lower():
            raise PolicyRefusal(f"refused by the policy: the authorization is for token {verifying}, the policy's "
                                f"token is {self.wallet.token}")
        if str(message["from"]).lower() != self.address.lower():
            raise PolicyRefusal("refused by the policy: the authorization is not from this wallet")
        nonce = message["nonce"]
        raw = bytes.fromhex(nonce[2:]) if isinstance(nonce, str) else bytes(nonce)
        return self.wallet.authorize(str(message["to"]), int(message["value"]), int(message["validAfter"]),
                                     int(message["validBefore"]), raw, receive=primary_type == AUTHORIZATION_TYPES[1])


def random_nonce() -> bytes:
    return os.urandom(32)
