"""Dev accounts: the well-known test mnemonic shared with anvil.

The embedded chain funds exactly the accounts anvil funds, so the same code and tests
run on both backends. These keys are public knowledge: Tessera refuses to use them on any
chain that is not a devnet (see :func:`require_devnet`).
"""

from __future__ import annotations

from functools import lru_cache

from eth_account import Account
from eth_account.signers.local import LocalAccount

from ..errors import KeystoreError

DEV_MNEMONIC = "test test test test test test test test test test test junk"
DEV_ACCOUNT_COUNT = 10
DEV_BALANCE_WEI = 10_000 * 10**18
#: chain ids Tessera treats as devnets: the embedded chain and anvil's default
DEVNET_CHAIN_IDS = frozenset({1337, 31337})


@lru_cache(maxsize=1)
def dev_accounts() -> tuple[LocalAccount, ...]:
    Account.enable_unaudited_hdwallet_features()
    return tuple(
        Account.from_mnemonic(DEV_MNEMONIC, account_path=f"m/44'/60'/0'/0/{i}")
        for i in range(DEV_ACCOUNT_COUNT)
    )


def dev_account(index: int = 0) -> LocalAccount:
    accounts = dev_accounts()
    if not 0 <= index < len(accounts):
        raise KeystoreError(
            f"dev account index {index} is out of range: use 0..{len(accounts) - 1}"
        )
    return accounts[index]


def require_devnet(chain_id: int) -> None:
    if chain_id not in DEVNET_CHAIN_IDS:
        raise KeystoreError(
            f"refusing to use a public dev key on chain {chain_id}, which is not a devnet: "
            "pass --account NAME with a keystore account (see `tessera account new`)"
        )
