"""Agents: a policy the agent cannot loosen, and a wallet that enforces it on chain.

- `PolicySpec` / `Policy` / `PolicyEngine` (policy.py): the owner's signed YAML policy and the deterministic
  decisions it makes for every payment and contract call;
- `PolicyWallet` / `AgentWallet` / `PolicyWalletSigner` (wallet.py): the smart account holding the agent's funds,
  seen by its owner and by its agent, and the x402 signer that pays from it within the caps.
"""

from .policy import Caps, Decision, Policy, PolicyEngine, PolicySpec, read_spec, sign_policy
from .wallet import AgentWallet, PolicyWallet, PolicyWalletSigner, Spent

__all__ = ["AgentWallet", "Caps", "Decision", "Policy", "PolicyEngine", "PolicySpec", "PolicyWallet",
           "PolicyWalletSigner", "Spent", "read_spec", "sign_policy"]
